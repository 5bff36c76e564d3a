"""Import of historical lots from a CSV file (labs moving from spreadsheets), in two steps.

1. ``import_lots`` (QA) validates the whole file (``mfg.domain.import_rows``: format, rows,
   duplicates within the file) and against the database (a lot already here: the same lot id,
   or the same subject + day 0 + source; a subject whose attributes differ), then STAGES it: the
   file is kept as an ``ImportBatch`` and nothing else changes. Any bad row refuses the file,
   listing every bad row and field.
2. ``approve_import`` (a SECOND QA person, e-signature: the password is asked again) validates
   the staged file again against the database as it is then and writes everything in ONE
   transaction (``import_writer``): subjects created or matched, HISTORICAL lots (never
   issuable; marked everywhere), their harvest and release results, each with its own audit
   event citing the file row, and the approval's signature. ``reject_import`` closes a batch.

No dose bags and no dispositions are created: historical bags are not in this inventory and a
disposition needs an e-signature nobody gave here.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlmodel import Session, col, select

from mfg.domain import import_rows, import_subjects
from mfg.domain.import_rows import (
    BASE_COLUMNS,
    Errors,
    ImportRejected,
    ImportRow,
    RowError,
    read_table,
)
from mfg.domain.reasons import require_reason
from mfg.domain.specs import Product
from mfg.errors import NotFound, NotPermitted, RuleViolation
from mfg.services import users
from mfg.services.import_writer import ImportResult, write_import
from mfg.services.uow import Actor, Database
from mfg.store import bulk
from mfg.store.tables import ImportBatch, Lot, Subject

MAX_ERRORS_LISTED = 1000
STAGED, APPROVED, REJECTED = "staged", "approved", "rejected"

Progress = Callable[[str, int, int], None]  # (phase, done, total)


@dataclass(frozen=True)
class StagedImport:
    id: int
    file: str
    sha256: str
    product_code: str
    lots: int
    state: str
    staged_by: str
    staged_at: datetime
    decided_by: str | None = None
    decided_at: datetime | None = None
    decision_reason: str | None = None

    @classmethod
    def of(cls, b: ImportBatch) -> StagedImport:
        return cls(
            b.id or 0,
            b.file_name,
            b.sha256,
            b.product_code,
            b.lot_count,
            b.state,
            b.staged_by,
            b.staged_at,
            b.decided_by,
            b.decided_at,
            b.decision_reason,
        )


def _validated(
    session: Session, data: bytes, product: Product, today: datetime, progress: Progress | None
) -> tuple[list[ImportRow], dict[str, ImportRow], dict[str, Subject]]:
    """The file's rows, valid on their own and against the database; else ImportRejected."""
    _, raw_rows = read_table(data, product)
    step = (lambda done, total: progress("validating", done, total)) if progress else None
    rows, errors = import_rows.parse_rows(raw_rows, product, today.date(), step)
    if not rows and not errors.items:
        raise RuleViolation("file", "file-empty", "the file has no lots")
    existing = _existing_subjects(session, rows)
    _check_lots_not_here(session, rows, errors)
    new_subjects = import_subjects.check_subjects(rows, existing, errors)
    if new_subjects:
        import_subjects.check_lookalikes(
            new_subjects,
            session.exec(select(Subject.subject_id)).all(),
            session.exec(select(Subject.site).distinct()).all(),
            errors,
        )
    if errors.items:
        errors.items.sort(key=lambda e: (e.row, e.field))
        raise ImportRejected(errors.items)
    return rows, new_subjects, existing


def _existing_subjects(session: Session, rows: list[ImportRow]) -> dict[str, Subject]:
    wanted = sorted({r.subject_id for r in rows})
    out: dict[str, Subject] = {}
    for k in range(0, len(wanted), 900):
        chunk = wanted[k : k + 900]
        for subj in session.exec(select(Subject).where(col(Subject.subject_id).in_(chunk))):
            out[subj.subject_id] = subj
    return out


def _check_lots_not_here(session: Session, rows: list[ImportRow], errors: Errors) -> None:
    """Duplicates by the lots themselves: the same lot number, or the same subject + day 0 +
    source as a lot already in CellTrail (imported or registered), whatever the file's bytes."""
    numbers = sorted({r.lot_number for r in rows if r.lot_number})
    taken: set[str] = set()
    for k in range(0, len(numbers), 900):
        chunk = numbers[k : k + 900]
        taken.update(session.exec(select(Lot.lot_number).where(col(Lot.lot_number).in_(chunk))))
    subjects = sorted({r.subject_id for r in rows})
    known: dict[tuple[str, object, str], str] = {}
    for k in range(0, len(subjects), 900):
        q = (
            select(col(Subject.subject_id), col(Lot.day0), col(Lot.source), col(Lot.lot_number))
            .join(Subject, col(Subject.id) == col(Lot.subject_pk))
            .where(col(Subject.subject_id).in_(subjects[k : k + 900]))
        )
        for sid, day0, source, number in session.exec(q):
            known[(sid, day0, source)] = number
    for r in rows:
        same = known.get(import_rows.lot_key(r))
        if r.lot_number in taken:
            msg = f"lot {r.lot_number} is already in CellTrail"
        elif same is not None:
            msg = f"lot {same} is the same lot (subject {r.subject_id}, day 0 {r.day0}, {r.source})"
        else:
            continue
        errors.items.append(RowError(r.line, r.lot_id, "lot_id", "lot-exists", msg))


def import_lots(
    path: str | Path,
    *,
    db: Database,
    actor: Actor,
    now: datetime,
    product_code: str = "BH002",
    progress: Progress | None = None,
) -> StagedImport:
    """Validate the whole file and stage it; nothing else changes until a second QA person
    approves it (``approve_import``)."""
    actor.require("import.lots")
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise RuleViolation("file", "file-unreadable", f"{path}: {e.strerror}") from None
    product = db.product(product_code)
    local_now = db.local(now)
    with db.write(actor, now) as tx, bulk.no_cyclic_gc():
        s = tx.session
        rows, _, _ = _validated(s, data, product, local_now, progress)
        sha = hashlib.sha256(data).hexdigest()
        batch = ImportBatch(
            file_name=path.name[:200],
            sha256=sha,
            content=data.decode("utf-8-sig"),
            product_code=product.code,
            lot_count=len(rows),
            state=STAGED,
            staged_by=actor.username,
            staged_at=now,
        )
        s.add(batch)
        s.flush()
        tx.audit(
            "import.staged",
            "import",
            batch.id or 0,
            new={
                "file": batch.file_name,
                "sha256": sha,
                "lots": len(rows),
                "product": product.code,
            },
        )
        view = StagedImport.of(batch)
        tx.commit()
        return view


def _staged(session: Session, batch_id: int) -> ImportBatch:
    batch = session.get(ImportBatch, batch_id)
    if batch is None:
        raise NotFound("import", str(batch_id))
    if batch.state != STAGED:
        raise RuleViolation(
            "import", "import-not-staged", f"import {batch_id} is {batch.state}, not staged"
        )
    return batch


def approve_import(
    batch_id: int,
    password: str,
    *,
    db: Database,
    actor: Actor,
    now: datetime,
    progress: Progress | None = None,
) -> ImportResult:
    """A second QA person approves a staged import with an e-signature: the lots are written."""
    actor.require("import.lots")
    signer = users.reauthenticate(db, actor, password, now=now)
    local_now = db.local(now)
    with db.write(signer, now) as tx, bulk.no_cyclic_gc():
        s = tx.session
        batch = _staged(s, batch_id)
        if batch.staged_by == signer.username:
            raise NotPermitted(
                f"{signer.username} staged import {batch_id}: another QA person must approve it",
                rule="import-four-eyes",
            )
        product = db.product(batch.product_code)
        data = batch.content.encode("utf-8")
        rows, new_subjects, existing = _validated(s, data, product, local_now, progress)
        result = write_import(
            tx,
            rows,
            new_subjects,
            existing,
            product,
            batch_pk=batch_id,
            file_name=batch.file_name,
            sha=batch.sha256,
            fin=db.settings.facility_id,
            progress=progress,
        )
        record = f"import {batch_id} {batch.sha256} {len(rows)} lots approved by {signer.username}"
        batch.state, batch.decided_by, batch.decided_name = (
            APPROVED,
            signer.username,
            signer.full_name,
        )
        batch.decided_at, batch.row_version = now, batch.row_version + 1
        batch.record_hash = hashlib.sha256(record.encode("utf-8")).hexdigest()
        s.add(batch)
        tx.audit(
            "import.approved",
            "import",
            batch_id,
            new={
                "lots": len(rows),
                "sha256": batch.sha256,
                "signed_by": signer.full_name,
                "decided_name": signer.full_name,
                "meaning": "import approved",
                "record_sha256": batch.record_hash,
            },
        )
        tx.commit()
        return result


def reject_import(
    batch_id: int, reason: str, *, db: Database, actor: Actor, now: datetime
) -> StagedImport:
    """QA closes a staged import without writing it."""
    actor.require("import.lots")
    why = require_reason(reason, "rejecting an import needs a reason")
    with db.write(actor, now) as tx:
        batch = _staged(tx.session, batch_id)
        batch.state, batch.decided_by, batch.decided_name = (
            REJECTED,
            actor.username,
            actor.full_name,
        )
        batch.decided_at, batch.decision_reason = now, why
        batch.row_version += 1
        tx.session.add(batch)
        tx.audit(
            "import.rejected",
            "import",
            batch_id,
            new={"state": REJECTED, "decided_name": actor.full_name},
            reason=why,
        )
        view = StagedImport.of(batch)
        tx.commit()
        return view


def list_imports(*, db: Database, actor: Actor, staged_only: bool = False) -> list[StagedImport]:
    actor.require("import.lots")
    with db.read() as s:
        q = select(ImportBatch).order_by(col(ImportBatch.id))
        if staged_only:
            q = q.where(ImportBatch.state == STAGED)
        return [StagedImport.of(b) for b in s.exec(q).all()]


__all__ = [
    "BASE_COLUMNS",
    "MAX_ERRORS_LISTED",
    "ImportRejected",
    "ImportResult",
    "RowError",
    "StagedImport",
    "approve_import",
    "import_lots",
    "list_imports",
    "reject_import",
]
