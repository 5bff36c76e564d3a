"""The e-signature dialog (21 CFR 11.50 / 11.200): meaning, printed name, time, password.

``SignDialog`` is a ``ModalScreen`` typed by its result: whatever the ``sign`` callable returns
(the service's view of what was signed), or ``None`` when cancelled. ``sign(password)`` runs in a
thread worker and calls the service, which re-authenticates with the password (same lock-out
rules as login) and writes the signature in one transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static
from textual.worker import Worker, WorkerState

from mfg.domain.text import rich_inert, visible
from mfg.errors import CellTrailError
from tui.widgets.footer import footer
from tui.wording import without_flags
from tui.workers import service_worker

T = TypeVar("T")


class SignDialog(ModalScreen[T | None], Generic[T]):
    BINDINGS = [Binding("escape", "cancel", "Cancel")]
    AUTO_FOCUS = "#sign-password"

    def __init__(
        self,
        *,
        meaning: str,
        record: str,
        printed_name: str,
        username: str,
        when: str,
        summary: str,
        sign: Callable[[str], T],
        clock: Callable[[], str] | None = None,
    ) -> None:
        super().__init__()
        self.meaning = meaning
        self.record = record
        self.printed_name = printed_name
        self.username = username
        self.when = when
        self.summary = summary
        self._sign = sign
        self._clock = clock  # the time shown is the time of signing, not of opening
        self._signed: tuple[T] | tuple[()] = ()

    def compose(self) -> ComposeResult:
        with Vertical(id="sign-box"):
            yield Static("Electronic signature", classes="form-title")
            yield Static(self._manifest(), id="sign-manifest")
            yield Static(visible(self.summary, newline_ok=True), id="sign-summary", markup=False)
            yield Label("Password (signing re-checks it)")
            yield Input(password=True, id="sign-password")
            yield Static("", id="sign-error", classes="error", markup=False)
            yield Static(
                "Enter signs, Esc cancels. Your signature is the legally binding equivalent "
                "of your handwritten one.",
                id="sign-legal",
            )
        yield footer()

    def _manifest(self) -> str:
        return (
            f"Meaning:  [b]{self.meaning}[/b]\n"
            f"Record:   {rich_inert(self.record)}\n"
            f"Signer:   [b]{rich_inert(self.printed_name)}[/b] ({rich_inert(self.username)})\n"
            f"Time:     {self.when}"
        )

    def _refresh_time(self) -> None:
        if self._clock is not None:
            self.when = self._clock()
            self.query_one("#sign-manifest", Static).update(self._manifest())

    def on_screen_resume(self) -> None:
        self._refresh_time()  # back from the lock screen: minutes may have passed

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._refresh_time()
        if not event.value:
            self.query_one("#sign-error", Static).update("type your password to sign")
            return
        self.query_one("#sign-error", Static).update("signing ...")
        self.run_sign(event.value)

    @service_worker(group="sign")
    def run_sign(self, password: str) -> None:
        self._signed = (self._sign(password),)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        # Dismiss once the signing worker has finished: dismissing from inside it would unmount
        # this screen, and so cancel the worker, while it is still running.
        if event.worker.name == "run_sign" and event.state == WorkerState.SUCCESS and self._signed:
            self.dismiss(self._signed[0])

    def refused(self, e: CellTrailError) -> None:
        pw = self.query_one("#sign-password", Input)
        pw.value = ""
        pw.focus()
        said = visible(without_flags(e.message))  # a refusal may quote stored text
        self.query_one("#sign-error", Static).update(f"{said} [{e.rule}]")

    def action_cancel(self) -> None:
        self.dismiss(None)

    @classmethod
    def for_actor(cls, app: Any, **kw: Any) -> SignDialog[Any]:
        a = app.actor
        db = app._db

        def when() -> str:
            now = app.now()
            return db.local(now).strftime("%Y-%m-%d %H:%M %Z") if db else str(now.isoformat())

        return cls(printed_name=a.full_name, username=a.username, when=when(), clock=when, **kw)
