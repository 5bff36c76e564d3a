"""Keyed, hash-chained, append-only audit trail and its verifier (21 CFR 11.10(e), Annex 11 s. 9).

Each event's ``hash`` is an HMAC-SHA256, under the site's audit key (``mfg.auditkey``, kept
outside the database), of the previous event's hash and the event's own fields. Changing,
removing, inserting or reordering a stored row breaks the chain from that row on, and nobody
without the key can compute a chain that verifies again. ``key_id`` names the key, so events
chained before a key rotation keep verifying.

The fields are hashed as length-prefixed text (``message``, in ``mfg.auditchain`` with the
keyed hash and the ``Chainer``): unambiguous, and built by the database itself from the stored
columns when verifying (``message_sql``), so the verifier hashes what is stored without building
a Python object per event.

Appending happens inside the caller's write transaction, after the write lock was taken, so the
sequence has no gaps and no two writers can fork the chain.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any, cast

from sqlalchemy import Select, insert, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from mfg.auditchain import Chainer as Chainer  # re-exported
from mfg.auditchain import _lp
from mfg.auditchain import at_sql as at_sql
from mfg.auditchain import at_text as at_text
from mfg.auditchain import keyed_hash as keyed_hash
from mfg.auditchain import legacy_hash as legacy_hash
from mfg.auditchain import message as message
from mfg.auditchain import message_sql as message_sql
from mfg.auditchain import pg_date_text as pg_date_text
from mfg.auditchain import pg_time_text as pg_time_text
from mfg.auditkey import Keyring, Mac
from mfg.domain.canonical import canonical_json as canonical_json  # re-exported
from mfg.domain.canonical import decode_json
from mfg.domain.canonical import iso_utc as iso_utc  # re-exported
from mfg.errors import Conflict
from mfg.store import db as store_db
from mfg.store.tables import AuditEvent

GENESIS = "0" * 64


@dataclass(frozen=True, slots=True)
class Appended:
    """What ``append`` wrote: the event's place in the chain."""

    seq: int
    hash: str
    prev_hash: str


# Built once: SQLAlchemy caches their compiled form, and executing them on the session's
# connection skips the ORM unit of work (an ORM add + flush of the event cost ~35 % of a write).
_audit_table = AuditEvent.__table__  # type: ignore[attr-defined]
_HEAD = select(_audit_table.c.seq, _audit_table.c.hash).order_by(_audit_table.c.seq.desc()).limit(1)
_INSERT = insert(_audit_table)


def head_query() -> Select[Any]:
    """The chain head's sequence number and hash (no row: an empty trail)."""
    return _HEAD


def head(conn: Connection) -> tuple[int, str]:
    last = conn.execute(_HEAD).first()
    return (last[0], last[1]) if last else (0, GENESIS)


def append(
    conn: Connection,
    keys: Callable[[bool], Keyring],
    *,
    username: str,
    action: str,
    entity: str,
    entity_id: str | int,
    at: datetime,
    lot_number: str | None = None,
    old: Any = None,
    new: Any = None,
    reason: str | None = None,
    known_head: tuple[int, str] | None = None,
    queue: bool = False,
) -> Appended:
    """Append one event in the caller's (write-locked) transaction, on its connection (the
    caller flushes its pending ORM changes first, so that the event follows what it records).

    ``keys(first_event)`` gives the site's keyring (creating it for the very first event).
    ``known_head``: the chain's head as this transaction last read or appended it, under the
    write lock (``Tx`` keeps it); read here when not given. A stale one cannot fork the chain:
    its next ``seq`` is taken, and the insert fails on the primary key.
    ``queue`` (``Tx``, which commits): on PostgreSQL the insert waits on the connection for its
    next statement or its COMMIT (``mfg.store.db.queue_write``: one round trip fewer a write).
    """
    # The chain head: two columns by primary key, not a whole ORM row (the hot path of every write).
    seq, prev = known_head if known_head is not None else head(conn)
    row = Chainer(keys(seq == 0), seq, prev).row(
        at=at,
        username=username,
        action=action,
        entity=entity,
        entity_id=str(entity_id),
        lot_number=lot_number,
        old_values=canonical_json(old),
        new_values=canonical_json(new),
        reason=reason,
    )
    if queue and conn.dialect.name == "postgresql":
        store_db.queue_write(
            conn, store_db.Queued(_driver_insert(conn, row), row, partial(_seq_taken, row["seq"]))
        )
        return Appended(row["seq"], row["hash"], prev)
    try:
        conn.execute(_INSERT, row)
    except IntegrityError as e:  # the seq is taken: an event written without the write lock
        raise _seq_taken(row["seq"], e) from e
    return Appended(row["seq"], row["hash"], prev)


def _seq_taken(seq: int, e: Exception) -> Exception:
    """The refusal when an event's ``seq`` was taken: an event written without the write lock."""
    return Conflict(
        f"the audit trail gained event {seq} from outside CellTrail while this change was being "
        "written (a direct database write?): nothing was written; try again, and ask QA to run "
        "mfg audit verify",
        rule="audit-trail-moved",
    )


_driver_sql: dict[tuple[str, tuple[str, ...]], str] = {}


def _driver_insert(conn: Connection, row: dict[str, Any]) -> str:
    """The event's INSERT as the driver takes it (compiled once per dialect and row keys)."""
    key = (conn.dialect.name, tuple(row))
    sql = _driver_sql.get(key)
    if sql is None:
        sql = _driver_sql[key] = _INSERT.compile(dialect=conn.dialect, column_keys=list(row)).string
    return sql


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    events: int
    first_bad_seq: int | None = None
    problem: str = ""
    head_hash: str = GENESIS
    head_seq: int = 0
    trail: str = ""  # hash of event 1: the trail's identity in the checkpoint files
    # Filled by services.audit_trail.verify from mfg.integrity: records that differ from the trail.
    record_problems: tuple[str, ...] = ()
    records_checked: int = 0
    checkpoint: str = ""  # what the trail was compared with (newest checkpoint or --anchor)
    started_after: int = 0  # --since-checkpoint: the verified sequence number it started after


ChainRow = tuple[int, str, str, str, str]  # seq, prev_hash, hash, key_id, message
# seq, at (at_text), username, action, entity, entity_id, lot_number, old_values, new_values,
# reason, key_id, prev_hash, hash: one stored event, as the chain and the record check read it
EventRow = tuple[int, str, str, str, str, str, str | None, str, str, str | None, str, str, str]


def event_batches(
    conn: Connection, after: int = 0, batch: int = 20_000, upto: int | None = None
) -> Iterator[list[Any]]:
    """Every event after ``after`` (and up to ``upto``) in sequence order, ``batch`` at a time, as plain DB-API
    tuples (``EventRow``): read once for the chain and the record check together.

    One query, streamed: on PostgreSQL through a server-side cursor (a cursor is planned for
    its first rows: one scan of the ``seq`` index). The query per batch it replaced (``seq >
    last ORDER BY seq LIMIT n``) was planned, after a bulk import and before the statistics
    caught up, as a scan of the whole table and an on-disk sort for every batch."""
    cols = (
        f"seq, {at_sql(conn.dialect.name)}, username, action, entity, entity_id, lot_number, "
        "old_values, new_values, reason, key_id, prev_hash, hash"
    )
    raw = conn.connection  # the connection's own transaction, no Row objects
    pg = conn.dialect.name == "postgresql"
    cur = raw.cursor(name="celltrail_trail") if pg else raw.cursor()
    try:
        # integers only (formatted by int): the same SQL text on both DB-API paramstyles
        upto_sql = "" if upto is None else f" AND seq <= {int(upto)}"
        cur.execute(
            f"SELECT {cols} FROM auditevent WHERE seq > {int(after)}{upto_sql} ORDER BY seq"
        )
        while rows := cast("list[Any]", cur.fetchmany(batch)):  # a list on both drivers
            yield rows
    finally:
        # a reader that stopped early on an error closes this generator after its connection:
        # the cursor went with it, and Python would print the close's error to the terminal
        with contextlib.suppress(Exception):
            cur.close()


def chained(rows: list[Any], after: int = 0) -> list[ChainRow]:
    """``rows`` (``EventRow``) after sequence number ``after`` as the chain hashes them: the
    message is ``message(...)``'s text, built inline (no call per event)."""
    try:
        return [
            (
                q,
                p,
                h,
                k,
                f"{len(s := str(q))}:{s}{len(at)}:{at}{len(u)}:{u}{len(a)}:{a}{len(e)}:{e}"
                f"{len(i)}:{i}{'n' if lot is None else f'{len(lot)}:{lot}'}{len(o)}:{o}"
                f"{len(n)}:{n}{'n' if r is None else f'{len(r)}:{r}'}{len(k)}:{k}",
            )
            for q, at, u, a, e, i, lot, o, n, r, k, p, h in rows
            if q > after
        ]
    except TypeError:  # a NULL or a number where CellTrail writes text (the schema was edited)
        return [
            (
                row[0],
                row[11],
                row[12],
                row[10],
                "".join(_lp(None if v is None else str(v)) for v in row[:11]),
            )
            for row in rows
            if row[0] > after
        ]


def chain_rows(conn: Connection, after: int = 0, batch: int = 20_000) -> Iterator[ChainRow]:
    """Every event after ``after`` in sequence order, as (seq, prev, hash, key id, message)."""
    for rows in event_batches(conn, after, batch):
        yield from chained(rows)


class ChainWalk:
    """The chain check, fed events in stored order (``feed``), reported by ``report``.

    The first broken link ends the walk and is reported by sequence number; events after it
    are not hashed. ``after``/``prev``: start after a verified event (``--since-checkpoint``).
    """

    def __init__(self, ring: Keyring, *, after: int = 0, prev: str = GENESIS) -> None:
        self.ring = ring
        self.after = after
        self.expected = after + 1
        self.prev = prev
        self.n = 0
        self.trail = ""
        self.broken: ChainReport | None = None
        self.macs: dict[str, Mac | None] = {}

    def feed(self, rows: Iterable[ChainRow]) -> None:
        if self.broken is not None:
            return
        expected, prev, macs, n = self.expected, self.prev, self.macs, self.n
        try:
            for seq, prev_hash, digest, key_id, msg in rows:
                n += 1
                if seq != expected:
                    what = "missing" if seq > expected else "out of order or duplicated"
                    bad = expected if seq > expected else seq
                    self._break(n, bad, f"event {expected} is {what} (found {seq} in its place)")
                    return
                if prev_hash != prev:
                    self._break(n, seq, f"event {seq} does not link to event {seq - 1}")
                    return
                mac = (
                    macs[key_id]
                    if key_id in macs
                    else macs.setdefault(key_id, self.ring.mac(key_id))
                )
                if mac is None:
                    self._break(
                        n,
                        seq,
                        f"event {seq} names audit key {key_id!r}, which is not in {self.ring.path}",
                    )
                    return
                if mac.hex(f"{prev}\n{msg}".encode()) != digest:
                    self._break(
                        n,
                        seq,
                        f"event {seq} was changed after it was written (its keyed hash "
                        "does not match: edited, or re-hashed by someone without the site's key)",
                    )
                    return
                if seq == 1:
                    self.trail = digest
                prev = digest
                expected += 1
        finally:
            self.expected, self.prev, self.n = expected, prev, n

    def _break(self, n: int, seq: int, problem: str) -> None:
        self.broken = ChainReport(False, n, seq, problem)

    def report(self) -> ChainReport:
        if self.broken is not None:
            return self.broken
        return ChainReport(True, self.n, None, "", self.prev, self.expected - 1, self.trail)


def verify_chain(
    rows: Iterable[ChainRow], ring: Keyring, *, after: int = 0, prev: str = GENESIS
) -> ChainReport:
    """Walk events in stored order; the first broken link is reported by sequence number."""
    walk = ChainWalk(ring, after=after, prev=prev)
    walk.feed(rows)
    return walk.report()


def trail_id(conn: Connection) -> str:
    """The hash of event 1 (names the trail in the checkpoint files); '' for an empty trail."""
    got = conn.execute(text("SELECT hash FROM auditevent WHERE seq = 1")).scalar()
    return str(got) if got else ""


# The audit log and the session history decode with verify's own decoder: shown = compared.
decode = decode_json
