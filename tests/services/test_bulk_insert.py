"""``mfg.store.bulk.insert_rows`` (the importer's multi-row inserts) stores exactly what
``conn.execute(insert(table), rows)`` stores, on both backends, and still refuses NUL."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import (
    Boolean,
    Column,
    Date,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    event,
    insert,
    literal,
    select,
)

from mfg.errors import RuleViolation
from mfg.services.uow import Database
from mfg.store import bulk
from mfg.store.types import UTCDateTime


def _tables(name: str) -> tuple[MetaData, Table, Table]:
    md = MetaData()

    def table(suffix: str) -> Table:
        return Table(
            f"{name}_{suffix}",
            md,
            Column("id", Integer, primary_key=True),
            Column("text", String),
            Column("at", UTCDateTime),
            Column("day", Date),
            Column("num", Float),
            Column("flag", Boolean),
        )

    return md, table("orm"), table("bulk")


def _rows() -> list[dict[str, Any]]:
    shanghai = timezone(timedelta(hours=8))
    now = datetime(2026, 3, 1, 9, 30, 15, 123456, tzinfo=shanghai)  # one shared time, not UTC
    return [
        {
            "text": f"row {i} – µ",
            "at": now,
            "day": date(2025, 1, 1) + timedelta(days=i % 3),
            "num": None if i % 4 == 0 else i / 3,
            "flag": i % 2 == 0,
        }
        for i in range(7)
    ] + [
        {
            "text": None,
            "at": datetime(2026, 1, 1, tzinfo=UTC),
            "day": None,
            "num": 1e300,
            "flag": None,
        }
    ]


def test_insert_rows_stores_what_core_insert_stores(db: Database) -> None:
    md, core, fast = _tables("bulk_same")
    md.create_all(db.engine)
    rows = _rows()
    with db.engine.begin() as conn:
        conn.execute(insert(core), rows)
        bulk.insert_rows(conn, fast, rows)
    with db.engine.connect() as conn:
        # the stored values as the driver returns them (no SQLAlchemy result processing)
        def stored(t: Table) -> list[tuple[Any, ...]]:
            return conn.exec_driver_sql(
                f"SELECT id, text, at, day, num, flag FROM {t.name} ORDER BY id"
            ).all()

        assert stored(fast) == stored(core)
        assert len(stored(fast)) == len(rows)
        back = conn.execute(fast.select().order_by(fast.c.id)).all()
    assert back[0].at == rows[0]["at"] and back[0].at.tzinfo is not None
    assert [r.text for r in back] == [r["text"] for r in rows]


def test_insert_rows_refuses_nul_and_writes_nothing(db: Database) -> None:
    md, _, fast = _tables("bulk_nul")
    md.create_all(db.engine)
    rows = _rows()
    rows[5]["text"] = "bad\x00text"
    with pytest.raises(RuleViolation) as caught, db.engine.begin() as conn:
        bulk.insert_rows(conn, fast, rows)
    assert caught.value.rule == "nul-character"
    with db.engine.connect() as conn:
        assert conn.exec_driver_sql(f"SELECT count(*) FROM {fast.name}").scalar_one() == 0


def test_insert_rows_of_nothing_is_no_statement(db: Database) -> None:
    md, _, fast = _tables("bulk_empty")
    md.create_all(db.engine)
    with db.engine.begin() as conn:
        bulk.insert_rows(conn, fast, [])
    with db.engine.connect() as conn:
        assert conn.exec_driver_sql(f"SELECT count(*) FROM {fast.name}").scalar_one() == 0


def test_select_rows_reads_text_with_quotes_percent_and_backslash(db: Database) -> None:
    """``select_rows`` renders the values into its SQL: a value with a quote, a percent sign
    (``%%`` in psycopg's rendered SQL) or a backslash still matches itself and reads back
    unchanged, on both backends."""
    md, plain, _ = _tables("sel")
    odd = ["A%B", "it's", "back\\slash", "50 %% off", "%s"]
    with db.engine.begin() as conn:
        md.create_all(conn)
        conn.execute(insert(plain), [{"id": i, "text": t} for i, t in enumerate(odd)])
        for i, text in enumerate(odd):
            query = select(plain.c.id, plain.c.text, literal(text)).where(plain.c.text == text)
            assert bulk.select_rows(conn, query) == [(i, text, text)], text


@pytest.mark.parametrize("mixed", [False, True])
def test_insert_rows_finds_a_nul_in_any_row_of_a_text_or_mixed_column(
    db: Database, mixed: bool
) -> None:
    """``insert_rows`` checks NUL a column at a time (the statement event is told so and skips
    its per-value check): a NUL in the last of many rows is refused, also in a column whose
    other values are not text."""
    md, _, fast = _tables(f"bulk_nul_col_{int(mixed)}")
    md.create_all(db.engine)
    rows = [{**_rows()[i % 8], "id": i + 1} for i in range(3000)]
    if mixed:
        rows[10]["text"] = 42  # stored as given: SQLite keeps the integer
    rows[-1]["text"] = "late\x00"
    with pytest.raises(RuleViolation) as caught, db.engine.begin() as conn:
        bulk.insert_rows(conn, fast, rows)
    assert caught.value.rule == "nul-character"
    with db.engine.connect() as conn:
        assert conn.execute(fast.select()).all() == []


def test_after_insert_rows_the_same_connection_still_refuses_nul(db: Database) -> None:
    """The bulk insert's "checked" mark is for its own statement only: the next statements on
    the same connection (Core, driver SQL) are checked by the event as before."""
    md, core, fast = _tables("bulk_nul_after")
    md.create_all(db.engine)
    with db.engine.begin() as conn:
        bulk.insert_rows(conn, fast, _rows())
        with pytest.raises(RuleViolation):
            conn.execute(insert(core), [{"text": "after\x00"}])
        with pytest.raises(RuleViolation):
            conn.exec_driver_sql(f"INSERT INTO {core.name} (text) VALUES (?)", ("raw\x00",))


def test_insert_rows_finds_a_nul_in_a_column_that_is_not_text(db: Database) -> None:
    md, _, fast = _tables("bulk_nul_num")
    md.create_all(db.engine)
    rows = [{**r, "id": i + 1} for i, r in enumerate(_rows())]
    rows[3]["id"] = "4\x00"  # no bind processor: SQLite would keep text in an INTEGER column
    with pytest.raises(RuleViolation), db.engine.begin() as conn:
        bulk.insert_rows(conn, fast, rows)


def test_fixed_values_are_stored_as_if_every_row_had_them(db: Database) -> None:
    """``insert_rows(..., fixed)`` and ``insert_tuples``: the values every row shares, bound
    once, are stored as core's insert stores them in each row."""
    md, core, fast = _tables("bulk_fixed")
    md.create_all(db.engine)
    rows = _rows()
    shared = {"at": rows[0]["at"], "flag": True}
    varying = [{k: v for k, v in r.items() if k not in shared} for r in rows]
    with db.engine.begin() as conn:
        conn.execute(insert(core), [{**r, **shared} for r in varying])
        conn.execute(insert(core), [{**r, **shared} for r in varying])
        bulk.insert_rows(conn, fast, varying, shared)
        keys = list(varying[0])
        bulk.insert_tuples(conn, fast, keys, [tuple(r.values()) for r in varying], shared)
    with db.engine.connect() as conn:

        def stored(t: Table) -> list[tuple[Any, ...]]:
            return conn.exec_driver_sql(
                f"SELECT id, text, at, day, num, flag FROM {t.name} ORDER BY id"
            ).all()

        assert stored(fast) == stored(core) and len(stored(fast)) == 2 * len(rows)


def test_a_nul_in_a_fixed_value_is_refused_and_nothing_is_written(db: Database) -> None:
    md, _, fast = _tables("bulk_fixed_nul")
    md.create_all(db.engine)
    varying = [{"day": r["day"], "num": r["num"]} for r in _rows()]
    with pytest.raises(RuleViolation) as caught, db.engine.begin() as conn:
        bulk.insert_rows(conn, fast, varying, {"text": "shared\x00"})
    assert caught.value.rule == "nul-character"
    with db.engine.connect() as conn:
        assert conn.exec_driver_sql(f"SELECT count(*) FROM {fast.name}").scalar_one() == 0


def test_a_shared_none_is_left_out_only_where_leaving_it_out_stores_null(db: Database) -> None:
    """A value every row shares that is None is left out of the INSERT (binding None per row was
    the slowest value) where the column has no default; a column with a default of its own
    (the database's or SQLAlchemy's) is still given the None: every row stores NULL."""
    md = MetaData()
    t = Table(
        "bulk_null_shared",
        md,
        Column("id", Integer, primary_key=True),
        Column("x", Integer),
        Column("plain", String),
        Column("server", Integer, server_default="7"),
        Column("client", Integer, default=5),
    )
    md.create_all(db.engine)
    sent: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        sent.append(statement)

    event.listen(db.engine, "before_cursor_execute", seen)
    try:
        with db.engine.begin() as conn:
            shared = {"plain": None, "server": None, "client": None}
            bulk.insert_rows(conn, t, [{"x": i} for i in range(3)], shared)
    finally:
        event.remove(db.engine, "before_cursor_execute", seen)
    (insert_sql,) = [s for s in sent if s.startswith("INSERT")]
    assert "plain" not in insert_sql and "server" in insert_sql and "client" in insert_sql
    with db.engine.connect() as conn:
        stored = conn.exec_driver_sql(
            "SELECT x, plain, server, client FROM bulk_null_shared ORDER BY id"
        ).all()
    assert [tuple(r) for r in stored] == [(i, None, None, None) for i in range(3)]
