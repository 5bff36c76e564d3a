"""Four eyes over everything signed (issue 10): nobody signs a disposition for a lot whose signed
record (harvest, counts, weight, results, their corrections) they entered, corrected or
verified; harvest and body weight need a second person's check before release. Both databases."""

from __future__ import annotations

import pytest
from sqlmodel import func, select

from mfg.errors import NotPermitted, RuleViolation
from mfg.services import counts, harvest, release, subjects
from mfg.store.tables import AuditEvent, Disposition
from tests.release.conftest import PASSING, enter, sign
from tests.support import world
from tests.support.constants import NOW, TODAY


def n(db, table) -> int:  # type: ignore[no-untyped-def]
    with db.read() as s:
        return s.exec(select(func.count()).select_from(table)).one()


def ready(db, actors, verify: bool = True) -> str:  # type: ignore[no-untyped-def]
    lv, _ = world.harvested_lot(db, actors["tech"], verify=verify)
    enter(db, actors, lv.lot_number, PASSING)
    return lv.lot_number


def refused_sign(db, actors, lot, rule, kind=NotPermitted, by="qa"):  # type: ignore[no-untyped-def]
    before = (n(db, Disposition), n(db, AuditEvent))
    with pytest.raises(kind) as e:
        sign(db, actors, lot, "release", by=by)
    assert e.value.rule == rule, e.value
    assert (n(db, Disposition), n(db, AuditEvent)) == before
    return e.value


def test_qa_who_corrected_the_harvest_cannot_sign_the_release(db, actors):
    lot = ready(db, actors)
    h = harvest.show_harvest(lot, db=db, actor=actors["qa"])
    assert h is not None
    harvest.correct_harvest(
        harvest.RecordHarvest(lot, h.harvested_on, 3_100_000_000, 30.0), "recount",
        db=db, actor=actors["qa"], now=NOW, expected_version=h.version,
    )  # fmt: skip
    harvest.verify_harvest(lot, db=db, actor=actors["tech"], now=NOW)
    e = refused_sign(db, actors, lot, "signer-entered-or-verified")
    assert "corrected the harvest" in e.message
    assert sign(db, actors, lot, "release", by="qa2").decision == "released"


def test_qa_who_verified_the_weight_or_corrected_a_count_cannot_sign(db, actors):
    lv, _ = world.harvested_lot(db, actors["tech"], verify=False)
    lot = lv.lot_number
    enter(db, actors, lot, PASSING)
    harvest.verify_harvest(lot, db=db, actor=actors["tech2"], now=NOW)
    subjects.verify_weight("S-001", db=db, actor=actors["qa"], now=NOW)
    assert (
        "verified the weight of S-001"
        in refused_sign(db, actors, lot, "signer-entered-or-verified").message
    )
    g = counts.growth(lot, db=db, actor=actors["qa2"], now=NOW)
    c = g.counts[0]
    counts.correct_count(
        c.id, counts.RecordCount(lot, c.total_cells, c.viable_cells, c.measured_on), "typo",
        db=db, actor=actors["qa2"], now=NOW, expected_version=c.version,
    )  # fmt: skip
    assert (
        "corrected the count of day 0"
        in refused_sign(db, actors, lot, "signer-entered-or-verified", by="qa2").message
    )


def test_release_needs_the_harvest_and_the_weight_verified(db, actors):
    lot = ready(db, actors, verify=False)
    e = refused_sign(db, actors, lot, "record-unverified", RuleViolation)
    assert "the harvest" in e.message and "the body weight" in e.message
    review = release.review(lot, db=db, actor=actors["qa"])
    assert "record-unverified" in {b.rule for b in review.blockers["release"]}
    with pytest.raises(NotPermitted) as own:
        harvest.verify_harvest(lot, db=db, actor=actors["tech"], now=NOW)
    assert own.value.rule == "verify-own-entry"
    harvest.verify_harvest(lot, db=db, actor=actors["tech2"], now=NOW)
    assert (
        "the body weight"
        in refused_sign(db, actors, lot, "record-unverified", RuleViolation).message
    )
    with pytest.raises(NotPermitted):
        subjects.verify_weight("S-001", db=db, actor=actors["tech"], now=NOW)
    subjects.verify_weight("S-001", db=db, actor=actors["tech2"], now=NOW)
    # a new weight needs the check again
    subjects.update_weight("S-001", 63.0, TODAY, "re-weighed", db=db, actor=actors["tech"], now=NOW)
    refused_sign(db, actors, lot, "record-unverified", RuleViolation)
    subjects.verify_weight("S-001", db=db, actor=actors["tech2"], now=NOW)
    assert sign(db, actors, lot, "release").decision == "released"
