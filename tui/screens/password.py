"""Change an expired password at log-in (21 CFR 11.300(b), issue 12).

The log-in refuses an expired password (``password-expired``); the log-in screen then opens this
dialog: the current password, the new one twice. The same service and rules as
``mfg user passwd`` (``users.change_own_password``: the current password is checked with the
log-in's lock-out rules, the new one follows the policy and differs from the last N). The dialog's
result is the logged-in actor (the change is the log-in), the refusal that ended it (the account
locked by wrong current passwords: the log-in screen shows it), or None when cancelled (Esc).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeAlias

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static

from mfg.auth import MIN_PASSWORD_LENGTH
from mfg.domain.text import visible
from tui.widgets.footer import footer
from tui.workers import service_worker, ui

if TYPE_CHECKING:
    from mfg.errors import CellTrailError
    from mfg.services.uow import Actor

    Outcome: TypeAlias = Actor | CellTrailError | None

FIELDS = ("#pw-current", "#pw-new", "#pw-repeat")


class PasswordChangeScreen(ModalScreen["Outcome"]):
    """Current password, new password, the new one again; Enter moves on, then changes it."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]
    AUTO_FOCUS = "#pw-current"

    def __init__(self, username: str, why: str) -> None:
        super().__init__()
        self.username = username
        self.why = why

    def compose(self) -> ComposeResult:
        with Vertical(id="pw-box"):
            yield Static("Change your password", id="pw-title")
            yield Static(visible(self.why), id="pw-why", markup=False)
            yield Label("Current password")
            yield Input(password=True, id="pw-current")
            yield Label(f"New password ({MIN_PASSWORD_LENGTH}+ characters, not a recent one)")
            yield Input(password=True, id="pw-new")
            yield Label("New password again")
            yield Input(password=True, id="pw-repeat")
            yield Static("", id="pw-error", classes="error", markup=False)
        yield footer()

    def _value(self, selector: str) -> str:
        return self.query_one(selector, Input).value

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        empty = next((f for f in FIELDS if not self._value(f)), None)
        if empty is not None:  # Enter moves on to the first field still empty
            self.query_one(empty, Input).focus()
            return
        if self._value("#pw-new") != self._value("#pw-repeat"):
            self._refuse("#pw-new", "new password again: the two differ [password-mismatch]")
            return
        self._error("changing ...")
        self.change(self._value("#pw-current"), self._value("#pw-new"))

    @service_worker(group="password")
    def change(self, current: str, new: str) -> None:
        from mfg.services import users

        app: Any = self.app
        actor = users.change_own_password(app.db, self.username, current, new, now=app.now())
        ui(self, self.dismiss, actor)

    def refused(self, e: CellTrailError) -> None:
        if e.rule == "account-locked":
            self.dismiss(e)
            return
        field = "#pw-new" if e.rule.startswith("password-") else "#pw-current"
        label = "new password" if field == "#pw-new" else "current password"
        self._refuse(field, f"{label}: {e.message} [{e.rule}]")

    def _refuse(self, field: str, text: str) -> None:
        """Clear the field the refusal is about (and the repeat after it), the cursor there."""
        for f in FIELDS[FIELDS.index(field) :]:
            self.query_one(f, Input).value = ""
        self.query_one(field, Input).focus()
        self._error(text)

    def _error(self, text: str) -> None:
        self.query_one("#pw-error", Static).update(visible(text))  # (a refusal's message)

    def action_cancel(self) -> None:
        self.dismiss(None)
