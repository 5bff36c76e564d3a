"""The board read model (mfg/services/board.py) on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest

from mfg.errors import NotPermitted, RuleViolation
from mfg.services import board, counts, lookup, lots
from mfg.services.uow import Actor, Database
from tests.support import world
from tests.support.constants import NOW, TODAY


def test_board_rows_match_the_growth_service(db: Database, actors: dict[str, Actor]) -> None:
    tech, qa = actors["tech"], actors["qa"]
    world.subject(db, tech, "S-001")
    a = world.lot(db, tech, "S-001")
    world.expand(db, tech, a.lot_number)
    # a correction: the superseded count must not count
    wrong = counts.record_count(
        counts.RecordCount(a.lot_number, int(2.4e10), int(2.2e10), day=10),
        db=db,
        actor=tech,
        now=NOW,
    )
    counts.correct_count(
        wrong.id,
        counts.RecordCount(a.lot_number, int(2.4e9), int(2.2e9), day=10),
        "exponent",
        db=db,
        actor=tech,
        now=NOW,
    )
    world.subject(db, tech, "S-002", site="SH02")
    b = world.lot(db, tech, "S-002", day0=TODAY - timedelta(days=1))  # registered, no count
    lv, _ = world.harvested_lot(db, tech, "S-003", total_viable=3.0e9, car_pct=30.0)

    result = board.board(db=db, actor=qa, now=NOW)
    rows = {r.lot_number: r for r in result.rows}
    assert list(rows) == [lv.lot_number, b.lot_number, a.lot_number]  # newest first
    g = counts.growth(a.lot_number, db=db, actor=qa, now=NOW)
    ra = rows[a.lot_number]
    assert ra.day_n == 11 and ra.state == "in_expansion" and ra.last_count_day == 10
    assert ra.fold_expansion == pytest.approx(22.0)
    assert ra.last_viability_pct == pytest.approx(g.series[-1].viability_pct)
    assert g.projection is not None
    assert ra.projected_day == max(g.projection.reach_day or 0, g.window[0])
    assert ra.dose_met is True and not ra.overdue_count
    rb = rows[b.lot_number]
    assert rb.overdue_count and rb.fold_expansion is None and "overdue" in rb.flags
    rh = rows[lv.lot_number]
    assert rh.state == "harvested" and rh.dose_met is True and rh.projected_day == 11
    assert rh.pending_results > 0  # no release result reported yet

    assert [r.lot_number for r in board.board(db=db, actor=qa, now=NOW, site="SH02").rows] == [
        b.lot_number
    ]
    assert [r.lot_number for r in board.board(db=db, actor=qa, now=NOW, search="s-002").rows] == [
        b.lot_number
    ]
    coi = lots.show_lot(a.lot_number, db=db, actor=qa).coi
    found = lookup.find_lot(coi[:5] + " " + coi[5:], db=db, actor=qa)
    assert found is not None and found.lot_number == a.lot_number
    limited = board.board(db=db, actor=qa, now=NOW, limit=1)
    assert len(limited.rows) == 1 and limited.total_lots == 3


def test_board_refusals(db: Database, actors: dict[str, Actor]) -> None:
    with pytest.raises(RuleViolation) as e:
        board.board(db=db, actor=actors["qa"], now=NOW, state="frozen")
    assert e.value.rule == "unknown-state"
    with pytest.raises(NotPermitted):
        board.board(db=db, actor=actors["sponsor"], now=NOW)
    with pytest.raises(RuleViolation) as e:
        lookup.find_lot("W000126000001X", db=db, actor=actors["qa"])
    assert e.value.rule == "coi-check-character"


def test_results_to_verify_and_board_result_flags(db: Database, actors: dict[str, Actor]) -> None:
    from mfg.services import release

    tech, tech2, qa = actors["tech"], actors["tech2"], actors["qa"]
    lv, _ = world.harvested_lot(db, tech)
    release.add_result(release.AddResult(lv.lot_number, "VIAB", "91.5"), db=db, actor=tech, now=NOW)
    release.add_result(release.AddResult(lv.lot_number, "ENDO", "12"), db=db, actor=tech, now=NOW)
    release.add_result(
        release.AddResult(lv.lot_number, "STER", "pending"), db=db, actor=tech, now=NOW
    )
    queue = board.results_to_verify(db=db, actor=qa)
    assert [(r.test_code, r.evaluation) for r in queue] == [("VIAB", "pass"), ("ENDO", "fail")]
    release.verify_result(lv.lot_number, "VIAB", db=db, actor=tech2, now=NOW)
    assert [r.test_code for r in board.results_to_verify(db=db, actor=qa)] == ["ENDO"]
    row = board.board(db=db, actor=qa, now=NOW).rows[0]
    assert row.oos == 1 and row.unverified_results == 1
    assert "OOS" in row.flags and row.pending_results == 1 + 12 - 3  # STER + not yet entered
