"""Lots through the service on SQLite and PostgreSQL: registration, day 0, listing, termination."""

from __future__ import annotations

from datetime import timedelta

import pytest

from mfg.domain.ids import parse_coi
from mfg.errors import NotFound, NotPermitted
from mfg.services import audit_trail, counts, lots
from tests.support import world
from tests.support.constants import NOW, TODAY
from tests.support.refusals import assert_refused

D = timedelta(days=1)


def register(db, actor, **kw):  # type: ignore[no-untyped-def]
    args = {"subject_id": "S-001", "source": "apheresis", "apheresis_on": TODAY - 3 * D, **kw}
    return lots.register_lot(lots.RegisterLot(**args), db=db, actor=actor, now=NOW)


@pytest.fixture
def tech(db, actors):  # type: ignore[no-untyped-def]
    world.subject(db, actors["tech"])
    return actors["tech"]


def test_register_pins_spec_and_audits(db, actors, tech):
    v = register(db, tech)
    assert (v.state, v.day0, v.spec_version, v.product_code) == (
        "registered",
        TODAY - 3 * D,
        "1",
        "BH002",
    )
    assert v.target_dose_cells == 125_000_000  # DL2 x 62.5 kg
    assert parse_coi(v.coi).fin == "A9990"  # the configured FIN: a validation FIN in tests
    [e] = audit_trail.lot_trail(v.lot_number, db=db, actor=tech)
    assert (
        e.action == "lot.registered" and e.new["coi"] == v.coi and len(e.new["spec_sha256"]) == 64
    )


def test_lot_and_coi_sequences_count_up(db, actors, tech):
    world.subject(db, tech, "S-002")
    a, b = register(db, tech), register(db, tech, subject_id="S-002")
    c = register(db, tech, source="cryo-pbmc", apheresis_on=None, thaw_on=TODAY)
    assert [x.lot_number for x in (a, b, c)] == ["BH002-26-0001", "BH002-26-0002", "BH002-26-0003"]
    # one CoI per therapy event: S-001's second lot (a re-manufacture) keeps S-001's CoI
    assert [parse_coi(x.coi).sequence for x in (a, b, c)] == ["000001", "000002", "000001"]
    assert a.coi == c.coi != b.coi
    assert c.day0 == TODAY


@pytest.mark.parametrize(
    ("kw", "rule", "field"),
    [
        ({"subject_id": "S-404"}, "unknown-subject", None),
        ({"apheresis_on": None}, "day0-missing", "apheresis_date"),
        ({"source": "cryo-pbmc"}, "day0-missing", "thaw_date"),
        ({"source": "cryo-pbmc", "thaw_on": TODAY - 5 * D}, "thaw-before-apheresis", "thaw_date"),
        ({"thaw_on": TODAY}, "thaw-not-for-fresh", "thaw_date"),
        ({"apheresis_on": TODAY + D}, "date-in-future", "apheresis_date"),
        ({"source": "cryo-pbmc", "thaw_on": TODAY + D}, "date-in-future", "thaw_date"),
        ({"apheresis_on": TODAY - 61 * D}, "day0-too-old", "day0"),
        ({"source": "blood"}, "unknown-source", "source"),
        ({"product_code": "XY9"}, "unknown-product", None),
    ],
)
def test_registration_refusals_write_nothing(db, actors, tech, kw, rule, field):
    assert_refused(db, lambda: register(db, tech, **kw), rule, field)


@pytest.mark.parametrize("who", ["sponsor", "admin"])
def test_registration_needs_technician_or_qa(db, actors, tech, who):
    assert_refused(db, lambda: register(db, actors[who]), "not-permitted", kind=NotPermitted)


def test_show_and_list(db, actors, tech):
    a = register(db, tech)
    b = register(db, tech)
    counts.record_count(
        counts.RecordCount(b.lot_number, 10**8, 9 * 10**7, day=0), db=db, actor=tech, now=NOW
    )
    assert lots.show_lot(a.lot_number.lower(), db=db, actor=actors["qa"]) == a
    assert [v.lot_number for v in lots.list_lots(db=db, actor=tech)] == [a.lot_number, b.lot_number]
    assert [v.lot_number for v in lots.list_lots(db=db, actor=tech, state="in_expansion")] == [
        b.lot_number
    ]
    assert lots.list_lots(db=db, actor=tech, site="XX") == []
    assert len(lots.list_lots(db=db, actor=tech, limit=1)) == 1
    with pytest.raises(NotFound) as e:
        lots.show_lot("BH002-26-9999", db=db, actor=tech)
    assert e.value.rule == "unknown-lot"
    assert_refused(
        db, lambda: lots.list_lots(db=db, actor=tech, state="frozen"), "unknown-state", "state"
    )
    with pytest.raises(NotPermitted):
        lots.list_lots(db=db, actor=actors["sponsor"])


@pytest.mark.parametrize("stage", ["registered", "in_expansion", "harvested"])
def test_terminate_before_disposition(db, actors, stage):
    if stage == "harvested":
        v, _ = world.harvested_lot(db, actors["tech"])
    else:
        world.subject(db, actors["tech"])
        v = world.lot(db, actors["tech"])
        if stage == "in_expansion":
            world.expand(db, actors["tech"], v.lot_number)
    t = lots.terminate_lot(
        v.lot_number, "not-evaluable", " subject withdrew ", db=db, actor=actors["qa"], now=NOW
    )
    assert (t.state, t.termination_cause, t.termination_reason) == (
        "terminated",
        "not_evaluable",
        "subject withdrew",
    )
    trail = audit_trail.lot_trail(v.lot_number, db=db, actor=actors["qa"])
    assert [e.action for e in trail[-2:]] == ["lot.state_changed", "lot.terminated"]
    assert trail[-2].old == {"state": stage} and trail[-1].reason == "subject withdrew"


def test_terminate_refusals(db, actors, tech):
    v = register(db, tech)
    qa = actors["qa"]

    def term(cause="manufacturing", reason="contaminated", actor=qa):  # type: ignore[no-untyped-def]
        return lots.terminate_lot(v.lot_number, cause, reason, db=db, actor=actor, now=NOW)

    assert_refused(db, lambda: term(actor=tech), "not-permitted", kind=NotPermitted)
    assert_refused(db, lambda: term(cause="bored"), "unknown-termination-cause", "cause")
    assert_refused(db, lambda: term(reason="  "), "reason-required", "reason")
    assert_refused(
        db,
        lambda: lots.terminate_lot("BH002-26-0404", "manufacturing", "x", db=db, actor=qa, now=NOW),
        "unknown-lot",
        kind=NotFound,
    )
    term()
    assert_refused(db, term, "illegal-transition", "state")
    assert lots.show_lot(v.lot_number, db=db, actor=qa).termination_cause == "manufacturing"


def test_lot_numbers_keep_counting_past_9999(db, actors, tech):
    from sqlalchemy import text

    first = register(db, tech)
    with db.engine.begin() as c:  # as if 9,999 lots had been registered this year
        c.execute(
            text("UPDATE lot SET lot_number = :n WHERE lot_number = :o"),
            {"n": first.lot_number[:-4] + "9999", "o": first.lot_number},
        )
    a, b = register(db, tech), register(db, tech)
    assert (a.lot_number[-6:], b.lot_number[-6:]) == ("-10000", "-10001")
