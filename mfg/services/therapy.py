"""Patient therapy events and their ISBT 128 Chain of Identity Identifier (CoI).

A subject's first lot opens a therapy event and its CoI is issued then (FIN of this site, year,
next sequence). Later lots of the subject (a second collection, a re-manufacture) join the
subject's current event and show the same CoI. A new treatment of the same subject is a new
therapy event: ``start_event`` (``mfg coi start SUBJECT --reason``), audited; lots registered
after it carry the new CoI.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Integer, bindparam, cast, func
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from mfg.domain import ids
from mfg.domain.reasons import require_reason
from mfg.errors import NotFound
from mfg.services.subjects import SubjectFacts, get_subject_row
from mfg.services.uow import Actor, Database, Tx
from mfg.store.tables import Lot, Subject, TherapyEvent


@dataclass(frozen=True)
class TherapyEventView:
    subject_id: str
    coi: str
    coi_eye_readable: str
    coi_check: str
    reason: str
    started_by: str
    started_at: datetime
    lots: tuple[str, ...]


def _next_sequence(session: Session, prefix: str) -> int:
    # CH + FIN(5) + yy: the sequence is characters 10-15 (digits in every CoI CellTrail issues)
    last = session.exec(
        select(func.max(cast(func.substr(TherapyEvent.coi, 10, 6), Integer))).where(
            col(TherapyEvent.coi).like(prefix + "%")
        )
    ).one()
    return int(last) + 1 if last else 1


class CoiIssuer:
    """CoIs issued one after another in one write transaction (one, or a whole import): each
    year's last sequence is read once, under the write lock the caller holds, then counted on.
    Every CoI it gives must be inserted in that transaction before it commits."""

    def __init__(self, session: Session, fin: str) -> None:
        self._session = session
        self._fin = fin
        self._next: dict[str, int] = {}

    def issue(self, year: int) -> ids.Coi:
        prefix = f"CH{self._fin}{year % 100:02d}"
        if prefix not in self._next:
            self._next[prefix] = _next_sequence(self._session, prefix)
        sequence = self._next[prefix]
        self._next[prefix] = sequence + 1
        return ids.coi(self._fin, year, sequence)


def issue_coi(session: Session, fin: str, year: int) -> ids.Coi:
    return CoiIssuer(session, fin).issue(year)


# The current therapy event (its id and CoI) of the subject whose id is bound as "subject_id":
# its newest. Built once: a registration reads it ahead, in the write lock's round trip.
CURRENT_EVENT = (
    sa_select(col(TherapyEvent.id), col(TherapyEvent.coi))
    .join(Subject, col(Subject.id) == col(TherapyEvent.subject_pk))
    .where(col(Subject.subject_id) == bindparam("subject_id"))
    .order_by(col(TherapyEvent.id).desc())
    .limit(1)
)


def open_event(
    tx: Tx, subject: Subject | SubjectFacts, fin: str, year: int, reason: str
) -> TherapyEvent:
    """A new therapy event of ``subject`` with a newly issued CoI (audited in ``tx``)."""
    s: Session = tx.session
    coi = issue_coi(s, fin, year)
    ev = TherapyEvent(
        subject_pk=subject.id,  # type: ignore[arg-type]
        coi=coi.content,
        reason=reason,
        started_by=tx.actor.username if tx.actor else "system",
        started_at=tx.now,
    )
    s.add(ev)
    s.flush()
    tx.audit(
        "therapy_event.started",
        "therapy_event",
        coi.content,
        new={"subject_id": subject.subject_id, "coi": coi.content},
        reason=reason,
    )
    return ev


def lot_coi(session: Session, lot: Lot) -> ids.Coi:
    """The CoI a lot shows: its therapy event's."""
    ev = session.get(TherapyEvent, lot.therapy_event_pk)
    assert ev is not None
    return ids.coi_from_content(ev.coi)


def _view(session: Session, ev: TherapyEvent, subject: Subject) -> TherapyEventView:
    c = ids.coi_from_content(ev.coi)
    lots = session.exec(
        select(Lot.lot_number).where(Lot.therapy_event_pk == ev.id).order_by(col(Lot.id))
    ).all()
    return TherapyEventView(
        subject.subject_id,
        c.content,
        c.eye_readable,
        c.check,
        ev.reason,
        ev.started_by,
        ev.started_at,
        tuple(lots),
    )


def start_event(
    subject_id: str, reason: str, *, db: Database, actor: Actor, now: datetime
) -> TherapyEventView:
    """Open a new therapy event (a new CoI) for a subject's next treatment."""
    actor.require("coi.start")
    why = require_reason(reason, "say why a new therapy event starts (audited)")
    with db.write(actor, now) as tx:
        subject = get_subject_row(tx.session, subject_id)
        ev = open_event(tx, subject, db.settings.facility_id, db.today(now).year, why)
        view = _view(tx.session, ev, subject)
        tx.commit()
        return view


def list_events(subject_id: str, *, db: Database, actor: Actor) -> list[TherapyEventView]:
    actor.require("lot.read")
    with db.read() as s:
        subject = get_subject_row(s, subject_id)
        rows = s.exec(
            select(TherapyEvent)
            .where(TherapyEvent.subject_pk == subject.id)
            .order_by(col(TherapyEvent.id))
        ).all()
        if not rows:
            raise NotFound("therapy event", subject.subject_id)
        return [_view(s, ev, subject) for ev in rows]
