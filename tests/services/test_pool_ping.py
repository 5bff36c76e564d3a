"""PostgreSQL: a pooled connection is pinged before use only when it has been idle
(``mfg.store.pgpool.PING_AFTER_IDLE_S``); one found dead then is replaced before the write, and
a write whose connection is found lost by its first round trip is begun again on a new one."""

from __future__ import annotations

import dataclasses

import pytest
from sqlalchemy import create_engine, text

from mfg.services import audit_trail, counts, users
from mfg.store import pgpool
from tests.services.test_sessions import _count, _statements_of
from tests.support import world
from tests.support.constants import NOW, PASSWORD

pytestmark = pytest.mark.postgres


@pytest.fixture
def scene(pg_db):  # type: ignore[no-untyped-def]
    from tests.conftest import add_users

    actors = add_users(pg_db)
    tech = users.login(pg_db, "tech", PASSWORD, now=NOW)
    world.subject(pg_db, actors["tech"])
    lot = world.lot(pg_db, actors["tech"]).lot_number
    return pg_db, actors, tech, lot


def _record(db, tech, lot):  # type: ignore[no-untyped-def]
    return lambda: counts.record_count(_count(lot), db=db, actor=tech, now=NOW)


def _pings(sent: list[tuple[str, object]]) -> int:
    return sum(1 for s, _ in sent if s == ";")  # the psycopg dialect's ping


def test_a_connection_used_a_moment_ago_is_not_pinged(scene, monkeypatch):  # type: ignore[no-untyped-def]
    db, _, tech, lot = scene
    monkeypatch.setattr(pgpool, "PING_AFTER_IDLE_S", 3600.0)
    record = _record(db, tech, lot)
    record()
    assert _pings(_statements_of(db, record)) == 0


def test_a_connection_idle_past_the_limit_is_pinged_first(scene, monkeypatch):  # type: ignore[no-untyped-def]
    db, _, tech, lot = scene
    monkeypatch.setattr(pgpool, "PING_AFTER_IDLE_S", 0.0)  # every checkout finds it idle
    record = _record(db, tech, lot)
    record()
    sent = _statements_of(db, record)
    assert _pings(sent) == 1 and sent[0] == (";", None), sent


def _kill_pooled_connections(db) -> None:  # type: ignore[no-untyped-def]
    """The server ends the pool's connections (as a restart would), from another connection."""
    admin = create_engine(db.engine.url.render_as_string(False), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        killed = conn.execute(
            text(
                "SELECT count(pg_terminate_backend(pid, 5000)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        ).scalar_one()
    admin.dispose()
    assert killed >= 1


def test_a_dead_idle_connection_is_replaced_before_the_write(scene, monkeypatch):  # type: ignore[no-untyped-def]
    db, actors, tech, lot = scene
    monkeypatch.setattr(pgpool, "PING_AFTER_IDLE_S", 0.0)
    record = _record(db, tech, lot)
    record()
    _kill_pooled_connections(db)
    view = record()  # the ping finds the connection dead: a new one writes the count
    assert view.id > 0
    report = audit_trail.verify(db=db, actor=actors["qa"])
    assert report.ok and not report.record_problems, report


def test_a_write_on_a_connection_lost_just_after_use_is_begun_again_on_a_new_one(  # type: ignore[no-untyped-def]
    scene, monkeypatch
):
    """Not pinged (used a moment ago), the connection is found lost by the write's first round
    trip, before anything of the write reached the server: a new connection, the write begun
    again, once; one count written, the trail intact."""
    monkeypatch.setattr(pgpool, "PING_AFTER_IDLE_S", 3600.0)
    _one_count_after_a_restart(scene)


def _one_count_after_a_restart(scene) -> None:  # type: ignore[no-untyped-def]
    """A count, the server ending every connection, a count again: written once, the trail
    intact."""
    from mfg.store.tables import CellCount
    from tests.services.test_sessions import n_rows

    db, actors, tech, lot = scene
    record = _record(db, tech, lot)
    record()
    before = n_rows(db, CellCount)
    _kill_pooled_connections(db)
    record()
    assert n_rows(db, CellCount) == before + 1
    report = audit_trail.verify(db=db, actor=actors["qa"])
    assert report.ok and not report.record_problems, report


def _lost() -> Exception:
    from sqlalchemy.exc import DBAPIError

    return DBAPIError("SELECT", None, Exception("server closed the connection"), None, True)


def test_a_write_is_begun_again_once_only_and_only_for_a_lost_connection(scene, monkeypatch):  # type: ignore[no-untyped-def]
    """The account check (the write's first round trip) failing twice with a lost connection
    fails the write; any other database error is not retried; nothing is written."""
    from sqlalchemy.exc import DBAPIError

    from mfg.store.tables import CellCount
    from tests.services.test_sessions import n_rows

    db, _, tech, lot = scene
    before = n_rows(db, CellCount)
    for error, calls_expected in ((_lost, 2), (lambda: DBAPIError("x", None, Exception("y")), 1)):
        calls: list[int] = []

        def check(actor, conn, error=error, calls=calls):  # type: ignore[no-untyped-def]
            calls.append(1)
            raise error()

        with pytest.raises(DBAPIError):
            _record(db, dataclasses.replace(tech, session_check=check), lot)()
        assert len(calls) == calls_expected
    assert n_rows(db, CellCount) == before


def test_a_connection_lost_before_the_commit_fails_that_write_as_lost_and_nothing_is_written(  # type: ignore[no-untyped-def]
    scene,
):
    """The connection lost inside a write, before its event and COMMIT were sent: the write
    fails as a lost connection (the CLI's ``database-connection-lost``), nothing of it is
    written, and the next write gets a new connection."""
    from sqlalchemy.exc import DBAPIError

    from mfg.store.tables import AuditEvent
    from tests.services.test_sessions import n_rows

    db, actors, tech, lot = scene
    before = n_rows(db, AuditEvent)
    with pytest.raises(DBAPIError) as e, db.write(tech, NOW) as tx:
        _kill_pooled_connections(db)  # this write's own connection among them
        tx.audit("count.recorded", "count", 1, new={"day": 0})
        tx.commit()
    assert e.value.connection_invalidated
    assert n_rows(db, AuditEvent) == before
    _record(db, tech, lot)()  # a count (and the lot into expansion): two events
    assert n_rows(db, AuditEvent) == before + 2
    report = audit_trail.verify(db=db, actor=actors["qa"])
    assert report.ok, report


def test_a_write_after_a_restart_gets_a_live_connection_however_many_the_pool_held(  # type: ignore[no-untyped-def]
    scene, monkeypatch
):
    """Several pooled connections (a log-in holds one for its queue while it reads on another;
    a TUI's workers), all ended by the server: the write's first round trip finds its own
    lost, and its one new beginning gets a live connection, not the next dead one (once one is
    found lost, the others used before are pinged at checkout, however recently used)."""
    db = scene[0]
    monkeypatch.setattr(pgpool, "PING_AFTER_IDLE_S", 3600.0)
    held = [db.engine.connect() for _ in range(3)]
    for conn in held:
        conn.execute(text("SELECT 1"))
    for conn in held:
        conn.close()
    _one_count_after_a_restart(scene)
