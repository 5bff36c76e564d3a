"""QA disposition with an electronic signature, and the review by exception shown before it.

Rules (21 CFR 11.50, 11.70, 11.200; EU GMP Annex 11 section 14; design.md "Data integrity"):
- only QA signs (technicians, sponsors and admins cannot); the password is asked again;
- nobody signs for a lot whose results they entered or verified (four eyes);
- release: every test of the pinned spec final, passing and verified, and the dose met;
- conditional release: as release, except that tests the spec marks ``may_be_pending`` may still
  be pending (at least one is); the lot is completed later by a release (or a rejection);
- a lot out of specification (a failing result, or the dose not met) is released only as an
  explicit exception citing the deviations (every OOS deviation of a failing result); it still
  counts as a manufacturing failure in the outcome;
- the signature binds the SHA-256 of a canonical serialisation of the lot's harvest and current
  results; ``signature_valid`` recomputes it, so a later change shows the signature as broken.
  Tests still pending at a conditional release are signed as "pending": the late result that
  completes them does not break that signature, a correction of a signed value does.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session

from mfg.domain import four_eyes
from mfg.domain.lifecycle import check_transition
from mfg.domain.reasons import require_reason
from mfg.domain.release import DECISIONS, Blocker, ResultStatus, blockers_for, parse_decision
from mfg.errors import Conflict, RuleViolation
from mfg.services import coa_service, users
from mfg.services.lots import get_lot_row, product_for_lot, set_state
from mfg.services.release_read import (
    DoseView,
    ReviewView,
    SignatureView,
    build_review,
    dose_view,
    lot_deviations,
    record_hash,
    result_views,
    reviewed_hash,
    signature_valid,
    signature_views,
    signed_record,
)
from mfg.services.release_read.involvement import involvement, record_verified
from mfg.services.uow import Actor, Database, Tx
from mfg.store.tables import Disposition, Lot, Signature


@dataclass(frozen=True)
class Dispose:
    lot_number: str
    decision: str  # release | conditional-release | reject
    reason: str
    exception: bool = False
    deviation_numbers: tuple[str, ...] = ()
    # the review QA looked at (``ReviewView.reviewed``): the signature is refused when the
    # record changed since; None: no review was shown with this signing (the CLI)
    reviewed: str | None = None


def review(lot_number: str, *, db: Database, actor: Actor) -> ReviewView:
    """Review by exception: what QA must look at before signing."""
    actor.require("lot.read")
    with db.read() as s:
        lot = get_lot_row(s, lot_number)
        return build_review(s, lot, product_for_lot(db, s, lot), db.zone)


# --------------------------------------------------------------------------------------------
# signing


def _check_four_eyes(session: Session, lot: Lot, signer: Actor) -> None:
    """Nobody signs for a lot whose signed record (harvest, counts, weight, results, their
    corrections) they entered, corrected or verified (mfg.domain.four_eyes)."""
    four_eyes.check_signer(signer.username, lot.lot_number, involvement(session, lot))


def _pending_if_allowed(
    session: Session, db: Database, lot: Lot, cmd: Dispose, decision: str, cited: tuple[str, ...]
) -> tuple[str, ...]:
    """Refuse the decision if anything blocks it; the tests signed as pending otherwise."""
    product = product_for_lot(db, session, lot)
    results = result_views(session, product, lot)
    blocked = blockers_for(
        decision,
        results,
        dose_view(session, lot, product),
        exception=cmd.exception,
        cited=cited,
        lot_deviations=tuple(d.number for d in lot_deviations(session, lot)),
    )
    if blocked:
        b = blocked[0]
        raise RuleViolation("decision", b.rule, f"cannot {decision} {lot.lot_number}: {b.message}")
    if decision != "reject":
        four_eyes.check_verified(*record_verified(session, lot), lot.lot_number)
    if decision == "release":
        return ()
    return tuple(r.test_code for r in results if r.status != ResultStatus.FINAL)


def _sign(tx: Tx, lot: Lot, signer: Actor, meaning: str, pending: tuple[str, ...]) -> Signature:
    record = signed_record(tx.session, lot, frozenset(pending))
    sig = Signature(
        lot_pk=lot.id,  # type: ignore[arg-type]
        username=signer.username,
        printed_name=signer.full_name,
        meaning=meaning,
        signed_at=tx.now,
        record_hash=record_hash(record),
    )
    tx.session.add(sig)
    tx.session.flush()
    return sig


def _record_disposition(
    tx: Tx, lot: Lot, sig: Signature, cmd: Dispose, decision: str, cited: tuple[str, ...],
    pending: tuple[str, ...],
) -> Disposition:  # fmt: skip
    target, meaning = DECISIONS[decision]
    disp = Disposition(
        lot_pk=lot.id,  # type: ignore[arg-type]
        decision=target.value,
        reason=cmd.reason.strip(),
        exception=cmd.exception,
        deviation_numbers=", ".join(cited),
        pending_tests=", ".join(pending),
        signature_pk=sig.id,  # type: ignore[arg-type]
        decided_at=tx.now,
    )
    tx.session.add(disp)
    tx.session.flush()
    set_state(tx, lot, target)
    tx.audit(
        "lot.disposition",
        "disposition",
        disp.id or 0,
        lot_number=lot.lot_number,
        new={
            "decision": target.value,
            "exception": cmd.exception,
            "deviations": list(cited),
            "pending_tests": list(pending),
            "signature": {
                "username": sig.username,
                "printed_name": sig.printed_name,
                "meaning": meaning,
                "signed_at": sig.signed_at,
                "record_sha256": sig.record_hash,
            },
        },
        reason=cmd.reason.strip(),
    )
    return disp


def dispose(
    cmd: Dispose, password: str, *, db: Database, actor: Actor, now: datetime
) -> SignatureView:
    """QA signs a disposition; returns the signature (printed name, UTC time, meaning)."""
    actor.require("lot.disposition")
    decision = parse_decision(cmd.decision)
    target, meaning = DECISIONS[decision]
    require_reason(cmd.reason, "a disposition needs a reason")
    cited = tuple(dict.fromkeys(n.strip().upper() for n in cmd.deviation_numbers if n.strip()))
    if cited and not cmd.exception:
        raise RuleViolation(
            "deviation",
            "deviation-without-exception",
            "a deviation is cited only by an exception release",
        )
    signer = users.reauthenticate(db, actor, password, now=now)
    with db.write(signer, now) as tx:
        s = tx.session
        lot = get_lot_row(s, cmd.lot_number)
        check_transition(lot.state, target)
        if cmd.reviewed is not None and reviewed_hash(s, lot) != cmd.reviewed:
            raise Conflict(
                f"the harvest, results or dose of {lot.lot_number} changed since your review: "
                "nothing was signed; review the lot again, then sign"
            )
        _check_four_eyes(s, lot, signer)
        pending = _pending_if_allowed(s, db, lot, cmd, decision, cited)
        sig = _sign(tx, lot, signer, meaning, pending)
        _record_disposition(tx, lot, sig, cmd, decision, cited, pending)
        coa_service.refresh_in_tx(
            tx, db, lot, f"{meaning} by {signer.full_name}: {cmd.reason.strip()}"
        )
        tx.commit()
        return next(v for v in signature_views(s, lot) if v.id == sig.id)


def signatures(lot_number: str, *, db: Database, actor: Actor) -> list[SignatureView]:
    actor.require("lot.read")
    with db.read() as s:
        return signature_views(s, get_lot_row(s, lot_number))


__all__ = [
    "DECISIONS",
    "Blocker",
    "Dispose",
    "DoseView",
    "ReviewView",
    "SignatureView",
    "blockers_for",
    "dispose",
    "review",
    "signature_valid",
    "signatures",
]
