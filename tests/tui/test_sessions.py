"""Issue 12: TUI idle lock, unlock, switch user, log out, and a deactivated user logged out at
the next action. The idle clock is the app's injected clock: no sleeps. Deterministic under
``-n 2``: no change polling (a reload at a random moment), the session is recorded in a thread
worker that ``settle`` waits for, and every wait is on a condition."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from textual.widgets import Input, Static

from mfg.services import audit_trail, users
from mfg.services.uow import Database
from tests.conftest import add_users
from tests.support.constants import NOW, PASSWORD
from tests.tui.conftest import drive, login, settle


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw: float) -> None:
        self.now += timedelta(**kw)


def screen_name(app: Any) -> str:
    return type(app.screen).__name__


def text_of(app: Any, selector: str) -> str:
    return str(app.screen.query_one(selector, Static).render())


def actions(db: Database) -> list[str]:
    admin = add_users.__globals__["Actor"]("admin", "Ada Admin", "admin")
    return [e.action for e in audit_trail.audit_log(db=db, actor=admin)]


def test_idle_lock_after_the_site_idle_time_then_unlock(tui_db: Database) -> None:
    clock = Clock()

    async def script(app: Any, pilot: Any) -> None:
        await login(pilot, "tech")
        assert screen_name(app) == "LotBoardScreen"
        clock.advance(minutes=14)
        await pilot.press("down")  # activity restarts the idle clock
        await settle(pilot)  # the key reached the app before the clock moves on
        clock.advance(minutes=14)
        assert not app.check_idle_lock()
        clock.advance(minutes=1, seconds=1)
        assert app.check_idle_lock()
        await pilot.pause()
        assert screen_name(app) == "LockScreen" and app.actor is None
        assert "BH002" not in str(app.screen.query_one("#lock-box").render())
        await pilot.press("ctrl+o")  # nothing behind the lock answers
        await pilot.pause()
        assert screen_name(app) == "LockScreen"
        await pilot.press(*"wrong-password", "enter")
        await settle(pilot)
        assert screen_name(app) == "LockScreen" and "attempt(s) left" in text_of(app, "#lock-error")
        await pilot.press(*PASSWORD, "enter")
        await settle(pilot)
        assert screen_name(app) == "LotBoardScreen" and app.actor.username == "tech"

    drive(tui_db, script, clock=clock)


def test_the_signing_dialog_shows_the_time_of_signing_after_a_lock(tui_db: Database) -> None:
    """Opened, locked for 20 minutes, unlocked: the manifest's time is now, not the opening's."""
    clock = Clock()

    async def script(app: Any, pilot: Any) -> None:
        from tui.screens.sign_dialog import SignDialog

        await login(pilot, "qa")
        dialog = SignDialog.for_actor(
            app, meaning="released", record="disposition", summary="-", sign=lambda pw: None
        )
        app.push_screen(dialog)
        await settle(pilot)
        opened = f"{app._db.local(NOW):%H:%M}"
        assert opened in text_of(app, "#sign-manifest")
        await pilot.press("ctrl+l")
        await settle(pilot)
        clock.advance(minutes=20)
        await pilot.press(*PASSWORD, "enter")
        await settle(pilot)
        assert app.screen is dialog
        shown = text_of(app, "#sign-manifest")
        assert f"{app._db.local(clock.now):%H:%M}" in shown and opened not in shown

    drive(tui_db, script, clock=clock)


def test_switch_user_from_the_lock_screen(tui_db: Database) -> None:
    clock = Clock()

    async def script(app: Any, pilot: Any) -> None:
        await login(pilot, "tech")
        await pilot.press("ctrl+l")
        await pilot.pause()
        assert screen_name(app) == "LockScreen"
        await pilot.press("f2")
        await settle(pilot)
        assert screen_name(app) == "LoginScreen"
        assert app.screen.query_one("#user", Input).value == ""
        await login(pilot, "qa")
        assert app.actor.username == "qa" and "Quinn" in app.sub_title
        assert screen_name(app) == "LotBoardScreen"

    drive(tui_db, script, clock=clock)
    got = actions(tui_db)
    assert got.count("session.opened") == 2 and got.count("session.closed") >= 1


def test_log_out_on_a_key_and_in_the_palette(tui_db: Database) -> None:
    clock = Clock()

    async def script(app: Any, pilot: Any) -> None:
        await login(pilot, "tech")
        await pilot.press("f10")
        await settle(pilot)
        assert screen_name(app) == "LoginScreen" and app.actor is None
        assert "logged out" in text_of(app, "#login-error")
        await login(pilot, "tech")
        assert screen_name(app) == "LotBoardScreen"
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert "Log out" in titles and "Lock screen" in titles
        await app.action_logout()
        await settle(pilot)
        assert screen_name(app) == "LoginScreen" and app.actor is None
        assert "Log out" not in [c.title for c in app.get_system_commands(app.screen)]

    drive(tui_db, script, clock=clock)


def test_a_deactivated_user_is_logged_out_at_the_next_action(tui_db: Database) -> None:
    clock = Clock()
    admin = add_users.__globals__["Actor"]("admin", "Ada Admin", "admin")

    async def script(app: Any, pilot: Any) -> None:
        await login(pilot, "tech")
        assert screen_name(app) == "LotBoardScreen"
        users.set_active(tui_db, actor=admin, username="tech", active=False, reason="left", now=NOW)
        await pilot.press("enter")  # open the lot: a service call
        await settle(pilot, rounds=5)
        assert screen_name(app) == "LoginScreen" and app.actor is None
        assert "deactivated" in text_of(app, "#login-error")

    drive(tui_db, script, clock=clock)


def test_an_admin_sees_failed_logins_at_log_in(tui_db: Database) -> None:
    clock = Clock()
    notes: list[str] = []

    async def script(app: Any, pilot: Any) -> None:
        for _ in range(3):
            await pilot.press("escape")  # clear the form: the cursor back in the user field
            await login(pilot, "qa", "wrong-password")
        original = app.notify

        def capture(message: str, **kw: Any) -> None:
            notes.append(message)
            original(message, **kw)

        app.notify = capture
        await pilot.press("escape")
        await login(pilot, "admin")
        assert app.actor is not None and app.actor.username == "admin"
        await settle(pilot)  # the session worker has handed its notice to the UI

    drive(tui_db, script, clock=clock)
    assert any("3 failed log-in(s)" in n and "qa (3)" in n for n in notes), notes


def test_nothing_but_unlock_switch_user_and_log_out_works_on_a_locked_screen(
    tui_db: Database,
) -> None:
    clock = Clock()

    async def script(app: Any, pilot: Any) -> None:
        await login(pilot, "tech")
        await pilot.press("ctrl+l")
        await settle(pilot)
        assert screen_name(app) == "LockScreen"
        for key in ("f1", "ctrl+p", "f3", "ctrl+o", "ctrl+b", "ctrl+q"):
            await pilot.press(key)
            await settle(pilot)
            assert screen_name(app) == "LockScreen", key
            assert app.is_running, key
        app.action_command_palette()  # the header's icon calls it directly
        app.action_help()
        await settle(pilot)
        assert screen_name(app) == "LockScreen"
        # the lock's footer offers only its own keys
        offered = {b.binding.action for b in app.screen.active_bindings.values() if b.enabled}
        assert {"switch_user", "logout"} <= offered
        assert not offered & {"help", "command_palette", "scanner", "quit", "scan"}, offered
        await pilot.press(*PASSWORD, "enter")
        await settle(pilot)
        assert screen_name(app) == "LotBoardScreen" and app.actor.username == "tech"
        await pilot.press("f1")  # unlocked: help works again
        await settle(pilot)
        assert screen_name(app) == "HelpScreen"

    drive(tui_db, script, clock=clock)
