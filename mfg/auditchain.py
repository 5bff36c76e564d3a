"""How the audit chain hashes an event: the length-prefixed message of its stored fields
(``message``; the same text computed by the database from the stored columns, ``message_sql``),
the keyed hash over the previous event's hash and that message (``keyed_hash``), and the
``Chainer`` that gives consecutive events their sequence numbers and hashes (one event, or a
bulk import's 150,000). Pure: no tables and no I/O (``mfg.audit`` writes and verifies)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

from mfg.auditkey import Keyring, Mac
from mfg.domain.canonical import canonical_json, iso_utc


def at_text(at: datetime) -> str:
    """How the chain hashes a time: the text SQLite stores, and PostgreSQL's to_char gives."""
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def _lp(value: str | None) -> str:
    return "n" if value is None else f"{len(value)}:{value}"


def message(
    seq: int,
    at: str,
    username: str,
    action: str,
    entity: str,
    entity_id: str,
    lot_number: str | None,
    old_values: str,
    new_values: str,
    reason: str | None,
    key_id: str,
) -> str:
    """The event's fields as the chain hashes them: each ``<length>:<text>``, ``n`` for NULL."""
    n = str(seq)
    return (  # one expression, no generator: it runs once per event of a 150,000-event import
        f"{len(n)}:{n}{len(at)}:{at}{_lp(username)}{_lp(action)}{_lp(entity)}{_lp(entity_id)}"
        f"{_lp(lot_number)}{_lp(old_values)}{_lp(new_values)}{_lp(reason)}{_lp(key_id)}"
    )


def _sql_lp(expr: str) -> str:
    return f"COALESCE(CAST(LENGTH({expr}) AS TEXT) || ':' || {expr}, 'n')"


def at_sql(dialect: str) -> str:
    """``at_text(at)`` computed by the database."""
    if dialect == "postgresql":
        return pg_time_text("at", "YYYY-MM-DD HH24:MI:SS.US")
    return "at"


# PostgreSQL's dates and times as text, in the range CellTrail writes (years 1-9999, Python's);
# outside it (infinity, a BC year, past 9999: written by someone in SQL) PostgreSQL's own text,
# which no text CellTrail hashed or recorded equals. to_char alone prints infinity as NULL
# (an infinite lifted_at read as "not lifted") and a BC year as its AD twin.
def pg_time_text(column: str, fmt: str) -> str:
    """A ``timestamptz`` column as its UTC time in ``fmt`` (to_char's pattern)."""
    return (
        f"CASE WHEN {column} >= TIMESTAMPTZ '0001-01-01 00:00:00+00' "
        f"AND {column} <= TIMESTAMPTZ '9999-12-31 23:59:59.999999+00' "
        f"THEN to_char({column} AT TIME ZONE 'UTC', '{fmt}') ELSE CAST({column} AS TEXT) END"
    )


def pg_date_text(column: str) -> str:
    """A ``date`` column as ``2026-11-25`` (as a zone-free timestamp: no session zone moves it)."""
    return (
        f"CASE WHEN {column} BETWEEN DATE '0001-01-01' AND DATE '9999-12-31' "
        f"THEN to_char(CAST({column} AS TIMESTAMP), 'YYYY-MM-DD') ELSE CAST({column} AS TEXT) END"
    )


def message_sql(dialect: str) -> str:
    """``message`` computed by the database from the stored columns (same text, both backends)."""
    cols = [
        "CAST(seq AS TEXT)",
        at_sql(dialect),
        "username",
        "action",
        "entity",
        "entity_id",
        "lot_number",
    ]
    cols += ["old_values", "new_values", "reason", "key_id"]
    return " || ".join(_sql_lp(c) for c in cols)


def keyed_hash(mac: Mac, prev_hash: str, msg: str) -> str:
    return mac.hex(f"{prev_hash}\n{msg}".encode())


def legacy_hash(row: Any, prev_hash: str) -> str:
    """The unkeyed SHA-256 of CellTrail 0.1 (before migration 0003): only to check an old chain
    once, before it is keyed."""
    body = canonical_json(
        {
            "seq": row.seq,
            "at": iso_utc(row.at),
            "user": row.username,
            "action": row.action,
            "entity": row.entity,
            "id": row.entity_id,
            "lot": row.lot_number,
            "old": row.old_values,
            "new": row.new_values,
            "reason": row.reason,
        }
    )
    return hashlib.sha256((prev_hash + "\n" + body).encode("utf-8")).hexdigest()


class Chainer:
    """Builds the rows of consecutive events after a known head (one event or a bulk import)."""

    def __init__(self, ring: Keyring, seq: int, prev: str) -> None:
        self.key_id = ring.current
        self.mac = ring.current_mac
        self.seq = seq
        self.prev = prev
        self._at: datetime | None = None
        self._at_utc = datetime.min
        self._at_lp = ""
        # the length-prefixed text of the fields a run of events repeats (user, action,
        # entity, reason, no old values): an import's 150,000 events have a few of each
        self._lps: dict[str | None, str] = {}
        self._kinds: dict[tuple[str, str], str] = {}
        self._ends: dict[str | None, str] = {}

    def _repeated(self, value: str | None) -> str:
        """``_lp(value)``, kept for the next event that repeats it."""
        found = self._lps.get(value)
        if found is None:
            found = _lp(value)
            if len(self._lps) < 256:
                self._lps[value] = found
        return found

    def fixed(self, at: datetime, username: str) -> str:
        """The length-prefixed text of an event's time (aware) and user, in the message's
        order: ``link``'s ``at_user``, computed once for a run of events that share them."""
        if at is not self._at:  # a bulk writer's events share one time: converted once
            self._at, self._at_utc = at, at.astimezone(UTC)
            self._at_lp = _lp(at_text(self._at_utc))
        return self._at_lp + self._repeated(username)

    def link(
        self,
        at_user: str,
        action: str,
        entity: str,
        entity_id: str,
        lot_number: str | None,
        old_values: str,
        new_values: str,
        reason: str | None,
    ) -> str:
        """The next event's hash (``seq`` and ``prev`` move on): over ``message`` of its fields
        (the same text, with the repeated parts kept: ``at_user`` from ``fixed``, the action
        with its entity, the reason with the key)."""
        self.seq += 1
        n = str(self.seq)
        kind = self._kinds.get((action, entity))
        if kind is None:
            kind = self._kept(self._kinds, (action, entity), _lp(action) + _lp(entity))
        end = self._ends.get(reason)
        if end is None:
            end = self._kept(self._ends, reason, _lp(reason) + _lp(self.key_id))
        lot = "n" if lot_number is None else f"{len(lot_number)}:{lot_number}"
        msg = (
            f"{len(n)}:{n}{at_user}{kind}{len(entity_id)}:{entity_id}{lot}"
            f"{self._repeated(old_values)}{len(new_values)}:{new_values}{end}"
        )
        self.prev = self.mac.hex(f"{self.prev}\n{msg}".encode())  # keyed_hash, inline
        return self.prev

    @staticmethod
    def _kept(memo: dict[Any, str], key: Any, value: str) -> str:
        if len(memo) < 256:
            memo[key] = value
        return value

    def row(self, **fields: Any) -> dict[str, Any]:
        """Fields of AuditEvent without seq/prev_hash/hash/key_id; ``at`` aware."""
        prev = self.prev
        at_user = self.fixed(fields["at"], fields["username"])
        hash_ = self.link(
            at_user,
            fields["action"],
            fields["entity"],
            fields["entity_id"],
            fields["lot_number"],
            fields["old_values"],
            fields["new_values"],
            fields["reason"],
        )
        return {
            **fields,
            "seq": self.seq,
            "at": self._at_utc,
            "key_id": self.key_id,
            "prev_hash": prev,
            "hash": hash_,
        }
