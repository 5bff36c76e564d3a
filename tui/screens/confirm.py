"""A yes/no confirmation, typed by its result."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static

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
            yield Static(self.title_text, classes="form-title", markup=False)
            yield Static(self.body, markup=False)
            yield Static("Enter: yes   Esc: no", classes="confirm")
        yield footer()

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)
