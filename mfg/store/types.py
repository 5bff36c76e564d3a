"""Column types shared by the tables.

Dates and times read back are checked: SQLite stores them as text, which an edit outside
CellTrail can make unreadable (``day0 = '2026-13-45'``). SQLAlchemy's parser then raised
``ValueError``, an internal error that stopped the TUI for everyone; here it is a refusal that
quotes the stored text (``stored_date``). PostgreSQL's date types cannot hold such a value.

Numbers read back are checked the same way (``StoredInt``, ``StoredFloat``): SQLite's numeric
columns hold text and blobs too (``viable_cells = 'lots'``), which the readers' arithmetic met as a
``TypeError``. On SQLite a value of the wrong kind is refused, naming the column; PostgreSQL's
typed columns cannot hold one, so there is no check (and no cost) there.

A list reads its columns ``lenient`` (``lenient(column)``): a value that cannot be read comes
back as an ``Unreadable`` in its place instead of refusing the whole read, so one edited lot is
listed NOT READ, with the refusal, and the list goes on with the others. A reader that gets one
must not work anything out from that row.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import BigInteger, Date, DateTime, Float, Integer, type_coerce
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

from mfg.errors import RuleViolation

UNREADABLE = "stored-value-unreadable"  # the rule of ``unreadable``'s refusal


def unreadable(value: object, what: str = "date") -> RuleViolation:
    """The refusal for a stored value (a date, a time, a number) that cannot be read."""
    shown = repr(value)[:40]
    return RuleViolation(
        what,
        UNREADABLE,
        f"a stored {what} {shown} cannot be read (changed outside CellTrail? mfg audit verify "
        "names the record)",
    )


@dataclass(frozen=True)
class Unreadable:
    """A stored value a lenient read could not read, in the place of the value."""

    value: object
    what: str  # date, time, or the column (viable_cells)

    def refusal(self) -> RuleViolation:
        return unreadable(self.value, self.what)


def first_unreadable(values: Any) -> Unreadable | None:
    """The first ``Unreadable`` among ``values`` (a row read with lenient columns), or None."""
    return next((v for v in values if type(v) is Unreadable), None)


def read_time(at: object) -> datetime | None:
    """A time read leniently: the time, or None when it could not be read (``Unreadable``)."""
    return at if isinstance(at, datetime) else None


def _iso_date(text: Any) -> date:
    """``YYYY-MM-DD`` as CellTrail stores it, nothing else (``date.fromisoformat`` alone also
    reads ``20261125``, which SQLite's ``date()`` does not: the SQL checks and this agree)."""
    if type(text) is not str or len(text) != 10 or text[4] != "-" or text[7] != "-":
        raise ValueError(text)  # also ISO's week date 2026-W48-3, which fromisoformat reads
    if not text.isascii():
        raise ValueError(text)
    return date.fromisoformat(text)


def stored_date(text: str) -> date:
    """A date read as SQLite's text (a raw read): ``2026-11-25``, or the refusal."""
    try:
        return _iso_date(text)
    except (TypeError, ValueError):
        raise unreadable(text) from None


def _checked(
    process: Callable[[Any], Any] | None, what: str, lenient: bool = False
) -> Callable[[Any], Any] | None:
    if process is None:
        return None

    def checked(value: Any) -> Any:
        try:
            return process(value)
        except (TypeError, ValueError):
            if lenient:
                return Unreadable(value, what)
            raise unreadable(value, what) from None

    return checked


class StoredDate(TypeDecorator[date]):
    """A date; one stored as text that is no date is refused when read (module docstring)."""

    impl = Date
    cache_ok = True

    def __init__(self, *args: Any, lenient: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lenient = lenient

    def result_processor(self, dialect: Dialect, coltype: object) -> Any:
        if dialect.name == "sqlite":  # its text, read strictly (``_iso_date``)
            return _checked(lambda v: None if v is None else _iso_date(v), "date", self.lenient)
        return _checked(super().result_processor(dialect, coltype), "date", self.lenient)

    def as_lenient(self) -> StoredDate:
        return StoredDate(lenient=True)


def _of_kind(kinds: tuple[type, ...], what: str, lenient: bool = False) -> Callable[[Any], Any]:
    """A result processor: the stored value if it is one of ``kinds`` (or NULL), else the
    refusal (``lenient``: an ``Unreadable``). sqlite3 hands back int, float, str or bytes; a
    bool is never among them."""

    def checked(value: Any) -> Any:
        if value is None or isinstance(value, kinds):
            return value
        if lenient:
            return Unreadable(value, what)
        raise unreadable(value, what)

    return checked


class _StoredNumber(TypeDecorator[Any]):
    """A number column whose stored value is checked on SQLite (module docstring); ``what``
    names it in the refusal (the column: ``viable_cells``). The DDL type is the plain one."""

    cache_ok = True
    kinds: tuple[type, ...] = (int,)

    def __init__(self, what: str = "number", lenient: bool = False) -> None:
        super().__init__()
        self.what = what
        self.lenient = lenient

    def result_processor(self, dialect: Dialect, coltype: object) -> Any:
        process = super().result_processor(dialect, coltype)
        if dialect.name != "sqlite":
            return process
        check = _of_kind(self.kinds, self.what, self.lenient)
        if process is None:
            return check
        if not self.lenient:
            return lambda value: process(check(value))

        def checked(value: Any) -> Any:
            value = check(value)
            return value if type(value) is Unreadable else process(value)

        return checked

    def as_lenient(self) -> _StoredNumber:
        return type(self)(self.what, lenient=True)


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

    def __init__(self, *args: Any, lenient: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)  # the migrations give DateTime's own (timezone=True)
        self.lenient = lenient  # a time that cannot be read comes back as an ``Unreadable``

    def as_lenient(self) -> UTCDateTime:
        return UTCDateTime(lenient=True)

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def result_processor(self, dialect: Dialect, coltype: object) -> Any:
        return _checked(super().result_processor(dialect, coltype), "time", self.lenient)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        at: datetime = value
        if at.tzinfo is None:
            return at.replace(tzinfo=UTC)
        return at.astimezone(UTC)


def lenient(column: Any) -> Any:
    """``column`` read leniently, under its own name: a stored value that cannot be read comes
    back as an ``Unreadable`` (module docstring). Columns of other types are returned as they are."""
    kind = getattr(column, "type", None)
    if not isinstance(kind, StoredDate | _StoredNumber | UTCDateTime):
        return column
    return type_coerce(column, kind.as_lenient()).label(column.key)
