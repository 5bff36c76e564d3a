"""What a COA revision says: its content (JSON-able, every value as printed) built from the read
models of the release area, and the hash of what the certificate says without the revision
bookkeeping (a new revision is issued only when that hash changes)."""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Any

from sqlmodel import Session, col, select

from mfg.domain import ids
from mfg.domain.coa_body import body_hash as body_hash  # re-exported (coa_service)
from mfg.domain.isbt128 import with_time
from mfg.domain.numbers import format_cells
from mfg.domain.release import ResultStatus
from mfg.domain.results import DOSE_NAME, Evaluation
from mfg.domain.specs import Product
from mfg.services.lots import product_for_lot
from mfg.services.release_read import (
    DoseView,
    ResultView,
    SignatureView,
    current_harvest,
    dose_view,
    result_views,
    signature_views,
)
from mfg.services.release_read.holds import HoldStatus, status_in
from mfg.services.therapy import lot_coi
from mfg.services.uow import Database
from mfg.store.tables import Alert, CoaRevision, Disposition, Harvest, Lot, Subject

# keys that change with every revision even when the certificate says the same thing
DECISION_TEXT = {
    "released": "RELEASED",
    "conditionally_released": "CONDITIONALLY RELEASED (results pending)",
    "rejected": "REJECTED - NOT FOR USE",
}


def document_id(db: Database, lot_number: str, revision: int) -> str:
    return f"COA-{db.settings.facility_id}-{lot_number}-R{revision:02d}"


def revision_rows(session: Session, lot: Lot) -> list[CoaRevision]:
    return list(
        session.exec(
            select(CoaRevision)
            .where(CoaRevision.lot_pk == lot.id)
            .order_by(col(CoaRevision.revision))
        ).all()
    )


def _logo(db: Database, product_file: str, logo: str) -> str:
    if not logo:
        return ""
    p = Path(logo)
    if not p.is_absolute():
        p = Path(product_file).parent / p
    return str(p) if p.is_file() else ""


def _utc(at: datetime | None) -> str:
    return "-" if at is None else at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _status(r: ResultView) -> str:
    if r.status == ResultStatus.NOT_ENTERED:
        return "Not yet entered"
    if r.status == ResultStatus.PENDING:
        return "Pending"
    late = ", late result" if r.after_disposition else ""
    return ("Final, verified" if r.verified else "Final, NOT verified") + late


_CONFORM = {"pass": "Conforms", "fail": "Does not conform", "pending": "Pending"}


def _layout(db: Database, product: Product) -> dict[str, Any]:
    return {
        "title": product.coa.title,
        "subtitle": product.coa.subtitle,
        "sections": list(product.coa.sections),
        "footer": product.coa.footer,
        "logo_path": _logo(db, product.source_file, product.coa.logo),
    }


def _product(product: Product) -> dict[str, Any]:
    return {
        "code": product.code,
        "name": product.name,
        "spec_version": product.spec_version,
        "spec_sha256": product.sha256,
        "protocol": product.protocol,
        "storage": product.storage,
    }


def _lot(lot: Lot, subject: Subject, coi: ids.Coi, zone: tzinfo) -> dict[str, Any]:
    """The lot's identity: its therapy event's CoI (K apart) and the collection with time."""
    collected = f" (collected {with_time(lot.apheresis_on, zone)})" if lot.apheresis_on else ""
    return {
        "lot_number": lot.lot_number,
        "coi": coi.content,
        "coi_eye_readable": coi.text,
        "coi_check": coi.check,
        "subject_id": subject.subject_id,
        "source": lot.source + collected,
        "state": lot.state,
    }


def _dose(dose: DoseView, product: Product) -> dict[str, Any]:
    return {
        "level": dose.dose_level,
        "per_kg": f"{format_cells(dose.dose_per_kg)} {product.dose_unit}",
        "weight_kg": f"{dose.weight_kg:g} kg",
        "target": f"{format_cells(dose.target_dose_cells)} CAR+ viable T cells "
        f"({format_cells(dose.dose_per_kg)}/kg x "
        f"{min(dose.weight_kg, product.weight_cap_kg):g} kg)",
        "car_viable": dose.display,
        "cells_per_kg": "-"
        if dose.cells_per_kg is None
        else f"{format_cells(dose.cells_per_kg)} CAR+ viable T cells/kg",
    }


def _harvest(h: Harvest | None, zone: tzinfo) -> dict[str, Any]:
    if h is None:
        keys = ("harvested_on", "harvest_day", "cryopreserved_on", "expires_on", "bags")
        return {**dict.fromkeys(keys, "-"), "total_viable": "-", "car_pct": "-"}
    return {
        "harvested_on": str(h.harvested_on),
        "harvest_day": h.harvest_day,
        "cryopreserved_on": str(h.cryopreserved_on) if h.cryopreserved_on else "-",
        "expires_on": with_time(h.expires_on, zone) if h.expires_on else "-",
        "bags": f"{h.bag_count} bag(s) x {h.bag_volume_ml:g} mL = "
        f"{h.bag_count * h.bag_volume_ml:g} mL",
        "total_viable": format_cells(h.total_viable_cells),
        "car_pct": f"{h.car_pct:g} %",
    }


def _result(r: ResultView) -> dict[str, Any]:
    return {
        "code": r.test_code,
        "name": r.test_name,
        "method": r.method + (f" ({r.method_ref})" if r.method_ref else ""),
        "acceptance": r.acceptance,
        "result": r.display,
        "status": _status(r),
        "conforms": _CONFORM[r.evaluation],
        "corrected": r.corrected,
        "original": r.original_display,
        "reason": r.correction_reason,
    }


def _dose_row(dose: DoseView) -> dict[str, Any]:
    return {
        "code": "DOSE",
        "name": DOSE_NAME,
        "method": "Harvest count x CAR+ %",
        "acceptance": dose.acceptance,
        "result": dose.display,
        "status": "Final" if dose.evaluation != Evaluation.PENDING else "Pending",
        "conforms": _CONFORM[dose.evaluation],
        "corrected": False,
    }


def _disposition(session: Session, lot: Lot) -> dict[str, Any] | None:
    disp = session.exec(
        select(Disposition).where(Disposition.lot_pk == lot.id).order_by(col(Disposition.id).desc())
    ).first()
    if disp is None:
        return None
    return {
        "decision": disp.decision,
        "decision_text": DECISION_TEXT.get(disp.decision, disp.decision),
        "reason": disp.reason,
        "decided_at": _utc(disp.decided_at),
        "exception": disp.exception,
        "deviations": disp.deviation_numbers,
        "pending_tests": disp.pending_tests,
    }


def _alerts(session: Session, lot: Lot) -> list[str]:
    rows = session.exec(select(Alert).where(Alert.lot_pk == lot.id).order_by(col(Alert.id))).all()
    return [
        a.message
        + (
            ""
            if a.acknowledged_at is None
            else f" (acknowledged by {a.acknowledged_by}, {_utc(a.acknowledged_at)})"
        )
        for a in rows
    ]


def _hold_entry(code: str, message: str, since: datetime | None) -> dict[str, Any]:
    return {"code": code, "message": message, "since": _utc(since)}


def _holds(st: HoldStatus) -> dict[str, Any] | None:
    """What the COA says about holds and OOS administration decisions (None: nothing, and the
    key is left out so a lot never held keeps the content it had before holds existed)."""
    if not st.reasons and not st.oos_decisions:
        return None
    return {
        "on_hold": st.on_hold,
        "active": [
            _hold_entry(r.code, r.message, r.since) for r in st.active if r.code != "manual"
        ],
        "manual": [
            {
                "id": h.id,
                "reason": h.reason,
                "placed_by": h.placed_by,
                "placed_name": h.placed_name,
                "placed_at": _utc(h.placed_at),
            }
            for h in st.manual
        ],
        "covered": [_hold_entry(r.code, r.message, r.since) for r in st.reasons if r.covered],
        "oos_administrations": [
            {
                "physician": o.physician,
                "reason": o.reason,
                "holds_covered": list(o.holds_covered),
                "signed_by": o.signed_by,
                "printed_name": o.printed_name,
                "signed_at": _utc(o.signed_at),
            }
            for o in st.oos_decisions
        ],
    }


def _signature(s: SignatureView) -> dict[str, Any]:
    return {
        "name": s.printed_name,
        "username": s.username,
        "meaning": s.meaning,
        "signed_at": _utc(s.signed_at),
        "valid": s.valid,
    }


def _revision_entry(revision: int, at: datetime, by: str, reason: str) -> dict[str, Any]:
    return {"revision": revision, "created_at": _utc(at), "by": by, "reason": reason}


def build_content(
    session: Session,
    db: Database,
    lot: Lot,
    *,
    revision: int,
    issued_at: datetime,
    issued_by: str,
    reason: str,
) -> dict[str, Any]:
    """What revision ``revision`` of the lot's COA says (JSON-able, all values as printed)."""
    product = product_for_lot(db, session, lot)
    subject = session.get(Subject, lot.subject_pk)
    assert subject is not None
    dose = dose_view(session, lot, product)
    previous = [
        _revision_entry(r.revision, r.created_at, r.created_by, r.reason)
        for r in revision_rows(session, lot)
        if r.revision < revision
    ]
    content: dict[str, Any] = {
        "format": 1,
        "document_id": document_id(db, lot.lot_number, revision),
        "revision": revision,
        "issued_at": _utc(issued_at),
        "issued_by": issued_by,
        "layout": _layout(db, product),
        "site": {"name": db.settings.site_name, "address": db.settings.site_address},
        "product": _product(product),
        "lot": _lot(lot, subject, lot_coi(session, lot), db.settings.zone),
        "dose": _dose(dose, product),
        "harvest": _harvest(current_harvest(session, lot), db.settings.zone),
        "results": [_result(r) for r in result_views(session, product, lot)],
        "dose_row": _dose_row(dose),
        "disposition": _disposition(session, lot),
        "alerts": _alerts(session, lot),
        "signatures": [_signature(s) for s in signature_views(session, lot)],
        "revisions": [*previous, _revision_entry(revision, issued_at, issued_by, reason)],
    }
    holds = _holds(status_in(session, lot))
    if holds is not None:
        content["holds"] = holds
    return content
