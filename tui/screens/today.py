"""Today: the screen technicians and QA land on. What to do now, most urgent first (alerts,
thawed bags with a live countdown to the 30-minute infusion limit, overdue and due counts, lots
in their harvest window, results waiting for a second person, read-outs, lots ready to sign),
and the handover: what others changed on lots since my previous session (my last recorded
action before this log-in; the log-in itself does not count).

Everything is counted in the title; the list holds the most urgent items
(``mfg.services.worklist.LIMIT``); ``a`` lists every item, and again the most urgent only.

| key   | action                              |
|-------|-------------------------------------|
| enter | open the lot of the selected item   |
| a     | every item / the most urgent only   |
| b     | the lot board                       |
| q     | the QA queue                        |
| r     | reload                              |
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Header, Static

from mfg.domain.text import visible
from tui.messages import LotWatcher, OpenLot
from tui.widgets.footer import footer
from tui.widgets.table import Table
from tui.wording import not_read
from tui.workers import service_worker, ui

if TYPE_CHECKING:
    from mfg.errors import CellTrailError
    from mfg.services.worklist import WorkItem, Worklist

KIND = {
    "alert": ("ALERT", "bold white on red"),
    "thawed": ("THAWED", "bold white on red"),
    "not-read": ("NOT READ", "bold white on red"),
    "count-overdue": ("count", "bold yellow"),
    "count-due": ("count", ""),
    "harvest-window": ("harvest", "green"),
    "verify": ("verify", "cyan"),
    "read-out": ("read-out", ""),
    "sign": ("sign", "magenta"),
}


# Rows put in the table before the first paint (two screenfuls at 160x50), then per event-loop
# turn: thousands of items at once held the first paint for seconds (10,000 lots, 6,951 items).
FIRST_ROWS = 50
FILL_CHUNK = 250


# the lot's tab that shows what the item is about (None: the Growth tab)
TAB = {
    "alert": "tab-release",
    "thawed": "tab-bags",
    "verify": "tab-release",
    "read-out": "tab-release",
    "sign": "tab-release",
}


def countdown(deadline: datetime, now: datetime) -> Text:
    """``12:05 left`` until the deadline, ``3:10 OVER`` after it."""
    seconds = int((deadline - now).total_seconds())
    m, s = divmod(abs(seconds), 60)
    if seconds >= 0:
        return Text(f"{m}:{s:02d} left", style="bold yellow" if seconds < 600 else "")
    return Text(f"{m}:{s:02d} OVER", style="bold white on red")


def title(w: Worklist, limit: int) -> str:
    """``Today 2026-12-03: 1,234 things to do, 56 urgent; the 200 most urgent listed (a: all)``."""
    if not w.total:
        return f"Today {w.today}: nothing waits for you"
    text = f"Today {w.today}: {w.total:,} thing(s) to do, {w.urgent:,} urgent"
    if not w.complete:
        text += f"; the {len(w.items):,} most urgent listed (a: all)"
    elif w.total > limit:
        text += " (a: the most urgent only)"
    return text


class TodayScreen(LotWatcher, Screen[None]):
    BINDINGS = [
        Binding("enter", "open", "Open", show=False),
        Binding("a", "all", "All items"),
        Binding("b", "app.mode('board')", "Board"),
        Binding("q", "app.mode('qa')", "QA queue"),
        Binding("r", "reload", "Reload"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.worklist: Worklist | None = None
        self.items: list[WorkItem] = []
        self._fill_token = 0
        self.show_all = False  # ``a``: every item, not only the most urgent

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False)
        yield Static("Today: loading ...", id="today-title", classes="section-title", markup=False)
        table = Table(id="today", cursor_type="row", zebra_stripes=True)
        table.add_column("what", width=8)
        table.add_column("lot", width=13)
        table.add_column("to do", width=40)
        table.add_column("time", width=10)
        yield table
        yield Static("", id="handover-title", classes="section-title")
        yield Static("", id="handover", markup=False)
        yield footer()

    def on_mount(self) -> None:
        self.query_one("#today", DataTable).focus()
        self.set_interval(1.0, self._tick)  # the thawed bags' countdown
        self.reload()

    def reload(self) -> None:
        self.load()

    def lot_changed(self, lot_number: str | None) -> None:
        self.reload()

    def action_reload(self) -> None:
        self.reload()

    def action_all(self) -> None:
        """Every item, or back to the most urgent (every reload of every item costs seconds
        with tens of thousands of lots, and other users' writes reload Today)."""
        w = self.worklist
        if not self.show_all and w is not None and w.complete:
            self.app.notify("every item is listed already")
            return
        self.show_all = not self.show_all
        self.reload()

    @service_worker(group="today")
    def load(self) -> None:
        from mfg.services import worklist

        app: Any = self.app
        if app.actor is None:  # logged out (or locked) while this was queued
            return
        prefetch = getattr(app, "today_prefetch", None)
        app.today_prefetch = None
        if prefetch is not None and prefetch[0] == app.actor.username and not self.show_all:
            w = prefetch[1].result()  # read by the log-in worker while this screen mounted
        else:
            w = worklist.worklist(
                db=app.db,
                actor=app.actor,
                now=app.now(),
                session_start=app.session_started_at,
                limit=None if self.show_all else worklist.LIMIT,
            )
        ui(self, self.show, w)

    def refused(self, e: CellTrailError) -> None:
        self.app.refused(e)  # type: ignore[attr-defined]
        if self.worklist is None:  # nothing read yet: say why, not "loading ..." for ever
            self.query_one("#today-title", Static).update(not_read("Today", e))

    def show(self, w: Worklist) -> None:
        self.worklist, self.items = w, list(w.items)
        table = self.query_one("#today", DataTable)
        row = table.cursor_row
        table.clear()
        self._fill_token += 1
        self._fill(0, FIRST_ROWS, self._fill_token, row)
        from mfg.services import worklist

        self.query_one("#today-title", Static).update(title(w, worklist.LIMIT))
        self._handover(w)

    def _fill(self, start: int, stop: int, token: int, row: int) -> None:
        """Add the items ``start:stop`` to the table, then the rest a chunk per event-loop turn
        (the table measures every new row: thousands at once would hold up the first paint and
        the keys); the cursor goes back to ``row`` once that row is there."""
        if token != self._fill_token:
            return  # a newer worklist replaced this one
        table = self.query_one("#today", DataTable)
        app: Any = self.app
        for i in range(start, min(stop, len(self.items))):
            item = self.items[i]
            label, style = KIND.get(item.kind, (item.kind, ""))
            when: Any = ""
            if item.deadline is not None:
                when = countdown(item.deadline, app.now())
            # as Text, escapes visible: a str cell is read as markup ("[unknown-spec-version]"
            # was a style), and an item quotes stored text (a test code, a username)
            lot, text = Text(visible(item.lot_number)), Text(visible(item.text))
            cells = (Text(label, style=style), lot, text, when)
            table.add_row(*cells, key=str(i))
        end = min(row, len(self.items) - 1)
        if row > 0 and start <= end < stop:
            table.move_cursor(row=end, animate=False)
        if stop < len(self.items):
            self.set_timer(0.01, lambda: self._fill(stop, stop + FILL_CHUNK, token, row))

    def _handover(self, w: Worklist) -> None:
        app: Any = self.app
        since = app._db.local(w.since).strftime("%m-%d %H:%M") if w.since and app._db else None
        title = f"Since your last session ({since})" if since else "Recent changes by others"
        self.query_one("#handover-title", Static).update(
            f"{title}: {len(w.changes)} change(s) on lots by others"
        )
        by_lot: dict[str, list[str]] = {}
        for c in w.changes:
            by_lot.setdefault(c.lot_number, []).append(f"{c.action} ({c.username})")
        lines = [
            f"{lot}: {', '.join(dict.fromkeys(acts))}" for lot, acts in list(by_lot.items())[:6]
        ]
        shown = visible("\n".join(lines), newline_ok=True)  # lot numbers and usernames as text
        self.query_one("#handover", Static).update(shown or "nothing new")

    def _tick(self) -> None:
        table = self.query_one("#today", DataTable)
        app: Any = self.app
        for i, item in enumerate(self.items):
            if item.deadline is not None and i < table.row_count:
                table.update_cell(
                    str(i), table.ordered_columns[3].key, countdown(item.deadline, app.now())
                )

    def selected(self) -> WorkItem | None:
        row = self.query_one("#today", DataTable).cursor_row
        return self.items[row] if 0 <= row < len(self.items) else None

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_open()

    def action_open(self) -> None:
        item = self.selected()
        if item is not None:
            self.post_message(OpenLot(item.lot_number, TAB.get(item.kind)))
