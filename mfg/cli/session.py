"""mfg login, mfg logout, mfg whoami: a session for this terminal instead of a password in the
environment (21 CFR 11.300). E-signatures still ask the password every time."""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

from mfg.cli import app
from mfg.cli._common import Cli, command

PasswordStdin = Annotated[
    bool, typer.Option("--password-stdin", help="Read the password from stdin (test harnesses).")
]


@command(app, "login")
def login_cmd(cli: Cli, password_stdin: PasswordStdin = False) -> None:
    """Log in on this terminal: later commands use the session until `mfg logout` or the site's
    idle time (idle_minutes, default 15) passes without a command.

    The token is kept in a file only you can read (MFG_HOME/sessions, 0600), bound to you, the
    database, this host and this terminal; the database stores only its SHA-256.

    Example: mfg login --user qa
    """
    from mfg.cli import session_file
    from mfg.errors import RuleViolation
    from mfg.services import accounts, users

    if not cli._user:
        if not sys.stdin.isatty():
            raise RuleViolation("user", "user-required", "say who you are: mfg login --user NAME")
        cli._user = typer.prompt("Username")
    if not (password_stdin or os.environ.get("MFG_PASSWORD") or sys.stdin.isatty()):
        raise RuleViolation(
            "password",
            "password-required",
            "no terminal to ask the password: run mfg login at a terminal, or pipe the password "
            "with --password-stdin",
        )
    password = (
        cli.signing_password(True) if password_stdin else cli.password(f"Password for {cli._user}")
    )
    db = cli.database()
    actor = users.login(db, cli._user, password, now=cli.now)
    path = cli.session_path()
    earlier = session_file.load(path)
    if earlier is not None:
        accounts.close_session(db, earlier["token"], reason="replaced", now=cli.now)
    token = accounts.open_session(db, actor, kind="cli", host=session_file.host(), now=cli.now)
    session_file.save(path, {"user": actor.username, "host": session_file.host(), "token": token})
    info = accounts.session_info(db, token)
    assert info is not None
    cli.emit(
        {k: v for k, v in info.__dict__.items()},
        lambda: cli.out.print(
            f"logged in as {actor.username} ({actor.role}) on this terminal until "
            f"{idle_text(cli, info.expires_at)}; mfg logout ends it"
        ),
    )


def idle_text(cli: Cli, expires_at: object) -> str:
    return f"{cli.local(expires_at)} if idle"  # type: ignore[arg-type]


@command(app, "logout")
def logout_cmd(cli: Cli) -> None:
    """End this terminal's session (audited); the next command asks who you are.

    Example: mfg logout
    """
    from mfg.cli import session_file
    from mfg.services import accounts

    path = cli.session_path()
    saved = session_file.load(path)
    ended = False
    if saved is not None:
        ended = accounts.close_session(cli.database(), saved["token"], reason="logout", now=cli.now)
        session_file.remove(path)
    cli.emit(
        {"logged_out": ended, "user": saved.get("user") if saved else None},
        lambda: cli.out.print(
            f"logged out {saved.get('user')}" if saved and ended else "no session on this terminal"
        ),
    )


@command(app, "whoami")
def whoami_cmd(cli: Cli) -> None:
    """Who this terminal is logged in as, with the role and when the session ends if idle.

    Example: mfg whoami --json
    """
    from mfg.cli import session_file
    from mfg.services import accounts

    saved = session_file.load(cli.session_path())
    info = accounts.session_info(cli.database(), saved["token"]) if saved else None
    if info is None:
        cli.emit(
            {"session": False},
            lambda: cli.out.print(
                "not logged in on this terminal (mfg login); commands ask --user and a password"
            ),
        )
        return
    if info.expires_at < cli.now:
        cli.emit(
            {"session": False, "expired_at": info.expires_at},
            lambda: cli.out.print("your session ended (idle); mfg login"),
        )
        return
    cli.emit(
        {"session": True, **info.__dict__},
        lambda: cli.out.print(
            f"{info.username} ({info.full_name}, {info.role}) on {info.host}; logged in "
            f"{cli.local(info.opened_at)}, last command {cli.local(info.last_seen_at)}, "
            f"ends {idle_text(cli, info.expires_at)}",
            markup=False,
        ),
    )
