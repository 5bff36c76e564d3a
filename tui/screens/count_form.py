"""Cell count entry (and correction, which asks for a reason): total, viable, date or day."""

from __future__ import annotations

import re
from datetime import date
from typing import TYPE_CHECKING, Any

from mfg.domain.dates import parse_date
from mfg.domain.numbers import format_cells_short, format_pct, parse_cells, parse_ml
from tui.screens._form import WARNING, EntryForm, FormField
from tui.workers import ui

if TYPE_CHECKING:
    from mfg.services.counts import CountHistory, CountView

DAY_RE = re.compile(r"^(?:day|d)\s*(\d{1,3})$", re.IGNORECASE)


def parse_when(text: str, today: date) -> tuple[str, Any]:
    """``today``, ``2026-11-20`` or ``day 8`` (the CLI's --date / --day)."""
    m = DAY_RE.match(text.strip())
    if m:
        return ("day", int(m[1]))
    return ("date", parse_date(text, "date", today))


def parse_volume(text: str, today: date) -> float:
    return parse_ml(text, "volume_ml")


class CountForm(EntryForm[bool]):
    """Add a count to a lot, or correct one (``correcting``) with a reason."""

    def __init__(self, lot_number: str, correcting: CountView | None = None) -> None:
        self.lot_number = lot_number
        self.correcting = correcting
        self.history: CountHistory | None = None
        super().__init__()
        self.form_title = (
            f"Correct count {correcting.id} of {lot_number} (day {correcting.expansion_day})"
            if correcting
            else f"Add a cell count to {lot_number}"
        )

    def fields(self) -> list[FormField]:
        c = self.correcting
        out = [
            FormField(
                "when",
                "Date counted",
                "today, YYYY-MM-DD or day 8",
                parse_when,
                value=f"day {c.expansion_day}" if c else "today",
                aliases=("date", "day"),
            ),
            FormField(
                "total",
                "Total cells",
                "1.2e9, 1.2x10^9 or 1,200x10^6",
                lambda t, _d: parse_cells(t, "total"),
                value=f"{c.total_cells:,}" if c else "",
            ),
            FormField(
                "viable",
                "Viable cells (<= total)",
                "1.1e9",
                lambda t, _d: parse_cells(t, "viable"),
                value=f"{c.viable_cells:,}" if c else "",
            ),
            FormField(
                "volume_ml",
                "Culture volume (mL)",
                "e.g. 750",
                parse_volume,
                required=False,
                # a correction keeps what the count had unless changed (it was silently lost)
                value=f"{c.volume_ml:g}" if c and c.volume_ml is not None else "",
            ),
            FormField(
                "method",
                "Counter / method",
                "NC-200",
                required=False,
                value=(c.method or "") if c else "NC-200",
            ),
        ]
        if c:
            out.append(
                FormField(
                    "reason",
                    "Reason for the correction (audited)",
                    "e.g. transcription error: exponent",
                )
            )
        return out

    def load_context(self) -> None:
        from mfg.services import counts

        app: Any = self.app
        g = counts.count_history(self.lot_number, db=app.db, actor=app.actor, now=app.now())
        ui(self, self._show_context, g)

    def _show_context(self, g: CountHistory) -> None:
        self.history = g
        last = g.counts[-1] if g.counts else None
        self.set_context(
            f"day 0 = {g.day0}, today is day {g.today_day}; "
            + (
                f"last count day {last.expansion_day}: viable {format_cells_short(last.viable_cells)}"
                if last
                else "no counts yet (the first is the day-0 seeding count)"
            )
        )
        self._derive(quiet=True)

    def check(self, values: dict[str, Any]) -> list[str]:
        from mfg.domain import expansion

        total, viable = values["total"], values["viable"]
        expansion.check_count(total, viable)
        lines = [f"viability {format_pct(expansion.viability_pct(total, viable))}"]
        g = self.history
        when = values.get("when")
        if g is not None and when is not None:
            kind, v = when
            day = v if kind == "day" else expansion.expansion_day(g.day0, v)
            lines[0] = f"day {day}, " + lines[0]
            seed = next(
                (c for c in g.counts if c.expansion_day == 0), g.counts[0] if g.counts else None
            )
            if (
                seed is not None
                and day > seed.expansion_day
                and (not self.correcting or self.correcting.id != seed.id)
            ):
                lines.append(
                    f"fold expansion {viable / seed.viable_cells:.1f}x since day {seed.expansion_day}"
                )
            lines += [WARNING + w for w in self._plausibility(g, day, v, kind, total, viable)]
        if self.correcting:
            lines.append(
                f"replaces viable {format_cells_short(self.correcting.viable_cells)} / total "
                f"{format_cells_short(self.correcting.total_cells)}; the original stays visible"
            )
        return lines

    def _plausibility(
        self, g: CountHistory, day: int, when: Any, kind: str, total: int, viable: int
    ) -> list[str]:
        """Second count the same day, >10-fold in two days, viability down >20 points."""
        from datetime import timedelta

        from mfg.domain import expansion
        from mfg.domain.plausibility import Count, count_warnings

        on = when if kind == "date" else g.day0 + timedelta(days=day)
        new = Count(day, on, viable, expansion.viability_pct(total, viable))
        skip = self.correcting.id if self.correcting else None
        earlier = [
            Count(c.expansion_day, c.measured_on, c.viable_cells, c.viability_pct)
            for c in g.counts
            if c.id != skip
        ]
        return count_warnings(new, earlier)

    def save(self, values: dict[str, Any]) -> bool:
        from mfg.services import counts

        kind, when = values["when"]
        cmd = counts.RecordCount(
            lot_number=self.lot_number,
            total_cells=values["total"],
            viable_cells=values["viable"],
            measured_on=when if kind == "date" else None,
            day=when if kind == "day" else None,
            volume_ml=values.get("volume_ml"),
            method=values.get("method"),
        )
        return self.record_or_correct(
            cmd,
            self.correcting,
            values.get("reason"),
            counts.record_count,
            self._correct,
        )

    def _correct(self, cmd: Any, reason: str, **kw: Any) -> Any:
        """A count correction names the count it replaces first."""
        from mfg.services import counts

        assert self.correcting is not None  # record_or_correct calls it only for a correction
        return counts.correct_count(self.correcting.id, cmd, reason, **kw)

    def saved_message(self, result: bool) -> str:
        return f"count {'corrected' if self.correcting else 'recorded'} for {self.lot_number}"
