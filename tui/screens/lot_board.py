"""The lot board: every active lot on one screen, with its day, growth, projection and flags.

| key      | action                                               |
|----------|------------------------------------------------------|
| enter    | open the lot                                         |
| /        | search lot number, COI or subject                    |
| f        | filter by state (active, all, each state in turn)    |
| s        | filter by site                                       |
| o        | sort by the next column                              |
| n        | register a new lot                                   |
| c, h     | add a count / record the harvest of the selected lot |
| r        | reload                                               |
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Input, Static

from tui.messages import LotChanged, OpenLot
from tui.workers import service_worker, ui

if TYPE_CHECKING:
    from mfg.errors import CellTrailError
    from mfg.services.board import Board, BoardRow

FILL_CHUNK = 250  # rows added to the table per event-loop turn (each add re-measures)
# Painted first, so the board is interactive at once: about two screenfuls (an 80x24 terminal
# shows ~20 rows); the rest (up to BOARD_LIMIT) follows once these are on screen.
FIRST_PAGE = 50
BOARD_LIMIT = 500  # then up to this many; search or filter to narrow beyond
STATE_FILTERS: tuple[str | None, ...] = (
    None,  # active
    "all",
    "registered",
    "in_expansion",
    "harvested",
    "in_release_testing",
    "conditionally_released",
    "released",
    "rejected",
    "terminated",
)
SHORT_STATE = {
    "registered": "registered",
    "in_expansion": "expansion",
    "harvested": "harvested",
    "in_release_testing": "testing",
    "released": "released",
    "conditionally_released": "cond.rel.",
    "rejected": "rejected",
    "terminated": "terminated",
}
STATE_STYLE = {
    "released": "green",
    "conditionally_released": "yellow",
    "rejected": "red",
    "terminated": "dim",
}
SORTS: tuple[tuple[str, Any], ...] = (
    ("newest", None),
    ("day", lambda r: (-r.day_n, r.lot_number)),
    ("state", lambda r: (r.state, r.lot_number)),
    ("viability", lambda r: (r.last_viability_pct is None, r.last_viability_pct or 0)),
    ("fold", lambda r: (-(r.fold_expansion or 0), r.lot_number)),
    ("flags", lambda r: (-len(r.flags), r.lot_number)),
)
# the last two are off screen at 80 columns (scroll right) and visible on wide terminals
COLUMNS = (
    "Lot",
    "Subj",
    "Src",
    "Day",
    "State",
    "Viab",
    "Fold",
    "Harv",
    "Dose",
    "Flags",
    "Site",
    "Projection",
)


def _fmt_row(r: BoardRow) -> list[Any]:
    viab = Text("-" if r.last_viability_pct is None else f"{r.last_viability_pct:.1f}%")
    if r.last_viability_pct is not None and r.last_viability_pct < 70:
        viab.stylize("bold red")
    if r.dose_met is None:
        dose = Text("-", style="dim")
    elif r.dose_met:
        dose = Text("yes", style="green")
    else:
        dose = Text("NO", style="bold red")
    flags = Text()
    for f in r.flags:
        style = {
            "HOLD": "bold white on red",
            "OOS": "bold red",
            "ALERT": "bold white on red",
            "overdue": "yellow",
        }.get(f.split()[0], "cyan")
        if flags:
            flags.append(" ")
        flags.append(f, style=style)
    return [
        r.lot_number,
        r.subject_id,
        "cryo" if r.source == "cryo-pbmc" else "aph",
        str(r.day_n),
        Text(SHORT_STATE.get(r.state, r.state), style=STATE_STYLE.get(r.state, "")),
        viab,
        "-" if r.fold_expansion is None else f"{r.fold_expansion:.1f}x",
        "-" if r.projected_day is None else f"d{r.projected_day}",
        dose,
        flags,
        r.site,
        Text(r.projection_note, style="dim"),
    ]


class LotBoardScreen(Screen[None]):
    """Active lots: lot, subject, source, day N, state, viability, fold, projection, flags."""

    BINDINGS = [
        Binding("enter", "open", "Open", show=False),
        Binding("slash", "search", "Search"),
        Binding("f", "cycle_state", "State"),
        Binding("s", "cycle_site", "Site"),
        Binding("o", "cycle_sort", "Sort"),
        Binding("n", "register", "New lot"),
        Binding("c", "count", "Count"),
        Binding("h", "harvest", "Harvest"),
        Binding("q", "app.mode('qa')", "QA"),
        Binding("p", "app.mode('reports')", "Reports"),
        Binding("r", "reload", "Reload", show=False),
        Binding("escape", "clear_search", "Clear", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.state_index = 0
        self.site: str | None = None
        self.sites: tuple[str, ...] = ()
        self.sort_index = 0
        self.search = ""
        self.board: Board | None = None

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False)
        yield Input(placeholder="/ search lot, COI or subject", id="board-search")
        yield Static("loading ...", id="board-status")
        table: DataTable[Any] = DataTable(id="board", cursor_type="row", zebra_stripes=True)
        table.add_columns(*COLUMNS)
        yield table
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#board", DataTable).focus()
        self.reload()

    # -- loading ----------------------------------------------------------------------------
    def reload(self, limit: int = FIRST_PAGE) -> None:
        self.load(STATE_FILTERS[self.state_index], self.site, self.search, limit)

    @service_worker(group="board")
    def load(self, state: str | None, site: str | None, search: str, limit: int) -> None:
        from mfg.services import board

        app: Any = self.app
        prefetch = getattr(app, "board_prefetch", None)
        if prefetch is not None and (state, site, search, limit) == (None, None, "", FIRST_PAGE):
            app.board_prefetch = None  # read by the login worker while this screen mounted
            ui(self, self.show_board, prefetch.result(), limit)
            return
        result = board.board(
            db=app.db,
            actor=app.actor,
            now=app.now(),
            state=None if state in (None, "all") else state,
            active_only=state is None,
            site=site,
            search=search or None,
            limit=limit,
        )
        ui(self, self.show_board, result, limit)

    def show_board(self, board: Board, limit: int = BOARD_LIMIT) -> None:
        self.board = board
        self.sites = board.sites
        rows = list(board.rows)
        key = SORTS[self.sort_index][1]
        if key is not None:
            rows.sort(key=key)
        table = self.query_one("#board", DataTable)
        selected = self.selected_lot()
        table.clear()
        # row order: the lot numbers, in display order
        self._order = [r.lot_number for r in rows]
        self._fill_token = getattr(self, "_fill_token", 0) + 1
        self._fill(rows, 0, self._fill_token, selected)
        self._status(len(rows), board.total_lots)
        if limit < BOARD_LIMIT and board.total_lots > len(rows):
            # the rest, once the first page is on screen
            self.call_after_refresh(self.reload, BOARD_LIMIT)

    def _fill(self, rows: list[BoardRow], start: int, token: int, selected: str | None) -> None:
        """Add rows a chunk at a time so that keys stay responsive on a large board."""
        if token != self._fill_token:
            return  # a newer board replaced this one
        table = self.query_one("#board", DataTable)
        table.add_rows(_fmt_row(r) for r in rows[start : start + FILL_CHUNK])
        if selected in self._order and self._order.index(selected) < start + FILL_CHUNK:
            table.move_cursor(row=self._order.index(selected), animate=False)
            selected = None
        if start + FILL_CHUNK < len(rows):
            self.set_timer(0.01, lambda: self._fill(rows, start + FILL_CHUNK, token, selected))

    def _status(self, shown: int, total: int) -> None:
        state = STATE_FILTERS[self.state_index] or "active"
        parts = [
            f"{shown} lot(s)" if shown == total else f"{shown} of {total} lots (search to narrow)"
        ]
        parts.append(f"state: {state}")
        parts.append(f"site: {self.site or 'all'}")
        parts.append(f"sort: {SORTS[self.sort_index][0]}")
        if self.search:
            parts.append(f"search: {self.search!r}")
        if self.board is not None:
            parts.append(f"today {self.board.today}")
        self.query_one("#board-status", Static).update("  ".join(parts))

    def refused(self, e: CellTrailError) -> None:
        self.app.refused(e)  # type: ignore[attr-defined]

    def lot_changed(self, lot_number: str | None) -> None:
        self.reload()

    # -- selection --------------------------------------------------------------------------
    def selected_lot(self) -> str | None:
        table = self.query_one("#board", DataTable)
        order = getattr(self, "_order", [])
        if not order or table.row_count == 0:
            return None
        row = table.cursor_row
        return order[row] if 0 <= row < len(order) else None

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_open()

    def action_open(self) -> None:
        lot = self.selected_lot()
        if lot:
            self.post_message(OpenLot(lot))

    # -- filters ----------------------------------------------------------------------------
    def action_search(self) -> None:
        self.query_one("#board-search", Input).focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "board-search":
            self.search = event.value.strip()
            self.reload()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "board-search":
            self.query_one("#board", DataTable).focus()

    def action_clear_search(self) -> None:
        search = self.query_one("#board-search", Input)
        if search.value:
            search.value = ""
        self.query_one("#board", DataTable).focus()

    def action_cycle_state(self) -> None:
        self.state_index = (self.state_index + 1) % len(STATE_FILTERS)
        self.reload()

    def action_cycle_site(self) -> None:
        options: list[str | None] = [None, *self.sites]
        i = options.index(self.site) if self.site in options else 0
        self.site = options[(i + 1) % len(options)]
        self.reload()

    def action_cycle_sort(self) -> None:
        self.sort_index = (self.sort_index + 1) % len(SORTS)
        if self.board is not None:
            self.show_board(self.board)

    def action_reload(self) -> None:
        self.reload()

    # -- entry forms ------------------------------------------------------------------------
    def action_register(self) -> None:
        from tui.screens.register_form import RegisterLotForm

        self.app.push_screen(RegisterLotForm(), self._registered)

    def _registered(self, lot_number: str | None) -> None:
        if lot_number:
            self.post_message(LotChanged(lot_number))
            self.post_message(OpenLot(lot_number))

    def action_count(self) -> None:
        from tui.screens.count_form import CountForm

        lot = self.selected_lot()
        if lot:
            self.app.push_screen(CountForm(lot), lambda ok: self._changed(ok, lot))

    def action_harvest(self) -> None:
        from tui.screens.harvest_form import HarvestForm

        lot = self.selected_lot()
        if lot:
            self.app.push_screen(HarvestForm(lot), lambda ok: self._changed(ok, lot))

    def _changed(self, ok: bool | None, lot: str) -> None:
        if ok:
            self.post_message(LotChanged(lot))
