"""Success-rate reports and the de-identified export, through the services, on both backends."""

from __future__ import annotations

import pandas as pd
import pytest

from mfg.domain.permissions import PERMISSIONS, Role, allowed
from mfg.domain.stats import clopper_pearson
from mfg.errors import NotPermitted, RuleViolation
from mfg.services import reporting
from tests.conftest import add_users, make_database
from tests.reports import scenario

C_KEYS = scenario.C_KEYS


def test_lot_outcomes_counts_interval_and_reasons(db, actors, tmp_path):
    scenario.build(db, actors, tmp_path)
    lots = reporting.lot_table(db=db, actor=actors["sponsor"])
    got = {r.lot_number: (r.outcome, r.reasons) for r in lots.itertuples()}
    for number, expected in scenario.EXPECTED_LOTS.items():
        assert got[number] == expected, number
    live = lots[~lots["lot_number"].isin(list(scenario.EXPECTED_LOTS))]
    assert sorted(live["outcome"]) == ["in_progress", "not_evaluable"]

    r = reporting.success_rate(db=db, actor=actors["sponsor"])
    lo, hi = clopper_pearson(3, 9)
    assert r.data == {
        "unit": "lot",
        "overall": {
            "successes": 3,
            "failures": 6,
            "evaluable": 9,
            "pending": 1,
            "in_progress": 1,
            "not_evaluable": 2,
            "rate": 3 / 9,
            "ci_low": lo,
            "ci_high": hi,
        },
        "strata": [],
        "failure_reasons": {
            "harvest_window": 1,
            "insufficient_dose": 1,
            "out_of_spec:ENDO": 1,
            "out_of_spec:GRAM": 1,
            "out_of_spec:VIAB": 1,
            "rejected": 1,
            "terminated": 1,
        },
    }


def test_subject_unit_counts_a_remanufactured_subject_once_as_success(db, actors, tmp_path):
    scenario.build(db, actors, tmp_path)
    subjects = reporting.subject_table(db=db, actor=actors["sponsor"])
    h002 = subjects.set_index("subject_id").loc["H-002"]
    assert (h002["outcome"], h002["lots"], h002["reasons"]) == ("success", 2, "")
    c = reporting.success_rate(db=db, actor=actors["sponsor"], unit="subject").data["overall"]
    assert {k: c[k] for k in C_KEYS[:6]} == {
        "successes": 3,
        "failures": 5,
        "evaluable": 8,
        "pending": 1,
        "in_progress": 1,
        "not_evaluable": 2,
    }


def test_json_shape_and_strata(db, actors, tmp_path):
    scenario.build(db, actors, tmp_path)
    r = reporting.success_rate(
        db=db, actor=actors["sponsor"], unit="lot", by=["dose_level", "quarter"]
    )
    assert list(r.data) == ["unit", "overall", "strata", "failure_reasons"]
    assert list(r.data["overall"]) == C_KEYS
    for s in r.data["strata"]:
        assert list(s) == ["dose_level", "quarter", *C_KEYS]
    keys = [(s["dose_level"], s["quarter"]) for s in r.data["strata"]]
    assert keys == sorted(keys)
    assert ("DL3", "2025-Q1") in keys and ("DL1", "2026-Q4") in keys
    assert ("DL2", "2025-Q2") in keys  # the re-manufactured lot started in April
    dl3 = next(s for s in r.data["strata"] if s["dose_level"] == "DL3")
    assert (dl3["successes"], dl3["evaluable"], dl3["rate"], dl3["ci_high"]) == (1, 1, 1.0, 1.0)
    dl1 = next(s for s in r.data["strata"] if s["dose_level"] == "DL1")
    assert (dl1["evaluable"], dl1["rate"], dl1["ci_low"], dl1["in_progress"]) == (0, None, None, 1)
    # strata add up to the overall counts
    for k in ("successes", "failures", "pending", "in_progress", "not_evaluable"):
        assert sum(s[k] for s in r.data["strata"]) == r.data["overall"][k]
    sources = reporting.success_rate(db=db, actor=actors["qa"], by=["source"]).data["strata"]
    assert [s["source"] for s in sources] == ["apheresis", "cryo-pbmc"]


def test_time_from_day0_to_harvest(db, actors, tmp_path):
    scenario.build(db, actors, tmp_path)
    times = reporting.success_rate(db=db, actor=actors["sponsor"]).times.set_index("interval")
    harvest = times.loc["day 0 to harvest"]
    # 9 imported harvests (days 12, 15, 10, 12, 12, 12, 12, 14, 12) + the live one (day 11)
    assert (harvest["n"], harvest["median"], harvest["min"], harvest["max"]) == (10, 12, 10, 15)
    assert times.loc["day 0 to disposition", "n"] == 0  # imported lots carry no disposition


def test_unknown_stratum_and_unit_are_refused(db, actors):
    with pytest.raises(RuleViolation) as e:
        reporting.success_rate(db=db, actor=actors["sponsor"], by=["weight"])
    assert e.value.rule == "unknown-stratum"
    with pytest.raises(RuleViolation) as e:
        reporting.success_rate(db=db, actor=actors["sponsor"], unit="bag")
    assert e.value.rule == "unknown-unit"


def test_empty_database_reports_nothing_evaluable(db, actors):
    r = reporting.success_rate(db=db, actor=actors["sponsor"], by=["site"])
    assert r.data["overall"] == dict.fromkeys(C_KEYS[:6], 0) | {
        "rate": None,
        "ci_low": None,
        "ci_high": None,
    }
    assert r.data["strata"] == [] and r.data["failure_reasons"] == {}
    assert (
        reporting.success_rate(db=db, actor=actors["sponsor"], unit="subject").data["overall"][
            "evaluable"
        ]
        == 0
    )


@pytest.mark.parametrize("fmt", ["csv", "xlsx", "parquet"])
def test_export_is_de_identified(db, actors, tmp_path, fmt):
    scenario.build(db, actors, tmp_path)  # live subjects have initials AB and DOB 1988-04-02
    path = tmp_path / f"lots.{fmt}"
    n = reporting.export_lots(fmt, str(path), db=db, actor=actors["sponsor"])
    assert n == 13
    df = {"csv": pd.read_csv, "xlsx": pd.read_excel, "parquet": pd.read_parquet}[fmt](path)
    assert len(df) == 13
    lowered = {c.lower() for c in df.columns}
    assert not lowered & {"initials", "dob", "date_of_birth", "birth_date"}
    text = df.astype(str).to_csv(index=False)
    assert "1988-04-02" not in text and "1988" not in text
    assert not (df.astype(str) == "AB").any().any()
    assert {"lot_number", "subject_id", "outcome", "reasons", "days_to_harvest"} <= set(df.columns)


def test_sponsor_may_run_reports_and_exports_and_nothing_else(db, actors, tmp_path):
    sponsor_actions = {a for a in PERMISSIONS if allowed(Role.SPONSOR, a)}
    assert sponsor_actions == {"report.read", "export.read"}
    reporting.success_rate(db=db, actor=actors["sponsor"])
    reporting.lot_table(db=db, actor=actors["sponsor"])
    reporting.export_lots("csv", str(tmp_path / "x.csv"), db=db, actor=actors["sponsor"])


@pytest.mark.parametrize("who", ["tech", "tech2"])
def test_technicians_may_not_read_reports_or_export(db, actors, tmp_path, who):
    with pytest.raises(NotPermitted):
        reporting.success_rate(db=db, actor=actors[who])
    with pytest.raises(NotPermitted):
        reporting.lot_table(db=db, actor=actors[who])
    with pytest.raises(NotPermitted):
        reporting.export_lots("csv", str(tmp_path / "x.csv"), db=db, actor=actors[who])
    assert not (tmp_path / "x.csv").exists()


def test_admin_reads_reports_but_does_not_export(db, actors, tmp_path):
    reporting.success_rate(db=db, actor=actors["admin"])
    with pytest.raises(NotPermitted):
        reporting.export_lots("csv", str(tmp_path / "x.csv"), db=db, actor=actors["admin"])


def test_bad_export_format_is_refused(db, actors, tmp_path):
    with pytest.raises(RuleViolation) as e:
        reporting.export_lots("json", str(tmp_path / "x.json"), db=db, actor=actors["sponsor"])
    assert e.value.rule == "unknown-format"


@pytest.mark.postgres
def test_same_report_on_sqlite_and_postgresql(tmp_path, request):
    """The same history gives the same report, lot table and strata on both backends."""
    outputs = []
    for backend in ("sqlite", "postgresql"):
        base = tmp_path / backend
        base.mkdir()
        db = make_database(backend, base, request)
        try:
            actors = add_users(db)
            scenario.build(db, actors, base)
            sponsor = actors["sponsor"]
            reports = [
                reporting.success_rate(db=db, actor=sponsor, unit=unit, by=by).data
                for unit in ("lot", "subject")
                for by in ([], ["dose_level"], ["source", "indication", "site"], ["quarter"])
            ]
            table = reporting.lot_table(db=db, actor=sponsor).to_csv(index=False)
            subjects = reporting.subject_table(db=db, actor=sponsor).to_csv(index=False)
            outputs.append((reports, table, subjects))
        finally:
            db.dispose()
    assert outputs[0][0] == outputs[1][0]
    assert outputs[0][1] == outputs[1][1]
    assert outputs[0][2] == outputs[1][2]


def test_success_table_for_the_tui(db, actors, tmp_path):
    scenario.build(db, actors, tmp_path)
    t = reporting.success_table(db=db, actor=actors["sponsor"], now=None)
    assert t.title.startswith("Manufacturing success rate per lot: 33.3 % (3/9 evaluable")
    assert [r["dose level"] for r in t.rows] == ["DL1", "DL2", "DL3", "all"]
    assert t.rows[-1]["rate"] == "33.3 %" and t.rows[0]["rate"] == "-"
    with pytest.raises(NotPermitted):
        reporting.success_table(db=db, actor=actors["tech"])


def test_every_lot_of_a_large_synthetic_set_is_decided_as_lot_outcome_decides_it(db):
    """The report groups lots with equal inputs; each lot must still get lot_outcome's answer."""
    from benchmarks.bench_reports import build_synthetic  # a seeded bulk inserter
    from mfg import reports
    from mfg.domain.dose import target_dose_cells
    from mfg.domain.outcome import lot_outcome

    product = db.product("BH002")
    build_synthetic(db, 3000, seed=3)
    lots = reports.lot_frame(db.engine, db.product, db.settings.zone)
    assert len(lots) == 3000
    assert set(lots["outcome"]) == {
        "success",
        "failure",
        "pending",
        "in_progress",
        "not_evaluable",
    }

    def value(x):  # type: ignore[no-untyped-def]
        return None if pd.isna(x) else int(x)

    for r in lots.itertuples():
        results = [(c, "fail") for c in r.failing_tests.split(",") if c]
        results += [(c, "pending") for c in r.pending_tests.split(",") if c]
        o, why = lot_outcome(
            state=r.state,
            termination_cause=None if pd.isna(r.termination_cause) else r.termination_cause,
            harvest_day=value(r.harvest_day),
            car_viable_cells=value(r.car_viable_cells),
            target_dose_cells=value(r.target_dose_cells),
            results=results,
        )
        assert (r.outcome, r.reasons) == (o.value, ";".join(why)), r.lot_number
        assert r.target_dose_cells == target_dose_cells(product, r.dose_level, r.weight_kg)
