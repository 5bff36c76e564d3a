"""PostgreSQL: the log-ins' queue (``mfg.store.logins``) holds no transaction open and no pooled
connection while a log-in waits, and survives a restarted server."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import text

from mfg.services import users
from mfg.services.uow import Database
from mfg.store import db as store_db
from tests.support.constants import NOW, PASSWORD

pytestmark = pytest.mark.postgres


@pytest.fixture
def small_pool(pg_db):  # type: ignore[no-untyped-def]
    """The test database on an engine of two pooled connections, no overflow, 5 s to wait."""
    from tests.conftest import add_users

    add_users(pg_db)
    engine = store_db.make_engine(
        pg_db.engine.url.render_as_string(False), pool_size=2, max_overflow=0, pool_timeout=5
    )
    db = Database(engine=engine, settings=pg_db.settings)
    yield db
    db.dispose()


def test_log_ins_at_once_never_run_the_pool_dry(small_pool):  # type: ignore[no-untyped-def]
    """Eight log-ins at once in one process on a pool of two: the waiting ones hold no
    connection (they queue in the process first), so the one whose turn it is gets the
    connections it reads with, and all eight log in."""
    start = threading.Barrier(8)
    outcomes: list[str] = []

    def attempt() -> None:
        start.wait()
        try:
            users.login(small_pool, "tech", PASSWORD, now=NOW)
            outcomes.append("ok")
        except Exception as e:  # reported, not hidden: the assertion shows which
            outcomes.append(type(e).__name__)

    threads = [threading.Thread(target=attempt) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes == ["ok"] * 8


def test_the_queue_holds_no_transaction_open_while_a_password_is_checked(  # type: ignore[no-untyped-def]
    small_pool, monkeypatch
):
    """A server's ``idle_in_transaction_session_timeout`` would end a session idle in a
    transaction (and with it a transaction-level lock): the queue's lock is the session's, on
    a connection in autocommit, so none of the log-in's sessions is in a transaction while its
    password is checked."""
    from mfg import auth

    verify = auth.verify_password
    states: list[list[str]] = []

    def watched(stored_hash: str, password: str) -> bool:
        with small_pool.engine.connect() as conn:
            states.append(
                list(
                    conn.execute(
                        text(
                            "SELECT state FROM pg_stat_activity WHERE datname = "
                            "current_database() AND pid <> pg_backend_pid()"
                        )
                    ).scalars()
                )
            )
            conn.rollback()
        return verify(stored_hash, password)

    monkeypatch.setattr(auth, "verify_password", watched)
    users.login(small_pool, "tech", PASSWORD, now=NOW)
    assert len(states) == 1 and states[0], states
    assert not [s for s in states[0] if s and s.startswith("idle in transaction")], states


def test_a_log_in_after_a_restart_takes_its_turn_on_a_new_connection(small_pool, monkeypatch):  # type: ignore[no-untyped-def]
    """The server ends every connection (a restart) just after the queue's was used: the
    log-in's first round trip finds it lost and takes its turn again on a new one, once."""
    from mfg.store import pgpool
    from tests.services.test_pool_ping import _kill_pooled_connections

    monkeypatch.setattr(pgpool, "PING_AFTER_IDLE_S", 3600.0)  # no ping: the lock finds it
    users.login(small_pool, "tech", PASSWORD, now=NOW)
    _kill_pooled_connections(small_pool)
    assert users.login(small_pool, "tech", PASSWORD, now=NOW).username == "tech"
