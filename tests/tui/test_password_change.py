"""An expired password at the TUI's log-in: the log-in screen asks for a new one (current
password, the new one twice), with the rules of ``mfg user passwd`` (length, history)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from textual.widgets import Input, Static

from mfg.services import audit_trail, users
from mfg.services.uow import Actor, Database
from tests.support.constants import NOW, PASSWORD
from tests.tui.conftest import drive, login, settle

LATER = NOW + timedelta(days=200)  # passwords expire after 90 days (the default)
FIRST = "first-new-secret-1"
SECOND = "second-new-secret-2"
ADMIN = Actor("admin", "Ada Admin", "admin")  # type: ignore[arg-type]


def drive_at(db: Database, script: Any, clock: Any = lambda: LATER) -> None:
    drive(db, script, clock=clock)


def screen(app: Any) -> str:
    return type(app.screen).__name__


def error(app: Any) -> str:
    return str(app.screen.query_one("#pw-error", Static).render())


async def fill(pilot: Any, current: str, new: str, repeat: str) -> None:
    for selector, text in (("#pw-current", current), ("#pw-new", new), ("#pw-repeat", repeat)):
        field = pilot.app.screen.query_one(selector, Input)
        field.value = ""
        field.focus()
        await pilot.press(*text)
    await pilot.press("enter")
    await settle(pilot)


def changes(db: Database) -> int:
    return [e.action for e in audit_trail.audit_log(db=db, actor=ADMIN)].count(
        "user.password_changed"
    )


def test_an_expired_password_is_changed_on_the_log_in_screen(tui_db: Database) -> None:
    # an earlier password in the history: it cannot come back
    users.change_own_password(tui_db, "tech", PASSWORD, FIRST, now=NOW)

    async def script(app: Any, pilot: Any) -> None:
        await pilot.press(*"tech", "tab", *FIRST, "enter")
        await settle(pilot)
        assert screen(app) == "PasswordChangeScreen" and app.actor is None
        assert app.screen.focused is app.screen.query_one("#pw-current", Input)
        await fill(pilot, FIRST, SECOND, SECOND + "x")
        assert "differ" in error(app) and screen(app) == "PasswordChangeScreen"
        await fill(pilot, FIRST, "short", "short")
        assert error(app).startswith("new password: ") and "password-too-short" in error(app)
        await fill(pilot, FIRST, PASSWORD, PASSWORD)  # the one before: in the history
        assert "password-reused" in error(app)
        assert app.screen.query_one("#pw-new", Input).value == ""
        await fill(pilot, "wrong-password", SECOND, SECOND)
        assert error(app).startswith("current password: ") and "attempt(s) left" in error(app)
        assert changes(tui_db) == 1  # nothing written by the refusals
        await fill(pilot, FIRST, SECOND, SECOND)
        assert screen(app) == "TodayScreen" and app.actor.username == "tech"

    drive_at(tui_db, script)
    assert changes(tui_db) == 2
    assert users.login(tui_db, "tech", SECOND, now=LATER).username == "tech"


def test_esc_leaves_the_password_unchanged_and_the_user_logged_out(tui_db: Database) -> None:
    async def script(app: Any, pilot: Any) -> None:
        await pilot.press(*"tech", "tab", *PASSWORD, "enter")
        await settle(pilot)
        assert screen(app) == "PasswordChangeScreen"
        await pilot.press("escape")
        await settle(pilot)
        assert screen(app) == "LoginScreen" and app.actor is None
        assert "not changed" in str(app.screen.query_one("#login-error", Static).render())

    drive_at(tui_db, script)
    assert changes(tui_db) == 0


def test_a_password_that_expired_while_the_screen_was_locked_is_changed_to_unlock(
    tui_db: Database,
) -> None:
    times = [NOW]

    async def script(app: Any, pilot: Any) -> None:
        await login(pilot, "tech")
        assert screen(app) == "LotBoardScreen"
        await pilot.press("ctrl+l")
        await settle(pilot)
        assert screen(app) == "LockScreen" and app.actor is None
        times[0] = LATER  # the screen stayed locked past the password's expiry
        await pilot.press(*PASSWORD, "enter")
        await settle(pilot)
        assert screen(app) == "PasswordChangeScreen" and app.actor is None
        await pilot.press("escape")
        await settle(pilot)
        assert screen(app) == "LockScreen" and app.actor is None
        assert "not changed" in str(app.screen.query_one("#lock-error", Static).render())
        await pilot.press(*PASSWORD, "enter")
        await settle(pilot)
        await fill(pilot, PASSWORD, SECOND, SECOND)
        assert screen(app) == "LotBoardScreen" and app.actor.username == "tech"

    drive_at(tui_db, script, clock=lambda: times[0])
    assert changes(tui_db) == 1
