"""The log-ins' queue: one password check at a time, beside the write lock, not under it.

A log-in (and an e-signature's re-authentication) checks its password, argon2id at 20-30 ms,
before it takes the write lock, so that no writer of the site waits for it. Checked side by
side, many attempts on one account could each find it unlocked and each be checked before the
fifth failure locks it: attempts queue here instead, so that each one sees the failures counted
before it, as when they were checked under the write lock. In a process, a lock per database
(threads: the TUI's workers; on PostgreSQL this also keeps waiting log-ins from holding pooled
connections that the log-in whose turn it is needs); across processes, SQLite: a lock file next
to the database (``<database>-loginlock``, as ``write_turn``'s; none for in-memory or ``file:``
URIs, where the process's lock alone queues them); PostgreSQL: a session-level advisory lock of
its own key, on a connection in autocommit (never idle in a transaction while the log-in waits
for the write lock; a connection whose unlock fails is closed, which releases it). Writers
never take it; a log-in takes the write lock while it holds this one, never the other way round
(a log-in, or a write, begun inside a write of its thread is refused at once:
``mfg.services.uow.writing_here``), and a log-in is never begun inside another.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress

from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

from mfg.store import db as store_db

LOGIN_LOCK_KEY = 0x4C4F474E  # "LOGN": pg_advisory_lock key of the log-ins' queue

_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()


def _process_lock(engine: Engine) -> threading.Lock:
    key = engine.url.render_as_string(hide_password=True)
    with _locks_guard:
        return _locks.setdefault(key, threading.Lock())


@contextmanager
def login_turn(engine: Engine) -> Iterator[None]:
    """Wait for this log-in's turn."""
    with _process_lock(engine):
        if engine.dialect.name != "postgresql":
            with store_db.write_turn(engine, "login"):
                yield
            return
        conn = _locked(engine)
        try:
            yield
        finally:
            _unlock(conn)


def _locked(engine: Engine) -> Connection:
    """A connection holding the advisory lock; one found lost (a restarted server) is replaced
    once, as a write's first round trip is."""
    from sqlalchemy.exc import DBAPIError

    for again in (True, False):
        conn = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        try:
            conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": LOGIN_LOCK_KEY})
            return conn
        except DBAPIError as e:
            conn.close()
            if not (again and e.connection_invalidated):
                raise
    raise AssertionError("unreachable")  # pragma: no cover


def _unlock(conn: Connection) -> None:
    """Release the lock; when that fails (the connection lost: the server released it), the
    connection is closed rather than pooled, so no pooled connection can keep it. Never raises:
    the log-in's own outcome is what the user is told."""
    from sqlalchemy.exc import SQLAlchemyError

    released = False
    with suppress(SQLAlchemyError):
        unlock = conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": LOGIN_LOCK_KEY})
        released = bool(unlock.scalar_one())
    with suppress(SQLAlchemyError):
        if not released:
            conn.invalidate()
        conn.close()
