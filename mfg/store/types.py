"""Column types shared by the tables.

Dates and times read back are checked: SQLite stores them as text, which an edit outside
CellTrail can make unreadable (``day0 = '2026-13-45'``). SQLAlchemy's parser then raised
``ValueError``, an internal error that stopped the TUI for everyone; here it is a refusal that
quotes the stored text (``stored_date``). PostgreSQL's date types cannot hold such a value.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Date, DateTime
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

from mfg.errors import RuleViolation


def unreadable(value: object, what: str = "date") -> RuleViolation:
    """The refusal for a stored date or time that cannot be read."""
    shown = repr(value)[:40]
    return RuleViolation(
        what,
        "stored-value-unreadable",
        f"a stored {what} {shown} cannot be read (changed outside CellTrail? mfg audit verify "
        "names the record)",
    )


def stored_date(text: str) -> date:
    """A date read as SQLite's text (a raw read): ``2026-11-25``, or the refusal."""
    try:
        return date.fromisoformat(text)
    except (TypeError, ValueError):
        raise unreadable(text) from None


def _checked(process: Callable[[Any], Any] | None, what: str) -> Callable[[Any], Any] | None:
    if process is None:
        return None

    def checked(value: Any) -> Any:
        try:
            return process(value)
        except (TypeError, ValueError):
            raise unreadable(value, what) from None

    return checked


class StoredDate(TypeDecorator[date]):
    """A date; one stored as text that is no date is refused when read (module docstring)."""

    impl = Date
    cache_ok = True

    def result_processor(self, dialect: Dialect, coltype: object) -> Any:
        return _checked(super().result_processor(dialect, coltype), "date")


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out, on every backend.

    SQLite keeps no zone, so values are normalised to UTC and stored naive; PostgreSQL uses
    ``timestamptz``. A naive datetime handed in is a programming error, not silently assumed UTC.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def result_processor(self, dialect: Dialect, coltype: object) -> Any:
        return _checked(super().result_processor(dialect, coltype), "time")

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        at: datetime = value
        if at.tzinfo is None:
            return at.replace(tzinfo=UTC)
        return at.astimezone(UTC)
