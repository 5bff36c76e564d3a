"""Two database connections that read the same committed state, for a report split in two
halves read at once (one per core).

- PostgreSQL: the first connection's repeatable-read snapshot is exported and the second
  imports it (``pg_export_snapshot`` / ``SET TRANSACTION SNAPSHOT``): the same snapshot by
  the server's guarantee.
- SQLite (a file in WAL mode): a read transaction sees the database as of its first read, and
  two connections cannot share one. Both read the head of the audit trail first: every change
  to what a report reads is written with its audit event in the same transaction (the record
  check of ``mfg audit verify`` fails on any row without one), so equal heads mean that no
  change of those tables committed between the two first reads. Unequal heads (a write landed
  in between) are tried again a few times; then the report runs on one connection.

``read_pair`` yields ``(first, second)``; ``second`` is None when the two cannot be had (an
in-memory database, a file not in WAL mode, where a waiting writer would block the second's
first read; a writer too busy; no second connection to be had -- the server's connections or
the pool used up -- or its snapshot refused) or are not wanted: the caller then reads
everything on ``first``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from mfg.store.db import reads_at_once

ATTEMPTS = 3
_HEAD = text("SELECT max(seq) FROM auditevent")


_PG_SNAPSHOT = re.compile(r"[0-9A-F]+(-[0-9A-F]+)+")


@contextmanager
def read_pair(
    engine: Engine,
    *,
    wanted: Callable[[Connection], bool] = lambda _: True,
    between: Callable[[], object] | None = None,
) -> Iterator[tuple[Connection, Connection | None]]:
    """Two connections on one snapshot, or ``(connection, None)``; both end with a rollback.

    ``wanted(first)``, asked once the first connection reads its snapshot: whether a second is
    worth opening (a small database is read on one). ``between`` (tests) is called after the
    first connection's snapshot is taken and before the second's, where a concurrent write
    would land."""
    if engine.dialect.name == "postgresql":
        with _pg_pair(engine, wanted, between) as pair:
            yield pair
        return
    if not reads_at_once(engine):  # (PostgreSQL is handled above)
        with engine.connect() as only:
            yield only, None
        return
    for _ in range(ATTEMPTS):
        with engine.connect() as first:
            head = first.execute(_HEAD).scalar()  # the first read: this connection's snapshot
            wal = str(first.exec_driver_sql("PRAGMA journal_mode").scalar()).lower() == "wal"
            if not (wal and wanted(first)):
                yield first, None
                return
            if between is not None:
                between()
            second = _second(engine, functools.partial(_at_head, head=head))
            if isinstance(second, Connection):
                with second:
                    yield first, second
                return
            if second is NO_CONNECTION:  # none to be had: this one reads everything
                yield first, None
                return
    with engine.connect() as only:  # writes kept landing in between: one connection
        yield only, None


def _at_head(conn: Connection, head: object) -> bool:
    return bool(conn.execute(_HEAD).scalar() == head)


NO_CONNECTION, OTHER_STATE = "no connection", "another state"


def _second(engine: Engine, same: Callable[[Connection], bool]) -> Connection | str:
    """A second connection that reads what the first does (``same``: its first read), else
    why not: ``OTHER_STATE`` (it reads another state), ``NO_CONNECTION`` (none free, or its
    first statement refused). Only its opening is guarded: errors while the report reads
    propagate."""
    try:
        conn = engine.connect()
    except SQLAlchemyError:
        return NO_CONNECTION
    try:
        if same(conn):
            return conn
    except SQLAlchemyError:
        conn.close()
        return NO_CONNECTION
    conn.close()
    return OTHER_STATE


@contextmanager
def _pg_pair(
    engine: Engine,
    wanted: Callable[[Connection], bool],
    between: Callable[[], object] | None,
) -> Iterator[tuple[Connection, Connection | None]]:
    with engine.connect() as first:
        first = first.execution_options(isolation_level="REPEATABLE READ")
        name = str(first.execute(text("SELECT pg_export_snapshot()")).scalar_one())
        if not (_PG_SNAPSHOT.fullmatch(name) and wanted(first)):
            yield first, None
            return
        if between is not None:
            between()

        def imports(conn: Connection) -> bool:
            conn.execution_options(isolation_level="REPEATABLE READ")
            conn.execute(text(f"SET TRANSACTION SNAPSHOT '{name}'"))
            return True

        second = _second(engine, imports)
        if not isinstance(second, Connection):
            yield first, None
            return
        with second:
            yield first, second
