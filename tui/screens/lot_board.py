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
from textual.widgets import DataTable, Header, Input, Static

from mfg.domain.text import visible
from tui.messages import LotChanged, LotWatcher, OpenLot
from tui.widgets.footer import footer
from tui.widgets.table import Table
from tui.wording import not_read
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
FLAG_WEIGHT = {"NOT READ": 64, "HOLD": 32, "ALERT": 16, "OOS": 8, "late": 4, "U": 2, "P": 1}


def compact_flags(r: BoardRow) -> list[tuple[str, str]]:
    """The flags in a few columns, most serious first: ALERT, OOS, late (a count overdue),
    U<n> results to verify, P<n> results pending (the help and the README explain them)."""
    out = []
    if r.not_read:  # its spec (or dose) refused: the note says why (``pinned_specs``)
        out.append(("NOT READ", "bold white on red"))
    if any(f.split()[0] == "HOLD" for f in r.flags):  # issue 10: a held lot
        out.append(("HOLD", "bold white on red"))
    if r.alerts:
        out.append(("ALERT", "bold white on red"))
    if r.oos:
        out.append(("OOS", "bold red"))
    if r.overdue_count:
        out.append(("late", "yellow"))
    if r.unverified_results:
        out.append((f"U{r.unverified_results}", "cyan"))
    if r.pending_results:
        out.append((f"P{r.pending_results}", "dim cyan"))
    return out


def flag_weight(r: BoardRow) -> int:
    return sum(
        FLAG_WEIGHT[code if code[0] not in "UP" else code[0]] for code, _ in compact_flags(r)
    )


SORTS: tuple[tuple[str, Any], ...] = (
    ("newest", None),
    ("flags", lambda r: (-flag_weight(r), r.lot_number)),
    ("day", lambda r: (r.day_n is None, -(r.day_n or 0), r.lot_number)),
    ("state", lambda r: (r.state, r.lot_number)),
    ("viability", lambda r: (r.last_viability_pct is None, r.last_viability_pct or 0)),
    ("fold", lambda r: (-(r.fold_expansion or 0), r.lot_number)),
)
# fits 80 columns up to Flags; Src, Site and Projection are to the right (wide terminals)
COLUMNS = (
    "Lot",
    "Subj",
    "Day",
    "State",
    "Viab",
    "Fold",
    "Harv",
    "Flags",
    "Src",
    "Site",
    "Projection",
)


def _fmt_row(r: BoardRow) -> list[Any]:
    viab = Text("-" if r.last_viability_pct is None else f"{r.last_viability_pct:.1f}%")
    if r.last_viability_pct is not None and r.last_viability_pct < 70:
        viab.stylize("bold red")
    # the projected (or harvest) day, green when the dose is met, red with "!" when it is not
    harv = Text("-" if r.projected_day is None else f"d{r.projected_day}")
    if r.dose_met is False:
        harv.append("!")
        harv.stylize("bold red")
    elif r.dose_met:
        harv.stylize("green")
    flags = Text()
    for code, style in compact_flags(r):
        if flags:
            flags.append(" ")
        flags.append(code, style=style)
    return [  # stored text as Text, escapes visible: a str cell is read as markup
        Text(visible(r.lot_number)),
        Text(visible(r.subject_id)),
        "?" if r.day_n is None else str(r.day_n),
        Text(visible(SHORT_STATE.get(r.state, r.state)), style=STATE_STYLE.get(r.state, "")),
        viab,
        "-" if r.fold_expansion is None else f"{r.fold_expansion:.1f}x",
        harv,
        flags,
        "cryo" if r.source == "cryo-pbmc" else "aph",
        Text(visible(r.site)),
        Text(r.projection_note, style="dim"),
    ]


class LotBoardScreen(LotWatcher, Screen[None]):
    """Active lots: lot, subject, source, day N, state, viability, fold, projection, flags."""

    # most important first: the footer at 80 columns shows what fits, in this order
    BINDINGS = [
        Binding("enter", "open", "Open", show=False),
        Binding("slash", "search", "Search"),
        Binding("n", "register", "New lot"),
        Binding("c", "count", "Count"),
        Binding("h", "harvest", "Harvest"),
        Binding("q", "app.mode('qa')", "QA"),
        Binding("t", "app.mode('today')", "Today"),
        Binding("o", "cycle_sort", "Sort"),
        Binding("O", "reverse_sort", "Reverse", show=False),
        Binding("f", "cycle_state", "State"),
        Binding("s", "cycle_site", "Site"),
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
        self.sort_reverse = False
        self.search = ""
        self.board: Board | None = None

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False)
        yield Input(placeholder="/ search lot, COI or subject", id="board-search")
        yield Static("loading ...", id="board-status", markup=False)
        table = Table(id="board", cursor_type="row", zebra_stripes=True)
        table.add_columns(*COLUMNS)
        yield table
        yield footer()

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
        if app.actor is None:  # logged out (or locked) while this was queued
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
        if self.sort_reverse:
            rows.reverse()
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
        parts.append(f"site: {visible(self.site or 'all')}")  # a site is stored text
        parts.append(f"sort: {SORTS[self.sort_index][0]}{' (rev.)' if self.sort_reverse else ''}")
        if self.search:
            parts.append(f"search: {self.search!r}")
        if self.board is not None:
            parts.append(f"today {self.board.today}")
        self.query_one("#board-status", Static).update("  ".join(parts))

    def refused(self, e: CellTrailError) -> None:
        self.app.refused(e)  # type: ignore[attr-defined]
        if self.board is None:  # nothing read yet: say why, not "loading ..." for ever
            self.query_one("#board-status", Static).update(not_read("Board", e))

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

    def action_reverse_sort(self) -> None:
        self.sort_reverse = not self.sort_reverse
        if self.board is not None:
            self.show_board(self.board)

    def action_reload(self) -> None:
        self.reload()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Keys by role and by the selected lot's state (``tui.roles``)."""
        from tui.roles import BOARD_ACTIONS, offered

        app: Any = self.app
        role = app.actor.role if app.actor is not None else None
        row = self.selected_row()
        return offered(role, BOARD_ACTIONS.get(action), row.state if row else None)

    def selected_row(self) -> BoardRow | None:
        lot = self.selected_lot()
        if lot is None or self.board is None:
            return None
        return next((r for r in self.board.rows if r.lot_number == lot), None)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self.refresh_bindings()

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
