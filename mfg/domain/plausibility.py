"""Plausibility of a new cell count against the lot's earlier counts: warnings that ask the
person to look again (a transcription error in an exponent, the wrong flask), never refusals.

Pure: the counts come in, the warnings go out; the caller decides how to ask.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

FOLD_LIMIT = 10.0  # more than ten-fold up or down ...
FOLD_DAYS = 2  # ... within two days
VIABILITY_DROP_POINTS = 20.0  # viability lower by more than this many percentage points


@dataclass(frozen=True)
class Count:
    """What the rules need of a count."""

    day: int
    measured_on: date
    viable_cells: int
    viability_pct: float


def count_warnings(new: Count, earlier: Sequence[Count]) -> list[str]:
    """Warnings for ``new`` given the lot's other current counts (the corrected one left out)."""
    out = []
    same = [c for c in earlier if c.measured_on == new.measured_on]
    if same:
        out.append(
            f"a count on {new.measured_on} (day {new.day}) exists already: "
            "is this a second count of the same day?"
        )
    before = sorted((c for c in earlier if c.measured_on < new.measured_on), key=_when)
    for c in before:
        days = (new.measured_on - c.measured_on).days
        if days > FOLD_DAYS or c.viable_cells <= 0 or new.viable_cells <= 0:
            continue
        fold = new.viable_cells / c.viable_cells
        if fold > FOLD_LIMIT or fold < 1 / FOLD_LIMIT:
            direction = "up" if fold > 1 else "down"
            shown = fold if fold > 1 else 1 / fold
            out.append(
                f"viable cells {direction} {shown:.0f}-fold in {days} day(s) since day {c.day}: "
                "check the exponent"
            )
            break
    if before:
        last = before[-1]
        drop = last.viability_pct - new.viability_pct
        if drop > VIABILITY_DROP_POINTS:
            out.append(
                f"viability {new.viability_pct:.1f} % is {drop:.1f} points below day "
                f"{last.day} ({last.viability_pct:.1f} %)"
            )
    return out


def _when(c: Count) -> tuple[date, int]:
    return (c.measured_on, c.day)
