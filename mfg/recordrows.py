"""The stored rows the record check reads, and how a stored value compares with a recorded one
(for ``mfg.recordcheck``)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from enum import Enum
from typing import Any

from sqlalchemy import Date, DateTime, Table
from sqlalchemy.engine import Connection
from sqlmodel import SQLModel

from mfg.auditchain import pg_date_text, pg_time_text
from mfg.domain.canonical import iso_utc
from mfg.recordrules import Record
from mfg.records import RECORDS
from mfg.store.types import StoredDate, UTCDateTime
from mfg.trailfold import MISSING

# -- the tables ---------------------------------------------------------------------------------


@dataclass
class Tables:
    """Every declared table's rows (plain mappings), and the lookups the rules need."""

    rows: dict[str, list[Any]]
    product_hash: Callable[[str, str], str | None] | None = None

    def by_id(self, table: str) -> dict[Any, Any]:
        cache = self.__dict__.setdefault("_by_id", {})
        if table not in cache:
            cache[table] = {r["id"]: r for r in self.rows.get(table, [])}
        return cache[table]  # type: ignore[no-any-return]

    def lot_number(self, pk: Any) -> Any:
        row = self.by_id("lot").get(pk)
        return None if row is None else row["lot_number"]

    def lot_numbers(self) -> dict[Any, Any]:
        """Lot primary key -> lot number (``lot_number`` without a call per row)."""
        cache = self.__dict__
        if "_lot_numbers" not in cache:
            cache["_lot_numbers"] = {pk: r["lot_number"] for pk, r in self.by_id("lot").items()}
        return cache["_lot_numbers"]  # type: ignore[no-any-return]


def _load(conn: Connection) -> Tables:
    import mfg.store.tables  # noqa: F401  (registers every table)

    rows: dict[str, list[Any]] = {}
    sqlite = conn.dialect.name == "sqlite"
    cur = conn.connection.cursor()  # plain tuples, no Row objects
    for rec in RECORDS:
        if rec.exempt_why:
            continue
        table: Table = SQLModel.metadata.tables[rec.table]
        keys = [c.name for c in table.columns]
        times = [
            i
            for i, c in enumerate(table.columns)
            if isinstance(c.type, (DateTime, Date, StoredDate, UTCDateTime))
        ]
        # Plain DB-API values (no per-value type processing); dates and times as ISO text,
        # the way the trail records them, made by the database as _iso_time would (on
        # PostgreSQL made in Python until today: a third of the record check's read there).
        columns = list(table.columns)
        cols = ", ".join(
            (_sqlite_iso(k) if sqlite else _pg_iso(k, columns[i].type)) if i in times else f'"{k}"'
            for i, k in enumerate(keys)
        )
        order = ' ORDER BY "id"' if rec.mirrors else ""
        cur.execute(f'SELECT {cols} FROM "{rec.table}"{order}')
        rows[rec.table] = [dict(zip(keys, r, strict=True)) for r in cur.fetchall()]
    cur.close()
    return Tables(rows)


def _sqlite_iso(column: str) -> str:
    """``_iso_time`` of a stored SQLite time, computed by SQLite (text only; anything else
    a tamperer stored is compared as it is)."""
    c = f'"{column}"'
    return (
        f"CASE WHEN typeof({c}) = 'text' AND length({c}) <> 10 "
        f"THEN substr({c}, 1, 10) || 'T' || substr({c}, 12, 15) || 'Z' ELSE {c} END"
    )


def _pg_iso(column: str, kind: Any) -> str:
    """``_iso_time`` of a PostgreSQL date or time, computed by PostgreSQL: a date as
    ``2026-11-25``; a time (``timestamptz``: every time column) as its UTC time
    ``2026-11-25T09:30:00.000000Z``; out of Python's range, PostgreSQL's own text
    (``audit.pg_time_text``)."""
    c = f'"{column}"'
    if isinstance(kind, (Date, StoredDate)):
        return pg_date_text(c)
    return pg_time_text(c, 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')


def _iso_time(v: Any) -> Any:
    """A stored date or time as the trail writes it: ``2026-11-25``, ``...T09:30:00.000000Z``."""
    if v is None:
        return None
    if isinstance(v, str):
        return v if len(v) == 10 else f"{v[:10]}T{v[11:26]}Z"
    if isinstance(v, datetime):
        return _norm(v)
    return v.isoformat()


# record keys made from more than one column (``_key``); any other key names its column
SPECIAL_KEYS = frozenset({"spec", "bag", "layout", "bag_of_event", "mirror", "signature"})


def _key(rec: Record, row: Any, t: Tables) -> str:
    if rec.key not in SPECIAL_KEYS:
        return str(row[rec.key])
    if rec.key == "spec":
        return f"{row['product_code']}/{row['spec_version']}"
    if rec.key == "bag":
        return f"{t.lot_number(row['lot_pk'])}/B{row['bag_no']}"
    if rec.key == "layout":  # a label layout approval: kind, version, definition
        return f"{row['kind']}/v{row['version']}/{row['definition_sha256'][:12]}"
    if rec.key == "bag_of_event":
        bag = t.by_id("dosebag").get(row["bag_pk"]) or {"lot_pk": None, "bag_no": "?"}
        return f"{t.lot_number(bag['lot_pk'])}/B{bag['bag_no']}"
    if rec.key == "mirror":  # rows are read in id order; the n-th of one instant gets #n
        base = f"{row['username']}@{row['retired_at']}"
        seen = t.__dict__.setdefault("_mirror_seen", {})
        seen[base] = seen.get(base, 0) + 1
        return base if seen[base] == 1 else f"{base}#{seen[base]}"
    if rec.key == "signature":
        cite = t.__dict__.setdefault(
            "_cites", {d["signature_pk"]: d["id"] for d in t.rows.get("disposition", [])}
        )
        return str(cite.get(row["id"], f"(signature {row['id']}, cited by no disposition)"))
    return str(row[rec.key])


# -- comparing -------------------------------------------------------------------------------


def _norm(value: Any) -> Any:
    """A stored value as the trail stores it (JSON types)."""
    if isinstance(value, datetime):
        if value.utcoffset():  # stored UTC (UTCDateTime): the fast path below is exact
            return iso_utc(value)
        return value.isoformat(timespec="microseconds")[:26] + "Z"
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    return value


def _same(stored: Any, recorded: Any) -> bool:
    a = _norm(stored)
    if isinstance(a, bool) or isinstance(recorded, bool):
        if a is None or recorded is None:
            return a is recorded
        return bool(a) == bool(recorded)
    if isinstance(a, (int, float)) and isinstance(recorded, (int, float)):
        return float(a) == float(recorded)
    return bool(a == recorded)


def _show(value: Any) -> str:
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    return json.dumps(_norm(value), ensure_ascii=False, default=str)


def _via(how: str, stored: Any) -> Any:
    if how == "sha256":
        return None if stored is None else hashlib.sha256(str(stored).encode()).hexdigest()
    if how == "list":
        return [x.strip() for x in str(stored or "").split(",") if x.strip()]
    if how == "json":
        try:
            return None if stored is None else json.loads(stored)
        except (ValueError, RecursionError):  # not JSON, or nested deeper than json recurses
            return stored
    return stored


def _path(values: dict[str, Any], key: str) -> Any:
    cur: Any = values
    for part in key.split("."):
        if not isinstance(cur, dict) or part not in cur:
            return MISSING
        cur = cur[part]
    return cur
