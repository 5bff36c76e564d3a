"""Today's read-outs: pending tests with an incubation time, listed with their due day, from one
query over all lots (was one results read per lot: 7 s at 10,000 lots)."""

from __future__ import annotations

from datetime import timedelta

from mfg.services import release, worklist
from tests.release.conftest import enter, harvested
from tests.support.constants import NOW


def test_pending_sterility_is_listed_with_its_read_out_day_and_leaves_when_read(db, actors):
    first = harvested(db, actors, "S-001")
    second = harvested(db, actors, "S-002")
    day = NOW.date()  # sampled on the harvest day
    for lot in (first, second):
        release.add_result(
            release.AddResult(lot, "STER", "pending", tested_on=day), db=db, actor=actors["tech"],
            now=NOW,
        )  # fmt: skip
    enter(db, actors, second, {"VCN": "pending"})  # pending, but no incubation time: not listed
    items = worklist.worklist(db=db, actor=actors["qa"], now=NOW).items
    reads = [(i.lot_number, i.text, i.urgent) for i in items if i.kind == "read-out"]
    due = day + timedelta(days=14)
    assert reads == [
        (first, f"STER read-out on {due}", False),
        (second, f"STER read-out on {due}", False),
    ]
    # on the day it is due it is urgent; once a final value replaces it, it is gone
    later = worklist.worklist(db=db, actor=actors["qa"], now=NOW + timedelta(days=14)).items
    assert [(i.lot_number, i.urgent) for i in later if i.kind == "read-out"] == [
        (first, True),
        (second, True),
    ]
    release.correct_result(
        release.AddResult(first, "STER", "No growth", tested_on=day),
        "read on day 14",
        db=db,
        actor=actors["tech"],
        now=NOW + timedelta(days=14),
    )
    after = worklist.worklist(db=db, actor=actors["qa"], now=NOW + timedelta(days=14)).items
    assert [i.lot_number for i in after if i.kind == "read-out"] == [second]
