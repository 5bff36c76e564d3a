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

import hashlib
from dataclasses import dataclass
from datetime import date, datetime

from sqlmodel import Session, col, select

from mfg.audit import canonical_json
from mfg.domain import dose as dose_rules
from mfg.domain.lifecycle import LotState, check_transition
from mfg.domain.numbers import format_cells
from mfg.domain.reasons import require_reason
from mfg.domain.results import Evaluation, dose_acceptance, evaluate_dose
from mfg.domain.specs import Product
from mfg.errors import NotPermitted, RuleViolation
from mfg.services import deviations as deviation_service
from mfg.services.lots import current_harvest, get_lot_row, product_for_lot, set_state
from mfg.services.results import (
    ResultView,
    current_in,
    display_of,
    result_rows,
    result_views,
)
from mfg.services.uow import Actor, Database
from mfg.store.tables import (
    CellCount,
    Disposition,
    Harvest,
    Lot,
    ReleaseResult,
    Signature,
    Subject,
)

DECISIONS: dict[str, tuple[LotState, str]] = {
    "release": (LotState.RELEASED, "released"),
    "conditional-release": (LotState.CONDITIONALLY_RELEASED, "conditionally released"),
    "reject": (LotState.REJECTED, "rejected"),
}


@dataclass(frozen=True)
class Dispose:
    lot_number: str
    decision: str  # release | conditional-release | reject
    reason: str
    exception: bool = False
    deviation_numbers: tuple[str, ...] = ()


@dataclass(frozen=True)
class DoseView:
    dose_level: str
    dose_per_kg: float
    weight_kg: float
    target_dose_cells: int
    car_viable_cells: int | None
    cells_per_kg: float | None
    evaluation: str
    acceptance: str
    display: str

    @property
    def met(self) -> bool:
        return self.evaluation == Evaluation.PASS


@dataclass(frozen=True)
class SignatureView:
    id: int
    username: str
    printed_name: str
    meaning: str
    signed_at: datetime
    record_hash: str
    valid: bool
    decision: str
    reason: str
    exception: bool
    deviation_numbers: tuple[str, ...]
    pending_tests: tuple[str, ...]


@dataclass(frozen=True)
class LateEntry:
    what: str  # result | count | harvest
    ref: str
    event_on: date
    entered_at: datetime
    entered_by: str
    days_late: int


@dataclass(frozen=True)
class CorrectionView:
    what: str
    ref: str
    old: str
    new: str
    reason: str
    by: str
    at: datetime


@dataclass(frozen=True)
class Blocker:
    rule: str
    message: str


@dataclass(frozen=True)
class ReviewView:
    lot_number: str
    coi: str
    state: str
    product_code: str
    spec_version: str
    dose: DoseView
    oos: tuple[ResultView, ...]
    corrections: tuple[CorrectionView, ...]
    late_entries: tuple[LateEntry, ...]
    open_deviations: tuple[deviation_service.DeviationView, ...]
    unverified: tuple[ResultView, ...]
    pending: tuple[ResultView, ...]
    signatures: tuple[SignatureView, ...]
    blockers: dict[str, tuple[Blocker, ...]]  # decision -> what stops it (empty: possible)
    results: tuple[ResultView, ...]

    @property
    def exception_count(self) -> int:
        return (
            len(self.oos)
            + len(self.corrections)
            + len(self.late_entries)
            + len(self.open_deviations)
            + len(self.unverified)
            + len(self.pending)
            + (0 if self.dose.met else 1)
            + sum(1 for s in self.signatures if not s.valid)
        )


# --------------------------------------------------------------------------------------------
# the dose row and the signed record


def dose_view(session: Session, db: Database, lot: Lot, product: Product) -> DoseView:
    subject = session.get(Subject, lot.subject_pk)
    assert subject is not None
    target = dose_rules.target_dose_cells(product, subject.dose_level, subject.weight_kg)
    h = current_harvest(session, lot)
    car = dose_rules.car_viable_cells(h.total_viable_cells, h.car_pct) if h else None
    parsed = evaluate_dose(car, target)
    per_kg = car / dose_rules.dosing_weight_kg(product, subject.weight_kg) if car else None
    return DoseView(
        dose_level=subject.dose_level,
        dose_per_kg=product.dose_levels.get(subject.dose_level, 0.0),
        weight_kg=subject.weight_kg,
        target_dose_cells=target,
        car_viable_cells=car,
        cells_per_kg=per_kg,
        evaluation=parsed.evaluation.value,
        acceptance=dose_acceptance(target),
        display="Pending" if car is None else f"{format_cells(car)} CAR+ viable T cells",
    )


def signed_record(session: Session, lot: Lot, pending: frozenset[str]) -> dict[str, object]:
    """What a disposition signature is bound to: harvest + current results, canonical order."""
    h = current_harvest(session, lot)
    harvest = (
        {
            "row": h.id,
            "harvested_on": h.harvested_on,
            "total_viable_cells": h.total_viable_cells,
            "car_pct": h.car_pct,
            "bag_count": h.bag_count,
            "bag_volume_ml": h.bag_volume_ml,
            "cryopreserved_on": h.cryopreserved_on,
            "expires_on": h.expires_on,
        }
        if h
        else None
    )
    results: dict[str, object] = {}
    for code, chain in sorted(result_rows(session, lot).items()):
        cur = current_in(chain)
        if cur is None or code in pending or cur.evaluation == Evaluation.PENDING:
            results[code] = "pending"
            continue
        results[code] = {
            "row": cur.id,
            "value": cur.value_text,
            "value_num": cur.value_num,
            "qualifier": cur.qualifier,
            "unit": cur.unit,
            "evaluation": cur.evaluation,
            "tested_on": cur.tested_on,
            "method_ref": cur.method_ref,
            "entered_by": cur.entered_by,
            "verified_by": cur.verified_by,
        }
    return {
        "lot": lot.lot_number,
        "coi": lot.coi,
        "product": lot.product_code,
        "spec_version": lot.spec_version,
        "harvest": harvest,
        "results": results,
    }


def record_hash(record: dict[str, object]) -> str:
    return hashlib.sha256(canonical_json(record).encode("utf-8")).hexdigest()


def _split(text: str) -> tuple[str, ...]:
    return tuple(x for x in (p.strip() for p in text.split(",")) if x)


def signature_valid(session: Session, sig: Signature) -> bool:
    """Recompute the hash of what ``sig`` signed from the records as they are now."""
    lot = session.get(Lot, sig.lot_pk)
    assert lot is not None
    disp = session.exec(select(Disposition).where(Disposition.signature_pk == sig.id)).first()
    pending = frozenset(_split(disp.pending_tests)) if disp else frozenset()
    return record_hash(signed_record(session, lot, pending)) == sig.record_hash


def signature_views(session: Session, lot: Lot) -> list[SignatureView]:
    out = []
    rows = session.exec(
        select(Signature, Disposition)
        .join(Disposition, col(Disposition.signature_pk) == col(Signature.id))
        .where(Signature.lot_pk == lot.id)
        .order_by(col(Signature.id))
    ).all()
    for sig, disp in rows:
        out.append(
            SignatureView(
                id=sig.id or 0,
                username=sig.username,
                printed_name=sig.printed_name,
                meaning=sig.meaning,
                signed_at=sig.signed_at,
                record_hash=sig.record_hash,
                valid=signature_valid(session, sig),
                decision=disp.decision,
                reason=disp.reason,
                exception=disp.exception,
                deviation_numbers=_split(disp.deviation_numbers),
                pending_tests=_split(disp.pending_tests),
            )
        )
    return out


# --------------------------------------------------------------------------------------------
# the rules


def blockers_for(
    decision: str,
    results: list[ResultView],
    dose: DoseView,
    *,
    exception: bool = False,
    cited: tuple[str, ...] = (),
    lot_deviations: tuple[str, ...] = (),
) -> tuple[Blocker, ...]:
    """Everything that stops ``decision`` now (empty: QA may sign it)."""
    if decision == "reject":
        return (
            (Blocker("exception-only-for-release", "an exception is only for a release"),)
            if exception
            else ()
        )
    out: list[Blocker] = []
    non_final = [r for r in results if r.status != "final"]
    if decision == "release" and non_final:
        out.append(
            Blocker(
                "result-not-final",
                "not final: " + ", ".join(f"{r.test_code} ({r.status})" for r in non_final),
            )
        )
    if decision == "conditional-release":
        not_allowed = [r for r in non_final if not r.may_be_pending]
        if not_allowed:
            out.append(
                Blocker(
                    "pending-not-allowed",
                    "the spec does not allow these to be pending at a conditional release: "
                    + ", ".join(f"{r.test_code} ({r.status})" for r in not_allowed),
                )
            )
        if not non_final:
            out.append(Blocker("nothing-pending", "every result is final: release instead"))
    unverified = [r for r in results if r.status == "final" and not r.verified]
    if unverified:
        out.append(
            Blocker(
                "result-unverified",
                "not verified by a second person: " + ", ".join(r.test_code for r in unverified),
            )
        )
    oos = [r for r in results if r.status == "final" and r.evaluation == Evaluation.FAIL]
    dose_failed = dose.evaluation == Evaluation.FAIL
    if dose.evaluation == Evaluation.PENDING:
        out.append(Blocker("no-harvest", "the dose cannot be evaluated without a harvest"))
    if not exception:
        if oos:
            out.append(
                Blocker(
                    "result-oos",
                    "out of specification: "
                    + ", ".join(f"{r.test_code} {r.display}" for r in oos)
                    + "; release only as an exception (--exception --deviation DEV-...)",
                )
            )
        if dose_failed:
            out.append(
                Blocker(
                    "dose-not-met",
                    f"{dose.display} is below the target ({dose.acceptance}); release only as "
                    "an exception citing a deviation",
                )
            )
        return tuple(out)
    if not oos and not dose_failed:
        out.append(
            Blocker("no-exception-needed", "the lot meets its specification: no exception needed")
        )
    if not cited:
        out.append(
            Blocker(
                "exception-must-cite-deviation",
                "an exception release must cite the deviation(s) (--deviation DEV-...)",
            )
        )
    unknown = [n for n in cited if n not in lot_deviations]
    if unknown:
        out.append(
            Blocker(
                "unknown-deviation",
                f"not a deviation of this lot: {', '.join(unknown)}",
            )
        )
    missing = sorted({r.deviation_number for r in oos if r.deviation_number} - set(cited))
    if missing:
        out.append(
            Blocker(
                "deviation-not-cited",
                "the exception must cite every OOS deviation: missing " + ", ".join(missing),
            )
        )
    return tuple(out)


def _late_entries(session: Session, db: Database, lot: Lot) -> list[LateEntry]:
    out: list[LateEntry] = []

    def add(what: str, ref: str, on: date | None, at: datetime, by: str) -> None:
        if on is None:
            return
        entered_on = db.local(at).date()
        if entered_on > on:
            out.append(LateEntry(what, ref, on, at, by, (entered_on - on).days))

    for chain in result_rows(session, lot).values():
        for r in chain:
            add("result", r.test_code, r.tested_on, r.entered_at, r.entered_by)
    counts = session.exec(
        select(CellCount).where(CellCount.lot_pk == lot.id).order_by(col(CellCount.id))
    ).all()
    for c in counts:
        add("count", f"day {c.expansion_day}", c.measured_on, c.recorded_at, c.recorded_by)
    harvests = session.exec(
        select(Harvest).where(Harvest.lot_pk == lot.id).order_by(col(Harvest.id))
    ).all()
    for h in harvests:
        add("harvest", f"day {h.harvest_day}", h.harvested_on, h.recorded_at, h.recorded_by)
    return out


def _corrections(session: Session, product: Product, lot: Lot) -> list[CorrectionView]:
    out: list[CorrectionView] = []
    for code, chain in result_rows(session, lot).items():
        by_id = {r.id: r for r in chain}
        test = product.test(code)
        for r in chain:
            if r.correction_reason and r.supersedes_id in by_id and test is not None:
                old = by_id[r.supersedes_id]
                out.append(
                    CorrectionView(
                        "result",
                        code,
                        display_of(test, old),
                        display_of(test, r),
                        r.correction_reason,
                        r.entered_by,
                        r.entered_at,
                    )
                )
    counts = {c.id: c for c in session.exec(select(CellCount).where(CellCount.lot_pk == lot.id))}
    for c in counts.values():
        old_c = counts.get(c.supersedes_id) if c.supersedes_id else None
        if c.correction_reason and old_c is not None:
            out.append(
                CorrectionView(
                    "count",
                    f"day {old_c.expansion_day}",
                    f"{format_cells(old_c.viable_cells)} viable of "
                    f"{format_cells(old_c.total_cells)}",
                    f"{format_cells(c.viable_cells)} viable of {format_cells(c.total_cells)}",
                    c.correction_reason,
                    c.recorded_by,
                    c.recorded_at,
                )
            )
    harvests = {h.id: h for h in session.exec(select(Harvest).where(Harvest.lot_pk == lot.id))}
    for h in harvests.values():
        old_h = harvests.get(h.supersedes_id) if h.supersedes_id else None
        if h.correction_reason and old_h is not None:
            out.append(
                CorrectionView(
                    "harvest",
                    f"day {old_h.harvest_day}",
                    f"{format_cells(old_h.total_viable_cells)} viable, CAR+ {old_h.car_pct:g} %",
                    f"{format_cells(h.total_viable_cells)} viable, CAR+ {h.car_pct:g} %",
                    h.correction_reason,
                    h.recorded_by,
                    h.recorded_at,
                )
            )
    return sorted(out, key=lambda c: c.at)


def build_review(session: Session, db: Database, lot: Lot) -> ReviewView:
    product = product_for_lot(db, session, lot)
    results = result_views(session, product, lot)
    dose = dose_view(session, db, lot, product)
    devs = deviation_service.lot_deviations(session, lot)
    numbers = tuple(d.number for d in devs)
    blockers = {
        d: blockers_for(d, results, dose, lot_deviations=numbers)
        for d in ("release", "conditional-release", "reject")
    }
    state = LotState(lot.state)
    for d, (target, _) in DECISIONS.items():
        try:
            check_transition(state, target)
        except RuleViolation as e:
            blockers[d] = (Blocker(e.rule, e.message), *blockers[d])
    return ReviewView(
        lot_number=lot.lot_number,
        coi=lot.coi,
        state=lot.state,
        product_code=lot.product_code,
        spec_version=lot.spec_version,
        dose=dose,
        oos=tuple(r for r in results if r.evaluation == Evaluation.FAIL),
        corrections=tuple(_corrections(session, product, lot)),
        late_entries=tuple(_late_entries(session, db, lot)),
        open_deviations=tuple(d for d in devs if d.is_open),
        unverified=tuple(r for r in results if r.status == "final" and not r.verified),
        pending=tuple(r for r in results if r.status != "final"),
        signatures=tuple(signature_views(session, lot)),
        blockers=blockers,
        results=tuple(results),
    )


def review(lot_number: str, *, db: Database, actor: Actor) -> ReviewView:
    """Review by exception: what QA must look at before signing."""
    actor.require("lot.read")
    with db.read() as s:
        return build_review(s, db, get_lot_row(s, lot_number))


# --------------------------------------------------------------------------------------------
# signing


def _decision(text: str) -> str:
    d = text.strip().lower().replace("_", "-")
    if d not in DECISIONS:
        raise RuleViolation(
            "decision", "unknown-decision", f"{text!r}: one of {', '.join(DECISIONS)}"
        )
    return d


def dispose(
    cmd: Dispose, password: str, *, db: Database, actor: Actor, now: datetime
) -> SignatureView:
    """QA signs a disposition; returns the signature (printed name, UTC time, meaning)."""
    from mfg.services import coa_service, users

    actor.require("lot.disposition")
    decision = _decision(cmd.decision)
    target, meaning = DECISIONS[decision]
    require_reason(cmd.reason, "a disposition needs a reason")
    cited = tuple(dict.fromkeys(n.strip().upper() for n in cmd.deviation_numbers if n.strip()))
    if cited and not cmd.exception:
        raise RuleViolation(
            "deviation", "deviation-without-exception", "--deviation goes with --exception"
        )
    signer = users.reauthenticate(db, actor, password, now=now)
    with db.write(signer, now) as tx:
        s = tx.session
        lot = get_lot_row(s, cmd.lot_number)
        check_transition(lot.state, target)
        involved = s.exec(
            select(ReleaseResult.id).where(
                ReleaseResult.lot_pk == lot.id,
                (col(ReleaseResult.entered_by) == signer.username)
                | (col(ReleaseResult.verified_by) == signer.username),
            )
        ).first()
        if involved is not None:
            raise NotPermitted(
                f"{signer.username} entered or verified results of lot {lot.lot_number}: "
                "another QA person must sign its disposition",
                rule="signer-entered-or-verified",
            )
        product = product_for_lot(db, s, lot)
        results = result_views(s, product, lot)
        dose = dose_view(s, db, lot, product)
        numbers = tuple(d.number for d in deviation_service.lot_deviations(s, lot))
        blocked = blockers_for(
            decision,
            results,
            dose,
            exception=cmd.exception,
            cited=cited,
            lot_deviations=numbers,
        )
        if blocked:
            b = blocked[0]
            raise RuleViolation(
                "decision", b.rule, f"cannot {decision} {lot.lot_number}: {b.message}"
            )
        pending = tuple(r.test_code for r in results if r.status != "final")
        if decision == "release":
            pending = ()
        record = signed_record(s, lot, frozenset(pending))
        sig = Signature(
            lot_pk=lot.id,  # type: ignore[arg-type]
            username=signer.username,
            printed_name=signer.full_name,
            meaning=meaning,
            signed_at=now,
            record_hash=record_hash(record),
        )
        s.add(sig)
        s.flush()
        disp = Disposition(
            lot_pk=lot.id,  # type: ignore[arg-type]
            decision=target.value,
            reason=cmd.reason.strip(),
            exception=cmd.exception,
            deviation_numbers=", ".join(cited),
            pending_tests=", ".join(pending),
            signature_pk=sig.id,  # type: ignore[arg-type]
            decided_at=now,
        )
        s.add(disp)
        s.flush()
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
                    "username": signer.username,
                    "printed_name": signer.full_name,
                    "meaning": meaning,
                    "signed_at": now,
                    "record_sha256": sig.record_hash,
                },
            },
            reason=cmd.reason.strip(),
        )
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
    "Dispose",
    "DoseView",
    "ReviewView",
    "SignatureView",
    "dispose",
    "review",
    "signature_valid",
    "signatures",
]
