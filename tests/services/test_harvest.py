"""Harvest through the service on SQLite and PostgreSQL: window, dose, bags, corrections."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from sqlmodel import select

from mfg.errors import NotFound, NotPermitted
from mfg.services import audit_trail, harvest, lots
from mfg.store.tables import DoseBag
from tests.support import world
from tests.support.constants import NOW, TODAY
from tests.support.refusals import assert_refused

D = timedelta(days=1)


def expanded(db, actors, day_today: int, subject_id: str = "S-001", **subject_kw):  # type: ignore[no-untyped-def]
    world.subject(db, actors["tech"], subject_id, **subject_kw)
    v = world.lot(db, actors["tech"], subject_id, day0=TODAY - day_today * D)
    world.expand(db, actors["tech"], v.lot_number)  # counts on days 0-9
    return v


def rec(db, actor, cmd):  # type: ignore[no-untyped-def]
    return harvest.record_harvest(cmd, db=db, actor=actor, now=NOW)


@pytest.mark.parametrize("day", [10, 14])
def test_harvest_on_the_window_edges(db, actors, day):
    v = expanded(db, actors, day, weight_kg=120.0, dose_level="DL3")
    h = rec(db, actors["tech"], harvest.RecordHarvest(v.lot_number, TODAY, 3 * 10**9, 30.0))
    assert (h.harvest_day, h.in_window, h.window) == (day, True, (10, 14))
    assert (h.target_dose_cells, h.car_viable_cells, h.dose_met) == (300_000_000, 900_000_000, True)
    assert (h.doses_available, h.further_doses, h.bag_count) == (3, 2, 3)
    assert h.fold_expansion == pytest.approx(30.0)
    assert h.expires_on == TODAY + 365 * D
    with db.read() as s:
        bags = s.exec(select(DoseBag).order_by(DoseBag.bag_no)).all()
    assert [(b.bag_no, b.bag_count, b.car_viable_cells) for b in bags] == [
        (1, 3, 3 * 10**8),
        (2, 3, 3 * 10**8),
        (3, 3, 3 * 10**8),
    ]
    assert lots.show_lot(v.lot_number, db=db, actor=actors["qa"]).state == "harvested"
    actions = [e.action for e in audit_trail.lot_trail(v.lot_number, db=db, actor=actors["qa"])]
    assert actions[-2:] == ["lot.state_changed", "harvest.recorded"]


def test_dose_not_met_still_records_one_bag(db, actors):
    v = expanded(db, actors, 11)
    h = rec(db, actors["tech"], harvest.RecordHarvest(v.lot_number, TODAY, 3 * 10**8, 10.0))
    assert (h.dose_met, h.doses_available, h.bag_count) == (False, 0, 1)


@pytest.mark.parametrize("day", [9, 15])
def test_outside_the_window_needs_a_deviation_reason(db, actors, day):
    v = expanded(db, actors, day)
    cmd = harvest.RecordHarvest(v.lot_number, TODAY, 3 * 10**9, 30.0)
    assert_refused(db, lambda: rec(db, actors["tech"], cmd), "harvest-outside-window", "date")
    h = rec(db, actors["tech"], replace(cmd, window_reason="DEV-2026-007"))
    assert not h.in_window and h.window_reason == "DEV-2026-007"


@pytest.mark.parametrize(
    ("change", "rule", "field"),
    [
        ({"harvested_on": TODAY + D}, "date-in-future", "date"),
        ({"harvested_on": TODAY - 3 * D}, "harvest-before-last-count", "date"),
        ({"car_pct": 0.0}, "percent-range", "car_pct"),
        ({"car_pct": 100.5}, "percent-range", "car_pct"),
        ({"bags": 0}, "bag-count-range", "bags"),
        ({"bags": 13}, "bag-count-range", "bags"),
        ({"bag_volume_ml": 0.0}, "volume-range", "bag_volume_ml"),
        ({"cryopreserved_on": TODAY + D}, "cryo-date", "cryopreserved_on"),
    ],
)
def test_bad_harvests_are_refused_and_write_nothing(db, actors, change, rule, field):
    v = expanded(db, actors, 11)
    cmd = replace(harvest.RecordHarvest(v.lot_number, TODAY, 3 * 10**9, 30.0), **change)
    assert_refused(db, lambda: rec(db, actors["tech"], cmd), rule, field)
    assert lots.show_lot(v.lot_number, db=db, actor=actors["tech"]).state == "in_expansion"


def test_harvest_before_day0(db, actors):
    world.subject(db, actors["tech"])
    v = world.lot(db, actors["tech"], day0=TODAY - 11 * D)
    world.expand(db, actors["tech"], v.lot_number, {0: (1.1e8, 1e8)})
    cmd = harvest.RecordHarvest(v.lot_number, TODAY - 12 * D, 3 * 10**9, 30.0)
    assert_refused(db, lambda: rec(db, actors["tech"], cmd), "count-before-day-0", "date")


def test_state_and_role_refusals(db, actors):
    world.subject(db, actors["tech"])
    v = world.lot(db, actors["tech"], day0=TODAY - 11 * D)
    cmd = harvest.RecordHarvest(v.lot_number, TODAY, 3 * 10**9, 30.0)
    assert_refused(db, lambda: rec(db, actors["tech"], cmd), "harvest-without-counts", "lot")
    assert_refused(
        db,
        lambda: rec(db, actors["tech"], replace(cmd, lot_number="BH002-26-0404")),
        "unknown-lot",
        kind=NotFound,
    )
    world.expand(db, actors["tech"], v.lot_number)
    for who in ("qa", "sponsor", "admin"):
        assert_refused(
            db, lambda who=who: rec(db, actors[who], cmd), "not-permitted", kind=NotPermitted
        )
    rec(db, actors["tech"], cmd)
    assert_refused(db, lambda: rec(db, actors["tech"], cmd), "already-harvested", "lot")


def test_correction_supersedes_and_keeps_the_bags(db, actors):
    lv, h = world.harvested_lot(db, actors["tech"], total_viable=3.0e9, car_pct=30.0)
    cmd = harvest.RecordHarvest(lv.lot_number, TODAY, 3 * 10**9, 25.0)

    def correct(c=cmd, reason="CAR% re-read", actor=actors["qa"]):  # type: ignore[no-untyped-def]
        return harvest.correct_harvest(c, reason, db=db, actor=actor, now=NOW)

    assert_refused(db, lambda: correct(reason=""), "reason-required", "reason")
    assert_refused(
        db, lambda: correct(c=replace(cmd, bags=h.bag_count + 1)), "bag-count-fixed", "bags"
    )
    assert_refused(db, lambda: correct(actor=actors["sponsor"]), "not-permitted", kind=NotPermitted)
    fixed = correct()
    assert fixed.car_viable_cells == 750_000_000 and fixed.correction_reason == "CAR% re-read"
    assert fixed.bag_count == h.bag_count
    assert harvest.show_harvest(lv.lot_number, db=db, actor=actors["tech"]) == fixed
    with db.read() as s:
        assert {b.car_viable_cells for b in s.exec(select(DoseBag)).all()} == {
            750_000_000 // h.bag_count
        }
    [e] = audit_trail.audit_log(db=db, actor=actors["qa"], action="harvest.corrected")
    assert e.old["car_pct"] == 30.0 and e.new["car_pct"] == 25.0 and e.reason == "CAR% re-read"


def test_correction_of_a_terminated_or_unharvested_lot(db, actors):
    v = expanded(db, actors, 11)
    cmd = harvest.RecordHarvest(v.lot_number, TODAY, 3 * 10**9, 25.0)
    assert_refused(
        db,
        lambda: harvest.correct_harvest(cmd, "x", db=db, actor=actors["qa"], now=NOW),
        "unknown-harvest",
        kind=NotFound,
    )
    rec(db, actors["tech"], replace(cmd, car_pct=30.0))
    lots.terminate_lot(
        v.lot_number, "manufacturing", "bag leak", db=db, actor=actors["qa"], now=NOW
    )
    assert_refused(
        db,
        lambda: harvest.correct_harvest(cmd, "x", db=db, actor=actors["qa"], now=NOW),
        "harvest-locked",
        "lot",
    )
