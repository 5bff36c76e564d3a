"""Success-rate summaries as pandas DataFrames, exact intervals, and the de-identified lot table.

The only module that imports pandas (the CLI and TUI import it lazily through the services).
One SQL Core query reads every lot with its subject, current harvest, an aggregate of its current
non-passing release results and its dispositions; the outcome of each lot is then decided by
``mfg.domain.outcome.lot_outcome`` (the one definition) and summarised here.

Call through ``mfg.services.reporting``, which checks the role; these functions take the engine,
a product loader and the site time zone so that this module does not depend on the services.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from datetime import tzinfo
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import and_, case, func, select
from sqlalchemy.engine import Engine
from sqlalchemy.sql import Select

from mfg.domain import outcome as oc
from mfg.domain.specs import Product
from mfg.domain.stats import proportion
from mfg.errors import RuleViolation
from mfg.store.tables import Disposition, Harvest, Lot, ReleaseResult, Subject

UNITS = ("lot", "subject")
STRATA = ("dose_level", "source", "indication", "site", "quarter")
COUNT_FIELDS = (
    "successes",
    "failures",
    "evaluable",
    "pending",
    "in_progress",
    "not_evaluable",
    "rate",
    "ci_low",
    "ci_high",
)
# The de-identified lot-level table: no initials, no date of birth, ever.
LOT_COLUMNS = (
    "lot_number",
    "subject_id",
    "site",
    "indication",
    "dose_level",
    "weight_kg",
    "product_code",
    "spec_version",
    "source",
    "day0",
    "quarter",
    "state",
    "termination_cause",
    "harvested_on",
    "harvest_day",
    "car_viable_cells",
    "target_dose_cells",
    "failing_tests",
    "pending_tests",
    "disposition",
    "disposition_on",
    "released_by_exception",
    "days_to_harvest",
    "days_to_disposition",
    "outcome",
    "reasons",
)
DEFINITION = (
    "A lot is a manufacturing success when it was harvested on day 10-14 after day 0 (the "
    "apheresis date for fresh material, the thaw date for cryopreserved PBMC), its CAR+ viable "
    "T cells reach the target dose (dose level x body weight, weight capped at 100 kg) and every "
    "release test passes. Lots terminated for a manufacturing cause, harvested outside the "
    "window, short of the dose, out of specification (even if released by exception) or "
    "rejected are failures. Lots not yet dispositioned are in progress; lots with results still "
    "pending are pending; lots terminated for a cause outside manufacturing are not evaluable. "
    "Rate = successes / (successes + failures), with the exact Clopper-Pearson 95% interval. "
    "A subject succeeds when any of its lots (re-manufacture included) succeeds."
)

ProductLoader = Callable[[str, str], Product]


def check_unit(unit: str) -> str:
    if unit not in UNITS:
        raise RuleViolation("unit", "unknown-unit", f"{unit!r} is not one of {', '.join(UNITS)}")
    return unit


def check_strata(by: Iterable[str]) -> tuple[str, ...]:
    keys: list[str] = []
    for item in by:
        for key in (k.strip() for k in item.split(",")):
            if not key:
                continue
            if key not in STRATA:
                raise RuleViolation(
                    "by", "unknown-stratum", f"{key!r} is not one of {', '.join(STRATA)}"
                )
            if key not in keys:
                keys.append(key)
    return tuple(keys)


# ---------------------------------------------------------------------------------------------
# The one query


def lot_query() -> Select[Any]:
    """Every lot with its subject, current harvest, non-passing current results (aggregated per
    lot in SQL: only ``fail`` / ``pending`` rows leave the database) and dispositions."""
    lt, s, h = Lot.__table__, Subject.__table__, Harvest.__table__  # type: ignore[attr-defined]
    r, d = ReleaseResult.__table__, Disposition.__table__  # type: ignore[attr-defined]
    res = (
        select(
            r.c.lot_pk,
            func.aggregate_strings(
                case((r.c.evaluation == "fail", r.c.test_code), else_=None), ","
            ).label("fail_codes"),
            func.aggregate_strings(
                case((r.c.evaluation == "pending", r.c.test_code), else_=None), ","
            ).label("pending_codes"),
        )
        .where(r.c.evaluation.in_(("fail", "pending")), r.c.superseded_by_id.is_(None))
        .group_by(r.c.lot_pk)
        .subquery("res")
    )
    disp = (
        select(
            d.c.lot_pk,
            func.min(d.c.decided_at).label("disposition_at"),
            func.max(case((d.c.exception, 1), else_=0)).label("exception"),
        )
        .group_by(d.c.lot_pk)
        .subquery("disp")
    )
    return (
        select(
            lt.c.lot_number,
            lt.c.product_code,
            lt.c.spec_version,
            lt.c.source,
            lt.c.day0,
            lt.c.state,
            lt.c.termination_cause,
            s.c.subject_id,
            s.c.site,
            s.c.indication,
            s.c.weight_kg,
            s.c.dose_level,
            h.c.harvested_on,
            h.c.total_viable_cells,
            h.c.car_pct,
            res.c.fail_codes,
            res.c.pending_codes,
            disp.c.disposition_at,
            disp.c.exception,
        )
        .select_from(lt)
        .join(s, s.c.id == lt.c.subject_pk)
        .outerjoin(h, and_(h.c.lot_pk == lt.c.id, h.c.superseded_by_id.is_(None)))
        .outerjoin(res, res.c.lot_pk == lt.c.id)
        .outerjoin(disp, disp.c.lot_pk == lt.c.id)
    )


try:  # pandas' own row converter (what ``pd.DataFrame(rows)`` uses inside); optional
    from pandas._libs.lib import to_object_array_tuples as _to_object_array
except ImportError:  # pragma: no cover - a pandas without it takes the public path
    _to_object_array = None


def fetch_lots(engine: Engine) -> pd.DataFrame:
    """Run ``lot_query`` once, straight through the DB-API cursor (plain tuples, no ORM)."""
    query = lot_query()
    names = list(query.selected_columns.keys())
    with engine.connect() as conn:
        sql = str(query.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.execute(sql)
            rows = cursor.fetchall()
        finally:
            cursor.close()
    if rows and _to_object_array is not None:
        # One C pass to a 2-D object array (the DataFrame is then a view of it): ~3x faster
        # than the list-of-tuples constructor, same frame.
        return pd.DataFrame(_to_object_array(rows), columns=names, dtype=object, copy=False)
    return pd.DataFrame(rows, columns=names, dtype=object)


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


def lot_frame(engine: Engine, products: ProductLoader, zone: tzinfo) -> pd.DataFrame:
    """One row per lot (de-identified), with its outcome and failure reasons."""
    raw = fetch_lots(engine)  # unordered: summaries need no order, exports sort
    n = len(raw)
    day0 = _dates(raw["day0"])
    harvested = _dates(raw["harvested_on"])
    harvest_day = (harvested - day0).dt.days
    # Target dose and window from each lot's pinned spec: dose level x min(weight, cap), rounded
    # up, exactly as mfg.domain.dose.target_dose_cells computes it.
    per_kg = np.full(n, np.nan)
    cap = np.full(n, np.nan)
    first_day = np.full(n, 10, dtype=np.int64)
    last_day = np.full(n, 14, dtype=np.int64)
    # Integer codes once, then one integer comparison per pinned spec (not string compares).
    code_of, codes = pd.factorize(raw["product_code"].astype(object))
    version_of, versions = pd.factorize(raw["spec_version"].astype(object))
    level_of, levels = pd.factorize(raw["dose_level"].astype(object))
    spec_of = code_of.astype(np.int64) * (len(versions) + 1) + version_of
    for spec in np.unique(spec_of).tolist():
        code, version = codes[spec // (len(versions) + 1)], versions[spec % (len(versions) + 1)]
        product = products(code, version)
        mask = spec_of == spec
        per_level = np.array(
            [float(product.dose_levels.get(lv, np.nan)) for lv in levels] + [np.nan]
        )
        per_kg[mask] = per_level[level_of[mask]]  # code -1 (missing level) -> the final NaN
        cap[mask] = product.weight_cap_kg
        first_day[mask] = product.window_first_day
        last_day[mask] = product.window_last_day
    weight = raw["weight_kg"].astype(float).to_numpy()
    target = np.ceil(per_kg * np.minimum(weight, cap))
    total = raw["total_viable_cells"].astype(float).to_numpy()
    car = np.floor(total * raw["car_pct"].astype(float).to_numpy() / 100.0)

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
    get = lambda o: int(tally.get(o.value, 0))  # noqa: E731
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


def strata_frame(units: pd.DataFrame, by: Sequence[str]) -> pd.DataFrame:
    """One row per stratum (sorted by its keys), with the C columns."""
    by = list(by)
    if not by:
        return pd.DataFrame(columns=list(COUNT_FIELDS))
    table = (
        units.groupby([*by, "outcome"], sort=True, dropna=False)
        .size()
        .unstack("outcome", fill_value=0)
    )
    records = []
    for key, row in zip(table.index, table.to_dict(orient="records"), strict=True):
        values = key if isinstance(key, tuple) else (key,)
        records.append({**dict(zip(by, values, strict=True)), **_counts(row)})
    return pd.DataFrame.from_records(records, columns=[*by, *COUNT_FIELDS])


def failure_reasons(units: pd.DataFrame) -> pd.Series:
    """Failed units per reason (each unit once per reason), most frequent first."""
    failed = units.loc[units["outcome"] == oc.Outcome.FAILURE.value, "reasons"]
    tally: dict[str, int] = {}
    # A few distinct reason texts among thousands of failed units: split each text once.
    for text, n in failed.value_counts(dropna=True).items():
        for reason in set(str(text).split(";")):
            if reason:
                tally[reason] = tally.get(reason, 0) + int(n)
    ordered = sorted(tally.items(), key=lambda kv: (-kv[1], kv[0]))
    return pd.Series(
        [v for _, v in ordered], index=[k for k, _ in ordered], name="count", dtype="int64"
    )


def time_summary(lots: pd.DataFrame) -> pd.DataFrame:
    """Days from day 0 to harvest and to (first) disposition: n, median, quartiles, range."""
    rows = []
    for label, col in (
        ("day 0 to harvest", "days_to_harvest"),
        ("day 0 to disposition", "days_to_disposition"),
    ):
        values = lots[col].dropna().astype(float)
        if values.empty:
            rows.append({"interval": label, "n": 0})
            continue
        rows.append(
            {
                "interval": label,
                "n": len(values),
                "median": float(values.median()),
                "q1": float(values.quantile(0.25)),
                "q3": float(values.quantile(0.75)),
                "min": float(values.min()),
                "max": float(values.max()),
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
        "overall": counts(units["outcome"]),
        "strata": [
            {k: _clean(v) for k, v in rec.items()} for rec in strata.to_dict(orient="records")
        ],
        "failure_reasons": {str(k): int(v) for k, v in reasons.items()},
    }


def export_frame(lots: pd.DataFrame) -> pd.DataFrame:
    """The de-identified lot-level export (no initials, no dates of birth)."""
    out = lots.loc[:, list(LOT_COLUMNS)].sort_values("lot_number", kind="stable")
    for col in ("day0", "harvested_on", "disposition_on"):
        out[col] = out[col].dt.date
    return out.reset_index(drop=True)


def write_export(lots: pd.DataFrame, fmt: str, path: str) -> None:
    df = export_frame(lots)
    if fmt == "csv":
        df.to_csv(path, index=False)
    elif fmt == "xlsx":
        df.to_excel(path, index=False, sheet_name="lots")
    elif fmt == "parquet":
        df.to_parquet(path, index=False)
    else:
        raise RuleViolation("format", "unknown-format", f"{fmt!r} is not csv, xlsx or parquet")


# ---------------------------------------------------------------------------------------------
# The one-page sponsor summary (reportlab, imported only here)

PDF_MAX_STRATA = 16


def _fmt_pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f} %"


def _fmt_ci(c: dict[str, Any]) -> str:
    if c.get("rate") is None:
        return "-"
    return f"{100 * c['ci_low']:.1f} - {100 * c['ci_high']:.1f} %"


def _chart(
    strata: list[dict[str, Any]], keys: Sequence[str], overall: dict[str, Any], width: float
):  # type: ignore[no-untyped-def]
    """Horizontal bars of the rates with their exact 95% intervals as whiskers."""
    from reportlab.graphics.shapes import Drawing, Line, Rect, String
    from reportlab.lib import colors

    items = [(" / ".join(str(s[k]) for k in keys), s) for s in strata]
    items.append(("all", overall))
    longest = max(len(label) for label, _ in items)
    bar_h, gap, top, bottom = 10.0, 4.0, 6.0, 22.0
    label_w = min(max(40.0, 4.2 * longest + 10), width / 3)
    plot_w = width - label_w - 80
    height = top + bottom + len(items) * (bar_h + gap)
    d = Drawing(width, height)
    x0 = label_w
    for pct in range(0, 101, 20):
        x = x0 + plot_w * pct / 100
        d.add(
            Line(
                x,
                bottom - 3,
                x,
                height - top,
                strokeColor=colors.HexColor("#dddddd"),
                strokeWidth=0.4,
            )
        )
        d.add(
            String(
                x,
                bottom - 12,
                f"{pct} %",
                fontSize=6.5,
                textAnchor="middle",
                fillColor=colors.HexColor("#555555"),
            )
        )
    for i, (label, c) in enumerate(items):
        y = height - top - (i + 1) * (bar_h + gap) + gap / 2
        is_all = label == "all"
        d.add(
            String(
                x0 - 5,
                y + 2,
                label,
                fontSize=7,
                textAnchor="end",
                fontName="Helvetica-Bold" if is_all else "Helvetica",
            )
        )
        if c.get("rate") is None:
            d.add(String(x0 + 3, y + 2, "nothing evaluable", fontSize=6.5, fillColor=colors.grey))
            continue
        fill = colors.HexColor("#1f4e79") if is_all else colors.HexColor("#5b9bd5")
        d.add(Rect(x0, y, plot_w * c["rate"], bar_h, fillColor=fill, strokeColor=None))
        lo, hi = x0 + plot_w * c["ci_low"], x0 + plot_w * c["ci_high"]
        mid = y + bar_h / 2
        ink = colors.HexColor("#222222")
        d.add(Line(lo, mid, hi, mid, strokeColor=ink, strokeWidth=0.8))
        d.add(Line(lo, mid - 3, lo, mid + 3, strokeColor=ink, strokeWidth=0.8))
        d.add(Line(hi, mid - 3, hi, mid + 3, strokeColor=ink, strokeWidth=0.8))
        d.add(
            String(
                x0 + plot_w + 4,
                y + 2,
                f"{100 * c['rate']:.1f} % (n={c['evaluable']})",
                fontSize=6.5,
            )
        )
    d.add(Line(x0, bottom - 3, x0, height - top, strokeColor=colors.black, strokeWidth=0.6))
    return d


def render_success_rate_pdf(report: Any, now: str = "") -> bytes:
    """One page for the sponsor: overall rate, strata, chart with intervals, failure reasons,
    days from day 0 to harvest and to disposition, and the definition in words.

    ``report`` is a ``mfg.services.reporting.SuccessRateReport``.
    """
    from io import BytesIO

    from reportlab.lib import colors
    from reportlab.lib.enums import TA_LEFT
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
    from reportlab.lib.units import mm
    from reportlab.platypus import (
        KeepInFrame,
        Paragraph,
        SimpleDocTemplate,
        Spacer,
        Table,
        TableStyle,
    )

    data = report.data
    keys = list(report.by)
    overall = data["overall"]
    unit = report.unit
    styles = getSampleStyleSheet()
    h1 = ParagraphStyle("h1", parent=styles["Heading1"], fontSize=14, spaceAfter=2, leading=17)
    h2 = ParagraphStyle(
        "h2", parent=styles["Heading2"], fontSize=9.5, spaceBefore=6, spaceAfter=3, leading=12
    )
    body = ParagraphStyle(
        "body", parent=styles["BodyText"], fontSize=7.5, leading=9.5, alignment=TA_LEFT
    )
    small = ParagraphStyle(
        "small", parent=body, fontSize=6.5, leading=8, textColor=colors.HexColor("#555555")
    )
    big = ParagraphStyle("big", parent=body, fontSize=12, leading=15)

    buf = BytesIO()
    page_w, page_h = A4
    margin = 14 * mm
    doc = SimpleDocTemplate(
        buf,
        pagesize=A4,
        leftMargin=margin,
        rightMargin=margin,
        topMargin=margin,
        bottomMargin=margin,
        title="Manufacturing success rate",
        author=report.site_name or "CellTrail",
    )
    width = page_w - 2 * margin
    story: list[Any] = [
        Paragraph("Manufacturing success rate (secondary outcome, NCT06350110)", h1),
        Paragraph(
            f"{report.site_name} &middot; unit: {unit} &middot; generated {now} by CellTrail",
            small,
        ),
        Spacer(1, 5),
    ]
    if overall["rate"] is None:
        headline = "No evaluable " + unit + "s yet."
    else:
        headline = (
            f"<b>{_fmt_pct(overall['rate'])}</b> of evaluable {unit}s succeeded "
            f"({overall['successes']} of {overall['evaluable']}); exact 95% CI "
            f"<b>{_fmt_ci(overall)}</b>"
        )
    story.append(Paragraph(headline, big))
    story.append(
        Paragraph(
            f"Pending {overall['pending']} &middot; in progress {overall['in_progress']} "
            f"&middot; not evaluable {overall['not_evaluable']} (outside the denominator)",
            body,
        )
    )

    strata = data["strata"]
    shown = strata[:PDF_MAX_STRATA]
    by_text = " x ".join(k.replace("_", " ") for k in keys) or "overall"
    story.append(Paragraph(f"Success rate by {by_text}", h2))
    story.append(_chart(shown, keys, overall, width))
    header = [k.replace("_", " ") for k in keys] + [
        "success",
        "failure",
        "rate",
        "95% CI",
        "pending",
        "in progr.",
        "not eval.",
    ]
    rows = [header]
    total_label = {k: ("all" if i == 0 else "") for i, k in enumerate(keys)}
    for s in [*shown, {**total_label, **overall}]:
        rows.append(
            [str(s[k]) for k in keys]
            + [
                str(s["successes"]),
                str(s["failures"]),
                _fmt_pct(s["rate"]),
                _fmt_ci(s),
                str(s["pending"]),
                str(s["in_progress"]),
                str(s["not_evaluable"]),
            ]
        )
    table = Table(rows, repeatRows=1, hAlign="LEFT")
    table.setStyle(
        TableStyle(
            [
                ("FONT", (0, 0), (-1, -1), "Helvetica", 7),
                ("FONT", (0, 0), (-1, 0), "Helvetica-Bold", 7),
                ("FONT", (0, -1), (-1, -1), "Helvetica-Bold", 7),
                ("LINEBELOW", (0, 0), (-1, 0), 0.6, colors.black),
                ("LINEABOVE", (0, -1), (-1, -1), 0.6, colors.black),
                ("ALIGN", (len(keys), 0), (-1, -1), "RIGHT"),
                ("ROWBACKGROUNDS", (0, 1), (-1, -2), [colors.white, colors.HexColor("#f2f6fa")]),
                ("TOPPADDING", (0, 0), (-1, -1), 1.2),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 1.2),
            ]
        )
    )
    story.append(Spacer(1, 4))
    story.append(table)
    if len(strata) > len(shown):
        story.append(
            Paragraph(f"{len(strata) - len(shown)} more strata in the CSV / XLSX formats.", small)
        )

    from mfg.domain.outcome import reason_text

    reasons = data["failure_reasons"]
    left: list[Any] = [Paragraph(f"Failure reasons (each {unit} once per reason)", h2)]
    if reasons:
        rt = Table(
            [["reason", f"{unit}s"]] + [[reason_text(k), str(v)] for k, v in reasons.items()],
            hAlign="LEFT",
        )
        rt.setStyle(
            TableStyle(
                [
                    ("FONT", (0, 0), (-1, -1), "Helvetica", 7),
                    ("FONT", (0, 0), (-1, 0), "Helvetica-Bold", 7),
                    ("LINEBELOW", (0, 0), (-1, 0), 0.6, colors.black),
                    ("ALIGN", (1, 0), (1, -1), "RIGHT"),
                    ("TOPPADDING", (0, 0), (-1, -1), 1.2),
                    ("BOTTOMPADDING", (0, 0), (-1, -1), 1.2),
                ]
            )
        )
        left.append(rt)
    else:
        left.append(Paragraph("No failures.", body))
    right: list[Any] = [Paragraph("Days from day 0 (all lots)", h2)]
    trows = [["interval", "n", "median", "IQR", "range"]]
    for rec in report.times.to_dict(orient="records"):
        if not rec["n"]:
            trows.append([rec["interval"], "0", "-", "-", "-"])
        else:
            trows.append(
                [
                    rec["interval"],
                    str(int(rec["n"])),
                    f"{rec['median']:g}",
                    f"{rec['q1']:g} - {rec['q3']:g}",
                    f"{rec['min']:g} - {rec['max']:g}",
                ]
            )
    tt = Table(trows, hAlign="LEFT")
    tt.setStyle(
        TableStyle(
            [
                ("FONT", (0, 0), (-1, -1), "Helvetica", 7),
                ("FONT", (0, 0), (-1, 0), "Helvetica-Bold", 7),
                ("LINEBELOW", (0, 0), (-1, 0), 0.6, colors.black),
                ("ALIGN", (1, 0), (-1, -1), "RIGHT"),
                ("TOPPADDING", (0, 0), (-1, -1), 1.2),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 1.2),
            ]
        )
    )
    right.append(tt)
    half = width / 2 - 4
    two = Table(
        [
            [
                KeepInFrame(half, 400, left, mode="shrink"),
                KeepInFrame(half, 400, right, mode="shrink"),
            ]
        ],
        colWidths=[half + 4, half + 4],
        hAlign="LEFT",
    )
    two.setStyle(
        TableStyle(
            [
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("LEFTPADDING", (0, 0), (-1, -1), 0),
                ("RIGHTPADDING", (0, 0), (-1, -1), 0),
            ]
        )
    )
    story.append(two)
    story.append(Paragraph("Definition", h2))
    story.append(Paragraph(DEFINITION, body))
    frame_h = page_h - 2 * margin - 2
    doc.build([KeepInFrame(width, frame_h, story, mode="shrink")])
    return buf.getvalue()
