"""The record check reads dates and times as ISO text made by the database: the same text as
``recordrows._iso_time`` makes of the value a driver returns (the trail's form), on both
back-ends and in any session time zone."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from sqlalchemy import Date, DateTime, text
from sqlmodel import SQLModel

from mfg.recordrows import _iso_time, _pg_iso, _sqlite_iso
from mfg.store.types import UTCDateTime

TIMES = [
    datetime(2026, 11, 25, 9, 30, tzinfo=UTC),
    datetime(2026, 11, 25, 23, 59, 59, 999_999, tzinfo=UTC),
    datetime(2026, 3, 29, 1, 0, 0, 1, tzinfo=UTC),  # a daylight-saving night in Europe
    datetime(1999, 12, 31, 16, 0, tzinfo=timezone(timedelta(hours=8))),  # given in +08:00
    datetime(2000, 2, 29, 0, 0, tzinfo=UTC),
]
DATES = [date(2026, 11, 25), date(2000, 2, 29), date(1, 1, 1), date(9999, 12, 31)]


@pytest.fixture
def pg_db(tmp_path, request):  # type: ignore[no-untyped-def]
    from tests.conftest import make_database

    database = make_database("postgresql", tmp_path, request)
    yield database
    database.dispose()


@pytest.mark.postgres
@pytest.mark.parametrize("zone", ["UTC", "Asia/Shanghai", "America/St_Johns"])
def test_postgresql_makes_the_text_python_made(pg_db, zone: str) -> None:
    with pg_db.engine.connect() as c:
        c.execute(text(f"SET TIME ZONE '{zone}'"))
        for at in TIMES:
            got = c.execute(
                text(f"SELECT {_pg_iso('x', UTCDateTime())} FROM (SELECT :v AS x) AS t"),
                {"v": at},
            ).scalar_one()
            stored = c.execute(text("SELECT CAST(:v AS timestamptz)"), {"v": at}).scalar_one()
            assert got == _iso_time(stored) == _iso_time(at.astimezone(UTC)), at
        for day in DATES:
            got = c.execute(
                text(f"SELECT {_pg_iso('x', Date())} FROM (SELECT CAST(:v AS date) AS x) AS t"),
                {"v": day},
            ).scalar_one()
            assert got == _iso_time(day), day


def test_sqlite_makes_the_text_python_made(sqlite_db) -> None:
    with sqlite_db.engine.connect() as c:
        for at in TIMES:
            stored = at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")  # as UTCDateTime
            got = c.execute(text(f"SELECT {_sqlite_iso('x')} FROM (SELECT :v AS x)"), {"v": stored})
            assert got.scalar_one() == _iso_time(stored) == _iso_time(at.astimezone(UTC)), at
        for day in DATES:
            got = c.execute(
                text(f"SELECT {_sqlite_iso('x')} FROM (SELECT :v AS x)"), {"v": day.isoformat()}
            )
            assert got.scalar_one() == _iso_time(day.isoformat()) == _iso_time(day), day


def test_every_time_column_is_utc_and_every_date_a_date() -> None:
    """``_pg_iso`` formats a time as its UTC time (timestamptz) and a date as a date: a column of
    another kind (a naive timestamp) would be compared as something else."""
    import mfg.store.tables  # noqa: F401  (registers every table)

    kinds = {
        f"{t.name}.{c.name}": type(c.type).__name__
        for t in SQLModel.metadata.tables.values()
        for c in t.columns
        if isinstance(c.type, (DateTime, Date, UTCDateTime))
    }
    assert kinds and set(kinds.values()) <= {"UTCDateTime", "Date"}, kinds


OUT_OF_RANGE = ["infinity", "-infinity", "2026-11-25 09:30:00+00 BC", "10000-01-01 00:00:00+00"]


@pytest.mark.postgres
@pytest.mark.parametrize("value", OUT_OF_RANGE)
def test_postgresql_times_out_of_pythons_range_never_read_as_a_trail_value(pg_db, value) -> None:
    """to_char printed infinity as NULL and a BC year as its AD twin: never NULL, never the
    text of a time CellTrail hashed or recorded (years 1-9999: year 10000 stays itself)."""
    from mfg.audit import pg_date_text, pg_time_text

    with pg_db.engine.connect() as c:
        got = c.execute(
            text(
                f"SELECT {pg_time_text('x', 'YYYY-MM-DD HH24:MI:SS.US')} "
                "FROM (SELECT CAST(:v AS timestamptz) AS x) AS t"
            ),
            {"v": value},
        ).scalar_one()
        day = value.replace(" 09:30:00+00", "").replace(" 00:00:00+00", "")
        got_day = c.execute(
            text(f"SELECT {pg_date_text('x')} FROM (SELECT CAST(:v AS date) AS x) AS t"),
            {"v": day},
        ).scalar_one()
    legit = ("2026-11-25 09:30:00.000000", "2026-11-25T09:30:00.000000Z", "2026-11-25")
    for text_ in (got, got_day):
        assert text_ is not None and text_ not in legit, (value, text_)


@pytest.mark.postgres
def test_verify_names_an_out_of_range_time_on_postgresql(pg_db) -> None:
    """A time set to infinity read as NULL (an unverified harvest's verified_at, an open hold's
    lifted_at: "not lifted") and passed verify; a date or an event's time moved to its BC twin
    read the same as before."""
    from mfg.services import audit_trail
    from tests.conftest import add_users
    from tests.robustness.support import attack
    from tests.support import world

    actors = add_users(pg_db)
    world.harvested_lot(pg_db, actors["tech"], verify=False)

    def verify():  # type: ignore[no-untyped-def]
        return audit_trail.verify(db=pg_db, actor=actors["qa"])

    assert verify().ok
    attack(pg_db, "UPDATE harvest SET verified_at = 'infinity'")  # the trail: not verified
    r = verify()
    assert not r.ok and any("verified_at" in p for p in r.record_problems), r.record_problems
    attack(pg_db, "UPDATE harvest SET verified_at = NULL")
    twin = "CAST(to_char(day0, 'YYYY-MM-DD') || ' BC' AS date)"
    attack(pg_db, f"UPDATE lot SET day0 = {twin}")
    r = verify()
    assert not r.ok and any("day0" in p for p in r.record_problems), r.record_problems
    attack(pg_db, "UPDATE lot SET day0 = CAST(to_char(day0, 'YYYY-MM-DD') AS date)")
    assert verify().ok  # put back: intact again
    bc = "CAST(to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00 BC' AS timestamptz)"
    attack(pg_db, f"UPDATE auditevent SET at = {bc} WHERE seq = 3")
    assert verify().first_bad_seq == 3
