"""Outcomes of lots that went through the real release path: results, verification, signed
disposition (released, released by exception while out of specification, conditionally released)."""

from __future__ import annotations

from mfg.services import reporting
from tests.release.conftest import PASSING, enter, harvested, sign


def test_release_paths_give_success_failure_and_pending(db, actors):
    ok = harvested(db, actors, "S-001")
    enter(db, actors, ok, PASSING)
    sign(db, actors, ok)

    oos = harvested(db, actors, "S-002")
    enter(db, actors, oos, {**PASSING, "ENDO": "6.1"})
    sign(
        db,
        actors,
        oos,
        exception=True,
        deviations=("DEV-2026-0001",),
        reason="compassionate release; sponsor informed",
    )

    cond = harvested(db, actors, "S-003")
    enter(db, actors, cond, {**PASSING, "STER": "pending"})
    sign(db, actors, cond, "conditional-release", reason="sterility final after release")

    lots = reporting.lot_table(db=db, actor=actors["sponsor"]).set_index("lot_number")
    assert (lots.loc[ok, "outcome"], lots.loc[ok, "reasons"]) == ("success", "")
    assert (lots.loc[oos, "outcome"], lots.loc[oos, "reasons"]) == ("failure", "out_of_spec:ENDO")
    assert bool(lots.loc[oos, "released_by_exception"]) is True
    assert bool(lots.loc[ok, "released_by_exception"]) is False
    assert (lots.loc[cond, "outcome"], lots.loc[cond, "pending_tests"]) == ("pending", "STER")
    assert lots.loc[cond, "disposition"] == "conditionally_released"
    # harvested on day 11 and signed the same (site) day: 11 days from day 0 to disposition
    assert list(lots["days_to_harvest"]) == [11, 11, 11]
    assert list(lots["days_to_disposition"]) == [11, 11, 11]
    data = reporting.success_rate(db=db, actor=actors["sponsor"]).data
    assert (data["overall"]["successes"], data["overall"]["failures"]) == (1, 1)
    assert data["overall"]["pending"] == 1
    assert data["failure_reasons"] == {"out_of_spec:ENDO": 1}
