"""Record-versus-trail check: every stored row must be what its audit events recorded.

The keyed chain (``mfg.audit``) proves the trail itself was not edited. This module closes the
other door: a row changed, inserted, deleted or re-linked directly in SQL, without an audit
event, shows here, naming the record, the field and the event (21 CFR 11.10(a), (e); EU GMP
Annex 11 section 9). WHAT is checked is declared once, per table and column, in
``mfg.records``; ``mfg.trailfold`` folds the trail and ``mfg.recordcheck`` evaluates the rules.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, col, select

from mfg import audit
from mfg.recordcheck import CHECKS, check_records
from mfg.store.tables import AuditEvent
from mfg.trailfold import RecordProblem

__all__ = ["CHECKS", "RecordProblem", "check_records", "check_version", "last_change"]


# -- optimistic locking ----------------------------------------------------------------------


def last_change(session: Session, entity: str, entity_id: str | int) -> AuditEvent | None:
    """The newest audit event about one record (who changed it last, and when)."""
    return session.exec(
        select(AuditEvent)
        .where(AuditEvent.entity == entity, AuditEvent.entity_id == str(entity_id))
        .order_by(col(AuditEvent.seq).desc())
        .limit(1)
    ).first()


def check_version(
    session: Session,
    entity: str,
    entity_id: str | int,
    *,
    expected: int | None,
    current: int,
    changed_by: str | None = None,
    changed_at: datetime | None = None,
) -> None:
    """Refuse an edit based on an older version of the record: ``Conflict`` "changed by X at T".

    Call it inside the write transaction (after the write lock), so that the compare and the
    write that follows are atomic. ``expected=None`` means the caller did not read a version.
    """
    from mfg.errors import Conflict

    if expected is None or expected == current:
        return
    if changed_by is None or changed_at is None:
        ev = last_change(session, entity, entity_id)
        if ev is not None:
            changed_by, changed_at = ev.username, ev.at
    who = changed_by or "someone else"
    when = f" at {audit.iso_utc(changed_at)[:19].replace('T', ' ')} UTC" if changed_at else ""
    raise Conflict(
        f"{entity} {entity_id} was changed by {who}{when} (now version {current}, you edited "
        f"version {expected}): reload it and enter your change again"
    )
