"""QA queue: results waiting for their second-person verification, lots awaiting disposition.

| key   | action                                              |
|-------|-----------------------------------------------------|
| enter | open the lot                                        |
| v     | verify the selected result (not your own entry)     |
| tab   | move between the two lists                          |
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Header, Static

from mfg.domain.text import visible
from tui.messages import LotChanged, LotWatcher, OpenLot
from tui.widgets.footer import footer
from tui.widgets.table import Table
from tui.wording import not_read, with_unit
from tui.workers import service_worker, ui

if TYPE_CHECKING:
    from mfg.errors import CellTrailError
    from mfg.services.board import BoardRow, ResultToVerify

# Lots put in the table before the first paint, then per event-loop turn (as on Today).
FIRST_ROWS = 50
FILL_CHUNK = 250
EVAL_STYLE = {"pass": "green", "fail": "bold red"}


class QaQueueScreen(LotWatcher, Screen[None]):
    BINDINGS = [
        Binding("enter", "open", "Open", show=False),
        Binding("v", "verify", "Verify"),
        Binding("b", "app.mode('board')", "Board"),
        Binding("t", "app.mode('today')", "Today"),
        Binding("p", "app.mode('reports')", "Reports"),
        Binding("r", "reload", "Reload"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.results: list[ResultToVerify] = []
        self._fill_token = 0
        self.shown = False  # a queue has been read and shown

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False)
        yield Static("Results to verify", id="verify-title", classes="section-title")
        yield Table(id="to-verify", cursor_type="row", zebra_stripes=True)
        yield Static("Lots awaiting disposition", id="dispose-title", classes="section-title")
        yield Table(id="to-dispose", cursor_type="row", zebra_stripes=True)
        yield footer()

    def on_mount(self) -> None:
        self.query_one("#to-verify", DataTable).add_columns(
            "Lot", "Subject", "Test", "Result", "Eval", "Entered by"
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
        if app.actor is None:  # logged out (or locked) while this was queued
            return
        results = board.results_to_verify(db=app.db, actor=app.actor)
        awaiting = board.awaiting_disposition(db=app.db, actor=app.actor, now=app.now())
        ui(self, self.show, results, awaiting)

    def show(self, results: list[ResultToVerify], awaiting: list[BoardRow]) -> None:
        self.results, self.shown = results, True
        verify = self.query_one("#to-verify", DataTable)
        dispose = self.query_one("#to-dispose", DataTable)
        verify.clear()
        dispose.clear()
        me = getattr(getattr(self.app, "actor", None), "username", "")
        for i, r in enumerate(results):
            value = Text(visible(with_unit(r.value_text, r.unit)))  # users' text: no markup
            who = Text(visible(r.entered_by), style="dim" if r.entered_by == me else "")
            if r.entered_by == me:
                who.append(" (you)", style="dim")
            verify.add_row(  # stored text as Text (a str cell is read as markup)
                Text(visible(r.lot_number)),
                Text(visible(r.subject_id)),
                Text(visible(r.test_code)),
                value,
                Text(r.evaluation, style=EVAL_STYLE.get(r.evaluation, "")),
                who,
                key=str(i),
            )
        self.query_one("#verify-title", Static).update(f"Results to verify ({len(results)})")
        self._fill_token += 1
        self._fill(awaiting, 0, FIRST_ROWS, self._fill_token)
        if not isinstance(self.focused, DataTable):  # the first load; a refresh keeps the focus
            (verify if verify.row_count else dispose).focus()

    def _fill(self, rows: list[BoardRow], start: int, stop: int, token: int) -> None:
        """Lots awaiting disposition ``start:stop``, then the rest a chunk per event-loop turn
        (the table measures every new row: thousands at once held the first paint)."""
        if token != self._fill_token:
            return  # a newer queue replaced this one
        dispose = self.query_one("#to-dispose", DataTable)
        for row in rows[start:stop]:
            dose = "-" if row.dose_met is None else ("met" if row.dose_met else "NOT met")
            dispose.add_row(
                Text(visible(row.lot_number)),
                Text(visible(row.subject_id)),
                Text(visible(row.state)),
                dose,
                " ".join(row.flags),
                key=row.lot_number,
            )
        if stop < len(rows):
            self.set_timer(0.01, lambda: self._fill(rows, stop, stop + FILL_CHUNK, token))

    def _selected(self) -> tuple[str, ResultToVerify | None] | None:
        table = self.focused
        if not isinstance(table, DataTable) or not table.row_count:
            return None
        key = str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)
        if table.id == "to-verify":
            r = self.results[int(key)]
            return r.lot_number, r
        return key, None

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_open()

    def action_open(self) -> None:
        chosen = self._selected()
        if chosen:
            self.post_message(OpenLot(chosen[0], "tab-release"))

    def action_verify(self) -> None:
        from tui.screens.confirm import ConfirmDialog

        chosen = self._selected()
        if not chosen or chosen[1] is None:
            self.app.notify("choose a result in the upper list", severity="warning")
            return
        r = chosen[1]
        body = (
            f"{r.lot_number} ({r.subject_id}): {r.test_code} = {with_unit(r.value_text, r.unit)} -> "
            f"{r.evaluation}\nentered by {r.entered_by}"
        )

        def answered(yes: bool | None) -> None:
            if yes:
                self.verify(r.lot_number, r.test_code)

        self.app.push_screen(ConfirmDialog("Verify this result?", body), answered)

    @service_worker(group="qa-verify")
    def verify(self, lot_number: str, test_code: str) -> None:
        from mfg.services import release

        app: Any = self.app
        release.verify_result(lot_number, test_code, db=app.db, actor=app.actor, now=app.now())
        ui(self, self._verified, lot_number, test_code)

    def _verified(self, lot_number: str, test_code: str) -> None:
        self.app.notify(f"{lot_number} {test_code} verified")
        self.post_message(LotChanged(lot_number))

    def refused(self, e: CellTrailError) -> None:
        self.app.refused(e)  # type: ignore[attr-defined]
        if not self.shown:  # nothing read yet: empty lists would read as "nothing to do"
            for title in ("#verify-title", "#dispose-title"):
                self.query_one(title, Static).update(not_read("QA queue", e))
