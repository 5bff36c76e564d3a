"""Reads sent with the write lock, rows inserted with the COMMIT (PostgreSQL).

A write that knows what it will read before it starts (``record_count``: its lot, by number)
reads it in the lock's round trip (``Database.write(ahead=...)``); an id it will insert under
is taken from the table's sequence there too, so that the row can wait on the connection and
go with the audit event and the COMMIT (``mfg.store.db``: "statements sent with the next one or
with COMMIT"). Each round trip after the lock is granted is one every other writer waits for.
The reads run after the lock statement, on snapshots of their own (READ COMMITTED), as they
would a round trip later. Elsewhere (SQLite) they run when asked for, and inserts at once.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.engine import Connection

from mfg.store.db import Queued, queue_write, send_queued, still_queued

# (dialect, id of the statement, column keys) -> (the statement, kept so that its id stays
# its own; its driver form or None)
_driver_statements: dict[tuple[str, int, tuple[str, ...]], tuple[Any, Any]] = {}


def _driver_form(conn: Connection, stmt: Any, keys: tuple[str, ...] = ()) -> Any:
    """``stmt`` (one built once: a module's constant) as the driver takes it: its SQL, its fixed
    parameters and its types' bind processors by parameter name (compiled once); None when its
    types process a value read (then SQLAlchemy runs it: what reaches the caller must be what
    SQLAlchemy would make of it)."""
    key = (conn.dialect.name, id(stmt), keys)
    found = _driver_statements.get(key)
    if found is None:
        c = stmt.compile(dialect=conn.dialect, column_keys=list(keys) or None)
        columns = getattr(stmt, "selected_columns", ())
        plain = all(_read_as_sent(col.type, conn.dialect) for col in columns)
        form = (c.string, dict(c.params), dict(c._bind_processors)) if plain else None
        found = _driver_statements[key] = (stmt, form)
    return found[1]


def _read_as_sent(type_: Any, dialect: Any) -> bool:
    """Whether SQLAlchemy hands a value of ``type_`` on to the caller as the driver read it (no
    result processor). One that needs the column's type code to tell (psycopg's numeric types)
    counts as processed."""
    try:
        return type_._cached_result_processor(dialect, None) is None
    except (TypeError, ValueError):
        return False


def _bound(form: Any, params: dict[str, Any]) -> dict[str, Any]:
    """The driver's parameters of ``form`` for ``params``, as SQLAlchemy binds them (each
    through its type's bind processor: a time made UTC)."""
    _, fixed, processors = form
    bound = {**fixed, **params}
    for name, process in processors.items():
        if name in bound:
            bound[name] = process(bound[name])
    return bound


class Ahead:
    """A read sent ahead: on PostgreSQL queued (``queue_write``) to go with the write lock, its
    rows in that round trip; elsewhere run on ``conn`` when first asked for. Rows are tuples."""

    def __init__(self, conn: Connection, stmt: Any, params: dict[str, Any]) -> None:
        self._conn, self._stmt, self._params = conn, stmt, params
        self._queued: Queued | None = None
        self._rows: list[Any] | None = None
        form = _driver_form(conn, stmt) if conn.dialect.name == "postgresql" else None
        if form is not None:
            self._queued = Queued(form[0], _bound(form, params), None, [])
            queue_write(conn, self._queued)

    def rows(self) -> list[Any]:
        if self._rows is None:
            q = self._queued
            if q is None:
                self._rows = [tuple(r) for r in self._conn.execute(self._stmt, self._params)]
            else:
                if still_queued(self._conn, q):
                    send_queued(self._conn)  # nothing has sent it yet
                assert q.rows is not None
                self._rows = q.rows
        return self._rows

    def first(self) -> Any:
        rows = self.rows()
        return rows[0] if rows else None


def next_id(conn: Connection, table: Any) -> Ahead | None:
    """PostgreSQL: the next id of ``table``'s serial ``id`` column, taken ahead (a sequence
    never gives one twice, and an id taken by a write that fails is only a gap); None
    elsewhere (the insert makes it)."""
    if conn.dialect.name != "postgresql":
        return None
    stmt = _next_ids.get(table.name)
    if stmt is None:
        stmt = _next_ids[table.name] = select(
            func.nextval(func.pg_get_serial_sequence(table.name, "id"))
        )
    return Ahead(conn, stmt, {})


_next_ids: dict[str, Any] = {}


def insert_row(conn: Connection, table: Any, values: dict[str, Any], new_id: Ahead | None) -> int:
    """Insert one row of ``table``; its id. With an id taken ahead (``next_id``) the row is
    queued (``queue_write``: it goes with the transaction's next statement or its COMMIT);
    else it is inserted now and the id returned by the database."""
    if new_id is not None:
        row = {"id": int(new_id.first()[0]), **values}
        stmt = _inserts.get(table.name)
        if stmt is None:
            stmt = _inserts[table.name] = insert(table)
        form = _driver_form(conn, stmt, tuple(row))
        if form is not None:
            queue_write(conn, Queued(form[0], _bound(form, row)))
        else:
            conn.execute(stmt, row)
        return int(row["id"])
    stmt = _inserts_returning.get(table.name)
    if stmt is None:
        stmt = _inserts_returning[table.name] = insert(table).returning(table.c.id)
    return int(conn.execute(stmt, values).scalar_one())


_inserts: dict[str, Any] = {}
_inserts_returning: dict[str, Any] = {}
