"""Reports: the manufacturing success rate (secondary outcome), by stratum, per lot or subject.

| key | action                                                              |
|-----|---------------------------------------------------------------------|
| g   | next stratum: dose level, source, indication, site, quarter, none   |
| u   | per lot / per subject                                               |
| r   | reload                                                              |
| b   | lot board (roles that read lots)                                    |
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Header, Static

from mfg.domain.text import visible
from mfg.errors import CellTrailError
from tui.widgets.footer import footer
from tui.widgets.table import Table
from tui.workers import service_worker, ui

STRATA: tuple[tuple[str, ...], ...] = (
    ("dose_level",),
    ("source",),
    ("indication",),
    ("site",),
    ("quarter",),
    (),
)


class ReportsScreen(Screen[None]):
    BINDINGS = [
        Binding("g", "cycle_strata", "Stratum"),
        Binding("u", "cycle_unit", "Lot/subject"),
        Binding("r", "reload", "Reload"),
        Binding("b", "app.mode('board')", "Board"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.strata = 0
        self.unit = "lot"

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False)
        with VerticalScroll():
            yield Static("Manufacturing success rate", classes="form-title")
            yield Static("loading ...", id="report-note", markup=False)
            yield Table(id="report", cursor_type="row", zebra_stripes=True)
            yield Static(
                "success: harvested in the window, dose reached, every release test passed; "
                "pending results are neither success nor failure; not evaluable lots are "
                "excluded from the rate. Exact (Clopper-Pearson) 95% interval.",
                id="report-legend",
                markup=False,
            )
        yield footer()

    def on_mount(self) -> None:
        self.action_reload()

    def action_reload(self) -> None:
        self.load(STRATA[self.strata], self.unit)

    def action_cycle_strata(self) -> None:
        self.strata = (self.strata + 1) % len(STRATA)
        self.action_reload()

    def action_cycle_unit(self) -> None:
        self.unit = "subject" if self.unit == "lot" else "lot"
        self.action_reload()

    @service_worker(group="report")
    def load(self, by: tuple[str, ...], unit: str) -> None:
        import importlib

        app: Any = self.app
        try:
            reporting = importlib.import_module("mfg.services.reporting")
        except ImportError:
            ui(self, self._note, "The reporting service is not installed in this CellTrail yet.")
            return
        table = reporting.success_table(db=app.db, actor=app.actor, now=app.now(), unit=unit, by=by)
        ui(self, self._show, table)

    def _note(self, text: str) -> None:
        self.query_one("#report-note", Static).update(text)

    def _show(self, table: Any) -> None:
        rows = list(getattr(table, "rows", table))
        t = self.query_one("#report", DataTable)
        t.clear(columns=True)
        if not rows:
            self._note("no lots to report yet")
            return
        cols = list(rows[0].keys())
        t.add_columns(*cols)
        for r in rows:
            t.add_row(*(Text(visible(str(r[c]))) for c in cols))  # strata are users' text
        self._note(getattr(table, "title", "") or f"{len(rows)} row(s)")

    def refused(self, e: CellTrailError) -> None:
        self._note(f"{visible(e.message)} [{e.rule}]")  # a refusal may quote stored text
