"""Registration, counts and harvest through the services on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import func, select

from mfg.domain.ids import parse_coi
from mfg.errors import NotPermitted, RuleViolation
from mfg.services import audit_trail, counts, harvest, lots
from mfg.store.tables import AuditEvent, CellCount, Lot
from tests.support import world
from tests.support.constants import NOW, TODAY


def n_rows(db, table) -> int:  # type: ignore[no-untyped-def]
    with db.read() as s:
        return s.exec(select(func.count()).select_from(table)).one()


def test_register_gives_lot_number_and_valid_coi(db, actors):
    world.subject(db, actors["tech"])
    v = world.lot(db, actors["tech"])
    assert v.lot_number == "BH002-26-0001"
    assert v.coi == "CHA999026000001" and parse_coi(v.coi).sequence == "000001"
    v2 = world.lot(db, actors["tech"])  # the same subject's therapy event: the same CoI
    assert v2.lot_number == "BH002-26-0002" and v2.coi == v.coi
    log = audit_trail.audit_log(db=db, actor=actors["qa"], lot_number=v.lot_number)
    assert [e.action for e in log] == ["lot.registered"]


def test_day0_of_cryopreserved_pbmc_is_the_thaw_date(db, actors):
    world.subject(db, actors["tech"])
    v = world.lot(db, actors["tech"], source="cryo-pbmc", day0=TODAY - timedelta(days=3))
    assert v.day0 == TODAY - timedelta(days=3) and v.apheresis_on == TODAY - timedelta(days=33)


def test_count_moves_lot_into_expansion_and_harvest_assesses_dose(db, actors):
    lv, hv = world.harvested_lot(db, actors["tech"], weight_kg=120.0, dose_level="DL3")
    # weight capped at 100 kg: 3.0e6/kg x 100 kg
    assert hv.target_dose_cells == 300_000_000
    assert hv.car_viable_cells == 900_000_000 and hv.dose_met and hv.doses_available == 3
    assert hv.fold_expansion == pytest.approx(30.0)
    assert lots.show_lot(lv.lot_number, db=db, actor=actors["tech"]).state == "harvested"


def test_refused_count_writes_nothing(db, actors):
    world.subject(db, actors["tech"])
    v = world.lot(db, actors["tech"])
    before = (n_rows(db, CellCount), n_rows(db, AuditEvent))
    with pytest.raises(RuleViolation) as e:
        counts.record_count(
            counts.RecordCount(v.lot_number, 10**9, 2 * 10**9, day=1),
            db=db,
            actor=actors["tech"],
            now=NOW,
        )
    assert e.value.rule == "viable-exceeds-total" and e.value.field == "viable"
    with pytest.raises(RuleViolation) as e:
        counts.record_count(
            counts.RecordCount(v.lot_number, 10**9, 10**8, measured_on=TODAY + timedelta(days=1)),
            db=db,
            actor=actors["tech"],
            now=NOW,
        )
    assert e.value.rule == "date-in-future"
    with pytest.raises(NotPermitted):
        counts.record_count(
            counts.RecordCount(v.lot_number, 10**9, 10**8, day=1),
            db=db,
            actor=actors["sponsor"],
            now=NOW,
        )
    assert (n_rows(db, CellCount), n_rows(db, AuditEvent)) == before
    with db.read() as s:
        assert s.exec(select(Lot.state)).one() == "registered"


def test_correction_supersedes_and_keeps_the_original(db, actors):
    world.subject(db, actors["tech"])
    v = world.lot(db, actors["tech"])
    c = counts.record_count(
        counts.RecordCount(v.lot_number, 10**10, 9 * 10**9, day=1),
        db=db,
        actor=actors["tech"],
        now=NOW,
    )
    fixed = counts.correct_count(
        c.id,
        counts.RecordCount(v.lot_number, 10**9, 9 * 10**8, day=1),
        "exponent typo",
        db=db,
        actor=actors["tech2"],
        now=NOW,
    )
    g = counts.growth(v.lot_number, db=db, actor=actors["tech"], now=NOW)
    assert [x.id for x in g.counts] == [fixed.id]
    assert [x.id for x in g.corrected] == [c.id]
    with pytest.raises(RuleViolation) as e:
        counts.correct_count(
            c.id,
            counts.RecordCount(v.lot_number, 10**9, 9 * 10**8, day=1),
            "again",
            db=db,
            actor=actors["tech"],
            now=NOW,
        )
    assert e.value.rule == "already-corrected"


def test_harvest_outside_window_needs_a_reason(db, actors):
    world.subject(db, actors["tech"])
    v = world.lot(db, actors["tech"], day0=TODAY - timedelta(days=15))
    world.expand(db, actors["tech"], v.lot_number)
    cmd = harvest.RecordHarvest(v.lot_number, TODAY, 3 * 10**9, 30.0)
    with pytest.raises(RuleViolation) as e:
        harvest.record_harvest(cmd, db=db, actor=actors["tech"], now=NOW)
    assert e.value.rule == "harvest-outside-window"
    h = harvest.record_harvest(
        harvest.RecordHarvest(v.lot_number, TODAY, 3 * 10**9, 30.0, window_reason="DEV-7"),
        db=db,
        actor=actors["tech"],
        now=NOW,
    )
    assert not h.in_window and h.harvest_day == 15


def test_audit_chain_verifies(db, actors):
    world.harvested_lot(db, actors["tech"])
    r = audit_trail.verify(db=db, actor=actors["qa"])
    assert r.ok and r.events > 10
