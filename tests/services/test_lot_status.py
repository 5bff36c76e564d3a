"""Today's narrow read of the active lots (``lot_status``) says what the board says of each lot:
state, day N, last count, count overdue, result tallies and open alerts, on SQLite and
PostgreSQL; read by state, it returns the lots of those states only, with the same values."""

from __future__ import annotations

from datetime import timedelta

from mfg.domain.lifecycle import ACTIVE
from mfg.services import board, lot_status, release, worklist
from tests.release.conftest import PASSING, enter, harvested, sign
from tests.support import world
from tests.support.constants import NOW, TODAY


def _board_view(db, actor, now):  # type: ignore[no-untyped-def]
    rows = board.board(db=db, actor=actor, now=now, active_only=True).rows
    return [
        (
            r.lot_number,
            r.state,
            r.day_n,
            r.last_count_day if r.state in board.COUNT_STATES else None,  # Today's use of it
            r.overdue_count,
            r.oos,
            r.pending_results,
            r.unverified_results,
            r.alerts,
        )
        for r in rows
    ]


def _status_view(db, now, states=tuple(s.value for s in ACTIVE)):  # type: ignore[no-untyped-def]
    alerts = dict(lot_status.open_alerts(db))
    return [
        (
            r.lot_number,
            r.state,
            r.day_n,
            r.last_count_day,
            r.overdue_count,
            r.oos,
            r.pending_results,
            r.unverified_results,
            alerts.get(r.lot_number, 0),
        )
        for r in lot_status.active_lots(db, db.today(now), states)
    ]


def test_the_narrow_read_agrees_with_the_board_on_every_active_lot(db, actors):
    tech = actors["tech"]
    world.subject(db, tech, "S-010")
    world.lot(db, tech, "S-010", day0=TODAY)  # registered today, no count yet
    world.subject(db, tech, "S-011")
    world.lot(db, tech, "S-011", day0=TODAY - timedelta(days=4))  # no count: overdue
    world.subject(db, tech, "S-012")
    expanding = world.lot(db, tech, "S-012", day0=TODAY - timedelta(days=9))
    world.expand(db, tech, expanding.lot_number)  # counts on days 0-9 (GROWTH)
    testing = harvested(db, actors, "S-013")
    enter(db, actors, testing, {"VIAB": "61", "CD3": "96.1 %"}, verify_by=None)  # fail, unverified
    enter(db, actors, testing, {"STER": "pending", "APPEAR": "Conforms"})  # pending, verified
    harvested(db, actors, "S-014")  # nothing entered: every test not reported yet
    for now in (NOW, NOW + timedelta(days=2), NOW + timedelta(days=6)):
        expected = _board_view(db, tech, now)
        assert len(expected) == 5
        assert _status_view(db, now) == expected
        for states in (("registered", "in_expansion"), ("harvested", "in_release_testing")):
            assert _status_view(db, now, states) == [r for r in expected if r[1] in states]
    by_lot = {r[0]: r for r in _status_view(db, NOW)}
    assert by_lot[testing][5:8] == (1, 9, 2)  # VIAB failed; STER + 8 unreported; VIAB, CD3
    assert by_lot[expanding.lot_number][3] == 9


def test_an_open_alert_on_an_active_lot_is_on_everyones_today(db, actors):
    lot = harvested(db, actors, "S-020")
    enter(db, actors, lot, {**PASSING, "STER": "pending"})
    sign(db, actors, lot, "conditional-release", reason="sterility pending")
    # sterility grows after the conditional release: a late OOS raises an alert on the lot
    release.correct_result(
        release.AddResult(lot, "STER", "Growth"),
        "day 14 read-out",
        db=db,
        actor=actors["tech"],
        now=NOW,
    )
    (row,) = board.board(db=db, actor=actors["qa"], now=NOW, active_only=True).rows
    assert row.alerts == 1 and row.state == "conditionally_released"
    assert lot_status.open_alerts(db) == [(lot, 1)]
    for who in ("tech", "qa"):
        items = worklist.worklist(db=db, actor=actors[who], now=NOW).items
        assert ("alert", lot, "1 open alert(s)", True) in [
            (i.kind, i.lot_number, i.text, i.urgent) for i in items
        ], who
