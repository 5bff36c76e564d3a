"""Scenario helpers for label and custody tests."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, func, select

from mfg.services import labels as label_svc
from mfg.services.uow import Actor, Database
from mfg.store.tables import LabelLayoutApproval, Lot
from tests.support import world
from tests.support.constants import NOW


def n_rows(db: Database, table: type) -> int:
    with db.read() as s:
        return s.exec(select(func.count()).select_from(table)).one()


def set_lot_state(db: Database, lot_number: str, state: str, *, now: datetime = NOW) -> None:
    """Put a lot into ``state``: a (conditional) release by QA's real disposition (passing
    results entered and verified, STER pending for a conditional one), since a lot whose state
    says released without a signed disposition is held (``state-unsigned``); any other state
    directly (a stand-in for the step that leads there)."""
    if state in ("released", "conditionally_released"):
        from tests.release.conftest import PASSING, enter, sign
        from tests.support.constants import FULL_NAMES, ROLES

        actors = {n: Actor(n, FULL_NAMES[n], ROLES[n]) for n in ("tech", "tech2", "qa")}
        conditional = state == "conditionally_released"
        values = {**PASSING, "STER": "pending"} if conditional else PASSING
        enter(db, actors, lot_number, values, now=now)
        decision = "conditional-release" if conditional else "release"
        why = "sterility pending" if conditional else "ok"
        sign(db, actors, lot_number, decision, reason=why, now=now)
        return
    with Session(db.engine) as s:
        lot = s.exec(select(Lot).where(Lot.lot_number == lot_number)).one()
        lot.state = state
        s.add(lot)
        s.commit()


def harvested_with_labels(
    db: Database, tech: Actor, subject_id: str = "S-001", *, now: datetime = NOW, **kw: object
) -> tuple[str, list[str]]:
    """A harvested lot (3 bags by default) with its dose-bag labels printed: (lot, payloads)."""
    lv, _ = world.harvested_lot(db, tech, subject_id, now=now, **kw)  # type: ignore[arg-type]
    if n_rows(db, LabelLayoutApproval) == 0:
        world.approve_label_layouts(db, now)
    res = label_svc.print_labels(
        label_svc.PrintLabels(lv.lot_number, "dose-bag"), db=db, actor=tech, now=now
    )
    return lv.lot_number, list(res.payloads)
