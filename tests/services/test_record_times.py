"""The record check reads dates and times as ISO text made by the database: the same text as
``recordrows._iso_time`` makes of the value a driver returns (the trail's form), on both
back-ends and in any session time zone."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from sqlalchemy import Date, DateTime, text

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
            naive = at.astimezone(UTC).replace(tzinfo=None)
            got = c.execute(
                text(
                    f"SELECT {_pg_iso('x', DateTime())} FROM (SELECT CAST(:v AS timestamp) AS x) AS t"
                ),
                {"v": naive},
            ).scalar_one()
            assert got == _iso_time(naive), naive
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
