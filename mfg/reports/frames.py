"""pandas frames of the reports: the de-identified lot table with each lot's outcome, subjects,
strata, failure reasons and the time summary.

The lot table reads one row per lot (``mfg.reports.query.lot_query``); the success rate by lot
does not need it (``mfg.reports.summary`` groups in SQL), but the per-subject rate, the export
and a sponsor's own analysis do. Count functions take either one row per unit or grouped rows
with their number of units in a column ``n``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import tzinfo
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy.engine import Engine

from mfg.domain import dose as dose_rules
from mfg.domain import outcome as oc
from mfg.domain.stats import proportion
from mfg.reports.definitions import COUNT_FIELDS, LOT_COLUMNS, check_unit
from mfg.reports.query import ProductLoader, fetch_rows, lot_query


def fetch_lots(engine: Engine) -> pd.DataFrame:
    """Run ``lot_query`` once, straight through the DB-API cursor (plain tuples, no ORM)."""
    with engine.connect() as conn:
        names, rows = fetch_rows(conn, lot_query())
    if not rows:
        return pd.DataFrame(rows, columns=names, dtype=object)
    # One 2-D object array (the frame is a view of it): faster than a list of tuples.
    return pd.DataFrame(np.array(rows, dtype=object), columns=names, dtype=object, copy=False)


def _dates(values: pd.Series) -> pd.Series:
    """Dates from either backend (date objects or ISO strings) as datetime64[s]."""
    return pd.to_datetime(values, format="ISO8601").astype("datetime64[s]")


def _sorted_codes(values: pd.Series) -> pd.Series:
    """``"VIAB,CD3"`` -> ``"CD3,VIAB"`` (the SQL aggregate has no order); missing -> ``""``."""
    out = np.full(len(values), "", dtype=object)
    raw = values.to_numpy(dtype=object, na_value=None)
    # Most lots have no such test: compare only the few non-missing values with "".
    idx = np.flatnonzero(pd.notna(raw))
    for i in idx.tolist():
        v = raw[i]
        if v != "":
            out[i] = ",".join(sorted(set(str(v).split(","))))
    return pd.Series(out, index=values.index, dtype=object)


def _decide(
    raw: pd.DataFrame,
    hdays: np.ndarray,
    car: np.ndarray,
    target: np.ndarray,
    first_day: np.ndarray,
    last_day: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, pd.Series, pd.Series]:
    """Outcome and reasons of every lot, decided by ``mfg.domain.outcome.lot_outcome``.

    Lots are grouped by everything the decision depends on -- state, termination cause,
    harvest day, whether the CAR+ viable cells reach the target, the failing and the pending
    tests, the window -- and ``lot_outcome`` is called once per group with the values of the
    group's first lot (a few hundred calls for 100,000 lots). ``lot_outcome`` uses the cells
    only through ``cells < target``; tests compare every lot with a direct call.
    """
    fails = _sorted_codes(raw["fail_codes"])
    pends = _sorted_codes(raw["pending_codes"])
    dose = np.where(np.isnan(car) | np.isnan(target), -1, (car >= target).astype(np.int64))
    columns = [
        pd.factorize(raw["state"].astype(object))[0],
        pd.factorize(raw["termination_cause"].astype(object).fillna(""))[0],
        np.nan_to_num(hdays, nan=-1.0).astype(np.int64) + 1,
        dose + 1,
        pd.factorize(fails)[0],
        pd.factorize(pends)[0],
        pd.factorize(first_day)[0],
        pd.factorize(last_day)[0],
    ]
    key = np.zeros(len(raw), dtype=np.int64)
    for codes in columns:  # one integer per combination of inputs (mixed radix)
        codes = np.asarray(codes, dtype=np.int64)
        key = key * (int(codes.max(initial=0)) + 1) + codes
    _, firsts, group = np.unique(key, return_index=True, return_inverse=True)
    outcome_of: list[str] = []
    reasons_of: list[str] = []
    fail_arr, pend_arr = fails.to_numpy(), pends.to_numpy()
    cause_arr = raw["termination_cause"].to_numpy(dtype=object)
    state_arr = raw["state"].to_numpy(dtype=object)
    for i in firsts.tolist():
        hd, cv, tg = hdays[i], car[i], target[i]
        f = fail_arr[i].split(",") if fail_arr[i] else []
        p = pend_arr[i].split(",") if pend_arr[i] else []
        cause = cause_arr[i]
        o, why = oc.lot_outcome(
            state=str(state_arr[i]),
            termination_cause=cause if isinstance(cause, str) else None,
            harvest_day=None if np.isnan(hd) else int(hd),
            car_viable_cells=None if np.isnan(cv) else int(cv),
            target_dose_cells=None if np.isnan(tg) else int(tg),
            results=[(c, "fail") for c in f] + [(c, "pending") for c in p],
            window=(int(first_day[i]), int(last_day[i])),
        )
        outcome_of.append(o.value)
        reasons_of.append(";".join(why))
    outcomes = np.asarray(outcome_of, dtype=object)[group]
    reasons = np.asarray(reasons_of, dtype=object)[group]
    return outcomes, reasons, fails, pends


def _spec_values(
    raw: pd.DataFrame, products: ProductLoader
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Target dose (``mfg.domain.dose``, once per distinct spec, dose level and weight) and the
    harvest window of each lot's pinned spec."""
    n = len(raw)
    target = np.full(n, np.nan)
    first_day = np.full(n, 10, dtype=np.int64)
    last_day = np.full(n, 14, dtype=np.int64)
    keys = pd.MultiIndex.from_arrays(
        [raw[c].astype(object) for c in ("product_code", "spec_version", "dose_level")]
        # a weight stored as text (an SQL edit) is NaN here: refused below, as any non-weight
        + [pd.to_numeric(raw["weight_kg"], errors="coerce").astype(float)]
    )
    key_of, distinct = pd.factorize(keys)
    per_key = np.full(len(distinct), np.nan)
    window_first = np.full(len(distinct), 10, dtype=np.int64)
    window_last = np.full(len(distinct), 14, dtype=np.int64)
    for i, (code, version, level, weight) in enumerate(distinct):
        product = products(code, version)
        window_first[i], window_last[i] = product.window_first_day, product.window_last_day
        # an unknown level is refused (only an edit outside CellTrail stores one): without a
        # target the lot would count as a failure
        per_key[i] = dose_rules.target_dose_cells(product, level, weight)
    if n:
        target, first_day, last_day = per_key[key_of], window_first[key_of], window_last[key_of]
    return target, first_day, last_day


def _car_cells(raw: pd.DataFrame) -> np.ndarray:
    """CAR+ viable cells of each harvested lot (``mfg.domain.dose.car_viable_cells``)."""
    total = raw["total_viable_cells"].to_numpy(dtype=object)
    pct = raw["car_pct"].to_numpy(dtype=object)
    out = np.full(len(raw), np.nan)
    for i in np.flatnonzero(pd.notna(total)).tolist():
        out[i] = dose_rules.car_viable_cells(int(total[i]), float(pct[i]))
    return out


def lot_frame(engine: Engine, products: ProductLoader, zone: tzinfo) -> pd.DataFrame:
    """One row per lot (de-identified), with its outcome and failure reasons."""
    raw = fetch_lots(engine)  # unordered: summaries need no order, exports sort
    day0 = _dates(raw["day0"])
    harvested = _dates(raw["harvested_on"])
    harvest_day = (harvested - day0).dt.days
    target, first_day, last_day = _spec_values(raw, products)
    car = _car_cells(raw)
    outcomes, reasons, fail_col, pend_col = _decide(
        raw, harvest_day.to_numpy(dtype=float), car, target, first_day, last_day
    )
    disp_at = pd.to_datetime(raw["disposition_at"], utc=True, format="ISO8601")
    disp_on = disp_at.dt.tz_convert(zone).dt.tz_localize(None).dt.floor("D").astype("datetime64[s]")
    quarter = day0.dt.year.astype(str) + "-Q" + day0.dt.quarter.astype(str)
    out = pd.DataFrame(
        {
            "lot_number": raw["lot_number"],
            "subject_id": raw["subject_id"],
            "site": raw["site"],
            "indication": raw["indication"],
            "dose_level": raw["dose_level"],
            "weight_kg": raw["weight_kg"].astype(float),
            "product_code": raw["product_code"],
            "spec_version": raw["spec_version"],
            "source": raw["source"],
            "day0": day0,
            "quarter": quarter,
            "state": raw["state"],
            "termination_cause": raw["termination_cause"],
            "harvested_on": harvested,
            "harvest_day": harvest_day.astype("Int64"),
            "car_viable_cells": pd.Series(car).astype("Int64"),
            "target_dose_cells": pd.Series(target).astype("Int64"),
            "failing_tests": fail_col,
            "pending_tests": pend_col,
            "disposition": raw["state"].where(raw["disposition_at"].notna()),
            "disposition_on": disp_on,
            "released_by_exception": raw["exception"].fillna(0).astype(int) == 1,
            "days_to_harvest": harvest_day.astype("Int64"),
            "days_to_disposition": (disp_on - day0).dt.days.astype("Int64"),
            "outcome": outcomes,
            "reasons": reasons,
        },
        columns=list(LOT_COLUMNS),
    )
    return out.reset_index(drop=True)


def subject_frame(lots: pd.DataFrame) -> pd.DataFrame:
    """One row per subject: its outcome over all its lots (``subject_outcome``'s precedence:
    any success, else any in progress, else any pending, else any failure, else not evaluable);
    site, indication and dose level of the subject; source and quarter of its first lot; the
    failure reasons of its lots when the subject failed (each reason once)."""
    cols = ["subject_id", "site", "indication", "dose_level", "source", "quarter"]
    if lots.empty:
        return pd.DataFrame(columns=[*cols, "lots", "outcome", "reasons"])
    # Integer codes (sorted factorization) so that ordering and grouping run on numbers.
    subj_codes, subjects = pd.factorize(lots["subject_id"], sort=True)
    lot_codes, _ = pd.factorize(lots["lot_number"], sort=True)
    day0 = pd.to_datetime(lots["day0"]).to_numpy(dtype="datetime64[D]").astype(np.int64)
    order = np.lexsort((lot_codes, day0, subj_codes))
    sorted_subj = subj_codes[order]
    starts = np.flatnonzero(np.r_[True, sorted_subj[1:] != sorted_subj[:-1]])
    first_rows = order[starts]  # the first lot (day 0, then lot number) of each subject
    rank_of = {o.value: i for i, o in enumerate(oc.SUBJECT_PRECEDENCE)}
    ranks = lots["outcome"].map(rank_of).to_numpy(dtype=np.int64)[order]
    best = np.minimum.reduceat(ranks, starts)
    n_lots = np.diff(np.r_[starts, len(order)])
    out = lots.iloc[first_rows][cols].reset_index(drop=True)
    out["subject_id"] = np.asarray(subjects, dtype=object)
    out["lots"] = n_lots
    names = np.asarray([o.value for o in oc.SUBJECT_PRECEDENCE], dtype=object)
    out["outcome"] = names[best]
    failed_codes = np.flatnonzero(best == rank_of[oc.Outcome.FAILURE.value])
    is_failed = np.zeros(len(subjects), dtype=bool)
    is_failed[failed_codes] = True
    reasons = lots["reasons"].to_numpy(dtype=object)
    pick = np.flatnonzero(is_failed[subj_codes] & (reasons != ""))
    found: dict[int, set[str]] = {}
    for code, text in zip(subj_codes[pick].tolist(), reasons[pick].tolist(), strict=True):
        found.setdefault(code, set()).update(text.split(";"))
    joined = np.full(len(subjects), "", dtype=object)
    for code, found_reasons in found.items():
        joined[code] = ";".join(sorted(found_reasons - {""}))
    out["reasons"] = joined
    return out


def units_frame(lots: pd.DataFrame, unit: str) -> pd.DataFrame:
    return lots if check_unit(unit) == "lot" else subject_frame(lots)


def _counts(tally: dict[str, int]) -> dict[str, Any]:
    def get(o: oc.Outcome) -> int:
        return int(tally.get(o.value, 0))

    s, f = get(oc.Outcome.SUCCESS), get(oc.Outcome.FAILURE)
    p = proportion(s, s + f)
    return {
        "successes": s,
        "failures": f,
        "evaluable": s + f,
        "pending": get(oc.Outcome.PENDING),
        "in_progress": get(oc.Outcome.IN_PROGRESS),
        "not_evaluable": get(oc.Outcome.NOT_EVALUABLE),
        "rate": p.rate,
        "ci_low": p.ci_low,
        "ci_high": p.ci_high,
    }


def counts(outcomes: pd.Series) -> dict[str, Any]:
    """The C record of the issue: counts, rate and exact 95% interval (fractions or None)."""
    return _counts({str(k): int(v) for k, v in outcomes.value_counts().items()})


def _sizes(frame: pd.DataFrame, by: list[str]) -> pd.Series:
    """Units per group: rows, or the sum of ``n`` when the rows are already grouped."""
    grouped = frame.groupby(by, sort=True, dropna=False)
    return grouped["n"].sum() if "n" in frame.columns else grouped.size()


def unit_counts(units: pd.DataFrame) -> dict[str, Any]:
    """``counts`` of one row per unit or of grouped rows (column ``n``)."""
    return _counts({str(k): int(v) for k, v in _sizes(units, ["outcome"]).items()})


def strata_frame(units: pd.DataFrame, by: Sequence[str]) -> pd.DataFrame:
    """One row per stratum (sorted by its keys), with the C columns."""
    by = list(by)
    if not by:
        return pd.DataFrame(columns=list(COUNT_FIELDS))
    table = _sizes(units, [*by, "outcome"]).unstack("outcome", fill_value=0)
    records = []
    for key, row in zip(table.index, table.to_dict(orient="records"), strict=True):
        values = key if isinstance(key, tuple) else (key,)
        records.append({**dict(zip(by, values, strict=True)), **_counts(row)})
    return pd.DataFrame.from_records(records, columns=[*by, *COUNT_FIELDS])


def failure_reasons(units: pd.DataFrame) -> pd.Series:
    """Failed units per reason (each unit once per reason), most frequent first."""
    failed = units.loc[units["outcome"] == oc.Outcome.FAILURE.value]
    tally: dict[str, int] = {}
    # A few distinct reason texts among thousands of failed units: split each text once.
    for text, n in _sizes(failed.dropna(subset=["reasons"]), ["reasons"]).items():
        for reason in set(str(text).split(";")):
            if reason:
                tally[reason] = tally.get(reason, 0) + int(n)
    ordered = sorted(tally.items(), key=lambda kv: (-kv[1], kv[0]))
    return pd.Series(
        [v for _, v in ordered], index=[k for k, _ in ordered], name="count", dtype="int64"
    )


TIME_INTERVALS = (
    ("day 0 to harvest", "days_to_harvest"),
    ("day 0 to disposition", "days_to_disposition"),
)


def time_summary(lots: pd.DataFrame) -> pd.DataFrame:
    """Days from day 0 to harvest and to (first) disposition: n, median, quartiles, range."""
    hists = {}
    for label, col in TIME_INTERVALS:
        tally = lots[col].dropna().astype(int).value_counts()
        hists[label] = [(int(d), int(n)) for d, n in tally.items()]
    return time_summary_of(hists)


def _quantile(days: np.ndarray, cum: np.ndarray, q: float) -> float:
    """pandas' default (linear) quantile of the sorted values that ``days``/``cum`` describe."""
    pos = q * (cum[-1] - 1)
    lo = math.floor(pos)
    frac = pos - lo

    def at(k: int) -> float:
        return float(days[np.searchsorted(cum, k, side="right")])

    a = at(lo)
    return a if frac == 0 else a + (at(lo + 1) - a) * frac


def time_summary_of(hists: dict[str, list[tuple[int, int]]]) -> pd.DataFrame:
    """The time summary from histograms: interval label -> [(days, lots)]."""
    rows: list[dict[str, Any]] = []
    for label, _ in TIME_INTERVALS:
        pairs = sorted(hists.get(label, []))
        if not pairs:
            rows.append({"interval": label, "n": 0})
            continue
        days = np.array([d for d, _ in pairs], dtype=np.int64)
        cum = np.cumsum([n for _, n in pairs])
        rows.append(
            {
                "interval": label,
                "n": int(cum[-1]),
                "median": _quantile(days, cum, 0.5),
                "q1": _quantile(days, cum, 0.25),
                "q3": _quantile(days, cum, 0.75),
                "min": float(days[0]),
                "max": float(days[-1]),
            }
        )
    return pd.DataFrame.from_records(
        rows, columns=["interval", "n", "median", "q1", "q3", "min", "max"]
    )


def _clean(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return None if math.isnan(value) else float(value)
    return value


def success_rate(lots: pd.DataFrame, unit: str = "lot", by: Sequence[str] = ()) -> dict[str, Any]:
    """The issue's JSON shape: unit, overall C, strata [{key: value, ...C}], failure_reasons."""
    units = units_frame(lots, unit)
    return report_data(units, unit, strata_frame(units, by), failure_reasons(units))


def report_data(
    units: pd.DataFrame, unit: str, strata: pd.DataFrame, reasons: pd.Series
) -> dict[str, Any]:
    return {
        "unit": unit,
        "overall": unit_counts(units),
        "strata": [
            {k: _clean(v) for k, v in rec.items()} for rec in strata.to_dict(orient="records")
        ],
        "failure_reasons": {str(k): int(v) for k, v in reasons.items()},
    }
