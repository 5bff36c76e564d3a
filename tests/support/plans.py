"""What a piece of work sends to SQLite, and how SQLite plans to run it: for the tests that
hold a read to its indexes (``EXPLAIN QUERY PLAN``)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine

Sent = list[tuple[str, Any]]


@contextmanager
def statements_sent(engine: Engine) -> Iterator[Sent]:
    """The statements (with their parameters) sent through ``engine`` inside the block,
    transactions' BEGIN left out; those sent by a DB-API cursor of its own are not seen."""
    sent: Sent = []

    def keep(conn: Any, cursor: Any, statement: str, parameters: Any, *rest: Any) -> None:
        if not statement.startswith("BEGIN"):
            sent.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", keep)
    try:
        yield sent
    finally:
        event.remove(engine, "before_cursor_execute", keep)


def query_plans(engine: Engine, sent: Sent) -> dict[str, list[str]]:
    """SQLite's plan of each statement: its lines (``SEARCH lot USING INDEX ...``)."""
    plans = {}
    with engine.connect() as conn:
        for statement, parameters in sent:
            explain = f"EXPLAIN QUERY PLAN {statement}"
            plans[statement] = [r[-1] for r in conn.exec_driver_sql(explain, parameters)]
    return plans
