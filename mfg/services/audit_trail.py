"""Reading and verifying the audit trail."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlmodel import col, select

from mfg import audit, auditkey, chaincheck, recordcheck
from mfg.domain import identity
from mfg.errors import ConfigError, RuleViolation
from mfg.outfile import PendingOutput
from mfg.recordcheck import stopped
from mfg.services.uow import Actor, Database
from mfg.store.tables import AuditEvent
from mfg.trailfold import RecordProblem

MAX_EVENTS_SHOWN = 1_000_000


@dataclass(frozen=True)
class EventView:
    seq: int
    at: datetime
    username: str
    action: str
    entity: str
    entity_id: str
    lot_number: str | None
    old: Any
    new: Any
    reason: str | None

    @classmethod
    def of(cls, e: AuditEvent) -> EventView:
        return cls(
            e.seq,
            e.at,
            e.username,
            e.action,
            e.entity,
            e.entity_id,
            e.lot_number,
            audit.decode(e.old_values),
            audit.decode(e.new_values),
            e.reason,
        )


def audit_log(
    *,
    db: Database,
    actor: Actor,
    lot_number: str | None = None,
    limit: int | None = None,
    action: str | None = None,
) -> list[EventView]:
    """Events oldest first (the last ``limit`` when given)."""
    actor.require("audit.read")
    if limit is not None and not 1 <= limit <= MAX_EVENTS_SHOWN:
        raise RuleViolation(
            "last", "last-range", f"--last takes 1 to {MAX_EVENTS_SHOWN} events, not {limit}"
        )
    with db.read() as s:
        q = select(AuditEvent)
        if lot_number:
            q = q.where(AuditEvent.lot_number == identity.lot_number(lot_number))
        if action:
            q = q.where(col(AuditEvent.action).startswith(action))
        q = q.order_by(col(AuditEvent.seq).desc())
        if limit is not None:
            q = q.limit(limit)
        return [EventView.of(e) for e in reversed(s.exec(q).all())]


def lot_trail(lot_number: str, *, db: Database, actor: Actor) -> list[EventView]:
    """A lot's own trail, readable by everyone who may read the lot (lot detail screens)."""
    actor.require("lot.read")
    with db.read() as s:
        rows = s.exec(
            select(AuditEvent)
            .where(AuditEvent.lot_number == identity.lot_number(lot_number))
            .order_by(col(AuditEvent.seq))
        ).all()
        return [EventView.of(e) for e in rows]


def verify(
    *,
    db: Database,
    actor: Actor,
    anchor: Path | None = None,
    since_checkpoint: bool = False,
    now: datetime | None = None,
) -> audit.ChainReport:
    """The keyed chain, the newest checkpoint (or ``anchor``), then every current record
    against the trail (mfg.integrity). A full pass that finds nothing is recorded as a verified
    checkpoint beside the key; ``since_checkpoint`` starts the chain after the newest one."""
    from mfg import integrity

    actor.require("audit.verify")
    ring = db.audit_keyring()
    with db.read() as pre:
        trail = audit.trail_id(pre.connection())
    where = (trail, db.database_id)
    # The newest checkpoint is read before verify's snapshot is taken: a writer appends its
    # checkpoint after its commit, so each one read here is of an event that snapshot holds.
    # (Read after the fold, a write during verify looked like a trail cut short.)
    newest = _newest_checkpoint(ring, anchor, where)
    with db.read() as s:
        conn = s.connection(execution_options=chaincheck.one_snapshot(db.dialect))
        start = _start(conn, ring, where) if since_checkpoint else (0, audit.GENESIS, "")
        if isinstance(start, audit.ChainReport):
            return start
        after, prev, _src = start
        # One read of the trail: each batch goes through the chain check (here, or a helper
        # process's on a long trail: mfg.chaincheck), then the fold of the record check (which
        # needs every event, also before a --since-checkpoint start).
        walk = audit.ChainWalk(ring, after=after, prev=prev)
        upto = conn.execute(text("SELECT coalesce(max(seq), 0) FROM auditevent")).scalar_one()
        helper = chaincheck.start(conn, _url(db), ring, after=after, prev=prev, upto=int(upto))
        try:
            read = chaincheck.batches(conn, int(upto))
            batches = chaincheck.fed(walk, read) if helper is None else helper.read(read)
            try:
                problems, checked = integrity.check_records(
                    s, lambda c, v: _spec_file_hash(db, c, v), batches
                )
            except recordcheck.UNREADABLE as e:  # the fold: event values CellTrail never wrote
                for _ in batches:  # the chain walk still sees every event
                    pass
                problems = [RecordProblem("audit trail", "(record check)", stopped(e))]
                checked = 0
            chain = None if helper is None else helper.report()
        finally:
            if helper is not None:
                helper.close()
        if chain is None and helper is not None:  # the helper's report cannot count: check here
            for _ in chaincheck.fed(walk, chaincheck.batches(conn, int(upto))):
                pass
        if chain is None:
            chain = walk.report()
        if after and chain.ok:
            chain = dataclasses.replace(chain, trail=trail, started_after=after)
        if after and chain.ok and chain.events == 0:
            chain = dataclasses.replace(chain, head_seq=after, head_hash=prev)
        if chain.ok:
            chain = _against_checkpoint(conn, chain, newest)
    report = dataclasses.replace(
        chain,
        ok=chain.ok and not problems,
        record_problems=tuple(str(p) for p in problems),
        records_checked=checked,
    )
    if report.ok and report.head_seq and now is not None:
        cp = auditkey.make_checkpoint(
            ring, where, report.head_seq, report.head_hash, audit.iso_utc(now), "verified"
        )
        auditkey.append_checkpoint(ring.verified_path, cp)
    return report


def _url(db: Database) -> str:
    """The database's URL with its password (for the helper's standard input only)."""
    return db.engine.url.render_as_string(hide_password=False)


def _spec_file_hash(db: Database, code: str, version: str) -> str | None:
    """The SHA-256 of the product file in use for ``code`` spec ``version`` (None: no file)."""
    from mfg.errors import CellTrailError

    try:
        return db.product(code, version).sha256
    except (CellTrailError, OSError, ValueError, KeyError):
        return None


def _start(
    conn: Any, ring: auditkey.Keyring, where: tuple[str, str]
) -> tuple[int, str, str] | audit.ChainReport:
    """Where --since-checkpoint begins: the newest verified checkpoint, if the trail still has it."""
    cp, _bad = auditkey.newest(ring, ring.verified_path, where)
    if cp is None:
        return (0, audit.GENESIS, "")
    stored = conn.execute(
        text("SELECT hash FROM auditevent WHERE seq = :s"), {"s": cp.seq}
    ).scalar()
    if stored != cp.hash:
        what = "is missing" if stored is None else "differs from what was verified"
        return audit.ChainReport(
            False,
            0,
            cp.seq,
            f"event {cp.seq} {what} at {cp.at} ({ring.verified_path}): the trail was "
            "truncated or rewritten since the last verification",
        )
    return (cp.seq, cp.hash, str(ring.verified_path))


Newest = tuple["auditkey.Checkpoint | None", list[str], str]  # checkpoint, damage, its file


def _newest_checkpoint(
    ring: auditkey.Keyring, anchor: Path | None, scope: tuple[str, str]
) -> Newest:
    """The keyed checkpoint verify compares with: ``anchor``'s, else the newest beside the key."""
    if anchor is not None:
        cp, bad = _read_anchor(ring, anchor, scope[0])
        return cp, bad, str(anchor)
    cp, bad = auditkey.newest(ring, ring.checkpoints_path, scope)
    return cp, bad, str(ring.checkpoints_path)


def _against_checkpoint(conn: Any, chain: audit.ChainReport, newest: Newest) -> audit.ChainReport:
    """Truncation and rewrites the chain alone cannot show: compare with a keyed checkpoint."""
    cp, bad, where = newest
    if bad:
        return dataclasses.replace(
            chain, ok=False, first_bad_seq=None, problem=f"checkpoint damaged: {bad[0]}"
        )
    if cp is None:
        return dataclasses.replace(chain, checkpoint="no checkpoint of this trail found")
    seen = f"checkpoint of {cp.at} ({where}: event {cp.seq})"
    if chain.head_seq < cp.seq:
        gone = f"{chain.head_seq + 1}..{cp.seq}" if cp.seq > chain.head_seq + 1 else str(cp.seq)
        return dataclasses.replace(
            chain,
            ok=False,
            first_bad_seq=chain.head_seq + 1,
            problem=f"the trail ends at event {chain.head_seq} but the {seen} records more: "
            f"event(s) {gone} were removed (truncated)",
        )
    stored = conn.execute(
        text("SELECT hash FROM auditevent WHERE seq = :s"), {"s": cp.seq}
    ).scalar()
    if stored != cp.hash:
        return dataclasses.replace(
            chain,
            ok=False,
            first_bad_seq=cp.seq,
            problem=f"event {cp.seq} differs from the {seen}: the trail was rewritten",
        )
    return dataclasses.replace(chain, checkpoint=seen)


def _read_anchor(
    ring: auditkey.Keyring, path: Path, trail: str
) -> tuple[auditkey.Checkpoint | None, list[str]]:
    if not path.exists():
        raise RuleViolation("anchor", "anchor-missing", f"{path} does not exist")
    if not path.is_file():
        raise RuleViolation(
            "anchor", "not-an-anchor", f"{path} is not a file: give the anchor file itself"
        )
    found = list(auditkey.read_checkpoints(path))
    cps = [f.checkpoint for f in found if f.checkpoint is not None]
    if not cps:
        raise RuleViolation("anchor", "not-an-anchor", f"{path} holds no CellTrail checkpoint")
    mine = [c for c in cps if c.trail == trail]
    if not mine:
        raise RuleViolation(
            "anchor", "anchor-other-trail", f"{path} is a checkpoint of another audit trail"
        )
    bad = [
        f"{path}: checkpoint {c.seq} does not verify with the key"
        for c in mine
        if not auditkey.checks(ring, c)
    ]
    return max(mine, key=lambda c: c.seq), bad


def document_checkpoint(*, db: Database, now: datetime, kind: str) -> str:
    """The trail's head as a keyed checkpoint to print on a document (a sponsor report),
    appended beside the key too; '' when there is no trail or no key to key it with."""
    with db.read() as s:
        conn = s.connection()
        seq, digest = audit.head(conn)
        trail = audit.trail_id(conn)
    if not seq:
        return ""
    try:
        return db.checkpoint(trail, seq, digest, now, kind)
    except auditkey.AuditKeyMissing:
        return ""


def anchor(
    *, db: Database, actor: Actor, out: Path | None, now: datetime, kind: str = "anchor"
) -> auditkey.Checkpoint:
    """The trail's current head as a keyed checkpoint: appended beside the key, and written to
    ``out`` (never overwritten) for the site to keep elsewhere."""
    actor.require("audit.verify")
    ring = db.audit_keyring()
    if out is not None and out.is_file() and not out.is_symlink():
        raise RuleViolation("output", "file-exists", f"{out} exists; anchors are never overwritten")
    # a directory, a missing folder, a link or a device: refused before anything is written
    target = PendingOutput(out) if out is not None else None
    with db.read() as s:
        conn = s.connection()
        seq, digest = audit.head(conn)
        trail = audit.trail_id(conn)
    if not seq:
        raise RuleViolation("trail", "trail-empty", "the audit trail is empty: nothing to anchor")
    cp = auditkey.make_checkpoint(
        ring, (trail, db.database_id), seq, digest, audit.iso_utc(now), kind
    )
    if target is None:
        auditkey.append_checkpoint(ring.checkpoints_path, cp)
        return cp
    try:
        target.write(cp.line().encode("utf-8"))  # complete before the checkpoint is kept
        auditkey.append_checkpoint(ring.checkpoints_path, cp)
        target.commit()
    finally:
        target.discard()
    return cp


def rotate_key(*, db: Database, actor: Actor, now: datetime) -> auditkey.Keyring:
    """A new current audit key (admins). Under the write lock: the ``audit.key_rotated`` event,
    chained with the key in force and naming the new key's id, commits first; only then is the
    new key appended to the key file, and the events after it are chained with it.

    A crash before the commit leaves neither; a crash between the commit and the append leaves
    an event announcing a key that never came into use (the next events are chained with the
    old key, which the file keeps): the trail verifies at either point. The other order left a
    key in use that no audit event had recorded (a crash before the event), or events chained
    with a key the file did not hold (a crash before the key)."""
    actor.require("audit.key")
    key = auditkey.new_key()
    new_id = auditkey.key_id_of(key)
    with db.write(actor, now) as tx:
        db._keyring = None  # read the key file again under the lock (another process rotated?)
        old = db.audit_keyring()
        tx.audit(
            "audit.key_rotated",
            "audit",
            new_id,
            old={"key_id": old.current},
            new={"key_id": new_id, "keys": len(old.keys) + 1},
        )
        tx.commit()
        try:
            ring = auditkey.rotate(old.path, now, key)
        except OSError as e:
            raise ConfigError(
                f"the rotation to key {new_id} is recorded in the audit trail, but the key "
                f"could not be added to {old.path} ({e.strerror or e}): events stay chained with "
                f"key {old.current}; fix the file's directory and run `mfg audit rotate-key` again",
                rule="audit-key-not-written",
            ) from None
        db._keyring = ring
    return ring
