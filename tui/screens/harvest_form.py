"""Harvest entry: date, total viable cells, CAR+ %; confirms CAR+ cells, dose met, doses."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mfg.domain.dates import parse_date
from mfg.domain.numbers import format_cells, format_pct, parse_cells, parse_decimal, parse_percent
from tui.screens._form import EntryForm, FormField
from tui.workers import ui

if TYPE_CHECKING:
    from mfg.services.counts import GrowthView
    from mfg.services.harvest import HarvestView
    from mfg.services.lots import LotView


def _int(text: str, field: str) -> int:
    v = parse_decimal(text, field)
    if v != v.to_integral_value():
        from mfg.errors import RuleViolation

        raise RuleViolation(field, "number-format", f"{text!r} is not a whole number")
    return int(v)


class HarvestForm(EntryForm[bool]):
    def __init__(self, lot_number: str, correcting: HarvestView | None = None) -> None:
        self.lot_number = lot_number
        self.correcting = correcting
        self.lot: LotView | None = None
        self.growth: GrowthView | None = None
        super().__init__()
        self.form_title = (
            f"Correct the harvest of {lot_number}"
            if correcting
            else f"Record the harvest of {lot_number}"
        )

    def fields(self) -> list[FormField]:
        c = self.correcting
        out = [
            FormField(
                "date",
                "Harvest date",
                "today or YYYY-MM-DD",
                lambda t, d: parse_date(t, "date", d),
                value=str(c.harvested_on) if c else "today",
            ),
            FormField(
                "total_viable",
                "Total viable cells harvested",
                "3.0e9",
                lambda t, _d: parse_cells(t, "total_viable"),
                value=f"{c.total_viable_cells:,}" if c else "",
            ),
            FormField(
                "car_pct",
                "CAR+ % of viable cells",
                "32.5",
                lambda t, _d: parse_percent(t, "car_pct"),
                value=f"{c.car_pct:g}" if c else "",
            ),
            FormField(
                "bags",
                "Dose bags (default: doses, max 4)",
                "",
                lambda t, _d: _int(t, "bags"),
                required=False,
            ),
            FormField("window_reason", "Deviation, if outside day 10-14", "DEV-..", required=False),
        ]
        if c:
            out = [f for f in out if f.name != "bags"]  # the bag count is fixed once filled
            out.append(FormField("reason", "Reason for the correction (audited)", "why"))
        return out

    def load_context(self) -> None:
        from mfg.services import counts, lots

        app: Any = self.app
        lot = lots.show_lot(self.lot_number, db=app.db, actor=app.actor)
        g = counts.growth(self.lot_number, db=app.db, actor=app.actor, now=app.now())
        ui(self, self._show_context, lot, g)

    def _show_context(self, lot: LotView, g: GrowthView) -> None:
        self.lot, self.growth = lot, g
        self.set_context(
            f"subject {lot.subject_id}, {lot.weight_kg:g} kg, {lot.dose_level}: target "
            f"{format_cells(lot.target_dose_cells)} CAR+ viable cells; day 0 = {lot.day0}, "
            f"window day {g.window[0]}-{g.window[1]}"
        )
        self._derive(quiet=True)

    def check(self, values: dict[str, Any]) -> list[str]:
        from mfg.domain import dose, expansion

        total, pct = values["total_viable"], values["car_pct"]
        car = dose.car_viable_cells(total, pct)
        lines = [
            f"CAR+ viable cells {format_cells(car)} ({format_cells(total)} x {format_pct(pct)})"
        ]
        target = self.lot.target_dose_cells if self.lot is not None else None
        if self.growth is not None and target is not None:  # (a lot read alone has its target)
            g = self.growth
            if values.get("date") is not None:
                day = expansion.expansion_day(g.day0, values["date"])
                inside = g.window[0] <= day <= g.window[1]
                lines.insert(
                    0,
                    f"harvest day {day}"
                    + ("" if inside else "  OUTSIDE the window: cite the deviation"),
                )
            met = car >= target
            lines.append(
                f"target {format_cells(target)}: dose {'met' if met else 'NOT met'}; "
                f"{car // target if target else 0} full dose(s)"
            )
            seed = next(
                (c for c in g.counts if c.expansion_day == 0), g.counts[0] if g.counts else None
            )
            if seed is not None:
                lines.append(f"fold expansion {total / seed.viable_cells:.1f}x")
        return lines

    def save(self, values: dict[str, Any]) -> bool:
        from mfg.services import harvest

        cmd = harvest.RecordHarvest(
            lot_number=self.lot_number,
            harvested_on=values["date"],
            total_viable_cells=values["total_viable"],
            car_pct=values["car_pct"],
            bags=values.get("bags"),
            window_reason=values.get("window_reason"),
        )
        return self.record_or_correct(
            cmd,
            self.correcting,
            values.get("reason"),
            harvest.record_harvest,
            harvest.correct_harvest,
        )

    def saved_message(self, result: bool) -> str:
        return f"harvest {'corrected' if self.correcting else 'recorded'} for {self.lot_number}"
