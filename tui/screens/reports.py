"""Reports: the manufacturing success rate (from the reporting service when installed)."""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static

from mfg.errors import CellTrailError
from tui.workers import service_worker, ui


class ReportsScreen(Screen[None]):
    BINDINGS = [
        Binding("b", "app.mode('board')", "Board"),
        Binding("r", "reload", "Reload"),
    ]

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False)
        with VerticalScroll():
            yield Static("Manufacturing success rate", classes="form-title")
            yield Static("loading ...", id="report-note")
            yield DataTable(id="report", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        self.action_reload()

    def action_reload(self) -> None:
        self.load()

    @service_worker(group="report")
    def load(self) -> None:
        import importlib

        app: Any = self.app
        try:
            reporting = importlib.import_module("mfg.services.reporting")
        except ImportError:
            ui(self, self._note, "The reporting service is not installed in this CellTrail yet.")
            return
        fn = getattr(reporting, "success_table", None) or getattr(reporting, "success_rate", None)
        if fn is None:
            ui(self, self._note, "The reporting service has no success-rate table yet.")
            return
        table = fn(db=app.db, actor=app.actor, now=app.now())
        ui(self, self._show, table)

    def _note(self, text: str) -> None:
        self.query_one("#report-note", Static).update(text)

    def _show(self, table: Any) -> None:
        rows = getattr(table, "rows", table)
        t = self.query_one("#report", DataTable)
        t.clear(columns=True)
        rows = list(rows)
        if not rows:
            self._note("no lots to report yet")
            return
        first = rows[0]
        cols = list(first.keys()) if isinstance(first, dict) else list(first.__dataclass_fields__)
        t.add_columns(*cols)
        for r in rows:
            vals = r if isinstance(r, dict) else {c: getattr(r, c) for c in cols}
            t.add_row(*(str(vals[c]) for c in cols))
        self._note(getattr(table, "title", "") or f"{len(rows)} row(s)")

    def refused(self, e: CellTrailError) -> None:
        self._note(f"{e.message} [{e.rule}]")
