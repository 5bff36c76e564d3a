"""Login: user, password; the services' lock-out rules (5 wrong passwords lock the account)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Input, Label, Static

from mfg.domain.text import visible
from tui.messages import LoggedIn
from tui.widgets.footer import footer
from tui.workers import service_worker, ui

if TYPE_CHECKING:
    from mfg.errors import CellTrailError
    from mfg.services.uow import Actor

DEMO_HINT = "Demo database: users tech, tech2, qa, sponsor, admin; password demo-password"


class LoginScreen(Screen[None]):
    """The first screen: the cursor is in the user field, Tab moves on, Enter logs in."""

    BINDINGS = [Binding("escape", "clear", "Clear", show=False)]
    AUTO_FOCUS = "#user"

    def __init__(self, *, demo: bool = False) -> None:
        super().__init__()
        self.demo = demo

    def compose(self) -> ComposeResult:
        with Vertical(id="login-box"):
            yield Static("CellTrail", id="login-title")
            yield Static("GMP lot tracking for CAR-T manufacturing", id="login-subtitle")
            yield Label("User")
            yield Input(placeholder="username", id="user", max_length=32)
            yield Label("Password")
            yield Input(placeholder="password", password=True, id="password")
            yield Static("", id="login-error", classes="error", markup=False)
            if self.demo:
                yield Static(DEMO_HINT, id="demo-hint")
        yield footer()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        user = self.query_one("#user", Input)
        password = self.query_one("#password", Input)
        if event.input is user and not password.value:
            password.focus()
            return
        if not user.value or user.value.isspace():
            self._error("type your username")
            user.focus()
            return
        self._error("signing in ...", busy=True)
        # the services compare the name in its one canonical form (mfg.domain.identity):
        # surrounding spaces are refused there, never silently stripped here
        self.login(user.value, password.value)

    @service_worker(group="login")
    def login(self, username: str, password: str) -> None:
        from mfg.services import users

        app: Any = self.app
        now = app.now()
        actor = users.login(app.db, username, password, now=now)
        from mfg.domain.permissions import allowed

        if not allowed(actor.role, "lot.read"):
            ui(self, self._done, actor)
            return
        # Read Today's worklist (the screen lot readers land on) while the UI switches to it;
        # the handover starts at this log-in, as Today's own reads do.
        from concurrent.futures import Future

        from mfg.services import worklist

        future: Future[Any] = Future()
        app.today_prefetch = (actor.username, future)
        self.post_message(LoggedIn(actor))  # does not wait for the UI, unlike call_from_thread
        try:
            w = worklist.worklist(
                db=app.db, actor=actor, now=now, session_start=now, limit=worklist.LIMIT
            )
            future.set_result(w)
        except BaseException as e:  # Today reports it
            future.set_exception(e)

    def on_logged_in(self, message: LoggedIn) -> None:
        self._done(message.actor)  # type: ignore[arg-type]

    def _done(self, actor: Actor) -> None:
        self.query_one("#password", Input).value = ""
        self._error("")
        self.app.logged_in(actor)  # type: ignore[attr-defined]

    def refused(self, e: CellTrailError) -> None:
        if e.rule == "password-expired":  # the right password, too old: change it now
            self._change_password(e)
            return
        pw = self.query_one("#password", Input)
        pw.value = ""
        pw.focus()
        self._error(f"{e.message} [{e.rule}]")

    def notice(self, e: CellTrailError) -> None:
        """Why the previous session ended, shown without touching the fields."""
        self._error(f"{e.message} [{e.rule}]")

    def _change_password(self, e: CellTrailError) -> None:
        from tui.screens.password import PasswordChangeScreen

        self.query_one("#password", Input).value = ""
        self._error(f"{e.message} [{e.rule}]")
        username = self.query_one("#user", Input).value
        self.app.push_screen(PasswordChangeScreen(username, e.message), self._password_changed)

    def _password_changed(self, result: Actor | CellTrailError | None) -> None:
        from mfg.errors import CellTrailError

        if isinstance(result, CellTrailError):
            self.refused(result)
        elif result is not None:
            self._done(result)
        else:
            self.action_clear()
            self._error("password not changed: it must be changed before you can log in")

    def _error(self, text: str, busy: bool = False) -> None:
        w = self.query_one("#login-error", Static)
        w.update(visible(text))  # a refusal may quote a stored or typed name: as text
        w.set_class(busy, "busy")

    def action_clear(self) -> None:
        self.query_one("#user", Input).value = ""
        self.query_one("#password", Input).value = ""
        self.query_one("#user", Input).focus()
        self._error("")
