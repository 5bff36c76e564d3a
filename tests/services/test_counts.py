"""Cell counts through the service on SQLite and PostgreSQL: rules, corrections, growth."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from mfg.errors import NotFound, NotPermitted
from mfg.services import audit_trail, counts, lots
from tests.support import world
from tests.support.constants import NOW, TODAY
from tests.support.refusals import assert_refused

D = timedelta(days=1)


@pytest.fixture
def lot(db, actors):  # type: ignore[no-untyped-def]
    world.subject(db, actors["tech"])
    return world.lot(db, actors["tech"], day0=TODAY - 9 * D)


def rec(db, actor, cmd):  # type: ignore[no-untyped-def]
    return counts.record_count(cmd, db=db, actor=actor, now=NOW)


def test_count_by_date_or_day_and_the_lot_enters_expansion(db, actors, lot):
    tech = actors["tech"]
    a = rec(
        db,
        tech,
        counts.RecordCount(
            lot.lot_number, 110_000_000, 100_000_000, day=0, volume_ml=50.0, method="NC-200"
        ),
    )
    b = rec(
        db,
        tech,
        counts.RecordCount(lot.lot_number, 3 * 10**8, 2 * 10**8, measured_on=TODAY - 6 * D),
    )
    assert (a.expansion_day, a.measured_on, b.expansion_day) == (0, TODAY - 9 * D, 3)
    assert a.viability_pct == pytest.approx(100 / 1.1)
    assert lots.show_lot(lot.lot_number, db=db, actor=tech).state == "in_expansion"
    trail = [e.action for e in audit_trail.lot_trail(lot.lot_number, db=db, actor=tech)]
    assert trail == ["lot.registered", "lot.state_changed", "count.recorded", "count.recorded"]


def test_a_count_today_is_accepted_and_viable_equal_to_total(db, actors, lot):
    v = rec(db, actors["tech"], counts.RecordCount(lot.lot_number, 10**9, 10**9, measured_on=TODAY))
    assert v.expansion_day == 9 and v.viability_pct == 100.0


@pytest.mark.parametrize(
    ("change", "rule", "field"),
    [
        ({"viable_cells": 2 * 10**9}, "viable-exceeds-total", "viable"),
        ({"measured_on": TODAY - 10 * D, "day": None}, "count-before-day-0", "date"),
        ({"day": -1}, "count-before-day-0", "day"),
        ({"measured_on": TODAY + D, "day": None}, "date-in-future", "date"),
        ({"day": 10}, "date-in-future", "date"),
        ({"measured_on": TODAY, "day": 9}, "date-or-day", "date"),
        ({"day": None}, "date-or-day", "date"),
        ({"volume_ml": 0.0}, "volume-range", "volume_ml"),
        ({"volume_ml": 60_000.0}, "volume-range", "volume_ml"),
        ({"method": "NC\n200"}, "control-characters", "method"),
        ({"method": "x" * 81}, "method-format", "method"),
    ],
)
def test_bad_counts_are_refused_and_write_nothing(db, actors, lot, change, rule, field):
    cmd = replace(counts.RecordCount(lot.lot_number, 10**9, 9 * 10**8, day=1), **change)
    assert_refused(db, lambda: rec(db, actors["tech"], cmd), rule, field)
    assert lots.show_lot(lot.lot_number, db=db, actor=actors["tech"]).state == "registered"


def test_unknown_lot_and_roles(db, actors, lot):
    cmd = counts.RecordCount(lot.lot_number, 10**9, 9 * 10**8, day=1)
    assert_refused(
        db,
        lambda: rec(db, actors["tech"], replace(cmd, lot_number="BH002-26-0404")),
        "unknown-lot",
        kind=NotFound,
    )
    for who in ("qa", "sponsor", "admin"):
        assert_refused(
            db, lambda who=who: rec(db, actors[who], cmd), "not-permitted", kind=NotPermitted
        )


def test_no_count_after_harvest_or_termination(db, actors):
    lv, _ = world.harvested_lot(db, actors["tech"])
    cmd = counts.RecordCount(lv.lot_number, 10**9, 9 * 10**8, measured_on=TODAY)
    assert_refused(db, lambda: rec(db, actors["tech"], cmd), "count-after-harvest", "lot")
    world.subject(db, actors["tech"], "S-002")
    other = world.lot(db, actors["tech"], "S-002")
    lots.terminate_lot(
        other.lot_number, "manufacturing", "contaminated", db=db, actor=actors["qa"], now=NOW
    )
    assert_refused(
        db,
        lambda: rec(db, actors["tech"], replace(cmd, lot_number=other.lot_number)),
        "lot-terminated",
        "lot",
    )


def test_correction_supersedes_with_a_reason_and_growth_uses_the_correction(db, actors, lot):
    tech = actors["tech"]
    rec(db, tech, counts.RecordCount(lot.lot_number, (1.1e8).__int__(), 10**8, day=0))
    typo = rec(db, tech, counts.RecordCount(lot.lot_number, 22 * 10**9, 2 * 10**10, day=4))
    fixed = counts.correct_count(
        typo.id,
        counts.RecordCount(lot.lot_number, 22 * 10**8, 2 * 10**9, day=4),
        " exponent typo ",
        db=db,
        actor=actors["qa"],
        now=NOW,
    )
    assert fixed.supersedes_id == typo.id and fixed.correction_reason == "exponent typo"
    g = counts.growth(lot.lot_number, db=db, actor=tech, now=NOW)
    assert [c.viable_cells for c in g.counts] == [10**8, 2 * 10**9]
    assert [c.id for c in g.corrected] == [typo.id] and g.corrected[0].superseded
    assert g.series[-1].fold_expansion == pytest.approx(20.0)
    [e] = audit_trail.audit_log(db=db, actor=actors["qa"], action="count.corrected")
    assert e.old["viable_cells"] == 2 * 10**10 and e.new["viable_cells"] == 2 * 10**9
    assert e.new["replaced_by"] == fixed.id and e.reason == "exponent typo"


def test_correction_refusals(db, actors, lot):
    tech = actors["tech"]
    c = rec(db, tech, counts.RecordCount(lot.lot_number, 10**9, 9 * 10**8, day=1))
    good = counts.RecordCount(lot.lot_number, 10**9, 8 * 10**8, day=1)

    def correct(count_id=c.id, cmd=good, reason="typo", actor=tech):  # type: ignore[no-untyped-def]
        return counts.correct_count(count_id, cmd, reason, db=db, actor=actor, now=NOW)

    assert_refused(db, lambda: correct(reason=" "), "reason-required", "reason")
    # reasons that look blank (Hangul fillers, the Braille blank, a combining mark alone)
    for blank in ("\u3164\u3164\u3164", "\u2800", "\uffa0 \u115f", "\u034f"):
        assert_refused(db, lambda b=blank: correct(reason=b), "reason-blank", "reason")
    assert_refused(db, lambda: correct(count_id=999), "unknown-count", kind=NotFound)
    assert_refused(
        db,
        lambda: correct(cmd=replace(good, viable_cells=2 * 10**9)),
        "viable-exceeds-total",
        "viable",
    )
    assert_refused(db, lambda: correct(actor=actors["sponsor"]), "not-permitted", kind=NotPermitted)
    world.subject(db, tech, "S-002")
    other = world.lot(db, tech, "S-002")
    assert_refused(
        db,
        lambda: correct(cmd=replace(good, lot_number=other.lot_number)),
        "unknown-count",
        kind=NotFound,
    )
    correct()
    assert_refused(db, correct, "already-corrected", "count")


def test_growth_projection_flags_a_slow_lot(db, actors, lot):
    tech = actors["tech"]
    for day, viable in [(0, 10**8), (3, 1.2e8), (5, 1.4e8), (7, 1.6e8)]:
        rec(db, tech, counts.RecordCount(lot.lot_number, int(viable * 1.1), int(viable), day=day))
    g = counts.growth(lot.lot_number, db=db, actor=tech, now=NOW)
    assert g.today_day == 9 and g.window == (10, 14)
    assert g.target_dose_cells == 125_000_000
    assert g.needed_viable_cells == pytest.approx(125_000_000 / 0.3)
    assert g.projection is not None and not g.projection.within_window
    assert "after the window" in g.projection.note


def test_each_count_of_a_day_shows_its_own_fold(db, actors) -> None:  # type: ignore[no-untyped-def]
    """Two counts on day 1 (10x, then 0.85x of the day-0 seeding count): keyed by day, the last
    one's fold was shown on both rows (found by the hostile trial of 2026-12-04)."""
    from mfg.presentation import growth_rows

    tech = actors["tech"]
    world.subject(db, tech, "S-001")
    lot = world.lot(db, tech, "S-001").lot_number
    world.expand(db, tech, lot, {0: (1.2e8, 1.0e8)})
    for viable in (1.0e9, 8.5e7):
        counts.record_count(
            counts.RecordCount(lot, int(viable * 1.2), int(viable), day=1),
            db=db,
            actor=tech,
            now=NOW,
        )
    rows = growth_rows(counts.growth(lot, db=db, actor=tech, now=NOW))
    assert [cells[-1] for _c, _p, cells in rows] == ["-", "10.0x", "0.8x"]
