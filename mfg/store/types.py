"""Column types shared by the tables.

Dates and times read back are checked: SQLite stores them as text, which an edit outside
CellTrail can make unreadable (``day0 = '2026-13-45'``). SQLAlchemy's parser then raised
``ValueError``, an internal error that stopped the TUI for everyone; here it is a refusal that
quotes the stored text (``stored_date``). PostgreSQL's date types cannot hold such a value.

Numbers read back are checked the same way (``StoredInt``, ``StoredFloat``): SQLite's numeric
columns hold text and blobs too (``viable_cells = 'lots'``), which the readers' arithmetic met as a
``TypeError``. On SQLite a value of the wrong kind is refused, naming the column; PostgreSQL's
typed columns cannot hold one, so there is no check (and no cost) there.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import BigInteger, Date, DateTime, Float, Integer
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

from mfg.errors import RuleViolation


def unreadable(value: object, what: str = "date") -> RuleViolation:
    """The refusal for a stored value (a date, a time, a number) that cannot be read."""
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


def _of_kind(kinds: tuple[type, ...], what: str) -> Callable[[Any], Any]:
    """A result processor: the stored value if it is one of ``kinds`` (or NULL), else the
    refusal. sqlite3 hands back int, float, str or bytes; a bool is never among them."""

    def checked(value: Any) -> Any:
        if value is None or isinstance(value, kinds):
            return value
        raise unreadable(value, what)

    return checked


class _StoredNumber(TypeDecorator[Any]):
    """A number column whose stored value is checked on SQLite (module docstring); ``what``
    names it in the refusal (the column: ``viable_cells``). The DDL type is the plain one."""

    cache_ok = True
    kinds: tuple[type, ...] = (int,)

    def __init__(self, what: str = "number") -> None:
        super().__init__()
        self.what = what

    def result_processor(self, dialect: Dialect, coltype: object) -> Any:
        process = super().result_processor(dialect, coltype)
        if dialect.name != "sqlite":
            return process
        check = _of_kind(self.kinds, self.what)
        if process is None:
            return check
        return lambda value: process(check(value))


class StoredInt(_StoredNumber):
    """An integer: anything else stored in it on SQLite is refused when read."""

    cache_ok = True
    impl = Integer
    kinds = (int,)


class StoredBigInt(_StoredNumber):
    """A big integer (cell numbers): anything else stored in it on SQLite is refused."""

    cache_ok = True
    impl = BigInteger
    kinds = (int,)


class StoredFloat(_StoredNumber):
    """A float: an int or a float is read; anything else stored in it on SQLite is refused."""

    cache_ok = True
    impl = Float
    kinds = (int, float)


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
