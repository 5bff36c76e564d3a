"""What every command shares: options, the authenticated context, output, and the one place
where refusals become exit codes (0 done, 1 refused by a rule, 2 usage error, 3 internal error).
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import json
import logging
import os
import sys
import traceback
import typing
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer

from mfg.errors import CellTrailError, RuleViolation

if typing.TYPE_CHECKING:
    from mfg.config import Settings
    from mfg.services.uow import Actor, Database

UserOpt = Annotated[
    str | None,
    typer.Option(
        "--user", "-u", envvar="MFG_USER", help="Your username (or MFG_USER).", show_default=False
    ),
]
DbOpt = Annotated[
    str | None,
    typer.Option(
        "--db",
        envvar="MFG_DATABASE_URL",
        show_default=False,
        help="Database URL (or MFG_DATABASE_URL); default SQLite in MFG_HOME.",
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable JSON on stdout.")]
SignStdinOpt = Annotated[
    bool,
    typer.Option(
        "--password-stdin",
        help="Read the signing password from stdin (test harnesses); otherwise it is typed "
        "at the terminal. MFG_PASSWORD never signs.",
    ),
]
ForceOpt = Annotated[
    bool, typer.Option("--force", help="Replace the output file if it exists (never a link).")
]

EXIT_REFUSED = 1
EXIT_USAGE = 2
EXIT_INTERNAL = 3


def to_jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, float) and value != value:  # NaN never leaves as JSON
        return None
    return value


def print_json(value: Any) -> None:
    text = json.dumps(to_jsonable(value), indent=2, ensure_ascii=False)
    # JSON escapes C0 controls itself; C1 controls and invisible format characters (which a
    # terminal may act on) are written as \uXXXX escapes too: same JSON value, inert bytes.
    sys.stdout.write(_json_inert(text) + "\n")


def _json_inert(text: str) -> str:
    from mfg.domain.text import is_unsafe_char

    def esc(ch: str) -> str:
        if not is_unsafe_char(ch, newline_ok=True):
            return ch
        units = ch.encode("utf-16-be", "surrogatepass")
        return "".join(f"\\u{units[i]:02x}{units[i + 1]:02x}" for i in range(0, len(units), 2))

    if not any(is_unsafe_char(ch, newline_ok=True) for ch in text):
        return text
    return "".join(esc(ch) for ch in text)


def utc_now() -> datetime:
    """The time a command runs at: the one clock of the CLI (tests fix it here)."""
    return datetime.now(UTC)


class Cli:
    """The per-invocation context: settings, database, the authenticated actor, output."""

    def __init__(self, *, user: str | None, db: str | None, json_out: bool) -> None:
        self._user = user
        self._db_url = db
        self.json = json_out
        self._db: Database | None = None
        self._settings: Settings | None = None
        self._actor: Actor | None = None
        self.now = utc_now()

    # -- configuration and database ---------------------------------------------------------
    @property
    def settings(self) -> Settings:
        if self._settings is None:
            from mfg.config import load_settings

            self._settings = load_settings()
        return self._settings

    def database(self, check_schema: bool = True) -> Database:
        if self._db is None:
            from mfg.services.uow import Database

            self._db = Database.open(self._db_url, self.settings)
            if check_schema:
                from mfg.store.db import check_schema as _check

                _check(self._db.engine)
        return self._db

    # -- authentication ---------------------------------------------------------------------
    def password(self, prompt: str = "Password") -> str:
        """The log-in password: MFG_PASSWORD (automation accounts, CI) or asked on the terminal.
        Never used for an e-signature (``signing_password``)."""
        env = os.environ.get("MFG_PASSWORD")
        if env:
            return env
        if not sys.stdin.isatty():
            raise RuleViolation(
                "password",
                "password-required",
                "no terminal to ask the password: run mfg login, or set MFG_PASSWORD (automation)",
            )
        return str(typer.prompt(prompt, hide_input=True))

    def signing_password(self, from_stdin: bool, prompt: str = "Password to sign") -> str:
        """The password of an e-signature (21 CFR 11.200(a)): typed on the terminal now, or one
        line on stdin with --password-stdin; MFG_PASSWORD and a session never sign."""
        if from_stdin:
            line = sys.stdin.readline().rstrip("\r\n")
            if not line:
                raise RuleViolation(
                    "password", "password-required", "--password-stdin: no password on stdin"
                )
            return line
        if not sys.stdin.isatty():
            raise RuleViolation(
                "password",
                "signature-password-required",
                "an electronic signature needs your password typed at the terminal "
                "(or --password-stdin); MFG_PASSWORD is never used to sign",
            )
        return str(typer.prompt(prompt, hide_input=True))

    def session_path(self) -> Path:
        from mfg.cli import session_file

        url = self._db_url or self.settings.effective_database_url
        return session_file.path_for(self.settings.home, url)

    def actor(self) -> Actor:
        if self._actor is None:
            self._actor = self._authenticate()
        return self._actor

    def _authenticate(self) -> Actor:
        """The session of this terminal (mfg login) when it is this user's, else a log-in with
        --user/MFG_USER and the password (MFG_PASSWORD or asked)."""
        from mfg.cli import session_file
        from mfg.errors import SessionEnded
        from mfg.services import accounts, users

        path = self.session_path()
        saved = session_file.load(path)
        if saved is not None and (not self._user or self._user == saved.get("user")):
            try:
                return accounts.resume_session(
                    self.database(), saved["token"], host=session_file.host(), now=self.now
                )
            except SessionEnded:
                session_file.remove(path)
                if not (self._user and os.environ.get("MFG_PASSWORD")):
                    raise
        if not self._user:
            raise RuleViolation(
                "user", "user-required", "say who you are: mfg login, or --user NAME (or MFG_USER)"
            )
        return users.login(self.database(), self._user, self.password(), now=self.now)

    # -- output -----------------------------------------------------------------------------
    @functools.cached_property
    def out(self):  # type: ignore[no-untyped-def]
        import shutil

        width = None if sys.stdout.isatty() else max(shutil.get_terminal_size((160, 24))[0], 160)
        return safe_console(width=width)

    def local(self, at: datetime | None) -> str:
        if at is None:
            return "-"
        zone = self._db.zone if self._db is not None else self.settings.zone
        return at.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")

    def emit(self, value: Any, human: Callable[[], None]) -> None:
        if self.json:
            print_json(value)
        else:
            human()


def _log_internal_error() -> Path | None:
    try:
        from mfg.config import default_home

        log_dir = default_home() / "logs"
        log_dir.mkdir(parents=True, exist_ok=True)
        path = log_dir / "errors.log"
        with path.open("a", encoding="utf-8") as f:
            # the command's name only: its arguments may be personal data (initials, DOB)
            words = [a for a in sys.argv[1:3] if a.isidentifier()]
            f.write(f"--- {datetime.now(UTC).isoformat()} mfg {' '.join(words)}\n")
            f.write(traceback.format_exc())
        return path
    except OSError:
        return None


def safe_console(**kwargs: Any) -> Any:
    """A Rich console on which users' text prints as text: no emoji codes, no highlighting, and
    every control or escape character made visible whatever string reaches it (our own markup
    still styles; data interpolated into it goes through ``mfg.domain.text.rich_inert``)."""
    from rich.console import Console

    from mfg.domain.text import visible

    class _SafeConsole(Console):
        def render_str(self, text: str, **kw: Any) -> Any:
            return super().render_str(visible(text, newline_ok=True), **kw)

        def on_broken_pipe(self) -> None:
            # Rich would exit 1 (our "refused"); the command wrapper ends quietly instead
            self.quiet = True
            raise BrokenPipeError

    return _SafeConsole(emoji=False, highlight=False, **kwargs)


CONNECTION_LOST = (
    "the connection to the database was lost (the server restarted or stopped?); what this "
    "command was writing was not confirmed: look (mfg lot show, mfg audit log) before trying again"
)


def refuse(message: str, rule: str, code: int = EXIT_REFUSED) -> typer.Exit:
    from mfg.domain.text import visible

    sys.stderr.write(f"refused: {visible(message)} [{rule}]\n")
    return typer.Exit(code=code)


# The largest whole number a command takes (an id, a count, a limit): what the databases'
# integer columns hold. Larger numbers are refused here, by name, before any lookup.
MAX_INT_ARG = 2**31 - 1


def _check_ints(kw: dict[str, Any]) -> None:
    for name, value in kw.items():
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_INT_ARG:
            raise RuleViolation(
                name, "number-out-of-range", f"{value} is out of range (at most {MAX_INT_ARG})"
            )


def _quiet_broken_pipe() -> None:
    """The reader of our output went away (`| head`): stop quietly, exit 0 (no traceback)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def command(app: typer.Typer, name: str | None = None, **kwargs: Any) -> Callable[..., Any]:
    """Register ``fn(cli: Cli, ...)`` as a command with --user, --db and --json added.

    The wrapper is the one place where errors become exit codes; no traceback reaches a user.
    """

    def deco(fn: Callable[..., Any]) -> Callable[..., Any]:
        hints = typing.get_type_hints(fn, include_extras=True)
        sig = inspect.signature(fn)
        params = [
            p.replace(annotation=hints.get(p.name, p.annotation))
            for p in list(sig.parameters.values())[1:]
        ]
        extra = [
            inspect.Parameter(
                "user", inspect.Parameter.KEYWORD_ONLY, default=None, annotation=UserOpt
            ),
            inspect.Parameter("db", inspect.Parameter.KEYWORD_ONLY, default=None, annotation=DbOpt),
            inspect.Parameter(
                "json_out", inspect.Parameter.KEYWORD_ONLY, default=False, annotation=JsonOpt
            ),
        ]
        names = {p.name for p in params}
        params += [p for p in extra if p.name not in names]

        @functools.wraps(fn)
        def wrapper(*args: Any, **kw: Any) -> Any:
            cli = Cli(
                user=kw.pop("user", None), db=kw.pop("db", None), json_out=kw.pop("json_out", False)
            )
            try:
                _check_ints(kw)
                result = fn(cli, *args, **kw)
                sys.stdout.flush()  # a closed pipe shows here, not at interpreter exit
                return result
            except typer.Exit:
                raise
            except BrokenPipeError:
                _quiet_broken_pipe()
                raise typer.Exit(code=0) from None
            except RuleViolation as e:
                raise refuse(f"{e.field}: {e.message}", e.rule) from None
            except CellTrailError as e:
                raise refuse(e.message, e.rule) from None
            except KeyboardInterrupt:
                sys.stderr.write("interrupted: nothing was written by the unfinished step\n")
                raise typer.Exit(code=130) from None
            except Exception as e:
                if os.environ.get("CELLTRAIL_DEBUG") == "1":
                    raise
                if getattr(e, "connection_invalidated", False):  # SQLAlchemy: a lost connection
                    sys.stderr.write(f"error: {CONNECTION_LOST} [database-connection-lost]\n")
                    raise typer.Exit(code=EXIT_INTERNAL) from None
                path = _log_internal_error()
                where = f"; details in {path}" if path else ""
                first = (str(e).splitlines() or [""])[0][:200]  # never the SQL parameters
                sys.stderr.write(f"internal error: {type(e).__name__}: {first}{where}\n")
                raise typer.Exit(code=EXIT_INTERNAL) from None
            finally:
                if cli._db is not None:
                    cli._db.dispose()

        wrapper.__signature__ = sig.replace(parameters=params)  # type: ignore[attr-defined]
        wrapper.__annotations__ = {p.name: p.annotation for p in params}
        app.command(name, **kwargs)(wrapper)
        return fn

    return deco


logging.getLogger("alembic").setLevel(logging.WARNING)
