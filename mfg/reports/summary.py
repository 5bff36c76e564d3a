"""The success rate per lot without a row per lot in Python.

``mfg.reports.query.outcome_groups`` returns one row per distinct combination of the strata
asked for and the outcome inputs, with its number of lots; each combination is decided once by
``mfg.domain.outcome.decide`` (the same rule ``lot_outcome`` applies to one lot). The result is a
small frame of (strata..., outcome, reasons, n) that ``mfg.reports.frames`` counts like one row
per lot. Memory and time grow with the number of combinations (a few thousand), not of lots.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import tzinfo
from typing import Any

import pandas as pd
from sqlalchemy.engine import Engine

from mfg.domain import outcome as oc
from mfg.reports import query
from mfg.reports.frames import time_summary_of
from mfg.reports.query import ProductLoader

_Decision = tuple[str, str]


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


def lot_report(
    engine: Engine, products: ProductLoader, zone: tzinfo, by: Sequence[str]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Grouped lots (columns ``*by``, ``outcome``, ``reasons``, ``n``) and the time summary."""
    by = list(by)
    with engine.connect() as conn:
        groups = query.outcome_groups(conn, products, by)
        disposed = query.disposition_days(conn, zone)
    decided: dict[tuple[Any, ...], _Decision] = {}
    records = []
    harvested: dict[int, int] = {}
    for row in groups:
        fails, pends = _codes(row.fail_codes), _codes(row.pending_codes)
        key: tuple[Any, ...] = (row.t_first, row.t_last, row.state, row.termination_cause)
        key = (*key, row.harvest_day, row.dose_met, fails, pends)
        if key not in decided:
            decided[key] = _decide(row)
        records.append((*(row._mapping[k] for k in by), *decided[key], int(row.n)))
        if row.harvest_day is not None:
            day = int(row.harvest_day)
            harvested[day] = harvested.get(day, 0) + int(row.n)
    units = pd.DataFrame.from_records(records, columns=[*by, "outcome", "reasons", "n"])
    times = time_summary_of(
        {"day 0 to harvest": list(harvested.items()), "day 0 to disposition": disposed}
    )
    return units, times
