"""Harvest: CAR+ viable cells, target dose met or not, doses available, dose bags created."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlmodel import Session, col, select

from mfg.domain import dose, expansion, four_eyes
from mfg.domain.lifecycle import LotState
from mfg.domain.reasons import require_reason
from mfg.errors import NotFound, RuleViolation
from mfg.services.counts import current_counts
from mfg.services.lots import current_harvest, get_lot_row, product_for_lot, set_state
from mfg.services.uow import Actor, Database
from mfg.store.tables import DoseBag, Harvest, Lot, Subject

MAX_BAGS = 12


@dataclass(frozen=True)
class RecordHarvest:
    lot_number: str
    harvested_on: date
    total_viable_cells: int
    car_pct: float
    bags: int | None = None
    bag_volume_ml: float | None = None
    cryopreserved_on: date | None = None
    window_reason: str | None = None


@dataclass(frozen=True)
class HarvestView:
    lot_number: str
    harvested_on: date
    harvest_day: int
    in_window: bool
    window: tuple[int, int]
    window_reason: str | None
    total_viable_cells: int
    car_pct: float
    car_viable_cells: int
    target_dose_cells: int
    dose_met: bool
    doses_available: int
    further_doses: int
    cells_per_kg: float
    fold_expansion: float | None
    bag_count: int
    bag_volume_ml: float
    car_cells_per_bag: int
    cryopreserved_on: date | None
    expires_on: date | None
    recorded_by: str
    recorded_at: datetime
    correction_reason: str | None
    version: int = 1  # what correct_harvest(expected_version=) takes: 1 + corrections
    verified_by: str | None = None  # the second person who checked cells and CAR+ %


def harvest_view(session: Session, db: Database, lot: Lot, h: Harvest) -> HarvestView:
    subject = session.get(Subject, lot.subject_pk)
    assert subject is not None
    product = product_for_lot(db, session, lot)
    car = dose.car_viable_cells(h.total_viable_cells, h.car_pct)
    a = dose.assess_dose(product, subject.dose_level, subject.weight_kg, car)
    counts = current_counts(session, lot)
    seed = next((c for c in counts if c.expansion_day == 0), counts[0] if counts else None)
    return HarvestView(
        lot_number=lot.lot_number,
        harvested_on=h.harvested_on,
        harvest_day=h.harvest_day,
        in_window=product.in_window(h.harvest_day),
        window=(product.window_first_day, product.window_last_day),
        window_reason=h.window_reason,
        total_viable_cells=h.total_viable_cells,
        car_pct=h.car_pct,
        car_viable_cells=car,
        target_dose_cells=a.target_dose_cells,
        dose_met=a.dose_met,
        doses_available=a.doses_available,
        further_doses=a.further_doses,
        cells_per_kg=a.cells_per_kg,
        fold_expansion=h.total_viable_cells / seed.viable_cells if seed else None,
        bag_count=h.bag_count,
        bag_volume_ml=h.bag_volume_ml,
        car_cells_per_bag=car // h.bag_count,
        cryopreserved_on=h.cryopreserved_on,
        expires_on=h.expires_on,
        recorded_by=h.recorded_by,
        recorded_at=h.recorded_at,
        correction_reason=h.correction_reason,
        version=_version_at(session, lot, h),
        verified_by=h.verified_by,
    )


def _version_at(session: Session, lot: Lot, h: Harvest) -> int:
    """1 + the corrections up to and including ``h`` (its place in the lot's harvest chain)."""
    return sum(1 for x in harvest_history(session, lot) if (x.id or 0) <= (h.id or 0))


def _validate(cmd: RecordHarvest, lot: Lot, db: Database, session: Session, now: datetime):  # type: ignore[no-untyped-def]
    today = db.today(now)
    expansion.check_not_future(cmd.harvested_on, today)
    day = expansion.expansion_day(lot.day0, cmd.harvested_on)
    if not 0 < cmd.car_pct <= 100:
        raise RuleViolation("car_pct", "percent-range", f"{cmd.car_pct:g} must be > 0 and <= 100 %")
    counts = current_counts(session, lot)
    if counts and cmd.harvested_on < max(c.measured_on for c in counts):
        raise RuleViolation(
            "date",
            "harvest-before-last-count",
            f"{cmd.harvested_on} precedes the last count ({max(c.measured_on for c in counts)})",
        )
    product = product_for_lot(db, session, lot)
    if not product.in_window(day) and not (cmd.window_reason or "").strip():
        raise RuleViolation(
            "date",
            "harvest-outside-window",
            f"day {day} is outside the harvest window (day {product.window_first_day}-"
            f"{product.window_last_day}); record it only with --window-reason citing the deviation",
        )
    subject = session.get(Subject, lot.subject_pk)
    assert subject is not None
    car = dose.car_viable_cells(cmd.total_viable_cells, cmd.car_pct)
    a = dose.assess_dose(product, subject.dose_level, subject.weight_kg, car)
    bags = cmd.bags if cmd.bags is not None else dose.default_bag_count(a.doses_available)
    if not 1 <= bags <= MAX_BAGS:
        raise RuleViolation("bags", "bag-count-range", f"{bags} bags: must be 1-{MAX_BAGS}")
    volume = cmd.bag_volume_ml if cmd.bag_volume_ml is not None else product.bag_volume_ml
    if not 0 < volume <= 1000:
        raise RuleViolation("bag_volume_ml", "volume-range", f"{volume:g} mL must be 1-1000 mL")
    cryo = cmd.cryopreserved_on or cmd.harvested_on
    if cryo < cmd.harvested_on or cryo > today:
        raise RuleViolation(
            "cryopreserved_on",
            "cryo-date",
            "cryopreservation is on or after harvest, and not in the future",
        )
    return day, bags, volume, cryo, product, car


def record_harvest(cmd: RecordHarvest, *, db: Database, actor: Actor, now: datetime) -> HarvestView:
    actor.require("harvest.record")
    with db.write(actor, now) as tx:
        s = tx.session
        lot = get_lot_row(s, cmd.lot_number)
        if lot.state == LotState.REGISTERED:
            raise RuleViolation(
                "lot", "harvest-without-counts", f"lot {lot.lot_number} has no cell counts yet"
            )
        if current_harvest(s, lot) is not None:
            raise RuleViolation(
                "lot",
                "already-harvested",
                f"lot {lot.lot_number} is already harvested; use `mfg harvest "
                "correct` with a reason",
            )
        day, bags, volume, cryo, product, car = _validate(cmd, lot, db, s, now)
        set_state(tx, lot, LotState.HARVESTED)
        h = Harvest(
            lot_pk=lot.id,  # type: ignore[arg-type]
            harvested_on=cmd.harvested_on,
            harvest_day=day,
            total_viable_cells=cmd.total_viable_cells,
            car_pct=cmd.car_pct,
            bag_count=bags,
            bag_volume_ml=volume,
            cryopreserved_on=cryo,
            expires_on=cryo + timedelta(days=product.shelf_life_days),
            window_reason=(cmd.window_reason or "").strip() or None,
            recorded_by=actor.username,
            recorded_at=now,
        )
        s.add(h)
        s.flush()
        for n in range(1, bags + 1):
            s.add(
                DoseBag(
                    lot_pk=lot.id,  # type: ignore[arg-type]
                    bag_no=n,
                    bag_count=bags,
                    volume_ml=volume,
                    car_viable_cells=car // bags,
                    created_at=now,
                )
            )
        view = harvest_view(s, db, lot, h)
        tx.audit(
            "harvest.recorded",
            "harvest",
            h.id or 0,
            lot_number=lot.lot_number,
            new=_audit_values(h, view),
            reason=h.window_reason,
        )
        tx.commit()
        return view


def _audit_values(h: Harvest, v: HarvestView) -> dict[str, object]:
    return {
        "harvested_on": h.harvested_on,
        "day": h.harvest_day,
        "total_viable_cells": h.total_viable_cells,
        "car_pct": h.car_pct,
        "car_viable_cells": v.car_viable_cells,
        "target_dose_cells": v.target_dose_cells,
        "dose_met": v.dose_met,
        "bags": h.bag_count,
        "bag_volume_ml": h.bag_volume_ml,
        "cryopreserved_on": h.cryopreserved_on,
        "expires_on": h.expires_on,
        "window_reason": h.window_reason,
    }


def _check_version(
    session: Session, lot: Lot, current: Harvest, expected_version: int | None
) -> None:
    """``Conflict`` if the lot's harvest moved on from the version the editor read (1 + the
    corrections so far), naming who recorded the ``current`` harvest and when."""
    if expected_version is None:
        return
    from mfg import integrity

    integrity.check_version(
        session,
        "harvest",
        lot.lot_number,
        expected=expected_version,
        current=len(harvest_history(session, lot)),
        changed_by=current.recorded_by,
        changed_at=current.recorded_at,
    )


def _check_correctable(
    session: Session, lot: Lot, old: Harvest, expected_version: int | None
) -> None:
    """``Conflict`` if the harvest changed since the editor read it; refused once dispositioned."""
    _check_version(session, lot, old, expected_version)
    if lot.state not in (LotState.HARVESTED, LotState.IN_RELEASE_TESTING):
        raise RuleViolation(
            "lot",
            "harvest-locked",
            f"lot {lot.lot_number} is {lot.state}: the harvest can no longer be corrected",
        )


def _refill_bags(session: Session, lot: Lot, car_per_bag: int, volume: float) -> None:
    """The lot's dose bags carry the corrected CAR+ cells per bag and volume."""
    for bag in session.exec(select(DoseBag).where(DoseBag.lot_pk == lot.id)).all():
        bag.car_viable_cells, bag.volume_ml = car_per_bag, volume
        bag.row_version += 1
        session.add(bag)


def correct_harvest(
    cmd: RecordHarvest,
    reason: str,
    *,
    db: Database,
    actor: Actor,
    now: datetime,
    expected_version: int | None = None,
) -> HarvestView:
    """Supersede the harvest record (before disposition); the bag count cannot change.

    ``expected_version`` (optimistic locking): the harvest version the editor read
    (``harvest_version``: 1 + corrections so far); if it moved on, ``Conflict``.
    """
    actor.require("harvest.correct")
    require_reason(reason, "a correction needs a reason")
    with db.write(actor, now) as tx:
        s = tx.session
        lot = get_lot_row(s, cmd.lot_number)
        old = current_harvest(s, lot)
        if old is None:
            raise NotFound("harvest", lot.lot_number)
        _check_correctable(s, lot, old, expected_version)
        day, bags, volume, cryo, product, car = _validate(
            RecordHarvest(**{**cmd.__dict__, "bags": cmd.bags or old.bag_count}), lot, db, s, now
        )
        if bags != old.bag_count:
            raise RuleViolation(
                "bags",
                "bag-count-fixed",
                f"the lot has {old.bag_count} bags; record discards instead",
            )
        new = Harvest(
            lot_pk=lot.id,  # type: ignore[arg-type]
            harvested_on=cmd.harvested_on,
            harvest_day=day,
            total_viable_cells=cmd.total_viable_cells,
            car_pct=cmd.car_pct,
            bag_count=bags,
            bag_volume_ml=volume,
            cryopreserved_on=cryo,
            expires_on=cryo + timedelta(days=product.shelf_life_days),
            window_reason=(cmd.window_reason or old.window_reason or "").strip() or None,
            recorded_by=actor.username,
            recorded_at=now,
            supersedes_id=old.id,
            correction_reason=reason.strip(),
        )
        s.add(new)
        s.flush()
        old.superseded_by_id = new.id
        s.add(old)
        _refill_bags(s, lot, car // bags, volume)
        old_view = harvest_view(s, db, lot, old)
        view = harvest_view(s, db, lot, new)
        tx.audit(
            "harvest.corrected",
            "harvest",
            old.id or 0,
            lot_number=lot.lot_number,
            old=_audit_values(old, old_view),
            new={"replaced_by": new.id, **_audit_values(new, view)},
            reason=reason.strip(),
        )
        tx.commit()
        return view


def verify_harvest(
    lot_number: str,
    *,
    db: Database,
    actor: Actor,
    now: datetime,
    expected_version: int | None = None,
) -> HarvestView:
    """A second person checks the harvest's cell numbers and CAR+ % (they set the dose; EU GMP
    Annex 11 section 6): never the person who entered or corrected them. Needed before release."""
    actor.require("harvest.verify")
    with db.write(actor, now) as tx:
        s = tx.session
        lot = get_lot_row(s, lot_number)
        h = current_harvest(s, lot)
        if h is None:
            raise NotFound("harvest", lot.lot_number)
        _check_version(s, lot, h, expected_version)
        four_eyes.check_verifier(actor.username, h.recorded_by, "harvest")
        if h.verified_by is not None:
            raise RuleViolation(
                "harvest", "already-verified", f"the harvest was verified by {h.verified_by}"
            )
        h.verified_by, h.verified_at = actor.username, now
        s.add(h)
        view = harvest_view(s, db, lot, h)
        tx.audit(
            "harvest.verified",
            "harvest",
            h.id or 0,
            lot_number=lot.lot_number,
            new={"verified_by": actor.username, **_audit_values(h, view)},
        )
        tx.commit()
        return view


def show_harvest(lot_number: str, *, db: Database, actor: Actor) -> HarvestView | None:
    actor.require("lot.read")
    with db.read() as s:
        lot = get_lot_row(s, lot_number)
        h = current_harvest(s, lot)
        return harvest_view(s, db, lot, h) if h else None


def harvest_history(session: Session, lot: Lot) -> list[Harvest]:
    return list(
        session.exec(
            select(Harvest).where(Harvest.lot_pk == lot.id).order_by(col(Harvest.id))
        ).all()
    )


def harvest_version(lot_number: str, *, db: Database, actor: Actor) -> int:
    """The version of a lot's harvest record: 1, +1 per correction (0: not harvested)."""
    actor.require("lot.read")
    with db.read() as s:
        return len(harvest_history(s, get_lot_row(s, lot_number)))
