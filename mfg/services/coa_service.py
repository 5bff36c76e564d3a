"""COA revisions: issued at disposition and re-issued whenever what the certificate says changes
afterwards (a late result, a verification, a correction, the final release after a conditional
one). Each revision is frozen: its content (canonical JSON), the SHA-256 of that content, and the
PDF exactly as issued. ``verify_pdf`` tells whether a file is one CellTrail issued, unaltered,
and the current revision."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, update
from sqlmodel import col, select

from mfg import coa
from mfg.domain.lifecycle import DISPOSITIONED
from mfg.errors import NotFound, RuleViolation
from mfg.services.coa_content import (
    DECISION_TEXT,
    body_hash,
    build_content,
    document_id,
    revision_rows,
)
from mfg.services.lots import get_lot_row, lot_view
from mfg.services.uow import Actor, Database, Tx
from mfg.store.tables import CoaRevision, Lot

__all__ = [
    "DECISION_TEXT",
    "CoaCheck",
    "CoaIssue",
    "CoaRevisionView",
    "body_hash",
    "build_content",
    "content_of",
    "document_id",
    "hold_line",
    "issue_coa",
    "refresh_in_tx",
    "reissue_if_changed",
    "render_revision",
    "revisions",
    "verify_pdf",
]


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
    hold: str = ""  # what the printed revision says of a hold / OOS administration, one line


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


def refresh_in_tx(tx: Tx, db: Database, lot: Lot, reason: str) -> CoaRevision | None:
    """Issue a new COA revision if the lot is dispositioned and its COA would now say something
    different from the latest revision (audited, in the caller's transaction).

    Only the content is stored here; the PDF is rendered from that stored content after the
    transaction committed and released the write lock (``render_revision``), so no writer waits
    on reportlab."""
    s = tx.session
    if lot.state not in DISPOSITIONED:
        return None
    revs = revision_rows(s, lot)
    n = revs[-1].revision + 1 if revs else 1
    actor = tx.actor
    assert actor is not None
    content = build_content(
        s, db, lot, revision=n, issued_at=tx.now, issued_by=actor.username, reason=reason
    )
    body = body_hash(content)
    if revs and revs[-1].results_hash == body:
        return None
    content["audit_checkpoint"] = tx.checkpoint_text()  # the trail's head, keyed (issue 11)
    sha = coa.content_sha256(content)
    row = CoaRevision(
        lot_pk=lot.id,  # type: ignore[arg-type]
        revision=n,
        document_id=content["document_id"],
        reason=reason,
        content_sha256=sha,
        results_hash=body,
        created_at=tx.now,
        created_by=actor.username,
        content_json=json.dumps(content, sort_keys=True, ensure_ascii=False),
    )
    s.add(row)
    s.flush()
    tx.audit(
        "coa.issued",
        "coa_revision",
        row.document_id,
        lot_number=lot.lot_number,
        new={"revision": n, "content_sha256": sha},
        reason=reason,
    )
    pk, now = row.id or 0, tx.now
    tx.after_commit(lambda: render_revision(db, pk, actor=actor, now=now))
    return row


def _render_stored(row: CoaRevision) -> bytes:
    """The PDF of a revision: the bytes stored for it, else rendered from its stored content
    (deterministic: the same content always gives the same bytes)."""
    if row.pdf_sha256:
        return row.pdf
    content = json.loads(row.content_json)
    return coa.render(content, row.content_sha256 or coa.content_sha256(content))


def render_revision(db: Database, revision_pk: int, *, actor: Actor, now: datetime) -> bytes:
    """Render a stored revision's PDF outside the write lock and store it, once (audited
    ``coa.rendered`` with its SHA-256); a revision already rendered is returned as stored."""
    with db.read() as s:
        row = s.get(CoaRevision, revision_pk)
        if row is None:
            raise NotFound("COA revision", str(revision_pk))
        lot = s.get(Lot, row.lot_pk)
        assert lot is not None
    if row.pdf_sha256:
        return row.pdf
    pdf = _render_stored(row)
    digest = hashlib.sha256(pdf).hexdigest()
    with db.write(actor, now) as tx:
        stored = tx.session.exec(
            update(CoaRevision)
            .where(col(CoaRevision.id) == revision_pk, col(CoaRevision.pdf_sha256) == "")
            .values(pdf=pdf, pdf_sha256=digest)
        )
        if stored.rowcount == 1:
            tx.audit(
                "coa.rendered",
                "coa_revision",
                row.document_id,
                lot_number=lot.lot_number,
                new={"revision": row.revision, "pdf_sha256": digest},
            )
        tx.commit()
    if stored.rowcount == 1:
        return pdf
    with db.read() as s:  # someone else stored it first: theirs is the issued file
        again = s.get(CoaRevision, revision_pk)
        assert again is not None
        return again.pdf


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
        revs = revision_rows(s, lot)
        latest = revs[-1].revision if revs else 0
        return [_view(lot, r, latest) for r in revs]


def _pick(lot: Lot, revs: list[CoaRevision], revision: int | None) -> CoaRevision:
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
    return row


def issue_coa(
    lot_number: str,
    *,
    revision: int | None = None,
    destination: str,
    db: Database,
    actor: Actor,
    now: datetime,
    deliver: Callable[[bytes], None] | None = None,
) -> CoaIssue:
    """The PDF of a revision (default: the current one) as issued; the print is audited.

    ``deliver`` (writing the file) runs before the commit: a COA whose file could not be
    written is not recorded as printed."""
    actor.require("coa.print")
    if revision is None:
        reissue_if_changed(lot_number, db=db, actor=actor, now=now)
    with db.read() as s:
        lot = get_lot_row(s, lot_number)
        # a lot whose spec, dose level or weight cannot be read (an edit outside CellTrail)
        # gets no certificate, not even an earlier revision's (the current one is refused above)
        lot_view(db, s, lot)
        row = _pick(lot, revision_rows(s, lot), revision)
    pdf = render_revision(db, row.id or 0, actor=actor, now=now)
    with db.write(actor, now) as tx:
        latest = tx.session.exec(
            select(func.max(CoaRevision.revision)).where(CoaRevision.lot_pk == lot.id)
        ).one()
        tx.audit(
            "coa.printed",
            "coa_revision",
            row.document_id,
            lot_number=lot.lot_number,
            new={
                "revision": row.revision,
                "current": row.revision == latest,
                "destination": destination,
            },
        )
        if deliver is not None:
            deliver(pdf)
        tx.commit()
    with db.read() as s:
        stored = s.get(CoaRevision, row.id)
        assert stored is not None
    return CoaIssue(_view(lot, stored, latest), pdf, hold_line(json.loads(stored.content_json)))


def reissue_if_changed(lot_number: str, *, db: Database, actor: Actor, now: datetime) -> None:
    """Before the current revision is printed (``issue_coa`` calls it; a screen that names the
    file after the revision calls it first): if what the certificate would say changed without
    a new revision (e.g. a corrected body weight, or a hold no writer re-issued for), issue it
    now, so no print omits a standing hold."""
    actor.require("coa.print")
    with db.write(actor, now) as tx:
        lot = get_lot_row(tx.session, lot_number)
        revs = revision_rows(tx.session, lot)
        if revs:
            refresh_in_tx(
                tx, db, lot, f"the lot changed since revision {revs[-1].revision} (found at print)"
            )
        tx.commit()


def hold_line(content: dict[str, Any]) -> str:
    """One line on what a revision says of holds (empty when it states none)."""
    holds = content.get("holds")
    if not holds:
        return ""
    if holds["on_hold"]:
        why = [f"QA hold: {m['reason']}" for m in holds["manual"]]
        why += [h["message"] for h in holds["active"]]
        return "this COA states the lot is ON HOLD: " + "; ".join(why)
    if holds["oos_administrations"]:
        o = holds["oos_administrations"][-1]
        return (
            "this COA states an out-of-specification administration approved by "
            f"{o['printed_name']} at {o['signed_at']} (physician {o['physician']})"
        )
    return ""


def _unaltered(
    facts: coa.PdfFacts,
    row: CoaRevision,
    lot_number: str,
    pdf: bytes,
    stored_ok: bool,
    msgs: list[str],
) -> bool | None:
    """Is the file the PDF issued (None: a scanned image cannot tell)? Says why in ``msgs``."""
    assert facts.identity is not None
    if facts.sha256 == hashlib.sha256(pdf).hexdigest():
        msgs.append("file identical to the issued PDF (SHA-256 " + facts.sha256[:16] + "...)")
        return stored_ok
    if facts.identity.found_in == "qr" and not any(t.strip() for t in facts.text):
        msgs.append(
            "identified from the QR code of a scanned image: the content of an image cannot be "
            f"proven unaltered; compare it with `mfg coa {lot_number} --revision "
            f"{row.revision}`"
        )
        return None
    if coa.read_pdf(pdf).text != facts.text:
        msgs.append("ALTERED: the text differs from the issued PDF")
    else:
        msgs.append("ALTERED: the text matches but the file is not the PDF issued")
    return False


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
    pdf = _render_stored(row)
    stored_ok = coa.content_sha256(json.loads(row.content_json)) == row.content_sha256 and (
        not row.pdf_sha256 or hashlib.sha256(row.pdf).hexdigest() == row.pdf_sha256
    )
    if not stored_ok:
        msgs.append("the stored revision no longer matches its own hash (database altered?)")
    unaltered = _unaltered(facts, row, lot.lot_number, pdf, stored_ok, msgs)
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
        revs = revision_rows(s, lot)
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
