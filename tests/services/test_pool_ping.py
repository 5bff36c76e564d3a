"""PostgreSQL: a pooled connection is pinged before use only when it has been idle
(``mfg.store.pgpool.PING_AFTER_IDLE_S``); one found dead then is replaced before the write, and one
lost within that time fails its write with a clear message while the next write succeeds."""

from __future__ import annotations

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
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
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


def test_a_connection_lost_just_after_use_fails_one_write_and_the_next_succeeds(  # type: ignore[no-untyped-def]
    scene, monkeypatch
):
    from sqlalchemy.exc import DBAPIError

    from mfg.store.tables import CellCount
    from tests.services.test_sessions import n_rows

    db, actors, tech, lot = scene
    monkeypatch.setattr(pgpool, "PING_AFTER_IDLE_S", 3600.0)
    record = _record(db, tech, lot)
    record()
    before = n_rows(db, CellCount)
    _kill_pooled_connections(db)
    with pytest.raises(DBAPIError) as e:
        record()
    assert e.value.connection_invalidated
    assert n_rows(db, CellCount) == before  # nothing of it was written
    record()  # the pool opened a new connection
    assert n_rows(db, CellCount) == before + 1
    report = audit_trail.verify(db=db, actor=actors["qa"])
    assert report.ok and not report.record_problems, report
