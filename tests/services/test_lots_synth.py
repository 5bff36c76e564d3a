"""The benchmarks' synthetic data generator stays usable: through the services on both backends,
with a later stage plugged in, and the bulk fast path."""

from __future__ import annotations

from collections import Counter

import pytest

from benchmarks import synth
from mfg.services import audit_trail, lots


@pytest.fixture
def extra_stage():  # type: ignore[no-untyped-def]
    built: list[str] = []

    def build(db, lot_number, plan, actors, now):  # type: ignore[no-untyped-def]
        lots.terminate_lot(
            lot_number, "not_evaluable", "synthetic withdrawal", db=db, actor=actors["qa"], now=now
        )
        built.append(lot_number)

    synth.add_stage("withdrawn_after_harvest", 0.3, base="harvested", build=build)
    yield built
    synth.STAGES.pop("withdrawn_after_harvest")
    synth.EXTRA_STAGES.pop("withdrawn_after_harvest")


def test_services_path_writes_every_stage_audited(db, actors, extra_stage):
    s = synth.populate(db, 24, actors=actors, seed=3)
    assert s.lots == s.subjects == 24
    views = {v.lot_number: v.state for v in lots.list_lots(db=db, actor=actors["qa"])}
    expected = {
        "registered": "registered",
        "in_expansion": "in_expansion",
        "harvested": "harvested",
        "terminated": "terminated",
        "withdrawn_after_harvest": "terminated",
    }
    for stage, numbers in s.lots_by_stage.items():
        assert {views[n] for n in numbers} == {expected[stage]}, stage
    assert set(s.lots_by_stage) == set(expected)
    assert sorted(extra_stage) == sorted(s.lots_by_stage["withdrawn_after_harvest"])
    assert audit_trail.verify(db=db, actor=actors["qa"]).ok


def test_the_plan_is_seeded():
    assert synth.plan(30, seed=5) == synth.plan(30, seed=5) != synth.plan(30, seed=6)


def test_bulk_path(sqlite_db):
    s = synth.populate(sqlite_db, 400, via="bulk", seed=1)
    assert s.lots == 400 and s.counts > 400 and s.harvests > 50
    actor = synth.make_users(sqlite_db)["qa"]
    states = Counter(v.state for v in lots.list_lots(db=sqlite_db, actor=actor))
    assert states == Counter({k: len(v) for k, v in s.lots_by_stage.items()})
    assert lots.show_lot(s.first("harvested"), db=sqlite_db, actor=actor).state == "harvested"
