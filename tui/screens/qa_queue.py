"""QA queue: lots with results to verify, and lots awaiting disposition."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static

from tui.messages import OpenLot
from tui.workers import service_worker, ui

if TYPE_CHECKING:
    from mfg.errors import CellTrailError
    from mfg.services.board import Board

AWAITING = ("harvested", "in_release_testing", "conditionally_released")


class QaQueueScreen(Screen[None]):
    BINDINGS = [
        Binding("enter", "open", "Open", show=False),
        Binding("b", "app.mode('board')", "Board"),
        Binding("p", "app.mode('reports')", "Reports"),
        Binding("r", "reload", "Reload"),
    ]

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False)
        yield Static("Results to verify", classes="section-title")
        yield DataTable(id="to-verify", cursor_type="row")
        yield Static("Lots awaiting disposition", classes="section-title")
        yield DataTable(id="to-dispose", cursor_type="row")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#to-verify", DataTable).add_columns(
            "Lot", "Subject", "State", "Unverified", "Pending", "Flags"
        )
        self.query_one("#to-dispose", DataTable).add_columns(
            "Lot", "Subject", "State", "Dose", "Flags"
        )
        self.action_reload()

    def action_reload(self) -> None:
        self.load()

    def lot_changed(self, lot_number: str | None) -> None:
        self.load()

    @service_worker(group="qa")
    def load(self) -> None:
        from mfg.services import board

        app: Any = self.app
        b = board.board(db=app.db, actor=app.actor, now=app.now(), active_only=True)
        ui(self, self.show, b)

    def show(self, b: Board) -> None:
        verify = self.query_one("#to-verify", DataTable)
        dispose = self.query_one("#to-dispose", DataTable)
        verify.clear()
        dispose.clear()
        for r in b.rows:
            if r.unverified_results:
                verify.add_row(
                    r.lot_number,
                    r.subject_id,
                    r.state,
                    str(r.unverified_results),
                    str(r.pending_results),
                    " ".join(r.flags),
                    key=r.lot_number,
                )
            elif r.state in AWAITING:
                dose = "-" if r.dose_met is None else ("met" if r.dose_met else "NOT met")
                dispose.add_row(
                    r.lot_number, r.subject_id, r.state, dose, " ".join(r.flags), key=r.lot_number
                )
        (verify if verify.row_count else dispose).focus()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        if event.row_key.value:
            self.post_message(OpenLot(str(event.row_key.value)))

    def action_open(self) -> None:
        table = self.focused
        if isinstance(table, DataTable) and table.row_count:
            key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key
            if key.value:
                self.post_message(OpenLot(str(key.value)))

    def refused(self, e: CellTrailError) -> None:
        self.app.refused(e)  # type: ignore[attr-defined]
