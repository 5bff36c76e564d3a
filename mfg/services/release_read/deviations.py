"""Read model of deviations (OOS and manual), as the review, the COA and the CLI show them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from mfg.store.tables import Deviation, Lot, ReleaseResult


@dataclass(frozen=True)
class DeviationView:
    number: str
    lot_number: str
    kind: str
    classification: str
    description: str
    test_code: str | None
    opened_by: str
    opened_at: datetime
    closed_by: str | None
    closed_at: datetime | None
    closure_note: str | None

    @property
    def is_open(self) -> bool:
        return self.closed_at is None


def deviation_view(session: Session, d: Deviation, lot_number: str | None = None) -> DeviationView:
    if lot_number is None:
        lot = session.get(Lot, d.lot_pk)
        lot_number = lot.lot_number if lot else "?"
    code = None
    if d.result_pk is not None:
        r = session.get(ReleaseResult, d.result_pk)
        code = r.test_code if r else None
    return DeviationView(
        number=d.number,
        lot_number=lot_number,
        kind=d.kind,
        classification=d.classification,
        description=d.description,
        test_code=code,
        opened_by=d.opened_by,
        opened_at=d.opened_at,
        closed_by=d.closed_by,
        closed_at=d.closed_at,
        closure_note=d.closure_note,
    )


def lot_deviations(session: Session, lot: Lot) -> list[DeviationView]:
    rows = session.exec(
        select(Deviation).where(Deviation.lot_pk == lot.id).order_by(col(Deviation.id))
    ).all()
    return [deviation_view(session, d, lot.lot_number) for d in rows]
