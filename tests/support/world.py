"""Builders for test scenarios through the real services (so every row is audited)."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from labels.payload import LabelKind
from mfg.services import counts, harvest, label_control, lots, subjects
from mfg.services.uow import Actor, Database
from tests.support.constants import FULL_NAMES, NOW, PASSWORD, ROLES, TODAY


def second_person(actor: Actor) -> Actor:
    """The other technician: verifies what ``actor`` entered (four eyes)."""
    name = "tech" if actor.username == "tech2" else "tech2"
    return Actor(name, FULL_NAMES[name], ROLES[name])


def subject(
    db: Database,
    tech: Actor,
    subject_id: str = "S-001",
    *,
    weight_kg: float = 62.5,
    dose_level: str = "DL2",
    indication: str = "SLE",
    site: str = "BJ01",
    now: datetime = NOW,
) -> subjects.SubjectView:
    return subjects.add_subject(
        subjects.AddSubject(
            subject_id=subject_id,
            site=site,
            indication=indication,
            weight_kg=weight_kg,
            dose_level=dose_level,
            initials="AB",
            dob=date(1988, 4, 2),
        ),
        db=db,
        actor=tech,
        now=now,
    )


def lot(
    db: Database,
    tech: Actor,
    subject_id: str = "S-001",
    *,
    day0: date | None = None,
    source: str = "apheresis",
    now: datetime = NOW,
) -> lots.LotView:
    day0 = day0 or TODAY - timedelta(days=11)
    cmd = (
        lots.RegisterLot(subject_id, source, apheresis_on=day0)
        if source == "apheresis"
        else lots.RegisterLot(
            subject_id, source, apheresis_on=day0 - timedelta(days=30), thaw_on=day0
        )
    )
    return lots.register_lot(cmd, db=db, actor=tech, now=now)


# day -> (total, viable): ~30-fold over 11 days, like Zhu et al. 2018
GROWTH = {
    0: (1.1e8, 1.0e8),
    3: (2.6e8, 2.4e8),
    5: (6.4e8, 6.0e8),
    7: (1.3e9, 1.2e9),
    9: (2.3e9, 2.1e9),
}


def expand(
    db: Database,
    tech: Actor,
    lot_number: str,
    growth: dict[int, tuple[float, float]] | None = None,
    now: datetime = NOW,
) -> list[counts.CountView]:
    out = []
    for day, (total, viable) in (growth or GROWTH).items():
        out.append(
            counts.record_count(
                counts.RecordCount(lot_number, int(total), int(viable), day=day),
                db=db,
                actor=tech,
                now=now,
            )
        )
    return out


def harvested_lot(
    db: Database,
    tech: Actor,
    subject_id: str = "S-001",
    *,
    total_viable: float = 3.0e9,
    car_pct: float = 30.0,
    harvest_day: int = 11,
    now: datetime = NOW,
    verify: bool = True,
    **subject_kw: object,
) -> tuple[lots.LotView, harvest.HarvestView]:
    """A subject, a lot, its counts and its harvest; the harvest and the body weight verified
    by a second person (as a release needs) unless ``verify`` is False."""
    subject(db, tech, subject_id, now=now, **subject_kw)  # type: ignore[arg-type]
    day0 = now.date() - timedelta(days=harvest_day)
    lv = lot(db, tech, subject_id, day0=day0, now=now)
    expand(db, tech, lv.lot_number, now=now)
    hv = harvest.record_harvest(
        harvest.RecordHarvest(
            lv.lot_number, day0 + timedelta(days=harvest_day), int(total_viable), car_pct
        ),
        db=db,
        actor=tech,
        now=now,
    )
    if verify:
        other = second_person(tech)
        hv = harvest.verify_harvest(lv.lot_number, db=db, actor=other, now=now)
        subjects.verify_weight(subject_id, db=db, actor=other, now=now)
    return lv, hv


def approve_label_layouts(db: Database, now: datetime = NOW) -> None:
    """QA (user ``qa``) approves every current label layout with an e-signature."""
    from mfg.domain.permissions import Role

    qa = Actor("qa", FULL_NAMES["qa"], Role.QA)
    for kind in LabelKind:
        label_control.approve_layout(
            kind.value, "test: layout verified", PASSWORD, db=db, actor=qa, now=now
        )


def stored_bag(
    db: Database, tech: Actor, lot_number: str, box: str = "B01", now: datetime = NOW
) -> str:
    """A released lot's label layouts approved, its dose-bag labels printed (``tech``) and bag 1
    stored in LN2-1/R1/``box``/A1. Returns bag 1's label payload."""
    from mfg.domain.custody import parse_location
    from mfg.services import custody, labels

    approve_label_layouts(db, now)
    printed = labels.print_labels(
        labels.PrintLabels(lot_number, "dose-bag"), db=db, actor=tech, now=now
    )
    bag = printed.payloads[0]
    custody.store_bag(bag, parse_location("LN2-1", "R1", box, "A1"), db=db, actor=tech, now=now)
    return bag
