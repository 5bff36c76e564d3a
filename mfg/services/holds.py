"""Holds: read the facts of a lot, let ``mfg.domain.holds`` decide, refuse custody steps of a
held lot; QA places and lifts holds by hand and signs OOS administration decisions (each with
the password asked again, 21 CFR 11.200, bound to a hash of what was signed, 11.70)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from mfg.audit import canonical_json
from mfg.domain import holds as rules
from mfg.domain.holds import Fact, HoldFacts, HoldReason
from mfg.domain.lifecycle import LotState
from mfg.domain.reasons import require_reason
from mfg.domain.results import Evaluation
from mfg.errors import RuleViolation
from mfg.services import users
from mfg.services.lots import get_lot_row
from mfg.services.release_read import current_in, result_rows, signature_valid
from mfg.services.uow import Actor, Database
from mfg.store.tables import (
    Alert,
    Deviation,
    Disposition,
    Lot,
    LotHold,
    OosAdministration,
    Signature,
)

RELEASES = (LotState.RELEASED.value, LotState.CONDITIONALLY_RELEASED.value)
PHYSICIAN_MAX = 200


@dataclass(frozen=True)
class ManualHoldView:
    id: int
    reason: str
    placed_by: str
    placed_name: str
    placed_at: datetime
    lifted_by: str | None
    lifted_at: datetime | None
    lift_reason: str | None


@dataclass(frozen=True)
class OosDecisionView:
    physician: str
    reason: str
    holds_covered: tuple[str, ...]
    signed_by: str
    printed_name: str
    signed_at: datetime


@dataclass(frozen=True)
class HoldStatus:
    """A lot's holds as every screen shows them: the reasons, and the signed decisions."""

    lot_number: str
    reasons: tuple[HoldReason, ...]  # every reason, those an OOS decision covers marked
    manual: tuple[ManualHoldView, ...] = ()
    oos_decisions: tuple[OosDecisionView, ...] = ()

    @property
    def active(self) -> tuple[HoldReason, ...]:
        return tuple(r for r in self.reasons if not r.covered)

    @property
    def on_hold(self) -> bool:
        return bool(self.active)

    @property
    def summary(self) -> str:
        """``HOLD: why; why`` (empty when not on hold)."""
        return "HOLD: " + "; ".join(r.message for r in self.active) if self.active else ""


# -- facts ------------------------------------------------------------------------------------


def _releases(session: Session, lot: Lot) -> tuple[datetime | None, datetime | None]:
    rows = session.exec(
        select(Disposition.decision, Disposition.decided_at)
        .where(Disposition.lot_pk == lot.id)
        .order_by(col(Disposition.id))
    ).all()
    released = next((at for d, at in rows if d in RELEASES), None)
    withdrawn = next(
        (at for d, at in rows if released is not None and d == "rejected" and at >= released),
        None,
    )
    return released, withdrawn


def hold_facts(session: Session, lot: Lot) -> HoldFacts:
    released, withdrawn = _releases(session, lot)
    failing: list[Fact] = []
    for code, chain in sorted(result_rows(session, lot).items()):
        cur = current_in(chain)
        if cur is not None and cur.evaluation == Evaluation.FAIL:
            failing.append(Fact(code, cur.entered_at, cur.entered_by))
    alerts = session.exec(
        select(Alert)
        .where(Alert.lot_pk == lot.id, col(Alert.acknowledged_at).is_(None))
        .order_by(col(Alert.id))
    ).all()
    devs = session.exec(
        select(Deviation)
        .where(Deviation.lot_pk == lot.id, col(Deviation.closed_at).is_(None))
        .order_by(col(Deviation.id))
    ).all()
    sigs = session.exec(
        select(Signature).where(Signature.lot_pk == lot.id).order_by(col(Signature.id))
    ).all()
    return HoldFacts(
        lot_number=lot.lot_number,
        historical=lot.historical,
        released_at=released,
        withdrawn_at=withdrawn,
        failing_results=tuple(failing),
        open_alerts=tuple(Fact(a.message, a.raised_at, a.raised_by) for a in alerts),
        broken_signatures=tuple(
            Fact(s.meaning, s.signed_at, s.username)
            for s in sigs
            if not signature_valid(session, s)
        ),
        open_deviations=tuple(Fact(d.number, d.opened_at, d.opened_by) for d in devs),
        manual_holds=tuple(
            Fact(h.reason, h.placed_at, h.placed_by) for h in _open_manual(session, lot)
        ),
        oos_decisions=tuple(o.signed_at for o in _oos_rows(session, lot)),
    )


def _open_manual(session: Session, lot: Lot) -> list[LotHold]:
    return list(
        session.exec(
            select(LotHold)
            .where(LotHold.lot_pk == lot.id, col(LotHold.lifted_at).is_(None))
            .order_by(col(LotHold.id))
        ).all()
    )


def _oos_rows(session: Session, lot: Lot) -> list[OosAdministration]:
    return list(
        session.exec(
            select(OosAdministration)
            .where(OosAdministration.lot_pk == lot.id)
            .order_by(col(OosAdministration.id))
        ).all()
    )


def _manual_view(h: LotHold) -> ManualHoldView:
    return ManualHoldView(
        h.id or 0,
        h.reason,
        h.placed_by,
        h.placed_name,
        h.placed_at,
        h.lifted_by,
        h.lifted_at,
        h.lift_reason,
    )


def status_in(session: Session, lot: Lot) -> HoldStatus:
    facts = hold_facts(session, lot)
    return HoldStatus(
        lot.lot_number,
        rules.hold_reasons(facts),
        tuple(_manual_view(h) for h in _open_manual(session, lot)),
        tuple(
            OosDecisionView(
                o.physician,
                o.reason,
                tuple(json.loads(o.holds_covered)),
                o.signed_by,
                o.printed_name,
                o.signed_at,
            )
            for o in _oos_rows(session, lot)
        ),
    )


def statuses_in(session: Session, lots: Iterable[Lot]) -> dict[str, HoldStatus]:
    """Hold status of several lots (board, lists), keyed by lot number."""
    return {lot.lot_number: status_in(session, lot) for lot in lots}


def check_not_on_hold(session: Session, lot: Lot, doing: str) -> HoldStatus:
    """Refuse a custody step (``doing``: issue, thaw, infuse) of a bag of a held lot; the
    status otherwise (it may carry the OOS administration decision that allows the step)."""
    st = status_in(session, lot)
    if st.on_hold:
        raise RuleViolation(
            "lot",
            "lot-on-hold",
            f"HOLD: lot {lot.lot_number} is on hold: do not {doing} its bags; return them to "
            f"QA ({'; '.join(r.message for r in st.active)})",
        )
    return st


def oos_details(st: HoldStatus) -> dict[str, object]:
    """What a custody event records when a step goes ahead under an OOS administration."""
    if not st.oos_decisions or not any(r.covered for r in st.reasons):
        return {}
    d = st.oos_decisions[-1]
    return {
        "oos_administration": {
            "physician": d.physician,
            "approved_by": d.printed_name,
            "approved_at": d.signed_at,
            "holds_covered": list(d.holds_covered),
        }
    }


def status(lot_number: str, *, db: Database, actor: Actor) -> HoldStatus:
    actor.require("lot.read")
    with db.read() as s:
        return status_in(s, get_lot_row(s, lot_number))


# -- QA decisions -----------------------------------------------------------------------------


def _signed_hash(record: Mapping[str, object]) -> str:
    return hashlib.sha256(canonical_json(record).encode("utf-8")).hexdigest()


def _signer(db: Database, actor: Actor, password: str, now: datetime) -> Actor:
    return users.reauthenticate(db, actor, password, now=now)


def place_hold(
    lot_number: str, reason: str, password: str, *, db: Database, actor: Actor, now: datetime
) -> HoldStatus:
    """QA puts a lot on hold by hand (e-signed, with a reason)."""
    actor.require("lot.hold")
    text = require_reason(reason, "a hold needs a reason")
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
    signer = _signer(db, actor, password, now)
    with db.write(signer, now) as tx:
        s = tx.session
        lot = get_lot_row(s, lot_number)
        open_holds = _open_manual(s, lot)
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
        view = status_in(s, lot)
        tx.commit()
        return view
