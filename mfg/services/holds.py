"""Holds: QA places and lifts holds by hand and signs OOS administration decisions (each with
the password asked again, 21 CFR 11.200, bound to a hash of what was signed, 11.70); each
decision re-issues the lot's COA when it is dispositioned, so the certificate states the hold.
What a lot's holds are is read by ``mfg.services.release_read.holds`` (re-exported here)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import datetime

from sqlmodel import col, select

from mfg.audit import canonical_json
from mfg.domain import holds as rules
from mfg.domain.reasons import require_reason
from mfg.errors import RuleViolation
from mfg.services import trail_anchor
from mfg.services.lots import get_lot_row
from mfg.services.release_read.holds import (
    RELEASES,
    HoldStatus,
    ManualHoldView,
    OosDecisionView,
    check_not_on_hold,
    hold_facts,
    oos_details,
    open_manual_holds,
    status_in,
    statuses_in,
)
from mfg.services.subjects import get_subject_row
from mfg.services.uow import Actor, Database
from mfg.store.tables import Lot, LotHold, OosAdministration, Subject

__all__ = [
    "HoldStatus",
    "ManualHoldView",
    "OosDecisionView",
    "administer_oos",
    "check_not_on_hold",
    "hold_facts",
    "lift_hold",
    "oos_details",
    "place_hold",
    "status",
    "status_in",
    "statuses_in",
    "subject_holds",
]

PHYSICIAN_MAX = 200


def status(lot_number: str, *, db: Database, actor: Actor) -> HoldStatus:
    """The lot's holds, and (``trail-mismatch``) what its row says against its keyed audit
    trail: the subject it was registered for, the decision it was last signed with
    (``trail_anchor``; a custody step and a scan refuse on the same lines)."""
    actor.require("lot.read")
    with db.read() as s:
        lot = get_lot_row(s, lot_number)
        st = status_in(s, lot)
        subject = s.get(Subject, lot.subject_pk)
        if subject is None:
            return st
        return trail_anchor.with_trail(s, db.audit_keyring(), lot, subject, st)


def subject_holds(subject_id: str, *, db: Database, actor: Actor) -> tuple[HoldStatus, ...]:
    """The holds of a subject's lots that are on hold (what a weight change just caused)."""
    actor.require("lot.read")
    with db.read() as s:
        subject = get_subject_row(s, subject_id)
        lots = s.exec(select(Lot).where(Lot.subject_pk == subject.id).order_by(col(Lot.id))).all()
        return tuple(st for st in statuses_in(s, lots).values() if st.on_hold)


# -- QA decisions -----------------------------------------------------------------------------


def _signed_hash(record: Mapping[str, object]) -> str:
    return hashlib.sha256(canonical_json(record).encode("utf-8")).hexdigest()


# The accounts and COA services are imported by the decisions that use them, before the write
# lock is taken: reading a lot's holds (`mfg lot show`, a fresh process per command) needs
# neither (about 60 ms of imports).


def _signer(db: Database, actor: Actor, password: str, now: datetime) -> Actor:
    from mfg.services import users

    return users.reauthenticate(db, actor, password, now=now)


def place_hold(
    lot_number: str, reason: str, password: str, *, db: Database, actor: Actor, now: datetime
) -> HoldStatus:
    """QA puts a lot on hold by hand (e-signed, with a reason)."""
    actor.require("lot.hold")
    text = require_reason(reason, "a hold needs a reason")
    from mfg.services import coa_service

    signer = _signer(db, actor, password, now)
    with db.write(signer, now) as tx:
        s = tx.session
        lot = get_lot_row(s, lot_number)
        record = {"lot": lot.lot_number, "coi": lot.coi, "hold": text, "at": now}
        h = LotHold(
            lot_pk=lot.id,  # type: ignore[arg-type]
            reason=text,
            placed_by=signer.username,
            placed_name=signer.full_name,
            placed_at=now,
            placed_hash=_signed_hash(record),
        )
        s.add(h)
        s.flush()
        tx.audit(
            "lot.hold_placed",
            "lothold",
            h.id or 0,
            lot_number=lot.lot_number,
            new={"signed_by": signer.full_name, "meaning": "hold placed", "sha256": h.placed_hash},
            reason=text,
        )
        coa_service.refresh_in_tx(tx, db, lot, f"QA hold placed: {text}")
        view = status_in(s, lot)
        tx.commit()
        return view


def lift_hold(
    lot_number: str,
    reason: str,
    password: str,
    *,
    db: Database,
    actor: Actor,
    now: datetime,
    hold_id: int | None = None,
) -> HoldStatus:
    """QA lifts a hand-placed hold (the only one if ``hold_id`` is None), e-signed. Automatic
    holds end when their cause does (alert acknowledged, deviation closed, ...)."""
    actor.require("lot.hold")
    text = require_reason(reason, "lifting a hold needs a reason")
    from mfg.services import coa_service

    signer = _signer(db, actor, password, now)
    with db.write(signer, now) as tx:
        s = tx.session
        lot = get_lot_row(s, lot_number)
        open_holds = open_manual_holds(s, lot)
        if hold_id is not None:
            open_holds = [h for h in open_holds if h.id == hold_id]
        if not open_holds:
            raise RuleViolation(
                "hold", "no-manual-hold", f"lot {lot.lot_number} has no such hold placed by QA"
            )
        if len(open_holds) > 1:
            ids = ", ".join(str(h.id) for h in open_holds)
            raise RuleViolation(
                "hold", "which-hold", f"lot {lot.lot_number} has holds {ids}: say which (--hold)"
            )
        h = open_holds[0]
        record = {"lot": lot.lot_number, "hold": h.id, "lifted": text, "at": now}
        h.lifted_by, h.lifted_name, h.lifted_at = signer.username, signer.full_name, now
        h.lift_reason, h.lifted_hash = text, _signed_hash(record)
        h.row_version += 1
        s.add(h)
        tx.audit(
            "lot.hold_lifted",
            "lothold",
            h.id or 0,
            lot_number=lot.lot_number,
            old={"hold": h.reason},
            new={"signed_by": signer.full_name, "meaning": "hold lifted", "sha256": h.lifted_hash},
            reason=text,
        )
        coa_service.refresh_in_tx(tx, db, lot, f"QA hold {h.id} lifted: {text}")
        view = status_in(s, lot)
        tx.commit()
        return view


def administer_oos(
    lot_number: str,
    physician: str,
    reason: str,
    password: str,
    *,
    db: Database,
    actor: Actor,
    now: datetime,
) -> HoldStatus:
    """QA's signed decision that a held, out-of-specification product may be administered at
    the treating physician's request. Covers the holds standing now (never a manual hold, a
    withdrawn release or a historical lot); the lot stays a failure in the outcome."""
    actor.require("lot.oos_administration")
    doctor = require_reason(physician, "name the treating physician", "physician")
    if len(doctor) > PHYSICIAN_MAX or any(ord(c) < 32 for c in doctor):
        raise RuleViolation(
            "physician", "physician-format", f"the physician's name is 1-{PHYSICIAN_MAX} characters"
        )
    text = require_reason(reason, "an OOS administration needs the physician's reason")
    from mfg.services import coa_service

    signer = _signer(db, actor, password, now)
    with db.write(signer, now) as tx:
        s = tx.session
        lot = get_lot_row(s, lot_number)
        if lot.state not in RELEASES:
            raise RuleViolation(
                "lot",
                "lot-not-released",
                f"lot {lot.lot_number} is {lot.state}: only a released or conditionally "
                "released lot's product can be administered",
            )
        facts = hold_facts(s, lot)
        covered = rules.overridable_now(facts)
        if not covered:
            standing = rules.active_holds(facts)
            why = (
                "; ".join(r.message for r in standing)
                if standing
                else "the lot is not on hold: issue its bags as usual"
            )
            raise RuleViolation(
                "lot", "nothing-to-decide", f"no OOS administration for {lot.lot_number}: {why}"
            )
        codes = [r.message for r in covered]
        record = {"lot": lot.lot_number, "physician": doctor, "reason": text, "holds": codes}
        row = OosAdministration(
            lot_pk=lot.id,  # type: ignore[arg-type]
            physician=doctor,
            reason=text,
            holds_covered=json.dumps(codes),
            signed_by=signer.username,
            printed_name=signer.full_name,
            signed_at=now,
            record_hash=_signed_hash({**record, "at": now}),
        )
        s.add(row)
        s.flush()
        tx.audit(
            "lot.oos_administration",
            "oosadministration",
            row.id or 0,
            lot_number=lot.lot_number,
            new={
                "physician": doctor,
                "holds_covered": codes,
                "signed_by": signer.full_name,
                "meaning": "OOS administration approved",
                "sha256": row.record_hash,
            },
            reason=text,
        )
        coa_service.refresh_in_tx(tx, db, lot, f"OOS administration approved (physician {doctor})")
        view = status_in(s, lot)
        tx.commit()
        return view
