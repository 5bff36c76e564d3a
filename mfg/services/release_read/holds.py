"""Holds as every reader sees them: the facts of a lot read from the session, ``mfg.domain.holds``
deciding, and the status the custody steps, the board, labels, the COA and the screens show.
The QA decisions that change them (place, lift, OOS administration) are ``mfg.services.holds``."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from mfg.domain import holds as rules
from mfg.domain.holds import Fact, HoldFacts, HoldReason, WeightChange
from mfg.domain.lifecycle import LotState
from mfg.domain.results import Evaluation
from mfg.errors import RuleViolation
from mfg.services.release_read.results import current_in, result_rows
from mfg.services.release_read.signatures import signature_valid
from mfg.store.tables import (
    Alert,
    AuditEvent,
    Deviation,
    Disposition,
    Lot,
    LotHold,
    OosAdministration,
    Signature,
    Subject,
)

RELEASES = (LotState.RELEASED.value, LotState.CONDITIONALLY_RELEASED.value)


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


def _releases(
    session: Session, lot: Lot
) -> tuple[datetime | None, datetime | None, datetime | None, str | None]:
    """(first release, a rejection after it, the last release, the last decision)."""
    rows = session.exec(
        select(Disposition.decision, Disposition.decided_at)
        .where(Disposition.lot_pk == lot.id)
        .order_by(col(Disposition.id))
    ).all()
    releases = [at for d, at in rows if d in RELEASES]
    released = releases[0] if releases else None
    withdrawn = next(
        (at for d, at in rows if released is not None and d == "rejected" and at >= released),
        None,
    )
    last = rows[-1][0] if rows else None
    return released, withdrawn, releases[-1] if releases else None, last


def _kg(values: str) -> float | None:
    v = json.loads(values)
    w = v.get("weight_kg") if isinstance(v, dict) else None
    return float(w) if isinstance(w, int | float) else None


def weight_changes(session: Session, lot: Lot, since: datetime) -> tuple[WeightChange, ...]:
    """The lot's subject's body weight changes, oldest first, as the audit trail recorded them
    (``subject.weight_changed``: the subject row keeps only the current weight); none when the
    weight cannot have changed after ``since`` (the last release), without reading the trail."""
    subject = session.get(Subject, lot.subject_pk)
    if subject is None:
        return ()
    verified = subject.weight_verified_at
    if verified is not None and verified <= since:
        # a change clears the verification: verified before the release, unchanged since
        return ()
    rows = session.exec(
        select(AuditEvent.at, AuditEvent.old_values, AuditEvent.new_values)
        .where(
            AuditEvent.action == "subject.weight_changed",
            AuditEvent.entity == "subject",
            AuditEvent.entity_id == subject.subject_id,
        )
        .order_by(col(AuditEvent.seq))
    ).all()
    return tuple(WeightChange(_kg(old), _kg(new), at) for at, old, new in rows)


def hold_facts(session: Session, lot: Lot) -> HoldFacts:
    released, withdrawn, last_release, last_decision = _releases(session, lot)
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
            Fact(h.reason, h.placed_at, h.placed_by) for h in open_manual_holds(session, lot)
        ),
        oos_decisions=tuple(o.signed_at for o in _oos_rows(session, lot)),
        last_release_at=last_release,
        weight_changes=weight_changes(session, lot, last_release) if last_release else (),
        state=lot.state,
        last_decision=last_decision,
    )


def open_manual_holds(session: Session, lot: Lot) -> list[LotHold]:
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
        tuple(_manual_view(h) for h in open_manual_holds(session, lot)),
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
