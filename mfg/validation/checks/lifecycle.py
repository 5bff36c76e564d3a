"""The manufacturing flow up to harvest: registration, counts and growth, harvest in the window."""

from __future__ import annotations

from mfg.domain import ids
from mfg.services import counts, harvest, lots, subjects
from mfg.validation.context import GROWTH, Oq
from mfg.validation.registry import oq_check


@oq_check(
    "Registration",
    "Subject and lot registration",
    "lot number BH002-YY-NNNN, valid COI with the site's facility id, day 0 = apheresis",
)
def register(oq: Oq) -> tuple[bool, str]:
    subjects.add_subject(
        subjects.AddSubject("OQ-001", "OQ", "SLE", 62.5, "DL2", initials="OQ"),
        db=oq.db,
        actor=oq.tech,
        now=oq.now,
    )
    v = lots.register_lot(
        lots.RegisterLot("OQ-001", "apheresis", apheresis_on=oq.day0),
        db=oq.db,
        actor=oq.tech,
        now=oq.now,
    )
    oq.lot = v.lot_number
    coi = ids.parse_coi(v.coi)
    ok = (
        v.lot_number.startswith("BH002-")
        and coi.fin == oq.settings.facility_id
        and v.day0 == oq.day0
    )
    return (
        ok,
        f"lot {v.lot_number}, COI {v.coi_eye_readable} (check character valid), day 0 {v.day0}",
    )


@oq_check(
    "Counts",
    "Cell counts and growth",
    "5 counts; fold expansion 21.0 on day 9; lot in_expansion",
)
def count(oq: Oq) -> tuple[bool, str]:
    for day, (total, viable) in GROWTH.items():
        counts.record_count(
            counts.RecordCount(oq.lot, total, viable, day=day), db=oq.db, actor=oq.tech, now=oq.now
        )
    g = counts.growth(oq.lot, db=oq.db, actor=oq.tech, now=oq.now)
    fold = g.series[-1].fold_expansion if g.series else None
    ok = (
        len(g.counts) == len(GROWTH)
        and fold is not None
        and abs(fold - 21.0) < 1e-9
        and g.state == "in_expansion"
    )
    return ok, f"{len(g.counts)} counts; fold expansion day 9 = {fold}; state {g.state}"


@oq_check(
    "Harvest",
    "Harvest inside the window",
    "day 11, CAR+ viable cells = 3.0e9 x 30 % = 900,000,000",
)
def harvest_in_window(oq: Oq) -> tuple[bool, str]:
    h = harvest.record_harvest(
        harvest.RecordHarvest(oq.lot, oq.today, 3_000_000_000, 30.0),
        db=oq.db,
        actor=oq.tech,
        now=oq.now,
    )
    oq.bags = h.bag_count
    # the values that set the dose, checked by a second person (four eyes)
    harvest.verify_harvest(oq.lot, db=oq.db, actor=oq.tech2, now=oq.now)
    subjects.verify_weight("OQ-001", db=oq.db, actor=oq.tech2, now=oq.now)
    ok = h.car_viable_cells == 900_000_000 and h.in_window and h.harvest_day == 11
    return (
        ok,
        f"day {h.harvest_day}, CAR+ viable {h.car_viable_cells:,}, target "
        f"{h.target_dose_cells:,}, dose met {h.dose_met}, {h.bag_count} bag(s)",
    )
