"""Chain of custody of dose bags, step by step, each recorded by scanning the bag's label.

Every step verifies the scanned payload (``labels.resolve_payload``), lets the domain decide
(``mfg.domain.custody``), updates the bag, and appends a ``CustodyEvent`` and an audit event in
one transaction. A refused step writes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime

from sqlmodel import Session, col, select

from mfg.domain import custody
from mfg.domain.custody import BagState, CustodyAction, Location
from mfg.domain.lifecycle import LotState
from mfg.domain.reasons import require_reason
from mfg.errors import RuleViolation
from mfg.services import coa_service, trail_anchor
from mfg.services.labels import Resolved, resolve_payload
from mfg.services.lots import current_harvest, get_lot_row
from mfg.services.release_read import holds
from mfg.services.release_read.holds import HoldStatus
from mfg.services.uow import Actor, Database
from mfg.store.tables import Alert, CustodyEvent, DoseBag, Lot, Subject

# The steps a hold stops: on a held lot they are refused with HOLD before anything else about
# the step (a stored bag scanned for infusion at the bedside says HOLD, not "cannot be infused").
HELD_STEPS = (CustodyAction.ISSUE, CustodyAction.THAW, CustodyAction.INFUSE)

# A step's extra rule: sees the session, the resolved label and the bag; returns event details.
Check = Callable[[Session, Resolved, DoseBag], dict[str, object]]


@dataclass(frozen=True)
class CustodyEventView:
    action: str
    from_state: str
    to_state: str
    details: dict[str, object]
    by: str
    at: datetime


@dataclass(frozen=True)
class BagView:
    lot_number: str
    subject_id: str
    bag_no: int
    bag_count: int
    object_ref: str
    state: str
    location: str | None
    volume_ml: float
    car_viable_cells: int
    expires_on: date | None
    thawed_at: datetime | None
    infused_at: datetime | None
    thaw_to_infusion_minutes: float | None
    infusion_overrun: bool
    events: tuple[CustodyEventView, ...] = ()


@dataclass(frozen=True)
class BagList:
    lot_number: str
    lot_state: str
    subject_id: str
    bags: tuple[BagView, ...]
    hold: HoldStatus | None = None

    @property
    def remaining(self) -> int:
        """Bags still available for a dose (not infused, not discarded)."""
        return sum(b.state not in (BagState.INFUSED, BagState.DISCARDED) for b in self.bags)


def _events(session: Session, bag: DoseBag) -> tuple[CustodyEventView, ...]:
    rows = session.exec(
        select(CustodyEvent).where(CustodyEvent.bag_pk == bag.id).order_by(col(CustodyEvent.id))
    ).all()
    return tuple(
        CustodyEventView(r.action, r.from_state, r.to_state, json.loads(r.details), r.by, r.at)
        for r in rows
    )


def bag_view(
    session: Session, lot: Lot, subject: Subject, bag: DoseBag, with_events: bool = True
) -> BagView:
    harvest = current_harvest(session, lot)
    timing = (
        custody.infusion_timing(bag.thawed_at, bag.infused_at)
        if bag.thawed_at and bag.infused_at
        else None
    )
    return BagView(
        lot_number=lot.lot_number,
        subject_id=subject.subject_id,
        bag_no=bag.bag_no,
        bag_count=bag.bag_count,
        object_ref=f"{lot.lot_number}/B{bag.bag_no}",
        state=bag.state,
        location=bag.location,
        volume_ml=bag.volume_ml,
        car_viable_cells=bag.car_viable_cells,
        expires_on=harvest.expires_on if harvest else None,
        thawed_at=bag.thawed_at,
        infused_at=bag.infused_at,
        thaw_to_infusion_minutes=timing.minutes if timing else None,
        infusion_overrun=bool(timing and timing.overrun),
        events=_events(session, bag) if with_events else (),
    )


def _resolve_bag(session: Session, db: Database, payload: str) -> tuple[Resolved, DoseBag]:
    r = resolve_payload(session, db, payload)
    if r.bag is None:
        raise RuleViolation(
            "payload",
            "not-a-bag-label",
            f"this is a {r.ref.kind} label of {r.lot.lot_number}: scan a dose-bag label",
        )
    return r, r.bag


def _step(
    payload: str,
    action: CustodyAction,
    *,
    db: Database,
    actor: Actor,
    now: datetime,
    check: Check | None = None,
    reason: str | None = None,
    details: dict[str, object] | None = None,
) -> BagView:
    actor.require("bag.custody")
    with db.write(actor, now) as tx:
        s = tx.session
        r, bag = _resolve_bag(s, db, payload)
        if action in HELD_STEPS:
            holds.check_not_on_hold(s, r.lot, action.value)
            trail_anchor.check_bag(s, db.audit_keyring(), r.lot, bag, action.value)
        target = custody.check_step(bag.state, action)
        info: dict[str, object] = dict(details or {})
        if check is not None:
            info.update(check(s, r, bag))
        old = {"state": bag.state, "location": bag.location}
        from_state = bag.state
        bag.state = target.value
        if action is CustodyAction.STORE:
            bag.location = str(info["location"])
        elif action is CustodyAction.ISSUE:
            bag.location = None  # out of the tank; where it was is in the event
        elif action is CustodyAction.THAW:
            bag.thawed_at = now
        elif action is CustodyAction.INFUSE:
            bag.infused_at = now
        bag.row_version += 1
        s.add(bag)
        event = CustodyEvent(
            bag_pk=bag.id,  # type: ignore[arg-type]
            action=action.value,
            from_state=from_state,
            to_state=target.value,
            details=json.dumps(info, sort_keys=True, default=str),
            by=actor.username,
            at=now,
        )
        s.add(event)
        s.flush()
        if info.get("infusion_overrun"):
            alert = Alert(
                lot_pk=r.lot.id,  # type: ignore[arg-type]
                kind="infusion-overrun",
                message=(
                    f"bag {bag.bag_no}: infusion started {info['thaw_to_infusion_minutes']} "
                    f"min after thaw (limit {info['limit_minutes']:g} min)"
                ),
                raised_at=now,
                raised_by=actor.username,
            )
            s.add(alert)
            s.flush()
            tx.audit(
                "alert.raised",
                "alert",
                alert.id or 0,
                lot_number=r.lot.lot_number,
                new={"kind": alert.kind, "message": alert.message},
            )
            coa_service.refresh_in_tx(tx, db, r.lot, f"alert raised: {alert.message}")
        tx.audit(
            f"bag.{target.value}",
            "dosebag",
            f"{r.lot.lot_number}/B{bag.bag_no}",
            lot_number=r.lot.lot_number,
            old=old,
            new={"state": bag.state, "location": bag.location, **info},
            reason=reason,
        )
        view = bag_view(s, r.lot, r.subject, bag)
        tx.commit()
        return view


def store_bag(
    payload: str, location: Location, *, db: Database, actor: Actor, now: datetime
) -> BagView:
    """Put a bag into (or move it within) cryogenic storage."""
    return _step(
        payload,
        CustodyAction.STORE,
        db=db,
        actor=actor,
        now=now,
        details={"location": location.text},
    )


def issue_bag(
    payload: str,
    *,
    db: Database,
    actor: Actor,
    now: datetime,
    subject_id: str | None = None,
) -> BagView:
    """Issue a stored bag for infusion: only from a released or conditionally released lot."""

    def check(s: Session, r: Resolved, bag: DoseBag) -> dict[str, object]:
        st = holds.check_not_on_hold(s, r.lot, "issue")
        trail_anchor.check(s, db.audit_keyring(), r.lot, r.subject, "issue")
        harvest = current_harvest(s, r.lot)
        custody.check_issuable(
            r.lot.lot_number, r.lot.state, harvest.expires_on if harvest else None, db.today(now)
        )
        if subject_id is not None:
            custody.check_patient(subject_id, r.subject.subject_id)
        out: dict[str, object] = {"from_location": bag.location, "lot_state": r.lot.state}
        out.update(holds.oos_details(st))
        if r.lot.state == LotState.CONDITIONALLY_RELEASED:
            out["conditional_release"] = True
        return out

    return _step(payload, CustodyAction.ISSUE, db=db, actor=actor, now=now, check=check)


def thaw_bag(payload: str, *, db: Database, actor: Actor, now: datetime) -> BagView:
    def check(s: Session, r: Resolved, bag: DoseBag) -> dict[str, object]:
        st = holds.check_not_on_hold(s, r.lot, "thaw")
        trail_anchor.check(s, db.audit_keyring(), r.lot, r.subject, "thaw")
        custody.check_still_released(r.lot.lot_number, r.lot.state)
        return holds.oos_details(st)

    return _step(payload, CustodyAction.THAW, db=db, actor=actor, now=now, check=check)


def infuse_bag(
    payload: str, subject_id: str, *, db: Database, actor: Actor, now: datetime
) -> BagView:
    """Record the start of infusion after the bedside identity check against ``subject_id``."""
    if not subject_id:
        raise RuleViolation("subject", "subject-required", "say which patient is being infused")

    def check(s: Session, r: Resolved, bag: DoseBag) -> dict[str, object]:
        custody.check_patient(subject_id, r.subject.subject_id)
        st = holds.check_not_on_hold(s, r.lot, "infuse")
        trail_anchor.check(s, db.audit_keyring(), r.lot, r.subject, "infuse")
        custody.check_still_released(r.lot.lot_number, r.lot.state)
        if bag.state != BagState.THAWED or bag.thawed_at is None:
            return holds.oos_details(st)
        t = custody.infusion_timing(bag.thawed_at, now)
        return {
            "subject_id": r.subject.subject_id,
            "thaw_to_infusion_minutes": t.minutes,
            "limit_minutes": t.limit_minutes,
            "infusion_overrun": t.overrun,
            **holds.oos_details(st),
        }

    return _step(payload, CustodyAction.INFUSE, db=db, actor=actor, now=now, check=check)


def discard_bag(payload: str, reason: str, *, db: Database, actor: Actor, now: datetime) -> BagView:
    text = require_reason(reason)
    return _step(
        payload,
        CustodyAction.DISCARD,
        db=db,
        actor=actor,
        now=now,
        reason=text,
        details={"reason": text},
    )


def list_bags(lot_number: str, *, db: Database, actor: Actor) -> BagList:
    actor.require("lot.read")
    with db.read() as s:
        lot = get_lot_row(s, lot_number)
        subject = s.get(Subject, lot.subject_pk)
        assert subject is not None
        bags = s.exec(
            select(DoseBag).where(DoseBag.lot_pk == lot.id).order_by(col(DoseBag.bag_no))
        ).all()
        return BagList(
            lot.lot_number,
            lot.state,
            subject.subject_id,
            tuple(bag_view(s, lot, subject, b) for b in bags),
            holds.status_in(s, lot),
        )
