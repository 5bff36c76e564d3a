"""Lot detail: identity, counts and growth chart, release results, bags, the lot's audit trail.

Its keys follow the lot's state and the user's role (``tui.roles``): the footer shows them,
the help screen (F1) explains each.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Header, Static, TabbedContent, TabPane

from mfg.domain.numbers import format_cells, format_cells_short, format_pct
from mfg.domain.text import visible
from mfg.presentation import growth_rows
from tui.messages import LotChanged, LotWatcher
from tui.screens.record_checks import first_to_verify, release_rows
from tui.widgets.footer import footer
from tui.widgets.growth_chart import ChartData, GrowthChart
from tui.widgets.table import Table
from tui.wording import not_read
from tui.workers import service_worker, ui

if TYPE_CHECKING:
    from mfg.errors import CellTrailError
    from mfg.services.audit_trail import EventView
    from mfg.services.counts import GrowthView
    from mfg.services.harvest import HarvestView
    from mfg.services.lots import LotView

COUNT_COLUMNS = (
    ("id", 4),
    ("day", 3),
    ("date", 10),
    ("total", 11),
    ("viable", 11),
    ("viab", 6),
    ("fold", 7),
    ("by", 8),
)


@dataclass
class LotDetail:
    lot: LotView
    growth: GrowthView
    harvest: HarvestView | None
    trail: list[EventView]
    results: list[Any] = field(default_factory=list)
    bags: list[Any] = field(default_factory=list)
    signatures: list[Any] = field(default_factory=list)
    deviations: list[Any] = field(default_factory=list)
    subject: Any = None  # mfg.services.subjects.SubjectView: the weight and who checked it
    notes: list[str] = field(default_factory=list)
    hold: Any = None  # mfg.services.holds.HoldStatus


class LotDetailScreen(LotWatcher, Screen[None]):
    # most important first: the footer at 80 columns shows what fits, in this order
    BINDINGS = [
        Binding("d", "disposition", "Sign"),
        Binding("v", "verify", "Verify"),
        Binding("a", "qa('alerts')", "Ack alerts"),
        Binding("c", "count", "Count"),
        Binding("e", "result", "Result"),
        Binding("h", "harvest", "Harvest"),
        Binding("x", "correct", "Correct"),
        Binding("t", "custody", "Custody"),
        Binding("l", "labels", "Labels"),
        Binding("k", "coa", "COA"),
        Binding("w", "qa('deviation')", "Deviation"),
        Binding("z", "qa('close_deviation')", "Close dev."),
        Binding("ctrl+t", "qa('terminate')", "Terminate"),
        Binding("escape", "app.pop_screen", "Back"),
        Binding("r", "reload", "Reload", show=False),
        Binding("1", "tab('tab-growth')", "Growth", show=False),
        Binding("2", "tab('tab-release')", "Release", show=False),
        Binding("3", "tab('tab-bags')", "Bags", show=False),
        Binding("4", "tab('tab-audit')", "Audit", show=False),
    ]

    def __init__(self, lot_number: str, tab: str | None = None) -> None:
        super().__init__()
        self.lot_number = lot_number
        self.first_tab = tab or ""  # "": the Growth tab
        self.detail: LotDetail | None = None

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False)
        yield Static(Text(f"{visible(self.lot_number)}  loading ..."), id="lot-header")
        with TabbedContent(id="lot-tabs", initial=self.first_tab):
            with TabPane("1 Growth", id="tab-growth"), VerticalScroll():
                yield Table(id="counts", cursor_type="row", zebra_stripes=True)
                yield Static("", id="projection")
                yield GrowthChart(id="chart")
                yield Static(
                    "[bold green]⣿[/] counts  [cyan]⠒⠒[/] projection  [yellow]⠉⠉[/] viable "
                    "cells needed for the dose  [reverse] window [/]",
                    id="chart-legend",
                )
            with TabPane("2 Release", id="tab-release"), VerticalScroll():
                yield Static("", id="harvest-summary")
                yield Table(id="results", cursor_type="row", zebra_stripes=True)
                yield Static("", id="release-note")
            with TabPane("3 Bags", id="tab-bags"), VerticalScroll():
                yield Table(id="bags", cursor_type="row")
                yield Static("", id="bags-note")
            with TabPane("4 Audit", id="tab-audit"):
                yield Table(id="trail", cursor_type="row", zebra_stripes=True)
        yield footer()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Keys by role and lot state (``tui.roles``): hidden where they cannot be used."""
        from tui.roles import LOT_ACTIONS, offered

        app: Any = self.app
        role = app.actor.role if app.actor is not None else None
        state = self.detail.lot.state if self.detail is not None else None
        d = self.detail
        if action == "qa" and parameters:
            action = str(parameters[0])
            if action == "alerts" and (d is None or not d.lot.alerts):
                return False
            if action == "close_deviation" and (d is None or not self._open_deviations()):
                return False
        return offered(role, LOT_ACTIONS.get(action), state)

    def _open_deviations(self) -> tuple[str, ...]:
        devs = self.detail.deviations if self.detail is not None else []
        return tuple(dev.number for dev in devs if dev.closed_at is None)

    def action_qa(self, action: str) -> None:
        from tui.screens.qa_forms import qa_form

        alerts = tuple(self.detail.lot.alerts) if self.detail is not None else ()
        form = qa_form(action, self.lot_number, alerts, self._open_deviations())
        self.app.push_screen(form, self._done)

    def on_mount(self) -> None:
        # fixed widths: the same layout however fast the rows arrive (stable snapshots, 80 cols)
        counts = self.query_one("#counts", DataTable)
        for label, width in COUNT_COLUMNS:
            counts.add_column(label, width=width)
        self.query_one("#results", DataTable).add_columns(
            "test", "status", "result", "by", "verified", "specification"
        )
        self.query_one("#bags", DataTable).add_columns("bag", "state", "CAR+ cells", "mL", "where")
        self.query_one("#trail", DataTable).add_columns("#", "time", "user", "action", "detail")
        self.reload()

    # -- loading ----------------------------------------------------------------------------
    def reload(self) -> None:
        self.load(self.lot_number)

    def lot_changed(self, lot_number: str | None) -> None:
        if lot_number in (None, self.lot_number):
            self.reload()

    @service_worker(group="detail")
    def load(self, lot_number: str) -> None:
        from mfg.services import (
            audit_trail,
            counts,
            custody,
            harvest,
            holds,
            lots,
            release,
            subjects,
        )

        app: Any = self.app
        if app.actor is None:  # logged out (or locked) while this was queued
            return
        db, actor, now = app.db, app.actor, app.now()
        detail = LotDetail(
            lot=lots.show_lot(lot_number, db=db, actor=actor),
            growth=counts.growth(lot_number, db=db, actor=actor, now=now),
            harvest=harvest.show_harvest(lot_number, db=db, actor=actor),
            trail=audit_trail.lot_trail(lot_number, db=db, actor=actor),
            hold=holds.status(lot_number, db=db, actor=actor),
        )
        detail.results = release.list_results(lot_number, db=db, actor=actor)
        detail.signatures = release.signatures(lot_number, db=db, actor=actor)
        detail.deviations = release.list_deviations(db=db, actor=actor, lot_number=lot_number)
        detail.bags = list(custody.list_bags(lot_number, db=db, actor=actor).bags)
        detail.subject = subjects.show_subject(detail.lot.subject_id, db=db, actor=actor)
        ui(self, self.show, detail)

    def refused(self, e: CellTrailError) -> None:
        self.app.refused(e)  # type: ignore[attr-defined]
        if self.detail is None:
            header = self.query_one("#lot-header", Static)
            header.update(not_read(self.lot_number, e))

    def show(self, d: LotDetail) -> None:
        tables = list(self.query(DataTable))
        cursors = {t.id: t.cursor_row for t in tables}
        first, self.detail = self.detail is None, d
        self._header(d)
        self._growth(d)
        self._release(d)
        self._bags(d)
        self._trail(d)
        for t in tables:  # the selected row stays selected after a reload (a custody step)
            row = cursors.get(t.id, 0)
            if t.row_count and row > 0:
                t.move_cursor(row=min(row, t.row_count - 1), animate=False)
        if first and self.first_tab == "tab-release":  # opened to verify: on what waits for me
            key = first_to_verify(d, self.app.actor.username)  # type: ignore[attr-defined]
            if key is not None:
                results = self.query_one("#results", DataTable)
                results.move_cursor(row=results.get_row_index(key), animate=False)
        self.refresh_bindings()  # the footer follows the lot's state
        if not isinstance(self.focused, DataTable):
            self._focus_tab_table()

    def _focus_tab_table(self) -> None:
        """Arrow keys work at once: the active tab's table has the focus."""
        tabs = self.query_one("#lot-tabs", TabbedContent)
        pane = tabs.get_pane(tabs.active) if tabs.active else None
        if pane is not None:
            for table in pane.query(DataTable):
                table.focus()
                return

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        self._focus_tab_table()

    def _header(self, d: LotDetail) -> None:
        v, g, s = d.lot, d.growth, visible  # stored text: its escapes shown, never sent
        state = Text(f"[{s(v.state)}]", style="bold")
        head = Text.assemble(
            (s(v.lot_number), "bold"),
            f"  COI {s(v.coi_eye_readable)}  ",
            state,
            f"  day {g.today_day}" if v.state in ("registered", "in_expansion") else "",
            "\n",
            f"subject {s(v.subject_id)} ({s(v.site)}, {s(v.indication)}), {v.weight_kg:g} kg, "
            f"{s(v.dose_level)}: target {format_cells(v.target_dose_cells)} CAR+ viable\n",
            f"{s(v.source)}, day 0 {v.day0}; {s(v.product_code)} spec v{s(v.spec_version)}",
        )
        if v.termination_cause:
            cause, why = s(v.termination_cause), s(v.termination_reason)
            head.append(f"\nterminated ({cause}): {why}", "red")
        held = d.hold.active if d.hold is not None and d.hold.on_hold else ()
        if held:
            head.append("\nHOLD: do not issue, thaw or infuse", "bold white on red")
        for r in held:  # an open alert once, as its ALERT line (6 header lines at 80x24)
            if r.code != "open-alert":
                head.append(f"\n  {s(r.message)}", "bold red")
        for a in v.alerts:
            head.append(f"\nALERT {s(a)}", "bold white on red")
        self.query_one("#lot-header", Static).update(head)

    def _growth(self, d: LotDetail) -> None:
        g = d.growth
        table = self.query_one("#counts", DataTable)
        table.clear()
        for c, _p, cells in growth_rows(g):
            # three significant digits in the table: 1.95 x 10^9, not 1.9 x 10^9
            cells[3], cells[4] = (
                format_cells_short(c.total_cells),
                format_cells_short(c.viable_cells),
            )
            table.add_row(*cells, Text(visible(c.recorded_by)), key=str(c.id))
        for c in g.corrected:
            table.add_row(
                Text(str(c.id), style="dim strike"),
                Text(str(c.expansion_day), style="dim"),
                Text(str(c.measured_on), style="dim"),
                Text(format_cells_short(c.total_cells), style="dim strike"),
                Text(format_cells_short(c.viable_cells), style="dim strike"),
                Text("corr.", style="dim"),
                "",
                Text(visible(c.recorded_by), style="dim"),
                key=f"old-{c.id}",
            )
        pr = g.projection
        if pr is None:
            note = Text("projection: needs counts on two different days", style="dim")
        else:
            note = Text(f"projection: {pr.note}", style="green" if pr.within_window else "bold red")
        note.append(
            f"   needs {format_cells(g.needed_viable_cells)} viable at {g.assumed_car_pct:g} % CAR+",
            style="dim",
        )
        if d.harvest is not None:
            note = Text(
                f"harvested on day {d.harvest.harvest_day}: dose "
                f"{'met' if d.harvest.dose_met else 'NOT met'}",
                style="green" if d.harvest.dose_met else "bold red",
            )
        self.query_one("#projection", Static).update(note)
        points = tuple((c.expansion_day, c.viable_cells) for c in g.counts)
        if d.harvest is not None:
            points = (*points, (d.harvest.harvest_day, d.harvest.total_viable_cells))
        self.query_one("#chart", GrowthChart).show(
            ChartData(
                points=points,
                target_viable=g.needed_viable_cells,
                projection=(pr.intercept, pr.slope_per_day) if pr and d.harvest is None else None,
                projected_day=pr.reach_day if pr and d.harvest is None else None,
                window=g.window,
                today_day=g.today_day if d.harvest is None else None,
            )
        )

    def _release(self, d: LotDetail) -> None:
        h = d.harvest
        if h is None:
            summary = Text("not harvested yet", style="dim")
        else:
            summary = Text.assemble(
                f"harvest day {h.harvest_day} ({h.harvested_on})"
                + ("" if h.in_window else " OUTSIDE the window")
                + f": {format_cells(h.total_viable_cells)} viable x {format_pct(h.car_pct)} CAR+ = "
                f"{format_cells(h.car_viable_cells)} CAR+ viable; ",
                (
                    "dose met" if h.dose_met else "dose NOT met",
                    "green" if h.dose_met else "bold red",
                ),
                f"; {h.doses_available} dose(s), {h.bag_count} bag(s); expires {h.expires_on}",
            )
        self.query_one("#harvest-summary", Static).update(summary)
        release_rows(self.query_one("#results", DataTable), d)
        note = Text()
        for dev in d.deviations:
            state = "open" if dev.closed_at is None else f"closed by {dev.closed_by}"
            note.append(
                visible(f"deviation {dev.number} ({dev.kind}, {state}): {dev.description}") + "\n",
                style="bold red" if dev.closed_at is None else "dim",
            )
        app: Any = self.app
        for sig in d.signatures:
            when = app._db.local(sig.signed_at).strftime("%Y-%m-%d %H:%M %Z") if app._db else ""
            line = visible(f"signed: {sig.meaning} by {sig.printed_name} ({sig.username}), {when}")
            if sig.valid:
                note.append(line + f" - {visible(sig.reason)}\n", style="green")
            else:
                note.append(line + " - BROKEN: the signed record changed since\n", style="bold red")
        for n in d.notes:
            note.append(n + "\n", style="dim")
        self.query_one("#release-note", Static).update(note)

    def _bags(self, d: LotDetail) -> None:
        table = self.query_one("#bags", DataTable)
        table.clear()
        for b in d.bags:
            table.add_row(
                f"{getattr(b, 'bag_no', '?')}/{getattr(b, 'bag_count', '?')}",
                Text(visible(getattr(b, "state", ""))),  # stored text as Text: never markup
                format_cells(getattr(b, "car_viable_cells", None)),
                f"{getattr(b, 'volume_ml', 0):g}",
                Text(visible(getattr(b, "location", None) or "-")),
            )
        note = ""
        if not d.bags and d.harvest is not None:
            note = (
                f"{d.harvest.bag_count} bag(s) of {d.harvest.bag_volume_ml:g} mL filled at harvest"
            )
        elif d.harvest is None:
            note = "no bags before harvest"
        self.query_one("#bags-note", Static).update(note)

    def _trail(self, d: LotDetail) -> None:
        table = self.query_one("#trail", DataTable)
        table.clear()
        app: Any = self.app
        for e in reversed(d.trail):
            local = app._db.local(e.at) if app._db else e.at
            detail = Text(visible(e.reason or _short(e.new)))  # users' text: never markup
            who, what = Text(visible(e.username)), Text(visible(e.action))
            table.add_row(str(e.seq), local.strftime("%m-%d %H:%M"), who, what, detail)

    # -- actions ----------------------------------------------------------------------------
    def _done(self, ok: object) -> None:
        if ok:
            self.post_message(LotChanged(self.lot_number))

    def action_tab(self, pane: str) -> None:
        """1-4: Growth, Release, Bags, Audit (the table keeps the arrows)."""
        self.query_one("#lot-tabs", TabbedContent).active = pane

    def action_reload(self) -> None:
        self.reload()

    def action_count(self) -> None:
        from tui.screens.count_form import CountForm

        self.app.push_screen(CountForm(self.lot_number), self._done)

    def action_correct(self) -> None:
        from tui.screens.count_form import CountForm

        if self.detail is None:
            return
        tabs = self.query_one("#lot-tabs", TabbedContent)
        if tabs.active == "tab-release":
            from tui.screens.result_form import ResultForm, release_ready

            r = self.selected_result()
            if r is not None and r.status != "not entered" and release_ready(self.app):
                self.app.push_screen(ResultForm(self.lot_number, correcting=r), self._done)
            return
        tabs.active = "tab-growth"
        table = self.query_one("#counts", DataTable)
        counts = self.detail.growth.counts
        if not counts:
            self.app.notify("no count to correct", severity="warning")
            return
        row = table.cursor_row
        count = counts[row] if 0 <= row < len(counts) else counts[-1]
        self.app.push_screen(CountForm(self.lot_number, correcting=count), self._done)

    def action_harvest(self) -> None:
        from tui.screens.harvest_form import HarvestForm

        harvested = self.detail.harvest if self.detail is not None else None
        self.app.push_screen(HarvestForm(self.lot_number, correcting=harvested), self._done)

    def action_result(self) -> None:
        """Every test of the spec on one screen (corrections of entered results: ``x``)."""
        from tui.screens.result_grid import ResultGrid

        self.app.push_screen(ResultGrid(self.lot_number), self._result_done)

    def _result_done(self, ok: object) -> None:
        """After a result: the Release tab, where it now is (and waits for verification)."""
        if ok:
            self.query_one("#lot-tabs", TabbedContent).active = "tab-release"
        self._done(ok)

    def action_verify(self) -> None:
        from tui.screens.record_checks import verify_record
        from tui.screens.result_form import release_ready, verify_selected

        tabs = self.query_one("#lot-tabs", TabbedContent)
        if tabs.active != "tab-release":
            tabs.active = "tab-release"
            self.query_one("#results", DataTable).focus()
            self.app.notify("choose the result to verify, then press v")
            return
        table = self.query_one("#results", DataTable)
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        if not verify_record(self, str(key)) and release_ready(self.app):
            verify_selected(self)

    def selected_result(self) -> Any:
        if self.detail is None or not self.detail.results:
            return None
        row = self.query_one("#results", DataTable).cursor_row
        results = self.detail.results
        return results[row] if 0 <= row < len(results) else None

    def action_disposition(self) -> None:
        from tui.screens.result_form import disposition, release_ready

        if release_ready(self.app):
            disposition(self)

    def action_custody(self) -> None:
        from tui.screens.custody import CustodyDialog

        if self.detail is None or not self.detail.bags:
            self.app.notify("no dose bags to move yet", severity="warning")
            return
        self.query_one("#lot-tabs", TabbedContent).active = "tab-bags"
        row = self.query_one("#bags", DataTable).cursor_row
        bags = self.detail.bags
        bag = bags[row] if 0 <= row < len(bags) else bags[0]
        self.app.push_screen(CustodyDialog(self.lot_number, bag), self._done)

    def action_labels(self) -> None:
        from tui.screens.scan import print_labels

        print_labels(self)

    def action_coa(self) -> None:
        from tui.screens.result_form import coa

        coa(self)


def _short(values: Any) -> str:
    if isinstance(values, dict):
        return ", ".join(f"{k}={v}" for k, v in list(values.items())[:4])
    return "" if values is None else str(values)
