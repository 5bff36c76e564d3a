"""Deviations: opened automatically for out-of-specification results (OOS), or by QA; closed by
QA with a note. Numbered ``DEV-YYYY-NNNN`` per calendar year of the site. Nothing is deleted."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func
from sqlmodel import Session, col, select

from mfg.domain.text import check_text
from mfg.errors import NotFound, RuleViolation
from mfg.services import coa_service
from mfg.services.lots import get_lot_row
from mfg.services.release_read import DeviationView, deviation_view
from mfg.services.uow import Actor, Database, Tx
from mfg.store.tables import Alert, Deviation, Lot, ReleaseResult

__all__ = [
    "CLASSIFICATIONS",
    "KINDS",
    "DeviationView",
    "acknowledge_alerts",
    "close_deviation",
    "list_deviations",
    "open_deviation",
    "open_in_tx",
]

CLASSIFICATIONS = ("unclassified", "minor", "major", "critical")
KINDS = ("OOS", "dose", "harvest-window", "process", "other")


def next_number(session: Session, year: int) -> str:
    """``DEV-2026-0007``: max + 1 within the year (safe: the write transaction is serialised)."""
    prefix = f"DEV-{year:04d}-"
    last = session.exec(
        select(func.max(Deviation.number)).where(col(Deviation.number).like(prefix + "%"))
    ).one()
    seq = int(last[len(prefix) :]) + 1 if last else 1
    return f"{prefix}{seq:04d}"


def open_in_tx(
    tx: Tx,
    db: Database,
    lot: Lot,
    *,
    kind: str,
    description: str,
    result: ReleaseResult | None = None,
    classification: str = "unclassified",
) -> Deviation:
    """Open a deviation inside the caller's transaction (audited)."""
    assert tx.actor is not None
    d = Deviation(
        number=next_number(tx.session, db.today(tx.now).year),
        lot_pk=lot.id,  # type: ignore[arg-type]
        result_pk=result.id if result else None,
        kind=kind,
        classification=classification,
        description=description,
        opened_by=tx.actor.username,
        opened_at=tx.now,
    )
    tx.session.add(d)
    tx.session.flush()
    tx.audit(
        "deviation.opened",
        "deviation",
        d.number,
        lot_number=lot.lot_number,
        new={
            "number": d.number,
            "kind": kind,
            "classification": classification,
            "test_code": result.test_code if result else None,
            "description": description,
        },
    )
    return d


def _classification(text: str) -> str:
    c = text.strip().lower()
    if c not in CLASSIFICATIONS:
        raise RuleViolation(
            "classification",
            "unknown-classification",
            f"{text!r} is not one of {', '.join(CLASSIFICATIONS)}",
        )
    return c


def open_deviation(
    lot_number: str,
    kind: str,
    description: str,
    *,
    classification: str = "unclassified",
    db: Database,
    actor: Actor,
    now: datetime,
) -> DeviationView:
    """QA opens a deviation by hand (dose not reached, process event, ...)."""
    actor.require("deviation.manage")
    k = kind.strip()
    if k not in KINDS:
        raise RuleViolation(
            "kind", "unknown-deviation-kind", f"{kind!r}: one of {', '.join(KINDS)}"
        )
    if not description.strip():
        raise RuleViolation("description", "description-required", "say what deviated")
    check_text("description", description, newline_ok=True)
    c = _classification(classification)
    with db.write(actor, now) as tx:
        lot = get_lot_row(tx.session, lot_number)
        d = open_in_tx(tx, db, lot, kind=k, description=description.strip(), classification=c)
        coa_service.refresh_in_tx(tx, db, lot, f"deviation {d.number} opened")
        tx.commit()
        return deviation_view(tx.session, d, lot.lot_number)


def close_deviation(
    number: str,
    note: str,
    *,
    classification: str | None = None,
    db: Database,
    actor: Actor,
    now: datetime,
) -> DeviationView:
    """QA closes a deviation with a note (investigation outcome, CAPA reference)."""
    actor.require("deviation.manage")
    if not note.strip():
        raise RuleViolation("note", "note-required", "closing a deviation needs a note")
    check_text("note", note, newline_ok=True)
    c = _classification(classification) if classification else None
    with db.write(actor, now) as tx:
        s = tx.session
        d = s.exec(select(Deviation).where(Deviation.number == number.strip().upper())).first()
        if d is None:
            raise NotFound("deviation", number)
        if d.closed_at is not None:
            raise RuleViolation(
                "deviation", "already-closed", f"{d.number} was closed by {d.closed_by}"
            )
        old = {"classification": d.classification, "closed": False}
        d.closed_by, d.closed_at, d.closure_note = actor.username, now, note.strip()
        if c:
            d.classification = c
        d.row_version += 1
        s.add(d)
        lot = s.get(Lot, d.lot_pk)
        assert lot is not None
        tx.audit(
            "deviation.closed",
            "deviation",
            d.number,
            lot_number=lot.lot_number,
            old=old,
            new={"classification": d.classification, "closed": True},
            reason=note.strip(),
        )
        coa_service.refresh_in_tx(tx, db, lot, f"deviation {d.number} closed")
        tx.commit()
        return deviation_view(s, d, lot.lot_number)


def list_deviations(
    *, db: Database, actor: Actor, lot_number: str | None = None, open_only: bool = False
) -> list[DeviationView]:
    actor.require("lot.read")
    with db.read() as s:
        q = select(Deviation).order_by(col(Deviation.number))
        if lot_number:
            q = q.where(Deviation.lot_pk == get_lot_row(s, lot_number).id)
        if open_only:
            q = q.where(col(Deviation.closed_at).is_(None))
        return [deviation_view(s, d) for d in s.exec(q).all()]


def acknowledge_alerts(
    lot_number: str, note: str, *, db: Database, actor: Actor, now: datetime
) -> int:
    """QA acknowledges the open alerts of a lot (e.g. the treating site was notified); they leave
    the board and `mfg lot show`, and stay on the COA marked as acknowledged."""
    actor.require("deviation.manage")
    if not note.strip():
        raise RuleViolation("note", "note-required", "say what was done (e.g. site notified)")
    check_text("note", note, newline_ok=True)
    with db.write(actor, now) as tx:
        s = tx.session
        lot = get_lot_row(s, lot_number)
        alerts = s.exec(
            select(Alert)
            .where(Alert.lot_pk == lot.id, col(Alert.acknowledged_at).is_(None))
            .order_by(col(Alert.id))
        ).all()
        if not alerts:
            raise RuleViolation("lot", "no-open-alerts", f"lot {lot.lot_number} has no open alerts")
        for a in alerts:
            a.acknowledged_by, a.acknowledged_at = actor.username, now
            s.add(a)
            tx.audit(
                "alert.acknowledged",
                "alert",
                a.id or 0,
                lot_number=lot.lot_number,
                old={"acknowledged": False},
                new={"acknowledged": True, "kind": a.kind},
                reason=note.strip(),
            )
        coa_service.refresh_in_tx(tx, db, lot, f"alerts acknowledged: {note.strip()}")
        tx.commit()
        return len(alerts)
