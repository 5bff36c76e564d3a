"""The lock screen (issue 12): after the idle time, or ctrl+l. It covers the whole terminal
(nothing of the work behind it stays visible); the same user's password unlocks (same lock-out
rules as the log-in), F2 lets another user log in (switch user), F10 logs out."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Footer, Input, Label, Static

from mfg.domain.text import visible
from tui.workers import service_worker, ui

if TYPE_CHECKING:
    from mfg.errors import CellTrailError
    from mfg.services.uow import Actor


class LockScreen(Screen[None]):
    """Locked: the user's password, or switch user / log out."""

    BINDINGS = [
        Binding("f2", "switch_user", "Switch user"),
        Binding("f10", "logout", "Log out"),
    ]
    AUTO_FOCUS = "#lock-password"

    def __init__(self, actor: Actor) -> None:
        super().__init__()
        self.actor = actor

    def compose(self) -> ComposeResult:
        with Vertical(id="lock-box"):
            yield Static("CellTrail is locked", id="lock-title")
            yield Static(
                f"{visible(self.actor.full_name)} ({visible(self.actor.username)}) was idle or "
                "locked the screen.",
                id="lock-who",
                markup=False,
            )
            yield Label("Password")
            yield Input(placeholder="password", password=True, id="lock-password")
            yield Static("", id="lock-error", classes="error", markup=False)
            yield Static("F2: another user logs in    F10: log out", id="lock-hint")
        yield Footer()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if not event.value:
            self._error("type your password to unlock")
            return
        self._error("checking ...")
        self.unlock(event.value)

    @service_worker(group="unlock")
    def unlock(self, password: str) -> None:
        from mfg.services import users

        app: Any = self.app
        actor = users.login(app.db, self.actor.username, password, now=app.now())
        ui(self, app.unlocked, actor)

    def refused(self, e: CellTrailError) -> None:
        from mfg.errors import AuthenticationFailed

        app: Any = self.app
        if isinstance(e, AuthenticationFailed) and e.rule in ("account-locked",):
            app.run_worker(app.end_session("account-locked", e), exclusive=False)
            return
        if e.rule == "password-expired":  # expired while locked: change it to unlock
            self._change_password(e)
            return
        pw = self.query_one("#lock-password", Input)
        pw.value = ""
        pw.focus()
        self._error(f"{e.message} [{e.rule}]")

    def _change_password(self, e: CellTrailError) -> None:
        from tui.screens.password import PasswordChangeScreen

        self.query_one("#lock-password", Input).value = ""
        self._error(f"{e.message} [{e.rule}]")
        self.app.push_screen(
            PasswordChangeScreen(self.actor.username, e.message), self._password_changed
        )

    def _password_changed(self, result: Actor | CellTrailError | None) -> None:
        from mfg.errors import CellTrailError

        app: Any = self.app
        if isinstance(result, CellTrailError):
            self.refused(result)
        elif result is not None:
            app.unlocked(result)
        else:
            self.query_one("#lock-password", Input).focus()
            self._error("password not changed: it must be changed before you can unlock")

    def _error(self, text: str) -> None:
        self.query_one("#lock-error", Static).update(visible(text))  # (a refusal's message)

    async def action_switch_user(self) -> None:
        app: Any = self.app
        await app.switch_user()

    async def action_logout(self) -> None:
        app: Any = self.app
        await app.end_session("logout", None)
