"""Over many lots the success rate is read in two halves at once, on two connections that must
read one snapshot of the database: the halves add up to the one-connection report, and a write
landing between the two connections' first reads is never mixed in (both backends)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from mfg import reports
from mfg.reports import snapshot, summary
from mfg.services import reporting
from mfg.store.tables import Subject
from tests.support import world

BY = ("dose_level", "source", "site")


def _subjects(conn: Any) -> int:
    return int(conn.execute(select(func.count()).select_from(Subject)).scalar_one())


def test_two_halves_read_at_once_give_the_one_connection_report(db, actors, monkeypatch):
    from benchmarks.synth_report import report_lots

    report_lots(db, 1500, seed=5)
    lots = reports.lot_frame(db.engine, db.product, db.zone)
    expected = reports.success_rate(lots, "lot", BY)
    one = reporting.success_rate(db=db, actor=actors["sponsor"], by=BY)
    assert one.data == expected

    halves: list[Any] = []
    part = summary._part

    def spy(*args: Any) -> Any:
        halves.append(args[-1])
        return part(*args)

    monkeypatch.setattr(summary, "_part", spy)
    monkeypatch.setattr(summary, "PARALLEL_MIN_LOTS", 2)
    monkeypatch.setattr(summary, "_cores", lambda: 2)
    two = reporting.success_rate(db=db, actor=actors["sponsor"], by=BY)
    low, high = sorted(halves)  # (the two threads start in either order)
    assert low[1] + 1 == high[0] and low[0] <= 1 and high[1] >= 1500  # two halves, no gap
    assert two.data == expected
    assert two.times.equals(one.times)
    assert two.times.equals(reports.time_summary(lots))


def test_below_the_threshold_one_connection_reads_everything(db, actors, monkeypatch):
    from benchmarks.synth_report import report_lots

    report_lots(db, 50, seed=2)
    halves: list[Any] = []
    part = summary._part
    monkeypatch.setattr(summary, "_part", lambda *a: halves.append(a[-1]) or part(*a))
    reporting.success_rate(db=db, actor=actors["sponsor"], by=BY)
    assert halves == [None]


def test_a_write_between_the_two_first_reads_is_not_mixed_in(db, actors):
    tech = actors["tech"]
    world.subject(db, tech, "S-001")
    writes: list[str] = []

    def write_once() -> None:
        if not writes:
            writes.append(world.subject(db, tech, "S-002").subject_id)

    with snapshot.read_pair(db.engine, between=write_once) as (first, second):
        assert second is not None
        seen = (_subjects(first), _subjects(second))
    assert writes == ["S-002"]
    if db.dialect == "postgresql":  # the second imported the first's snapshot
        assert seen == (1, 1)
    else:  # the heads differed: both were read again, after the write
        assert seen == (2, 2)


def test_writes_landing_every_time_leave_one_connection(db, actors):
    tech = actors["tech"]
    world.subject(db, tech, "S-001")
    writes: list[int] = []

    def write() -> None:
        writes.append(1)
        world.subject(db, tech, f"S-{len(writes) + 1:03d}")

    with snapshot.read_pair(db.engine, between=write) as (first, second):
        if db.dialect == "postgresql":
            assert second is not None and _subjects(first) == _subjects(second) == 1
        else:
            assert second is None and _subjects(first) == 1 + snapshot.ATTEMPTS
    assert len(writes) == (1 if db.dialect == "postgresql" else snapshot.ATTEMPTS)


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:"])
def test_an_in_memory_database_has_no_second_connection(url):
    from mfg.store import db as store_db

    engine = store_db.make_engine(url)
    with snapshot.read_pair(engine) as (first, second):
        assert second is None and first.execute(select(1)).scalar_one() == 1
    engine.dispose()


def test_no_second_connection_when_it_is_not_wanted(db):
    with snapshot.read_pair(db.engine, wanted=lambda conn: False) as (first, second):
        assert second is None and _subjects(first) == 0


def test_a_sqlite_file_not_in_wal_mode_has_no_second_connection(tmp_path):
    """Outside WAL a reader holds a shared lock: a writer waiting to commit would block the
    second connection's first read (and the report with it) until the busy timeout."""
    from sqlalchemy import create_engine, text

    engine = create_engine(f"sqlite:///{tmp_path / 'rollback-journal.db'}")  # no CellTrail PRAGMAs
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE auditevent (seq INTEGER PRIMARY KEY)"))
    with snapshot.read_pair(engine) as (first, second):
        assert first.exec_driver_sql("PRAGMA journal_mode").scalar() == "delete"
        assert second is None
    engine.dispose()


def test_no_free_connection_for_the_second_half_leaves_one(db, actors):
    """A site whose connections are used up (the pool, or the server's max_connections) still
    gets its report, read on one connection: the second's opening failed the report before."""
    from sqlalchemy import create_engine

    world.subject(db, actors["tech"], "S-001")
    engine = create_engine(db.engine.url, pool_size=1, max_overflow=0, pool_timeout=0.1)
    try:
        with snapshot.read_pair(engine) as (first, second):
            assert second is None and _subjects(first) == 1
        # with a connection free, the pair is had again
        wide = create_engine(db.engine.url, pool_size=2, max_overflow=0, pool_timeout=0.1)
        with snapshot.read_pair(wide) as (first, second):
            assert second is not None and _subjects(second) == 1
        wide.dispose()
    finally:
        engine.dispose()


def test_a_second_connection_whose_first_read_fails_leaves_one(db, actors, monkeypatch):
    """Its snapshot refused (PostgreSQL) or its first read failing (SQLite): one connection."""
    from sqlalchemy.exc import OperationalError

    world.subject(db, actors["tech"], "S-001")
    opened: list[Any] = []
    connect = db.engine.connect

    def failing_second() -> Any:
        conn = connect()
        opened.append(conn)
        if len(opened) == 2:

            def refuse(*a: Any, **k: Any) -> Any:
                raise OperationalError("SET TRANSACTION SNAPSHOT", {}, Exception("refused"))

            monkeypatch.setattr(conn, "execute", refuse)
        return conn

    monkeypatch.setattr(db.engine, "connect", failing_second)
    with snapshot.read_pair(db.engine) as (first, second):
        assert second is None and _subjects(first) == 1
    assert len(opened) == 2 and opened[1].closed
