"""``distinct_values`` (a loose index scan) gives what ``SELECT DISTINCT`` gives, NULL and SQL
edits included, on both back-ends; on SQLite each of its steps is a seek in the index, never a
read of the whole table or index (the point of it: Today's lists of days 0, specs and dose
levels read every entry of 100,000 lots before)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text

from mfg.store.distinct import distinct_values
from tests.support.plans import query_plans, statements_sent

ROWS: list[tuple[Any, Any]] = [
    ("B", "2"),
    ("A", "1"),
    ("B", "1"),
    ("A", "1"),
    (None, "9"),
    ("C", None),
    ("C", "3"),
    ("B", "2"),
]


def _scratch(db):  # type: ignore[no-untyped-def]
    with db.engine.begin() as conn:
        conn.execute(text("CREATE TABLE scratch (a VARCHAR(8), b VARCHAR(8), c INTEGER)"))
        conn.execute(text("CREATE INDEX ix_scratch_ab ON scratch (a, b)"))
        for a, b in ROWS:
            conn.execute(text("INSERT INTO scratch (a, b) VALUES (:a, :b)"), {"a": a, "b": b})
    return db


@pytest.fixture
def table(db):  # type: ignore[no-untyped-def]
    return _scratch(db)


def _distinct(conn: Any, column: str, where: str = "", **params: Any) -> list[Any]:
    cond = f"WHERE {where}" if where else ""
    rows = conn.execute(text(f"SELECT DISTINCT {column} FROM scratch {cond}"), params)
    found = [v for v in rows.scalars()]
    return sorted(v for v in found if v is not None) + [None] * (None in found)


def test_the_values_are_those_of_select_distinct_in_order_null_last(table):  # type: ignore[no-untyped-def]
    with table.engine.connect() as conn:
        assert distinct_values(conn, "scratch", "a") == ["A", "B", "C", None]
        assert distinct_values(conn, "scratch", "a") == _distinct(conn, "a")
        for a in ("A", "B", "C"):
            got = distinct_values(conn, "scratch", "b", "a = :a", {"a": a})
            assert got == _distinct(conn, "b", "a = :a", a=a), a
        assert distinct_values(conn, "scratch", "b", "a = :a", {"a": "C"}) == ["3", None]
        assert distinct_values(conn, "scratch", "b", "a IS NULL") == ["9"]
        assert distinct_values(conn, "scratch", "b", "a = :a", {"a": "Z"}) == []


def test_an_empty_table_has_no_values(table):  # type: ignore[no-untyped-def]
    with table.engine.begin() as conn:
        conn.execute(text("DELETE FROM scratch"))
        assert distinct_values(conn, "scratch", "a") == []


def test_values_of_any_type_sqlite_holds_are_each_found(sqlite_db):  # type: ignore[no-untyped-def]
    """SQLite keeps what an SQL edit writes as it is (an integer, text, a blob in a date column):
    each comes back, raw, as ``SELECT DISTINCT`` gives it."""
    with sqlite_db.engine.begin() as conn:
        conn.execute(text("CREATE TABLE scratch (d DATE)"))
        conn.execute(text("CREATE INDEX ix_scratch_d ON scratch (d)"))
        for v in ("'2026-12-01'", "'2026-13-45'", "7", "X'00ff'", "'2026-12-01'", "NULL", "7"):
            conn.execute(text(f"INSERT INTO scratch (d) VALUES ({v})"))
        got = distinct_values(conn, "scratch", "d")
        assert got == [7, "2026-12-01", "2026-13-45", b"\x00\xff", None]
        found = conn.execute(text("SELECT DISTINCT d FROM scratch")).scalars()
        assert sorted(map(repr, got)) == sorted(map(repr, found))


def test_each_step_is_a_seek_in_the_index_on_sqlite(sqlite_db):  # type: ignore[no-untyped-def]
    """Every statement it sends reads the index by a search (``SEARCH``), never all of it
    (``SCAN``: what ``SELECT DISTINCT`` does), also for the NULLs of a column that may hold
    them, and with the equalities of ``where`` before the column."""
    _scratch(sqlite_db)
    with statements_sent(sqlite_db.engine) as sent, sqlite_db.engine.connect() as conn:
        distinct_values(conn, "scratch", "a")
        distinct_values(conn, "scratch", "b", "a = :a", {"a": "B"})
        distinct_values(conn, "lot", "day0")  # Today's own
        distinct_values(conn, "subject", "dose_level")
    assert len(sent) == 8
    for statement, plan in query_plans(sqlite_db.engine, sent).items():
        reads = [p for p in plan if " USING " in p or p.startswith("SCAN scratch")]
        if "IS NULL" in statement and not statement.startswith("SELECT 1 FROM scratch"):
            continue  # a NOT NULL column: SQLite knows no row matches and reads none
        assert reads and all(p.startswith("SEARCH") for p in reads), (statement, plan)
