"""The success rate per lot is counted in SQL from grouped outcome inputs; it must give exactly
what counting the lot table (one domain decision per lot) gives, on both backends."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, update

from mfg import reports
from mfg.reports.query import utc_offsets
from mfg.services import reporting
from mfg.store.tables import Disposition

STRATA_SETS = [(), ("dose_level",), ("dose_level", "source", "site"), ("quarter", "indication")]


@pytest.fixture
def synthetic(db):  # type: ignore[no-untyped-def]
    from benchmarks.synth_report import report_lots

    report_lots(db, 1500, seed=5)
    return db


@pytest.mark.parametrize("by", STRATA_SETS)
def test_grouped_counts_equal_the_lot_table_counts(synthetic, actors, by):
    db = synthetic
    lots = reports.lot_frame(db.engine, db.product, db.zone)
    expected = reports.success_rate(lots, "lot", by)
    got = reporting.success_rate(db=db, actor=actors["sponsor"], unit="lot", by=by)
    assert got.data == expected
    assert got.times.equals(reports.time_summary(lots))
    assert len(got.lots) == 1500  # the lot table is still there when asked for


def test_days_to_disposition_use_the_site_zone_across_daylight_saving(db, actors):
    """Dispositions at 23:30 UTC fall on the next local day in London's summer only."""
    from benchmarks.synth_report import report_lots

    report_lots(db, 400, seed=9)
    with db.engine.begin() as conn:
        rows = conn.execute(select(Disposition.id, Disposition.decided_at)).all()  # type: ignore[call-overload]
        for pk, at in rows:
            at = at if at.tzinfo else at.replace(tzinfo=UTC)
            late = at.replace(hour=23, minute=30) - timedelta(days=0)
            conn.execute(update(Disposition).where(Disposition.id == pk).values(decided_at=late))  # type: ignore[arg-type]
    london = dataclasses.replace(db, _zone=ZoneInfo("Europe/London"))  # the site setting
    lots = reports.lot_frame(london.engine, london.product, london.zone)
    got = reporting.success_rate(db=london, actor=actors["sponsor"])
    assert got.times.equals(reports.time_summary(lots))
    utc = reporting.success_rate(db=db, actor=actors["sponsor"]).times
    assert not got.times.equals(utc)  # the zone made a difference


def test_utc_offsets_find_each_transition_to_the_second():
    zone = ZoneInfo("Europe/Berlin")
    segments = utc_offsets(zone, datetime(2025, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC))
    assert segments == [
        (datetime(2025, 1, 1, tzinfo=UTC), "+3600 seconds"),
        (datetime(2025, 3, 30, 1, 0, tzinfo=UTC), "+7200 seconds"),
        (datetime(2025, 10, 26, 1, 0, tzinfo=UTC), "+3600 seconds"),
    ]


def test_an_empty_database_reports_nothing(db, actors):
    r = reporting.success_rate(db=db, actor=actors["sponsor"], by=["site"])
    assert r.data["overall"]["evaluable"] == 0 and r.data["strata"] == []
    assert list(r.times["n"]) == [0, 0]


@pytest.mark.parametrize("name", ["SPECS_PRESENT", "PEOPLE_PRESENT"])
def test_the_targets_read_what_is_present_from_an_index_alone(sqlite_db, name):
    """The specs and the (dose level, weight) present, which the report works out targets for,
    come from ``ix_lot_spec`` and ``ix_subject_dose`` (migration 0007) without reading a row:
    scanning the tables was about 55 ms at 100,000 lots."""
    from mfg.reports import query

    index = {"SPECS_PRESENT": "ix_lot_spec", "PEOPLE_PRESENT": "ix_subject_dose"}[name]
    sql = str(getattr(query, name).compile(dialect=sqlite_db.engine.dialect))
    with sqlite_db.engine.connect() as conn:
        plan = [r[-1] for r in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}")]
    assert any(f"COVERING INDEX {index}" in p for p in plan), plan
