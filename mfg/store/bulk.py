"""Many rows in and out without SQLAlchemy's per-row work: multi-row inserts without its per-row
parameter building, and reads of many rows as the driver's plain tuples (``select_rows``).

``conn.execute(insert(table), rows)`` builds every row's parameters through the compiled
statement (``construct_params`` and one type processor call per value): at 150,000 audit events
and 120,000 results in one import that was a third of the approval's time. Here the statement is
compiled once, each column's bind processor (the dialect's: SQLite stores times and dates as
text) is looked up once and applied per value, with a memo for the values an import repeats (its
one timestamp), the values every row shares (``fixed``: the importer's user, time and empty
fields) are bound once, and the rows go to the driver's ``executemany`` as plain tuples or
dicts.
Statement events still run, so the stored bytes and the rules are those of
``conn.execute(insert(table), rows)``; the NUL rule (``mfg.store.db`` checks every statement's
values) is checked here a column at a time, with the same message.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from decimal import Decimal
from itertools import repeat
from operator import itemgetter
from typing import Any

from sqlalchemy import Select, Table, insert
from sqlalchemy.engine import Connection

from mfg.store import db as store_db

_Processor = Callable[[Any], Any]


def _column(table: Table, key: str, conn: Connection, values: Sequence[Any]) -> Sequence[Any]:
    """``values`` of column ``key`` as the dialect binds them."""
    dialect = conn.dialect
    kind = table.c[key].type
    proc: _Processor | None = kind.dialect_impl(dialect).bind_processor(dialect)
    if proc is None:
        return values
    if any(isinstance(v, date) for v in values):  # (datetime is a date) few distinct: memo
        done = {v: proc(v) for v in set(values)}
        return list(map(done.__getitem__, values))
    return list(map(proc, values))


def insert_rows(
    conn: Connection,
    table: Table,
    rows: Sequence[dict[str, Any]],
    fixed: Mapping[str, Any] | None = None,
) -> None:
    """INSERT every row of ``rows`` (dicts with the same keys) in one ``executemany``; the
    values of ``fixed`` are every row's too (bound once: an import's user, time and empty
    fields)."""
    if not rows:
        return
    keys = list(rows[0])
    get = itemgetter(*keys)
    found = [get(r) for r in rows] if len(keys) > 1 else [(get(r),) for r in rows]
    insert_tuples(conn, table, keys, found, fixed)


def insert_tuples(
    conn: Connection,
    table: Table,
    keys: Sequence[str],
    rows: Sequence[Sequence[Any]],
    fixed: Mapping[str, Any] | None = None,
) -> None:
    """``insert_rows`` of rows given as tuples of the values of ``keys``."""
    if not rows:
        return
    fixed = {k: v for k, v in (fixed or {}).items() if not _null_by_default(table, k, v)}
    columns: dict[str, Sequence[Any]] = dict(zip(keys, zip(*rows, strict=True), strict=True))
    compiled = insert(table).compile(dialect=conn.dialect, column_keys=[*keys, *fixed])
    order: list[str] = list(compiled.positiontup or ()) if compiled.positional else list(columns)
    order += [k for k in fixed if k not in order]
    bound: list[Any] = []
    for k in order:
        if k in fixed:
            one = _column(table, k, conn, [fixed[k]])
            if _has_nul(one):
                raise store_db.nul_refused()
            bound.append(repeat(one[0], len(rows)))
        else:
            bound.append(_column(table, k, conn, columns[k]))
            if _has_nul(bound[-1]):
                raise store_db.nul_refused()
    params: list[Any] = list(zip(*bound, strict=True))
    if not compiled.positional:
        params = [dict(zip(order, p, strict=True)) for p in params]
    # checked above, a column at a time: the statement event's check per value was a sixth of
    # an import's approval
    conn.exec_driver_sql(compiled.string, params, execution_options={store_db.NUL_CHECKED: True})


def _null_by_default(table: Table, key: str, value: Any) -> bool:
    """Whether a shared ``value`` is None on a column that is NULL when the INSERT leaves it
    out (no default of its own): such a column is left out. Binding None is the driver's
    slowest value (pysqlite looks for an adapter for it, each row): the importer's 120,000
    results share three empty columns."""
    column = table.c[key]
    return value is None and column.default is None and column.server_default is None


# The types of bound values that hold no text (no NUL can hide in them), and of text columns.
_NO_TEXT = frozenset({int, float, bool, type(None), date, datetime, Decimal})
_TEXT = frozenset({str, type(None)})


def _has_nul(column: Sequence[Any]) -> bool:
    """Whether a value of ``column`` (as bound) holds a NUL: a column of numbers, times and
    empty values holds none; a column of text (and empty values) is joined and searched at
    once; any other column by the statement event's own check (``mfg.store.db.has_nul``: text
    values, also inside lists and dicts)."""
    kinds = set(map(type, column))
    if kinds <= _NO_TEXT:
        return False
    if kinds <= _TEXT:
        return "\x00" in "".join(filter(None, column))
    return store_db.has_nul(list(column))


def select_rows(conn: Connection, query: Select[Any]) -> list[tuple[Any, ...]]:
    """The rows of ``query`` as the DB-API cursor returns them: no ``Row`` objects and no result
    processing (a date comes as SQLite's text), for reads of tens of thousands of rows. The
    cursor is the connection's own, inside its transaction (begun by SQLAlchemy's first
    statement on it: on a connection that ran none, pysqlite would begin none), so reads in
    one transaction see one state as far as its isolation level says. The bound values are
    rendered into the SQL by the dialect's literal processors (``literal_binds``: strings
    quoted and escaped by the dialect). On a driver whose placeholders are ``%s`` (psycopg)
    the rendered SQL writes ``%`` as ``%%``, which the driver turns back into ``%`` only when
    it is given parameters: it is given none, as a tuple."""
    sql = str(query.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))
    store_db.send_queued(conn)  # the cursor's statement bypasses the engine's events
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        if conn.dialect.paramstyle in ("format", "pyformat"):
            cursor.execute(sql, ())
        else:
            cursor.execute(sql)
        return list(cursor.fetchall())
    finally:
        cursor.close()


@contextmanager
def no_cyclic_gc() -> Iterator[None]:
    """The cyclic garbage collector paused while many rows are built: millions of new dicts
    and tuples (none in a cycle) made it rescan all of them again and again (12 full
    collections in one verify of 300,000 events; an import's validation 0.3 s of 1.0 s).
    Reference counting still frees."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()
