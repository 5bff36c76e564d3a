"""A yes/no confirmation, typed by its result."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static

from mfg.domain.text import visible
from tui.widgets.footer import footer


class ConfirmDialog(ModalScreen[bool]):
    BINDINGS = [
        Binding("enter,y", "answer(True)", "Yes"),
        Binding("escape,n", "answer(False)", "No"),
    ]

    def __init__(self, title: str, body: str) -> None:
        super().__init__()
        self.title_text = title
        self.body = body

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm-box", classes="form-box"):
            # the body quotes stored text (a subject id, who entered a value): shown as text
            yield Static(visible(self.title_text), classes="form-title", markup=False)
            yield Static(visible(self.body, newline_ok=True), markup=False)
            yield Static("Enter: yes   Esc: no", classes="confirm")
        yield footer()

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)
