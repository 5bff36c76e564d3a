"""The log-ins' queue: one password check at a time, beside the write lock, not under it.

A log-in (and an e-signature's re-authentication) checks its password, argon2id at 20-30 ms,
before it takes the write lock, so that no writer of the site waits for it. Checked side by
side, many attempts on one account could each find it unlocked and each be checked before the
fifth failure locks it: attempts queue here instead, so that each one sees the failures counted
before it, as when they were checked under the write lock. SQLite: a lock file next to the
database (``<database>-loginlock``, as ``write_turn``'s); PostgreSQL: a transaction-scoped
advisory lock of its own key on a connection of its own, released when the log-in ends. Writers
never take it; a log-in takes the write lock while it holds this one, never the other way round.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import text
from sqlalchemy.engine import Engine

from mfg.store import db as store_db

LOGIN_LOCK_KEY = 0x4C4F474E  # "LOGN": pg_advisory_xact_lock key of the log-ins' queue


@contextmanager
def login_turn(engine: Engine) -> Iterator[None]:
    """Wait for this log-in's turn (no-op for in-memory SQLite)."""
    if engine.dialect.name != "postgresql":
        with store_db.write_turn(engine, "login"):
            yield
        return
    with engine.connect() as conn:
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": LOGIN_LOCK_KEY})
        try:
            yield
        finally:
            conn.rollback()  # the lock goes with the transaction
