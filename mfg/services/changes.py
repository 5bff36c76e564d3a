"""Has anything changed since a screen last looked? (the TUI's board and QA queue refresh
themselves when another user, terminal or ``mfg`` command writes).

Every write is one transaction that appends at least one audit event, so the audit trail's
highest sequence number is a change mark that works the same on SQLite and PostgreSQL: one
indexed ``max(seq)`` per poll, no trigger, no extra connection held open.
"""

from __future__ import annotations

from sqlalchemy import func
from sqlmodel import select

from mfg.services.uow import Actor, Database
from mfg.store.tables import AuditEvent


def change_mark(*, db: Database, actor: Actor) -> int:
    """The sequence number of the newest committed audit event (0 on an empty database)."""
    actor.require("lot.read")
    with db.read() as s:
        return int(s.exec(select(func.max(AuditEvent.seq))).one() or 0)
