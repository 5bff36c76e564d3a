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
    from mfg.services.board import Board, BoardRow, ResultToVerify

# Lots read and put in the table before the first paint (the newest), then up to QUEUE_LIMIT,
# FILL_CHUNK per event-loop turn (as on the board); the title counts them all.
FIRST_ROWS = 50
QUEUE_LIMIT = 500
RESULTS_SHOWN = 500  # results to verify: the oldest so many
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
        self.load(self._first_read())

    def lot_changed(self, lot_number: str | None) -> None:
        self.load(self._first_read())

    def _first_read(self) -> int:
        """How many lots to read before the queue is shown again: the first few on a first
        load; as many as are shown on a reload (the cursor may be on any of them)."""
        shown = self.query_one("#to-dispose", DataTable).row_count
        return QUEUE_LIMIT if shown > FIRST_ROWS else FIRST_ROWS

    @service_worker(group="qa")
    def load(self, limit: int) -> None:
        from mfg.services import board

        app: Any = self.app
        if app.actor is None:  # logged out (or locked) while this was queued
            return
        # one more than shown: whether more are waiting
        results = board.results_to_verify(db=app.db, actor=app.actor, limit=RESULTS_SHOWN + 1)
        now = app.now()
        awaiting = board.awaiting_page(db=app.db, actor=app.actor, now=now, limit=limit)
        ui(self, self.show, results, awaiting, limit)

    @service_worker(group="qa-rest")
    def load_rest(self, token: int) -> None:
        """The lots awaiting disposition up to QUEUE_LIMIT, once the first are on screen
        (``token``: the list they complete; a newer list makes this read stale)."""
        from mfg.services import board

        app: Any = self.app
        if app.actor is None:
            return
        now = app.now()
        awaiting = board.awaiting_page(db=app.db, actor=app.actor, now=now, limit=QUEUE_LIMIT)
        ui(self, self._rest, awaiting, token)

    def _rest(self, awaiting: Board, token: int) -> None:
        if token == self._fill_token:  # else a newer list is shown (a reload): keep it
            self.show_awaiting(awaiting, QUEUE_LIMIT)

    def show(self, results: list[ResultToVerify], awaiting: Board, limit: int) -> None:
        more = len(results) > RESULTS_SHOWN
        results = results[:RESULTS_SHOWN]
        self.results, self.shown = results, True
        verify = self.query_one("#to-verify", DataTable)
        dispose = self.query_one("#to-dispose", DataTable)
        verify.clear()
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
        count = f"{len(results):,}"
        if more:
            count = f"the oldest {len(results):,} shown; more are waiting"
        self.query_one("#verify-title", Static).update(f"Results to verify ({count})")
        self.show_awaiting(awaiting, limit)
        if not isinstance(self.focused, DataTable):  # the first load; a refresh keeps the focus
            (verify if verify.row_count else dispose).focus()

    def show_awaiting(self, awaiting: Board, limit: int) -> None:
        """The lots awaiting disposition (the newest ``limit`` read), the cursor kept on its lot;
        the rest read once these are on screen."""
        dispose = self.query_one("#to-dispose", DataTable)
        rows = list(awaiting.rows)
        selected = self._selected_lot(dispose)
        dispose.clear()
        shown, total = len(rows), awaiting.total_lots
        count = f"{total:,}" if shown == total else f"{total:,}; the newest {shown:,} shown"
        self.query_one("#dispose-title", Static).update(f"Lots awaiting disposition ({count})")
        self._fill_token += 1
        self._fill(rows, 0, FIRST_ROWS, self._fill_token, selected)
        if limit < QUEUE_LIMIT and total > shown:
            self.call_after_refresh(self.load_rest, self._fill_token)

    @staticmethod
    def _selected_lot(table: DataTable[Any]) -> str | None:
        if not table.row_count:
            return None
        return str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)

    def _fill(
        self, rows: list[BoardRow], start: int, stop: int, token: int, selected: str | None
    ) -> None:
        """Lots awaiting disposition ``start:stop``, then the rest a chunk per event-loop turn
        (the table measures every new row: thousands at once held the first paint); the cursor
        goes back to the ``selected`` lot once its row is in."""
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
        if selected is not None and selected in dispose.rows:
            dispose.move_cursor(row=dispose.get_row_index(selected), animate=False)
            selected = None
        if stop < len(rows):
            self.set_timer(0.01, lambda: self._fill(rows, stop, stop + FILL_CHUNK, token, selected))

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
