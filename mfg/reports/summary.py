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


def _decide(row: Any, window: tuple[int, int]) -> _Decision:
    results = [(c, "fail") for c in _codes(row.fail_codes)]
    results += [(c, "pending") for c in _codes(row.pending_codes)]
    outcome, reasons = oc.decide(
        state=row.state,
        termination_cause=row.termination_cause,
        harvest_day=None if row.harvest_day is None else int(row.harvest_day),
        dose_met=None if row.dose_met is None else bool(row.dose_met),
        results=results,
        window=window,
    )
    return outcome.value, ";".join(reasons)


def lot_units(engine: Engine, products: ProductLoader, by: Sequence[str]) -> pd.DataFrame:
    """Grouped lots: columns ``*by``, ``outcome``, ``reasons``, ``n`` (lots in the group)."""
    by = list(by)
    with engine.connect() as conn:
        groups = query.outcome_groups(conn, products, by)
    windows: dict[tuple[str, str], tuple[int, int]] = {}
    decided: dict[tuple[Any, ...], _Decision] = {}
    records = []
    for row in groups:
        spec = (row.product_code, row.spec_version)
        if spec not in windows:
            product = products(*spec)
            windows[spec] = (product.window_first_day, product.window_last_day)
        key = (
            *spec,
            row.state,
            row.termination_cause,
            row.harvest_day,
            row.dose_met,
            _codes(row.fail_codes),
            _codes(row.pending_codes),
        )
        if key not in decided:
            decided[key] = _decide(row, windows[spec])
        records.append((*(row._mapping[k] for k in by), *decided[key], int(row.n)))
    return pd.DataFrame.from_records(records, columns=[*by, "outcome", "reasons", "n"])


def times(engine: Engine, zone: tzinfo) -> pd.DataFrame:
    """Days from day 0 to harvest and to the first disposition, from histograms in SQL."""
    with engine.connect() as conn:
        hists = {
            "day 0 to harvest": query.harvest_days(conn),
            "day 0 to disposition": query.disposition_days(conn, zone),
        }
    return time_summary_of(hists)
