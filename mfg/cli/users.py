"""mfg user add|list|unlock|passwd|deactivate|activate."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from mfg.cli import app
from mfg.cli._common import Cli, command
from mfg.errors import RuleViolation

user_app = typer.Typer(help="User accounts and roles (admins).", no_args_is_help=True)
app.add_typer(user_app, name="user")


def _new_password(cli: Cli, from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if not sys.stdin.isatty():
        raise RuleViolation(
            "password",
            "password-required",
            "no terminal to ask the new password: use --password-stdin",
        )
    first = typer.prompt("New user's password (12+ characters)", hide_input=True)
    again = typer.prompt("Repeat the password", hide_input=True)
    if first != again:
        raise RuleViolation("password", "password-mismatch", "the two passwords differ")
    return str(first)


@command(user_app, "add")
def user_add(
    cli: Cli,
    name: Annotated[str, typer.Argument(help="Username (lower case).")],
    role: Annotated[str, typer.Option(help="technician, qa, sponsor or admin.")],
    full_name: Annotated[str, typer.Option(help="Printed name used in e-signatures.")],
    password_stdin: Annotated[bool, typer.Option(help="Read the new password from stdin.")] = False,
) -> None:
    """Add a user (admins only).

    Example: echo 'a long password' | mfg user add bob --role technician
    --full-name "Bob Tech" --password-stdin --user admin
    """
    from mfg.services import users

    actor = cli.actor()
    view = users.add_user(
        cli.database(),
        actor=actor,
        username=name,
        full_name=full_name,
        role=role,
        password=_new_password(cli, password_stdin),
        now=cli.now,
    )
    cli.emit(view, lambda: cli.out.print(f"user {view.username} ({view.role}) added"))


@command(user_app, "list")
def user_list(cli: Cli) -> None:
    """List accounts with role and lock state (admins only).

    Example: mfg user list --user admin
    """
    from mfg.services import users

    views = users.list_users(cli.database(), actor=cli.actor())

    def human() -> None:
        from rich.markup import escape
        from rich.table import Table

        t = Table("user", "full name", "role", "state", "failed logins")
        for v in views:
            state = "locked" if v.locked else ("active" if v.active else "deactivated")
            t.add_row(v.username, escape(v.full_name), v.role, state, str(v.failed_logins))
        cli.out.print(t)

    cli.emit(views, human)


@command(user_app, "unlock")
def user_unlock(
    cli: Cli,
    name: Annotated[str, typer.Argument(help="The locked account.")],
    reason: Annotated[str, typer.Option(help="Why it is unlocked (audited).")],
) -> None:
    """Unlock an account locked after 5 wrong passwords (admins only).

    Example: mfg user unlock bob --reason "identity confirmed by phone" --user admin
    """
    from mfg.services import users

    view = users.unlock(
        cli.database(), actor=cli.actor(), username=name, reason=reason, now=cli.now
    )
    cli.emit(view, lambda: cli.out.print(f"user {view.username} unlocked"))


@command(user_app, "passwd")
def user_passwd(
    cli: Cli,
    password_stdin: Annotated[bool, typer.Option(help="Read the new password from stdin.")] = False,
) -> None:
    """Change your own password, also an expired one (the current one is asked, or
    MFG_PASSWORD); the last N passwords (password_history) cannot be reused.

    Example: mfg user passwd --user bob
    """
    from mfg.cli import session_file
    from mfg.services import users

    name = cli._user
    if not name:
        saved = session_file.load(cli.session_path())
        name = saved.get("user") if saved else None
    if not name:
        raise RuleViolation("user", "user-required", "say who you are: --user NAME")
    old = cli.password("Current password")
    actor = users.change_own_password(
        cli.database(), name, old, _new_password(cli, password_stdin), now=cli.now
    )
    cli.emit(
        {"username": actor.username, "changed": True}, lambda: cli.out.print("password changed")
    )


def _set_active(cli: Cli, name: str, reason: str, active: bool) -> None:
    from mfg.services import users

    view = users.set_active(
        cli.database(), actor=cli.actor(), username=name, active=active, reason=reason, now=cli.now
    )
    cli.emit(
        view,
        lambda: cli.out.print(f"user {view.username} {'activated' if active else 'deactivated'}"),
    )


@command(user_app, "deactivate")
def user_deactivate(
    cli: Cli,
    name: Annotated[str, typer.Argument(help="Account to deactivate (never deleted).")],
    reason: Annotated[str, typer.Option(help="Why (audited).")],
) -> None:
    """Deactivate an account; its records and signatures stay attributable.

    Example: mfg user deactivate bob --reason "left the company" --user admin
    """
    _set_active(cli, name, reason, False)


@command(user_app, "activate")
def user_activate(
    cli: Cli,
    name: Annotated[str, typer.Argument(help="Account to reactivate.")],
    reason: Annotated[str, typer.Option(help="Why (audited).")],
) -> None:
    """Reactivate a deactivated account.

    Example: mfg user activate bob --reason "returned" --user admin
    """
    _set_active(cli, name, reason, True)


@command(user_app, "role")
def user_role(
    cli: Cli,
    name: Annotated[str, typer.Argument(help="The account.")],
    role: Annotated[str, typer.Option(help="technician, qa, sponsor or admin.")],
    reason: Annotated[str, typer.Option(help="Why (audited).")],
) -> None:
    """Give an account another role; its open sessions end at their next action (admins only).

    Example: mfg user role bob --role qa --reason "trained and approved as QA" --user admin
    """
    from mfg.services import users

    view = users.set_role(
        cli.database(), actor=cli.actor(), username=name, role=role, reason=reason, now=cli.now
    )
    cli.emit(view, lambda: cli.out.print(f"user {view.username} is now {view.role}"))


@command(user_app, "events")
def user_events(
    cli: Cli,
    hours: Annotated[int, typer.Option(help="How far back, in hours (1-8760).")] = 24,
) -> None:
    """Failed log-ins, bursts of failures, lock-outs, unlocks and deactivations (admins only).

    A burst is 3 or more failed log-ins for one name within 15 minutes.

    Example: mfg user events --hours 72 --user admin
    """
    from datetime import timedelta

    from mfg.services import accounts

    if not 1 <= hours <= 8760:
        raise RuleViolation("hours", "hours-range", f"--hours takes 1 to 8760, not {hours}")
    report = accounts.security_events(
        cli.database(), actor=cli.actor(), since=cli.now - timedelta(hours=hours)
    )

    def human() -> None:
        from rich.table import Table

        from mfg.domain.text import rich_inert

        cli.out.print(
            f"since {cli.local(report.since)}: {report.failed_logins} failed log-in(s), "
            f"{report.lockouts} lock-out(s), {len(report.bursts)} burst(s)"
        )
        for b in report.bursts:
            cli.out.print(
                f"[bold red]BURST[/] {rich_inert(b.account)}: {b.failures} failures "
                f"{cli.local(b.first_at)} - {cli.local(b.last_at)}"
                + (" (account locked)" if b.locked else "")
            )
        if report.events:
            t = Table("when", "event", "account", "detail")
            for e in report.events:
                t.add_row(cli.local(e.at), e.action, rich_inert(e.account), rich_inert(e.detail))
            cli.out.print(t)

    cli.emit(report, human)
