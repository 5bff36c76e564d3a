"""Label control (FACT-JACIE labelling; 21 CFR 1271.250): approved layouts, applied and voided
labels, reconciliation.

- A label layout version (``labels.layouts``) is printed only after QA approved that kind,
  version and definition SHA-256 with an electronic signature (password asked again).
- Every print records its layout version (``LabelPrint.layout_version``).
- A label stuck on its container is scanned once more: ``apply_label`` records it as applied.
- QA voids spoiled or surplus copies with a reason (``void_labels``).
- ``reconcile`` shows, per print, copies printed, applied, voided and still unaccounted for.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func
from sqlmodel import Session, col, select

from labels import layouts
from labels.payload import LabelKind, parse_kind
from mfg.domain.reasons import require_reason
from mfg.errors import NotFound, RuleViolation
from mfg.services import users
from mfg.services.lots import get_lot_row
from mfg.services.scanning import resolve_payload
from mfg.services.uow import Actor, Database, Tx
from mfg.store.tables import LabelEvent, LabelLayoutApproval, LabelPrint, Lot

APPROVED = "approved label layout"
APPLIED, VOIDED = "applied", "voided"


@dataclass(frozen=True)
class LayoutStatus:
    kind: str
    version: int
    description: str
    definition_sha256: str
    approved_by: str | None
    approved_at: datetime | None


@dataclass(frozen=True)
class ReconcileRow:
    print_id: int
    kind: str
    object_ref: str
    layout_version: int | None
    printed_by: str
    printed_at: datetime
    printed: int
    applied: int
    voided: int

    @property
    def unaccounted(self) -> int:
        return self.printed - self.applied - self.voided


@dataclass(frozen=True)
class Reconciliation:
    lot_number: str
    rows: tuple[ReconcileRow, ...]

    @property
    def printed(self) -> int:
        return sum(r.printed for r in self.rows)

    @property
    def applied(self) -> int:
        return sum(r.applied for r in self.rows)

    @property
    def voided(self) -> int:
        return sum(r.voided for r in self.rows)

    @property
    def unaccounted(self) -> int:
        return sum(r.unaccounted for r in self.rows)


@dataclass(frozen=True)
class LabelEventView:
    print_id: int
    action: str
    quantity: int
    object_ref: str
    lot_number: str
    reason: str | None
    by: str
    at: datetime


# -- layouts ----------------------------------------------------------------------------------


def _approval(session: Session, kind: LabelKind, sha: str) -> LabelLayoutApproval | None:
    return session.exec(
        select(LabelLayoutApproval).where(
            LabelLayoutApproval.kind == kind.value,
            LabelLayoutApproval.version == layouts.CURRENT_VERSION,
            LabelLayoutApproval.definition_sha256 == sha,
        )
    ).first()


def require_approved(session: Session, kind: LabelKind) -> int:
    """The layout version to print ``kind`` with; refused until QA approved it."""
    sha = layouts.definition_sha256(kind)
    if _approval(session, kind, sha) is None:
        raise RuleViolation(
            "layout",
            "layout-not-approved",
            f"label layout {kind.value} v{layouts.CURRENT_VERSION} (definition {sha[:12]}) is "
            f"not approved by QA: `mfg labels approve-layout {kind.value} --reason ...`",
        )
    return layouts.CURRENT_VERSION


def approve_layout(
    kind: str, reason: str, password: str, *, db: Database, actor: Actor, now: datetime
) -> LayoutStatus:
    """QA approves the current layout of ``kind`` with an electronic signature."""
    actor.require("label.approve")
    k = parse_kind(kind)
    why = require_reason(reason, "say why the layout is fit for use (audited)")
    layouts.check_codes(k)  # the definition QA signs must be one that can print
    sha = layouts.definition_sha256(k)
    signer = users.reauthenticate(db, actor, password, now=now)
    with db.write(actor, now) as tx:
        if _approval(tx.session, k, sha) is not None:
            raise RuleViolation(
                "layout",
                "layout-already-approved",
                f"label layout {k.value} v{layouts.CURRENT_VERSION} ({sha[:12]}) is approved",
            )
        row = LabelLayoutApproval(
            kind=k.value,
            version=layouts.CURRENT_VERSION,
            definition_sha256=sha,
            username=signer.username,
            printed_name=signer.full_name,
            meaning=APPROVED,
            reason=why,
            signed_at=now,
        )
        tx.session.add(row)
        tx.session.flush()
        tx.audit(
            "label_layout.approved",
            "label_layout",
            f"{k.value}/v{layouts.CURRENT_VERSION}/{sha[:12]}",
            new={
                "kind": k.value,
                "version": layouts.CURRENT_VERSION,
                "definition_sha256": sha,
                "printed_name": signer.full_name,
                "meaning": APPROVED,
            },
            reason=why,
        )
        tx.commit()
    return _status(k, row)


def _status(kind: LabelKind, row: LabelLayoutApproval | None) -> LayoutStatus:
    return LayoutStatus(
        kind.value,
        layouts.CURRENT_VERSION,
        layouts.DESCRIPTIONS[layouts.CURRENT_VERSION],
        layouts.definition_sha256(kind),
        row.printed_name if row else None,
        row.signed_at if row else None,
    )


def layout_status(*, db: Database, actor: Actor) -> list[LayoutStatus]:
    actor.require("lot.read")
    with db.read() as s:
        return [_status(k, _approval(s, k, layouts.definition_sha256(k))) for k in LabelKind]


# -- applied, voided, reconciled --------------------------------------------------------------


def _counts(session: Session, print_ids: list[int]) -> dict[tuple[int, str], int]:
    if not print_ids:
        return {}
    rows = session.exec(
        select(LabelEvent.print_pk, LabelEvent.action, func.sum(LabelEvent.quantity))
        .where(col(LabelEvent.print_pk).in_(print_ids))
        .group_by(col(LabelEvent.print_pk), col(LabelEvent.action))
    ).all()
    return {(pk, action): int(n) for pk, action, n in rows}


def _left(session: Session, row: LabelPrint) -> int:
    c = _counts(session, [row.id or 0])
    return row.copies - c.get((row.id or 0, APPLIED), 0) - c.get((row.id or 0, VOIDED), 0)


def _record(
    tx: Tx, row: LabelPrint, lot: Lot, action: str, quantity: int, reason: str | None
) -> LabelEventView:
    ev = LabelEvent(
        print_pk=row.id or 0,
        action=action,
        quantity=quantity,
        reason=reason,
        by=tx.actor.username if tx.actor else "system",
        at=tx.now,
    )
    tx.session.add(ev)
    tx.session.flush()
    tx.audit(
        f"label.{action}",
        "labelevent",
        ev.id or 0,
        lot_number=lot.lot_number,
        new={"print": row.id, "object": row.object_ref, "action": action, "quantity": quantity},
        reason=reason,
    )
    return LabelEventView(
        row.id or 0, action, quantity, row.object_ref, lot.lot_number, reason, ev.by, ev.at
    )


def apply_label(code: str, *, db: Database, actor: Actor, now: datetime) -> LabelEventView:
    """Record that a printed label was applied to its container (scanned after applying it)."""
    actor.require("label.print")
    with db.write(actor, now) as tx:
        r = resolve_payload(tx.session, db, code)
        if r.first_print is None:
            raise RuleViolation(
                "payload",
                "not-a-container-label",
                "scan the label's QR code or Data Matrix symbol, not a lone CoI",
            )
        prints = [p for p in _prints_of(tx.session, r.lot, code) if _left(tx.session, p) > 0]
        if not prints:
            raise RuleViolation(
                "payload",
                "label-all-accounted",
                f"every printed copy of this label of {r.ref.object_ref} is already applied or "
                "voided: a further copy needs a reprint (QA investigates the extra label)",
            )
        view = _record(tx, prints[0], r.lot, APPLIED, 1, None)
        tx.commit()
        return view


def _prints_of(session: Session, lot: Lot, code: str) -> list[LabelPrint]:
    text = code.strip()
    column = LabelPrint.isbt128 if text[:1] in ("=", "&") else LabelPrint.payload
    return list(
        session.exec(
            select(LabelPrint)
            .where(LabelPrint.lot_pk == lot.id, column == text)
            .order_by(col(LabelPrint.id))
        ).all()
    )


def void_labels(
    print_id: int, reason: str, *, copies: int = 1, db: Database, actor: Actor, now: datetime
) -> LabelEventView:
    """QA voids ``copies`` spoiled or surplus copies of a print, with a reason."""
    actor.require("label.void")
    why = require_reason(reason, "say why the label is voided (audited)")
    with db.write(actor, now) as tx:
        row = tx.session.get(LabelPrint, print_id)
        if row is None:
            raise NotFound("label print", str(print_id))
        left = _left(tx.session, row)
        if not 1 <= copies <= left:
            raise RuleViolation(
                "copies",
                "void-copies-range",
                f"print {print_id} has {left} cop{'y' if left == 1 else 'ies'} not yet applied "
                "or voided",
            )
        lot = tx.session.get(Lot, row.lot_pk)
        assert lot is not None
        view = _record(tx, row, lot, VOIDED, copies, why)
        tx.commit()
        return view


def lot_prints(session: Session, lot: Lot) -> list[LabelPrint]:
    """The label prints of a lot, oldest first."""
    return list(
        session.exec(
            select(LabelPrint).where(LabelPrint.lot_pk == lot.id).order_by(col(LabelPrint.id))
        ).all()
    )


def reconcile(lot_number: str, *, db: Database, actor: Actor) -> Reconciliation:
    """Printed vs applied vs voided labels of a lot, per print."""
    actor.require("lot.read")
    with db.read() as s:
        lot = get_lot_row(s, lot_number)
        prints = lot_prints(s, lot)
        c = _counts(s, [p.id or 0 for p in prints])
        rows = tuple(
            ReconcileRow(
                p.id or 0,
                p.kind,
                p.object_ref,
                p.layout_version,
                p.printed_by,
                p.printed_at,
                p.copies,
                c.get((p.id or 0, APPLIED), 0),
                c.get((p.id or 0, VOIDED), 0),
            )
            for p in prints
        )
        return Reconciliation(lot.lot_number, rows)
