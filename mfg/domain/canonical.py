"""Canonical JSON: the one serialisation every hash in CellTrail is computed over (audit events,
disposition signatures, COA content). Sorted keys, no whitespace, UTF-8 text kept as text, aware
datetimes as UTC ISO-8601 with microseconds, dates as ISO, enums by value, sets sorted.

Pure: no tables, no I/O, so the COA and the read models hash without loading the audit module."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

import orjson


def iso_utc(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _default(o: Any) -> Any:
    if isinstance(o, datetime):
        return iso_utc(o)
    if isinstance(o, date):
        return o.isoformat()
    if isinstance(o, Enum):
        return o.value
    if isinstance(o, Decimal):
        return str(o)
    if isinstance(o, (set, frozenset)):
        return sorted(o)
    raise TypeError(f"not JSON-serialisable for the audit trail: {type(o).__name__}")


# One encoder, built once: ``json.dumps`` with these options builds a new one per call (a
# quarter of the time of an import's 150,000 audit events). ``encode`` keeps no state between
# calls, so the one instance is safe to share.
_ENCODER = json.JSONEncoder(
    sort_keys=True,
    separators=(",", ":"),
    ensure_ascii=False,
    default=_default,
    allow_nan=False,
)


_ORJSON_OPTIONS = orjson.OPT_SORT_KEYS | orjson.OPT_PASSTHROUGH_DATETIME
_INF = float("inf")
_SCALARS = frozenset({str, int, bool, type(None), date, datetime})


def _plain(value: Any) -> bool:
    """True when orjson writes ``value`` exactly as ``_ENCODER`` does: dicts with ``str`` keys,
    lists, tuples and the exact types ``str``, ``int``, ``bool``, ``None``, ``date`` and
    ``datetime`` (both given to ``_default``), and floats that are 0 or finite and at least
    1e-4 in size (below it Python writes ``1e-05`` and orjson ``0.00001``; orjson writes NaN
    as ``null`` where ``_ENCODER`` refuses it). Anything else (an enum, a subclass, a set, a
    Decimal, a small float) is left to ``_ENCODER``. A test compares the two over generated
    values."""
    t = type(value)
    if t is dict:
        for k, v in value.items():
            if type(k) is not str:
                return False
            kind = type(v)
            if kind in _SCALARS:  # the common cases, checked without a call
                continue
            if kind is float:
                if v == 0.0 or 1e-4 <= abs(v) < _INF:
                    continue
                return False
            if not _plain(v):
                return False
        return True
    if t in _SCALARS:
        return True
    if t is float:
        return bool(value == 0.0 or 1e-4 <= abs(value) < _INF)
    if t is list or t is tuple:
        return all(_plain(v) for v in value)
    return False


def canonical_json(value: Any) -> str:
    """The canonical text of ``value``: ``_ENCODER``'s (sorted keys, no whitespace, UTF-8
    kept). orjson writes the same text for the plain values most events carry, about 3x
    faster with the check (a release result's values: 1.1 against 3.4 us; an import writes
    150,000 events); an int past 64 bits or a lone surrogate, which it refuses,
    and every other value go to ``_ENCODER``."""
    if _plain(value):
        try:
            return orjson.dumps(value, default=_default, option=_ORJSON_OPTIONS).decode()
        except orjson.JSONEncodeError:
            pass
    return _ENCODER.encode(value)


class NotJSON(str):
    """What a stored JSON text that is not JSON decodes to: a note naming its length, never
    the text (it may be megabytes). CellTrail writes only JSON; this text came from an edit
    outside it, which ``mfg audit verify``'s chain check names. A string: the fold takes nothing
    from it (it reads dicts) and the log shows the note."""

    __slots__ = ()


def not_json(text: str) -> NotJSON:
    return NotJSON(f"(not JSON: {len(text):,} characters)")


def decode_json(text: str) -> Any:
    """The values of a stored JSON text (an audit event's old and new values): the one decoder
    for display and for ``mfg audit verify``. ``json.loads``'s values, by orjson (a verify's
    JSON work 0.69 s -> 0.27 s over 300,000 events); what orjson refuses (NaN, a lone
    surrogate, very deep nesting) json decides. orjson reads an integer beyond 64 bits as a
    float; the record check compares numbers as floats (``recordrows._same``), so that changes
    no verdict (no id or count of CellTrail's comes near 2**63). A text neither reads (malformed,
    or nested deeper than json's recursion allows) is ``NotJSON``: a tampered row is reported
    by verify, not a crash of it."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        try:
            return json.loads(text)
        except (ValueError, RecursionError):
            return not_json(text)
