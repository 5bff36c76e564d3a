"""Expansion: day N, viability, fold expansion, population doublings, doubling time, projection.

Standard definitions (domain.md 1.2): viability % = viable / total x 100; fold expansion =
viable cells now / viable cells seeded on day 0; population doublings PD = log2(N_t / N_0);
doubling time = elapsed time x ln 2 / ln(N_t / N_0).

The projection fits ln(viable cells) against day by least squares over the most recent counts
(log-linear growth) and solves for the day on which viable cells x the assumed CAR+ fraction
reach the subject's target dose.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from mfg.errors import RuleViolation

PROJECTION_POINTS = 4
# A lot in expansion is expected to be counted at least every few days (protocol practice:
# counts on day 0 and every 2-3 days while expanding); a longer gap flags the count as overdue.
OVERDUE_AFTER_DAYS = 3


def count_overdue(last_measured: date | None, day0: date, today: date) -> bool:
    """The count of a lot in expansion is late: none yet once day 0 has passed, or the last one
    more than ``OVERDUE_AFTER_DAYS`` ago (the board's and Today's flag)."""
    if last_measured is None:
        return (today - day0).days > 0
    return (today - last_measured).days > OVERDUE_AFTER_DAYS


def day0_for(source: str, apheresis_on: date | None, thaw_on: date | None) -> date:
    """Day 0: the apheresis date for fresh material, the thaw date for cryopreserved PBMC."""
    if source == "apheresis":
        if apheresis_on is None:
            raise RuleViolation(
                "apheresis_date", "day0-missing", "fresh apheresis material needs --apheresis-date"
            )
        if thaw_on is not None:
            raise RuleViolation(
                "thaw_date", "thaw-not-for-fresh", "fresh apheresis material has no thaw date"
            )
        return apheresis_on
    if source == "cryo-pbmc":
        if thaw_on is None:
            raise RuleViolation(
                "thaw_date", "day0-missing", "cryopreserved PBMC need --thaw-date (day 0)"
            )
        if apheresis_on is not None and thaw_on < apheresis_on:
            raise RuleViolation(
                "thaw_date", "thaw-before-apheresis", f"thaw {thaw_on} precedes apheresis"
            )
        return thaw_on
    raise RuleViolation("source", "unknown-source", f"{source!r} is not apheresis or cryo-pbmc")


def expansion_day(day0: date, measured_on: date) -> int:
    n = (measured_on - day0).days
    if n < 0:
        raise RuleViolation("date", "count-before-day-0", f"{measured_on} precedes day 0 ({day0})")
    return n


def date_of_day(day0: date, day: int) -> date:
    if day < 0:
        raise RuleViolation("day", "count-before-day-0", f"day {day} precedes day 0")
    if day > 366:  # also keeps timedelta from overflowing on absurd input
        raise RuleViolation("day", "day-range", f"day {day} is more than a year after day 0")
    return day0 + timedelta(days=day)


def check_not_future(on: date, today: date, field: str = "date") -> date:
    if on > today:
        raise RuleViolation(field, "date-in-future", f"{on} is after today ({today})")
    return on


def check_count(total_cells: int, viable_cells: int) -> None:
    # The services get numbers from the TUI and imports too, not only from parse_cells.
    from mfg.domain.numbers import MAX_CELLS

    for name, value in (("total", total_cells), ("viable", viable_cells)):
        if not 0 < value <= MAX_CELLS:
            raise RuleViolation(
                name, "count-range", f"{value:,} cells: must be > 0 and <= {MAX_CELLS:,}"
            )
    if viable_cells > total_cells:
        raise RuleViolation(
            "viable",
            "viable-exceeds-total",
            f"viable cells ({viable_cells:,}) exceed total cells ({total_cells:,})",
        )


def viability_pct(total_cells: int, viable_cells: int) -> float:
    return 100.0 * viable_cells / total_cells


@dataclass(frozen=True)
class CountPoint:
    day: int
    viable_cells: int
    total_cells: int


@dataclass(frozen=True)
class GrowthPoint:
    day: int
    viable_cells: int
    viability_pct: float
    fold_expansion: float | None
    population_doublings: float | None
    doubling_time_h: float | None


def growth_series(points: Sequence[CountPoint]) -> list[GrowthPoint]:
    """Derived values for each count, relative to the day-0 seeding count (or the first count)."""
    ordered = sorted(points, key=lambda p: p.day)
    if not ordered:
        return []
    seed = next((p for p in ordered if p.day == 0), ordered[0])
    out = []
    for p in ordered:
        fold = p.viable_cells / seed.viable_cells
        pd = math.log2(fold) if p.day > seed.day else None
        dt = (
            (p.day - seed.day) * 24 * math.log(2) / math.log(fold)
            if p.day > seed.day and fold > 1
            else None
        )
        out.append(
            GrowthPoint(
                day=p.day,
                viable_cells=p.viable_cells,
                viability_pct=viability_pct(p.total_cells, p.viable_cells),
                fold_expansion=fold if p.day > seed.day else None,
                population_doublings=pd,
                doubling_time_h=dt,
            )
        )
    return out


@dataclass(frozen=True)
class Projection:
    slope_per_day: float  # d ln(viable) / d day
    intercept: float
    reach_day: int | None  # first whole day on which the target is reached; None: never
    within_window: bool
    note: str

    def viable_on(self, day: float) -> float:
        return math.exp(self.intercept + self.slope_per_day * day)


def project_harvest(
    points: Sequence[CountPoint],
    target_car_cells: int,
    assumed_car_pct: float,
    window: tuple[int, int],
    n_points: int = PROJECTION_POINTS,
) -> Projection | None:
    """Fit the last ``n_points`` counts (distinct days) and project the day the dose is reached.

    Returns None when fewer than two distinct days have been counted.
    """
    by_day: dict[int, int] = {}
    for p in sorted(points, key=lambda p: p.day):
        by_day[p.day] = p.viable_cells  # a later count on the same day wins
    days = sorted(by_day)[-n_points:]
    if len(days) < 2:
        return None
    xs = [float(d) for d in days]
    ys = [math.log(by_day[d]) for d in days]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx
    intercept = my - slope * mx
    needed_viable = target_car_cells / (assumed_car_pct / 100.0)
    first, last = window
    if by_day[days[-1]] >= needed_viable:
        reach: int | None = days[-1]
    elif slope <= 0:
        reach = None
    else:
        reach = max(days[-1], math.ceil((math.log(needed_viable) - intercept) / slope))
    if reach is None:
        return Projection(slope, intercept, None, False, "not expanding: dose not projected")
    within = reach <= last
    if not within:
        note = f"dose projected on day {reach}, after the window (day {first}-{last})"
    elif reach < first:
        note = f"dose projected by day {reach}; harvest from day {first}"
    else:
        note = f"dose projected on day {reach}"
    return Projection(slope, intercept, reach, within, note)
