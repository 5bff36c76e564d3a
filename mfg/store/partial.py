"""Partial indexes of the table models: SQLite's predicate is set when the index is declared,
PostgreSQL's by ``for_postgresql`` once PostgreSQL is used (``mfg.store.db.make_engine``, the
migrations' environment). Naming a ``postgresql_`` option at declaration would load
SQLAlchemy's PostgreSQL dialect, 19 ms of every command on SQLite. The migrations create each
index with its predicate on both databases (0006, 0008, 0009, 0010)."""

from __future__ import annotations

from sqlalchemy import Index, text

# every partial index declared, with its predicate (read by the migration test)
DECLARED: list[tuple[Index, str]] = []
_postgresql_used = False


def partial_index(name: str, *columns: str, where: str) -> Index:
    """An index of the rows ``where`` holds for (SQL text, the same on both databases)."""
    ix = Index(name, *columns, sqlite_where=text(where))
    DECLARED.append((ix, where))
    if _postgresql_used:  # declared after PostgreSQL was first used: its predicate now
        _set_postgresql(ix, where)
    return ix


def for_postgresql() -> None:
    """The partial indexes' predicates for PostgreSQL, those declared so far and those declared
    later in the process (idempotent)."""
    global _postgresql_used
    _postgresql_used = True
    for ix, where in DECLARED:
        _set_postgresql(ix, where)


def _set_postgresql(ix: Index, where: str) -> None:
    if ix.dialect_options["postgresql"]["where"] is None:
        ix.dialect_options["postgresql"]["where"] = text(where)
