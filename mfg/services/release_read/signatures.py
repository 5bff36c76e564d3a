"""Read models of the dose row and of disposition signatures, and what a signature is bound to:
the SHA-256 of the canonical JSON of the lot's harvest and current results."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from mfg.domain import dose as dose_rules
from mfg.domain.canonical import canonical_json
from mfg.domain.numbers import format_cells
from mfg.domain.results import Evaluation, dose_acceptance, evaluate_dose
from mfg.domain.specs import Product
from mfg.services.release_read.results import current_harvest, current_in, result_rows
from mfg.store.tables import Disposition, Lot, Signature, Subject


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


def dose_view(session: Session, lot: Lot, product: Product) -> DoseView:
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


def _signed_harvest(session: Session, lot: Lot) -> dict[str, object] | None:
    h = current_harvest(session, lot)
    if h is None:
        return None
    return {
        "row": h.id,
        "harvested_on": h.harvested_on,
        "total_viable_cells": h.total_viable_cells,
        "car_pct": h.car_pct,
        "bag_count": h.bag_count,
        "bag_volume_ml": h.bag_volume_ml,
        "cryopreserved_on": h.cryopreserved_on,
        "expires_on": h.expires_on,
    }


def signed_record(session: Session, lot: Lot, pending: frozenset[str]) -> dict[str, object]:
    """What a disposition signature is bound to: harvest + current results, canonical order."""
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
        "harvest": _signed_harvest(session, lot),
        "results": results,
    }


def record_hash(record: dict[str, object]) -> str:
    return hashlib.sha256(canonical_json(record).encode("utf-8")).hexdigest()


def reviewed_hash(session: Session, lot: Lot) -> str:
    """What QA reviews before signing, as one hash: the record a signature binds (harvest and
    results, ``signed_record``) and the dose it is judged against (the subject's dose level and
    weight). ``ReviewView.reviewed`` carries it to the signing, which refuses a record changed
    since: a result corrected while the signature dialog was open was signed unseen."""
    subject = session.get(Subject, lot.subject_pk)
    dose = None if subject is None else [subject.dose_level, subject.weight_kg]
    return record_hash({"record": signed_record(session, lot, frozenset()), "dose": dose})


def split_list(text: str) -> tuple[str, ...]:
    """``"A, B"`` as stored in a disposition row -> ``("A", "B")``."""
    return tuple(x for x in (p.strip() for p in text.split(",")) if x)


def signature_valid(session: Session, sig: Signature) -> bool:
    """Recompute the hash of what ``sig`` signed from the records as they are now."""
    lot = session.get(Lot, sig.lot_pk)
    assert lot is not None
    disp = session.exec(select(Disposition).where(Disposition.signature_pk == sig.id)).first()
    pending = frozenset(split_list(disp.pending_tests)) if disp else frozenset()
    return record_hash(signed_record(session, lot, pending)) == sig.record_hash


def signature_views(session: Session, lot: Lot) -> list[SignatureView]:
    rows = session.exec(
        select(Signature, Disposition)
        .join(Disposition, col(Disposition.signature_pk) == col(Signature.id))
        .where(Signature.lot_pk == lot.id)
        .order_by(col(Signature.id))
    ).all()
    return [
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
            deviation_numbers=split_list(disp.deviation_numbers),
            pending_tests=split_list(disp.pending_tests),
        )
        for sig, disp in rows
    ]
