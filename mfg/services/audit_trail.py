"""Reading and verifying the audit trail."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import col, select

from mfg import audit
from mfg.domain import identity
from mfg.errors import RuleViolation
from mfg.services.uow import Actor, Database
from mfg.store.tables import AuditEvent

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


def verify(*, db: Database, actor: Actor) -> audit.ChainReport:
    """The hash chain, then every current record against the trail (mfg.integrity)."""
    import dataclasses

    from mfg import integrity

    actor.require("audit.verify")
    with db.read() as s:
        chain = audit.verify_chain(audit.stored_events(s))
        problems, checked = integrity.check_records(s)
    return dataclasses.replace(
        chain,
        ok=chain.ok and not problems,
        record_problems=tuple(str(p) for p in problems),
        records_checked=checked,
    )
