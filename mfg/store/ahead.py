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

from typing import Any, NamedTuple

from sqlalchemy import func, insert, select
from sqlalchemy.engine import Connection

from mfg.store.db import Queued, queue_write, send_queued, still_queued

# (id of the dialect, id of the statement, column keys) -> (the dialect and the statement, kept
# so that their ids stay their own; the statement's driver form or None). Bounded: a statement
# built per call (not a module's constant) is compiled per call once the cache is full.
_driver_statements: dict[tuple[int, int, tuple[str, ...]], tuple[Any, Any, Any]] = {}
_MAX_STATEMENTS = 256


class _Form(NamedTuple):
    sql: str
    fixed: dict[str, Any]  # the parameters the statement carries (a literal's)
    needed: frozenset[str]  # the parameters the caller must give
    processors: dict[str, Any]  # the types' bind processors by parameter name


def _driver_form(conn: Connection, stmt: Any, keys: tuple[str, ...] = ()) -> _Form | None:
    """``stmt`` as the driver takes it (compiled once); None when SQLAlchemy must run it: its
    types process a value read (what reaches the caller must be what SQLAlchemy would make of
    it), or its SQL is finished at run time (an ``IN`` list, a literal rendered at execution),
    or a parameter's value comes from a function."""
    key = (id(conn.dialect), id(stmt), keys)
    found = _driver_statements.get(key)
    if found is None:
        found = (conn.dialect, stmt, _compiled_form(conn, stmt, keys))
        if len(_driver_statements) < _MAX_STATEMENTS:
            _driver_statements[key] = found
    return found[2]


def _compiled_form(conn: Connection, stmt: Any, keys: tuple[str, ...]) -> _Form | None:
    c = stmt.compile(dialect=conn.dialect, column_keys=list(keys) or None)
    columns = getattr(stmt, "selected_columns", ())
    if (
        not all(_read_as_sent(col.type, conn.dialect) for col in columns)
        or c.literal_execute_params
        or c.post_compile_params
        or any(b.callable is not None for b in c.binds.values())
    ):
        return None
    needed = frozenset(name for name, b in c.binds.items() if b.required)
    fixed = {k: v for k, v in c.params.items() if k not in needed}
    return _Form(c.string, fixed, needed, dict(c._bind_processors))


def _read_as_sent(type_: Any, dialect: Any) -> bool:
    """Whether SQLAlchemy hands a value of ``type_`` on to the caller as the driver read it (no
    result processor). One that needs the column's type code to tell (psycopg's numeric types)
    counts as processed."""
    try:
        return type_._cached_result_processor(dialect, None) is None
    except (TypeError, ValueError):
        return False


def _bound(form: _Form, params: dict[str, Any]) -> dict[str, Any]:
    """The driver's parameters of ``form`` for ``params``, as SQLAlchemy binds them (each
    through its type's bind processor: a time made UTC); a parameter not given is refused, as
    SQLAlchemy refuses it (never sent as NULL)."""
    missing = form.needed - params.keys()
    if missing:
        raise ValueError(f"a value is required for bind parameter(s) {', '.join(sorted(missing))}")
    bound = {**form.fixed, **params}
    for name, process in form.processors.items():
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
            self._queued = Queued(form.sql, _bound(form, params), None, [])
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
    stmt = _next_ids.get(table)
    if stmt is None:
        stmt = _next_ids[table] = select(
            func.nextval(func.pg_get_serial_sequence(table.name, "id"))
        )
    return Ahead(conn, stmt, {})


_next_ids: dict[Any, Any] = {}  # by table (a Table object: hashed by identity)


def insert_row(conn: Connection, table: Any, values: dict[str, Any], new_id: Ahead | None) -> int:
    """Insert one row of ``table``; its id. With an id taken ahead (``next_id``) the row is
    queued (``queue_write``: it goes with the transaction's next statement or its COMMIT);
    else it is inserted now and the id returned by the database."""
    if new_id is not None:
        row = {"id": int(new_id.first()[0]), **values}
        stmt = _inserts.get(table)
        if stmt is None:
            stmt = _inserts[table] = insert(table)
        form = _driver_form(conn, stmt, tuple(row))
        if form is not None:
            queue_write(conn, Queued(form.sql, _bound(form, row)))
        else:
            conn.execute(stmt, row)
        return int(row["id"])
    stmt = _inserts_returning.get(table)
    if stmt is None:
        stmt = _inserts_returning[table] = insert(table).returning(table.c.id)
    return int(conn.execute(stmt, values).scalar_one())


_inserts: dict[Any, Any] = {}
_inserts_returning: dict[Any, Any] = {}
