"""One board row from what the board's query read of a lot: day N, growth, the projection
of its expansion, the dose and the flags, worked out with the domain functions (so they are the
numbers ``mfg lot growth`` prints). A lot whose spec, dose level or weight is refused is a row
of its own columns flagged NOT READ (``pinned_specs``): the board goes on with the others. So is
a lot one of whose stored values (its day 0, a count, its harvest) cannot be read: the board
reads them leniently (``mfg.store.types.lenient``) and works nothing out from that lot."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from mfg.domain import dose, expansion
from mfg.domain.lifecycle import LotState
from mfg.domain.specs import Product
from mfg.errors import CellTrailError
from mfg.services.pinned_specs import PinnedSpecs, refusal_text
from mfg.store.types import Unreadable, first_unreadable

COUNT_STATES = frozenset({LotState.REGISTERED, LotState.IN_EXPANSION})
TESTING_STATES = frozenset(
    {LotState.HARVESTED, LotState.IN_RELEASE_TESTING, LotState.CONDITIONALLY_RELEASED}
)


@dataclass(frozen=True)
class BoardRow:
    lot_number: str
    coi: str
    subject_id: str
    site: str
    source: str
    state: str
    day0: date | None  # None: not read (``not_read``)
    day_n: int | None  # expansion day today (or the harvest day once harvested); None: not read
    last_viability_pct: float | None
    last_count_day: int | None
    fold_expansion: float | None
    target_dose_cells: int | None  # None: not read (``not_read``)
    projected_day: int | None  # day the dose is projected (expansion) or harvest day
    dose_met: bool | None  # None: not known yet
    projection_note: str
    oos: int
    pending_results: int  # release tests pending or not reported yet
    unverified_results: int
    alerts: int
    overdue_count: bool
    hold: str = ""  # "HOLD: why; why" (mfg.domain.holds) or empty
    not_read: str = ""  # the refusal of its spec or dose (``board_row``); empty: read

    @property
    def flags(self) -> tuple[str, ...]:
        out = []
        if self.not_read:
            out.append("NOT READ")
        if self.hold:
            out.append("HOLD")
        if self.oos:
            out.append("OOS")
        if self.overdue_count:
            out.append("overdue")
        if self.pending_results:
            out.append(f"pending {self.pending_results}")
        if self.unverified_results:
            out.append(f"unverified {self.unverified_results}")
        if self.alerts:
            out.append("ALERT")
        return tuple(out)


@dataclass
class Counted:
    """What the kept counts of one lot say (read from its consecutive rows)."""

    points: list[expansion.CountPoint]
    seed_viable: int | None = None
    last_day: int | None = None
    last_total: int | None = None
    last_viable: int | None = None
    last_measured: date | None = None
    unreadable: Unreadable | None = None  # a kept count with a stored value not read


def lots_with_counts(raw: Sequence[Any]) -> Iterator[tuple[Any, Counted]]:
    """Group the page's rows (ordered by lot) into (first row, its counts) per lot."""
    i = 0
    while i < len(raw):
        first = raw[i]
        counted = Counted(points=[])
        while i < len(raw) and raw[i].id == first.id:
            r = raw[i]
            bad = first_unreadable((r.expansion_day, r.measured_on, r.total_cells, r.viable_cells))
            if bad is not None:
                counted.unreadable = counted.unreadable or bad
            elif r.expansion_day is not None:
                if r.rn_first == 1:
                    counted.seed_viable = r.viable_cells
                if r.rn_last <= expansion.PROJECTION_POINTS:
                    counted.points.append(
                        expansion.CountPoint(r.expansion_day, r.viable_cells, r.total_cells)
                    )
                if r.rn_last == 1:
                    counted.last_measured, counted.last_day = r.measured_on, r.expansion_day
                    counted.last_total, counted.last_viable = r.total_cells, r.viable_cells
            i += 1
        yield first, counted


def _from_spec(
    product: Product, r: Any, c: Counted
) -> tuple[int, int | None, bool | None, str, int]:
    """What the lot's spec says of it: the target dose, the projected (or harvest) day, dose
    met, the note and the tests not reported yet; from the harvest once harvested, else
    projected from the counts (``mfg.domain.expansion``). Refused (CellTrailError) when the
    dose level or the weight is."""
    target = dose.target_dose_cells(product, r.dose_level, r.weight_kg)
    missing = max(0, len(product.tests) - r.entered) if r.state in TESTING_STATES else 0
    if r.harvest_day is not None:
        dose_met = dose.car_viable_cells(r.total_viable_cells, r.car_pct) >= target
        note = f"harvested day {r.harvest_day}: dose {'met' if dose_met else 'NOT met'}"
        return target, r.harvest_day, dose_met, note, missing
    if r.state not in COUNT_STATES:
        return target, None, None, "", missing
    window = (product.window_first_day, product.window_last_day)
    p = expansion.project_harvest(c.points, target, product.assumed_car_pct, window)
    if p is None:
        return target, None, None, "needs counts on two days to project", missing
    projected = None if p.reach_day is None else max(p.reach_day, window[0])
    return target, projected, p.within_window and p.reach_day is not None, p.note, missing


def unread(r: Any, c: Counted) -> Unreadable | None:
    """The stored value of the lot's row (its day 0, its harvest) or of its kept counts that
    the lenient read could not read; None when all were read."""
    bad = first_unreadable((r.day0, r.harvest_day, r.total_viable_cells, r.car_pct))
    return bad or c.unreadable


def board_row(specs: PinnedSpecs, r: Any, c: Counted, today: date) -> BoardRow:
    """The lot's row; one whose spec, dose level or weight is refused (an SQL edit, a spec
    file gone) keeps what its own columns and counts say and is flagged NOT READ with the
    refusal (its projection note), its target dose None and its tests not reported yet not
    counted (nobody can say which they are): the list goes on with the others
    (``pinned_specs``). A lot with a stored value that cannot be read: ``_unread_row``."""
    bad = unread(r, c)
    if bad is not None:
        return _unread_row(r, bad, today)
    target: int | None = None
    projected: int | None = None
    dose_met: bool | None = None
    missing, note, not_read = 0, "", ""
    product = specs.get(r.product_code, r.spec_version)
    refusal = specs.refused(r.product_code, r.spec_version) if product is None else None
    if product is not None:
        try:
            target, projected, dose_met, note, missing = _from_spec(product, r, c)
        except CellTrailError as e:
            refusal = e
    if refusal is not None:
        not_read = note = refusal_text(refusal)
    if r.harvest_day is not None:
        day_n = r.harvest_day
        fold = r.total_viable_cells / c.seed_viable if c.seed_viable else None
    else:
        day_n = (today - r.day0).days
        fold = None
        if c.seed_viable and c.last_viable and c.last_day:
            fold = c.last_viable / c.seed_viable
    overdue = r.state in COUNT_STATES and expansion.count_overdue(c.last_measured, r.day0, today)
    viability = None
    if c.last_total and c.last_viable is not None:
        viability = expansion.viability_pct(c.last_total, c.last_viable)
    return BoardRow(
        **_as_stored(r),
        day0=r.day0,
        day_n=day_n,
        last_viability_pct=viability,
        last_count_day=c.last_day,
        fold_expansion=fold,
        target_dose_cells=target,
        projected_day=projected,
        dose_met=dose_met,
        projection_note=note,
        pending_results=r.pending + missing,
        overdue_count=overdue,
        not_read=not_read,
    )


def _as_stored(r: Any) -> dict[str, Any]:
    """The row's fields that are the lot's own text columns and the tallies SQL worked out."""
    names = ("lot_number", "coi", "subject_id", "site", "source", "state", "oos", "alerts")
    return {**{n: getattr(r, n) for n in names}, "unverified_results": r.unverified}


def _unread_row(r: Any, bad: Unreadable, today: date) -> BoardRow:
    """The row of a lot one of whose stored values cannot be read: its text columns and its
    tallies (worked out in SQL), flagged NOT READ with the refusal; its day N unless that is
    worked out from the value, and no dose, growth or count flag (nothing is worked out from an
    edited row)."""
    day0 = None if type(r.day0) is Unreadable else r.day0
    day_n = None if day0 is None else (today - day0).days
    if r.harvest_day is not None:  # the harvest day, as on a read row; None when it is the value
        day_n = None if type(r.harvest_day) is Unreadable else r.harvest_day
    said = refusal_text(bad.refusal())
    worked_out = ("last_viability_pct", "last_count_day", "fold_expansion", "target_dose_cells")
    nothing: dict[str, Any] = dict.fromkeys((*worked_out, "projected_day", "dose_met"))
    return BoardRow(
        **_as_stored(r),
        **nothing,
        day0=day0,
        day_n=day_n,
        projection_note=said,
        pending_results=r.pending,
        overdue_count=False,
        not_read=said,
    )
