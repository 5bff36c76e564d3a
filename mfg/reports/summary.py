"""The success rate per lot without a row per lot in Python.

``mfg.reports.query.outcome_groups`` returns one row per distinct combination of the strata
asked for and the outcome inputs, with its number of lots; each combination is decided once by
``mfg.domain.outcome.decide`` (the same rule ``lot_outcome`` applies to one lot). The result is a
small frame of (strata..., outcome, reasons, n) that ``mfg.reports.frames`` counts like one row
per lot. Memory grows with the number of combinations (a few thousand), not of lots.

With many lots and two cores, the lots are split in two halves by id, each grouped on its own
connection in its own thread (SQLite and PostgreSQL do the work outside Python's lock), both
connections reading one snapshot (``mfg.reports.snapshot``); the halves' rows are added up.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import tzinfo
from typing import Any

import pandas as pd
from sqlalchemy.engine import Engine

from mfg.domain import outcome as oc
from mfg.errors import RuleViolation
from mfg.reports import query, snapshot
from mfg.reports.frames import time_summary_of
from mfg.reports.query import LotIds, ProductLoader

_Decision = tuple[str, str]
# Below this many lot ids the second connection and thread cost more than they save.
PARALLEL_MIN_LOTS = 20_000


def _codes(text: str | None) -> tuple[str, ...]:
    """``"VIAB,CD3"`` -> ``("CD3", "VIAB")`` (the SQL aggregate has no order)."""
    return tuple(sorted({c for c in (text or "").split(",") if c}))


def _decide(row: Any) -> _Decision:
    results = [(c, "fail") for c in _codes(row.fail_codes)]
    results += [(c, "pending") for c in _codes(row.pending_codes)]
    window = (10, 14) if row.t_first is None else (int(row.t_first), int(row.t_last))
    outcome, reasons = oc.decide(
        state=row.state,
        termination_cause=row.termination_cause,
        harvest_day=None if row.harvest_day is None else int(row.harvest_day),
        dose_met=None if row.dose_met is None else bool(row.dose_met),
        results=results,
        window=window,  # (only read when dose_met is known, and then it is the spec's)
    )
    return outcome.value, ";".join(reasons)


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def _halves(span: LotIds | None, min_lots: int) -> tuple[LotIds, LotIds] | None:
    if span is None or span[1] - span[0] + 1 < min_lots or _cores() < 2:
        return None
    mid = (span[0] + span[1]) // 2
    return (span[0], mid), (mid + 1, span[1])


def _part(
    conn: Any, targets: list[dict[str, Any]], by: list[str], zone: tzinfo, ids: LotIds | None
) -> tuple[list[Any], list[tuple[int, int]]]:
    return query.outcome_groups(conn, targets, by, ids), query.disposition_days(conn, zone, ids)


def grouped_lots(
    engine: Engine,
    products: ProductLoader,
    zone: tzinfo,
    by: list[str],
    *,
    min_lots: int | None = None,
) -> tuple[list[Any], list[tuple[int, int]]]:
    """The outcome groups and the disposition-day histogram, of one snapshot of the database:
    in two halves read at once when there are at least ``min_lots`` lot ids (default
    ``PARALLEL_MIN_LOTS``), two cores and a second connection on the same snapshot; else on one
    connection."""
    min_lots = PARALLEL_MIN_LOTS if min_lots is None else min_lots
    spans: list[LotIds | None] = []  # the span read by ``worth_two``, on the first's snapshot

    def worth_two(conn: Any) -> bool:
        spans.append(query.lot_id_span(conn))
        return _halves(spans[-1], min_lots) is not None

    with snapshot.read_pair(engine, wanted=worth_two) as (first, second):
        targets = query.target_rows(first, products)
        halves = None if second is None else _halves(spans[-1], min_lots)
        if second is None or halves is None:
            return _part(first, targets, by, zone, None)
        with ThreadPoolExecutor(max_workers=1) as pool:
            other = pool.submit(_part, second, targets, by, zone, halves[1])
            groups, disposed = _part(first, targets, by, zone, halves[0])
            more_groups, more_disposed = other.result()
    days: dict[int, int] = {}
    for day, n in (*disposed, *more_disposed):
        days[day] = days.get(day, 0) + n
    return groups + more_groups, sorted(days.items())


def _no_target(lots: int) -> RuleViolation:
    """The refusal for lots whose subject's dose level is none of their spec's: every level
    CellTrail stores is checked against the spec, so only an edit outside CellTrail leaves one,
    and the report, which would count those lots as failures, is refused instead."""
    return RuleViolation(
        "dose_level",
        "unknown-dose-level",
        f"{lots} lot(s) have a subject whose dose level is not one of their spec's (changed "
        "outside CellTrail? mfg audit verify names the record): no rate is worked out until "
        "it is restored",
    )


def lot_report(
    engine: Engine, products: ProductLoader, zone: tzinfo, by: Sequence[str]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Grouped lots (columns ``*by``, ``outcome``, ``reasons``, ``n``) and the time summary."""
    by = list(by)
    groups, disposed = grouped_lots(engine, products, zone, by)
    decided: dict[tuple[Any, ...], _Decision] = {}
    records = []
    harvested: dict[int, int] = {}
    strata = len(by)  # the strata are the groups' first columns (query.outcome_groups)
    unknown = sum(int(row.n) for row in groups if row.t_first is None)
    if unknown:  # no target: counted, the lots would all be failures (see ``_no_target``)
        raise _no_target(unknown)
    for row in groups:
        fails, pends = _codes(row.fail_codes), _codes(row.pending_codes)
        key: tuple[Any, ...] = (row.t_first, row.t_last, row.state, row.termination_cause)
        key = (*key, row.harvest_day, row.dose_met, fails, pends)
        if key not in decided:
            decided[key] = _decide(row)
        records.append((*row[:strata], *decided[key], int(row.n)))
        if row.harvest_day is not None:
            day = int(row.harvest_day)
            harvested[day] = harvested.get(day, 0) + int(row.n)
    units = pd.DataFrame.from_records(records, columns=[*by, "outcome", "reasons", "n"])
    times = time_summary_of(
        {"day 0 to harvest": list(harvested.items()), "day 0 to disposition": disposed}
    )
    return units, times
