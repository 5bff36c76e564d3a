"""COA revisions: issued at disposition and re-issued whenever what the certificate says changes
afterwards (a late result, a verification, a correction, the final release after a conditional
one). Each revision is frozen: its content (canonical JSON), the SHA-256 of that content, and the
PDF exactly as issued. ``verify_pdf`` tells whether a file is one CellTrail issued, unaltered,
and the current revision."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from mfg import coa
from mfg.domain import ids
from mfg.domain.lifecycle import DISPOSITIONED
from mfg.domain.numbers import format_cells
from mfg.domain.results import DOSE_NAME, Evaluation
from mfg.errors import NotFound, RuleViolation
from mfg.services.disposition import dose_view, signature_views
from mfg.services.lots import current_harvest, get_lot_row, product_for_lot
from mfg.services.results import result_views
from mfg.services.uow import Actor, Database, Tx
from mfg.store.tables import Alert, CoaRevision, Disposition, Lot, Subject

# keys that change with every revision even when the certificate says the same thing
_PER_REVISION = ("document_id", "revision", "issued_at", "issued_by", "revisions")

DECISION_TEXT = {
    "released": "RELEASED",
    "conditionally_released": "CONDITIONALLY RELEASED (results pending)",
    "rejected": "REJECTED - NOT FOR USE",
}


@dataclass(frozen=True)
class CoaRevisionView:
    lot_number: str
    revision: int
    document_id: str
    reason: str
    content_sha256: str
    pdf_sha256: str
    created_at: datetime
    created_by: str
    current: bool


@dataclass(frozen=True)
class CoaIssue:
    revision: CoaRevisionView
    pdf: bytes


@dataclass(frozen=True)
class CoaCheck:
    """The answer of ``mfg coa verify``: three questions, and what the file claimed."""

    issued_by_celltrail: bool
    unaltered: bool | None  # None: a scanned image cannot prove it
    current: bool
    document_id: str | None
    lot_number: str | None
    revision: int | None
    current_revision: int | None
    found_in: str | None
    messages: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return self.issued_by_celltrail and self.unaltered is True and self.current


def document_id(db: Database, lot_number: str, revision: int) -> str:
    return f"COA-{db.settings.facility_id}-{lot_number}-R{revision:02d}"


def _revisions(session: Session, lot: Lot) -> list[CoaRevision]:
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
    h = current_harvest(session, lot)
    dose = dose_view(session, db, lot, product)
    results = result_views(session, product, lot)
    disp = session.exec(
        select(Disposition).where(Disposition.lot_pk == lot.id).order_by(col(Disposition.id).desc())
    ).first()
    sigs = signature_views(session, lot)
    coi = ids.parse_coi(lot.coi)
    previous = [
        {
            "revision": r.revision,
            "created_at": _utc(r.created_at),
            "by": r.created_by,
            "reason": r.reason,
        }
        for r in _revisions(session, lot)
        if r.revision < revision
    ]

    def status(r: Any) -> str:
        if r.status == "not entered":
            return "Not yet entered"
        if r.status == "pending":
            return "Pending"
        late = ", late result" if r.after_disposition else ""
        return ("Final, verified" if r.verified else "Final, NOT verified") + late

    conform = {"pass": "Conforms", "fail": "Does not conform", "pending": "Pending"}
    bags = (
        f"{h.bag_count} bag(s) x {h.bag_volume_ml:g} mL = {h.bag_count * h.bag_volume_ml:g} mL"
        if h
        else "-"
    )
    return {
        "format": 1,
        "document_id": document_id(db, lot.lot_number, revision),
        "revision": revision,
        "issued_at": _utc(issued_at),
        "issued_by": issued_by,
        "layout": {
            "title": product.coa.title,
            "subtitle": product.coa.subtitle,
            "sections": list(product.coa.sections),
            "footer": product.coa.footer,
            "logo_path": _logo(db, product.source_file, product.coa.logo),
        },
        "site": {"name": db.settings.site_name, "address": db.settings.site_address},
        "product": {
            "code": product.code,
            "name": product.name,
            "spec_version": product.spec_version,
            "spec_sha256": product.sha256,
            "protocol": product.protocol,
            "storage": product.storage,
        },
        "lot": {
            "lot_number": lot.lot_number,
            "coi": lot.coi,
            "coi_eye_readable": coi.eye_readable,
            "coi_check": coi.check,
            "subject_id": subject.subject_id,
            "source": lot.source,
            "state": lot.state,
        },
        "dose": {
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
        },
        "harvest": {
            "harvested_on": str(h.harvested_on) if h else "-",
            "harvest_day": h.harvest_day if h else "-",
            "cryopreserved_on": str(h.cryopreserved_on) if h and h.cryopreserved_on else "-",
            "expires_on": str(h.expires_on) if h and h.expires_on else "-",
            "bags": bags,
            "total_viable": format_cells(h.total_viable_cells) if h else "-",
            "car_pct": f"{h.car_pct:g} %" if h else "-",
        },
        "results": [
            {
                "code": r.test_code,
                "name": r.test_name,
                "method": r.method + (f" ({r.method_ref})" if r.method_ref else ""),
                "acceptance": r.acceptance,
                "result": r.display,
                "status": status(r),
                "conforms": conform[r.evaluation],
                "corrected": r.corrected,
                "original": r.original_display,
                "reason": r.correction_reason,
            }
            for r in results
        ],
        "dose_row": {
            "code": "DOSE",
            "name": DOSE_NAME,
            "method": "Harvest count x CAR+ %",
            "acceptance": dose.acceptance,
            "result": dose.display,
            "status": "Final" if dose.evaluation != Evaluation.PENDING else "Pending",
            "conforms": conform[dose.evaluation],
            "corrected": False,
        },
        "disposition": None
        if disp is None
        else {
            "decision": disp.decision,
            "decision_text": DECISION_TEXT.get(disp.decision, disp.decision),
            "reason": disp.reason,
            "decided_at": _utc(disp.decided_at),
            "exception": disp.exception,
            "deviations": disp.deviation_numbers,
            "pending_tests": disp.pending_tests,
        },
        "alerts": [
            a.message
            + (
                ""
                if a.acknowledged_at is None
                else f" (acknowledged by {a.acknowledged_by}, {_utc(a.acknowledged_at)})"
            )
            for a in session.exec(
                select(Alert).where(Alert.lot_pk == lot.id).order_by(col(Alert.id))
            ).all()
        ],
        "signatures": [
            {
                "name": s.printed_name,
                "username": s.username,
                "meaning": s.meaning,
                "signed_at": _utc(s.signed_at),
                "valid": s.valid,
            }
            for s in sigs
        ],
        "revisions": [
            *previous,
            {
                "revision": revision,
                "created_at": _utc(issued_at),
                "by": issued_by,
                "reason": reason,
            },
        ],
    }


def body_hash(content: dict[str, Any]) -> str:
    """The hash of what the certificate says, ignoring the revision bookkeeping."""
    body = {k: v for k, v in content.items() if k not in _PER_REVISION}
    return coa.content_sha256(body)


def refresh_in_tx(tx: Tx, db: Database, lot: Lot, reason: str) -> CoaRevision | None:
    """Issue a new COA revision if the lot is dispositioned and its COA would now say something
    different from the latest revision (audited, in the caller's transaction)."""
    s = tx.session
    if lot.state not in DISPOSITIONED:
        return None
    revs = _revisions(s, lot)
    n = revs[-1].revision + 1 if revs else 1
    assert tx.actor is not None
    content = build_content(
        s, db, lot, revision=n, issued_at=tx.now, issued_by=tx.actor.username, reason=reason
    )
    body = body_hash(content)
    if revs and revs[-1].results_hash == body:
        return None
    sha = coa.content_sha256(content)
    pdf = coa.render(content, sha)
    row = CoaRevision(
        lot_pk=lot.id,  # type: ignore[arg-type]
        revision=n,
        document_id=content["document_id"],
        reason=reason,
        content_sha256=sha,
        results_hash=body,
        created_at=tx.now,
        created_by=tx.actor.username,
        content_json=json.dumps(content, sort_keys=True, ensure_ascii=False),
        pdf=pdf,
        pdf_sha256=hashlib.sha256(pdf).hexdigest(),
    )
    s.add(row)
    s.flush()
    tx.audit(
        "coa.issued",
        "coa_revision",
        row.document_id,
        lot_number=lot.lot_number,
        new={"revision": n, "content_sha256": sha, "pdf_sha256": row.pdf_sha256},
        reason=reason,
    )
    return row


def _view(lot: Lot, r: CoaRevision, latest: int) -> CoaRevisionView:
    return CoaRevisionView(
        lot_number=lot.lot_number,
        revision=r.revision,
        document_id=r.document_id,
        reason=r.reason,
        content_sha256=r.content_sha256 or "",
        pdf_sha256=r.pdf_sha256,
        created_at=r.created_at,
        created_by=r.created_by,
        current=r.revision == latest,
    )


def revisions(lot_number: str, *, db: Database, actor: Actor) -> list[CoaRevisionView]:
    actor.require("lot.read")
    with db.read() as s:
        lot = get_lot_row(s, lot_number)
        revs = _revisions(s, lot)
        latest = revs[-1].revision if revs else 0
        return [_view(lot, r, latest) for r in revs]


def issue_coa(
    lot_number: str,
    *,
    revision: int | None = None,
    destination: str,
    db: Database,
    actor: Actor,
    now: datetime,
) -> CoaIssue:
    """The PDF of a revision (default: the current one) as issued; the print is audited."""
    actor.require("coa.print")
    with db.write(actor, now) as tx:
        s = tx.session
        lot = get_lot_row(s, lot_number)
        revs = _revisions(s, lot)
        if not revs:
            raise RuleViolation(
                "lot",
                "coa-before-disposition",
                f"lot {lot.lot_number} is {lot.state}: a COA is issued at QA disposition",
            )
        latest = revs[-1].revision
        n = latest if revision is None else revision
        row = next((r for r in revs if r.revision == n), None)
        if row is None:
            raise RuleViolation(
                "revision",
                "unknown-revision",
                f"lot {lot.lot_number} has COA revisions 1-{latest}, not {n}",
            )
        tx.audit(
            "coa.printed",
            "coa_revision",
            row.document_id,
            lot_number=lot.lot_number,
            new={"revision": n, "current": n == latest, "destination": destination},
        )
        tx.commit()
        return CoaIssue(_view(lot, row, latest), row.pdf)


def verify_pdf(data: bytes, *, db: Database, actor: Actor) -> CoaCheck:
    """Is this file a COA CellTrail issued, unaltered, and still the current revision?"""
    actor.require("lot.read")
    facts = coa.read_pdf(data)
    ident = facts.identity
    if ident is None:
        return CoaCheck(
            False,
            None,
            False,
            None,
            None,
            None,
            None,
            None,
            ("no CellTrail COA identity found (neither in the PDF metadata nor in a QR code)",),
        )
    msgs: list[str] = []
    with db.read() as s:
        row = s.exec(
            select(CoaRevision).where(CoaRevision.document_id == ident.document_id)
        ).first()
        lot = s.get(Lot, row.lot_pk) if row else None
        if row is None or lot is None or lot.lot_number != ident.lot_number:
            return CoaCheck(
                False,
                None,
                False,
                ident.document_id,
                ident.lot_number,
                ident.revision,
                None,
                ident.found_in,
                (f"{ident.document_id} was not issued by this CellTrail database",),
            )
        latest = s.exec(
            select(func.max(CoaRevision.revision)).where(CoaRevision.lot_pk == lot.id)
        ).one()
    issued = row.revision == ident.revision and row.content_sha256 == ident.content_sha256
    if not issued:
        msgs.append(
            "the document id is CellTrail's but its revision or content hash does not match "
            "the issued revision"
        )
    stored_ok = (
        coa.content_sha256(json.loads(row.content_json)) == row.content_sha256
        and hashlib.sha256(row.pdf).hexdigest() == row.pdf_sha256
    )
    if not stored_ok:
        msgs.append("the stored revision no longer matches its own hash (database altered?)")
    unaltered: bool | None
    if facts.sha256 == row.pdf_sha256:
        unaltered = stored_ok
        msgs.append("file identical to the issued PDF (SHA-256 " + facts.sha256[:16] + "...)")
    elif ident.found_in == "qr" and not any(t.strip() for t in facts.text):
        unaltered = None
        msgs.append(
            "identified from the QR code of a scanned image: the content of an image cannot be "
            f"proven unaltered; compare it with `mfg coa {lot.lot_number} --revision "
            f"{row.revision}`"
        )
    else:
        unaltered = False
        issued_text = coa.read_pdf(row.pdf).text
        if issued_text != facts.text:
            msgs.append("ALTERED: the text differs from the issued PDF")
        else:
            msgs.append("ALTERED: the text matches but the file is not the PDF issued")
    current = row.revision == latest
    msgs.append(
        f"revision {row.revision} is the current revision"
        if current
        else f"SUPERSEDED: revision {row.revision}; the current revision is {latest}"
    )
    return CoaCheck(
        issued_by_celltrail=issued and stored_ok,
        unaltered=unaltered,
        current=current,
        document_id=row.document_id,
        lot_number=lot.lot_number,
        revision=row.revision,
        current_revision=latest,
        found_in=ident.found_in,
        messages=tuple(msgs),
    )


def content_of(
    lot_number: str, revision: int | None, *, db: Database, actor: Actor
) -> dict[str, Any]:
    """The frozen content of a revision (for the TUI and tests)."""
    actor.require("lot.read")
    with db.read() as s:
        lot = get_lot_row(s, lot_number)
        revs = _revisions(s, lot)
        if not revs:
            raise NotFound("COA revision", lot_number)
        row = (
            revs[-1]
            if revision is None
            else next((r for r in revs if r.revision == revision), None)
        )
        if row is None:
            raise NotFound("COA revision", f"{lot_number} R{revision}")
        content: dict[str, Any] = json.loads(row.content_json)
        return content
