"""Formatting shared by the CLI and the TUI, so both show the same numbers the same way."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mfg.domain.numbers import format_cells, format_pct

if TYPE_CHECKING:
    from mfg.domain.expansion import GrowthPoint
    from mfg.services.counts import CountView, GrowthView


def growth_rows(g: GrowthView) -> list[tuple[CountView, GrowthPoint | None, list[str]]]:
    """Each current count with its derived growth point and its cells: id, day, date, total,
    viable, viability, fold."""
    # one growth point per count, in the counts' order (by day, then entry): keyed by day, the
    # last count of a day lent its fold to every count of that day
    derived = dict(zip((c.id for c in g.counts), g.series, strict=True))
    rows = []
    for c in g.counts:
        p = derived.get(c.id)
        cells = [
            str(c.id),
            str(c.expansion_day),
            str(c.measured_on),
            format_cells(c.total_cells),
            format_cells(c.viable_cells),
            format_pct(c.viability_pct),
            f"{p.fold_expansion:.1f}x" if p and p.fold_expansion else "-",
        ]
        rows.append((c, p, cells))
    return rows
