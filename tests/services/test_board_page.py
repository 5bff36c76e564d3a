"""The board reads one page of lots (newest first) and counts every matching lot."""

from __future__ import annotations

import pytest

from mfg.errors import NotPermitted, RuleViolation
from mfg.services import board
from mfg.services.uow import Actor, Database
from tests.release.conftest import harvested
from tests.support import world
from tests.support.constants import NOW


def test_pages_are_consecutive_slices_of_the_whole_board(
    db: Database, actors: dict[str, Actor]
) -> None:
    tech = actors["tech"]
    for i in range(5):
        world.subject(db, tech, f"S-00{i}", site="SH02" if i % 2 else "BJ01")
        world.lot(db, tech, f"S-00{i}")
    whole = board.board(db=db, actor=tech, now=NOW)
    pages = [board.board(db=db, actor=tech, now=NOW, limit=2, offset=k) for k in (0, 2, 4)]
    assert [len(p.rows) for p in pages] == [2, 2, 1]
    assert [r for p in pages for r in p.rows] == list(whole.rows)
    assert {p.total_lots for p in pages} == {5}
    numbers = [r.lot_number for r in whole.rows]
    assert numbers == sorted(numbers, reverse=True)  # newest first
    site = board.board(db=db, actor=tech, now=NOW, site="SH02", limit=1)
    assert (len(site.rows), site.total_lots, site.sites) == (1, 2, ("BJ01", "SH02"))


def test_states_reads_the_lots_of_those_states_as_the_whole_board_shows_them(
    db: Database, actors: dict[str, Actor]
) -> None:
    """The QA queue reads the lots awaiting disposition only: the same rows as the whole board."""
    tech = actors["tech"]
    world.subject(db, tech, "S-001")
    world.lot(db, tech, "S-001")
    testing = harvested(db, actors, "S-002")
    whole = board.board(db=db, actor=tech, now=NOW)
    awaiting = ("harvested", "in_release_testing", "conditionally_released")
    some = board.board(db=db, actor=tech, now=NOW, states=awaiting)
    assert list(some.rows) == [r for r in whole.rows if r.state in awaiting]
    assert [r.lot_number for r in some.rows] == [testing] and some.total_lots == 1
    with pytest.raises(RuleViolation) as e:
        board.board(db=db, actor=tech, now=NOW, states=("harvested", "shipped"))
    assert e.value.rule == "unknown-state"


def test_the_lots_awaiting_disposition_are_the_boards_rows_without_counts(
    db: Database, actors: dict[str, Actor]
) -> None:
    """The QA queue's read: the board's row of each lot in release testing whose results are all
    verified -- dose, flags and holds alike -- with only the count columns left empty."""
    from dataclasses import replace

    from mfg.services import holds, release
    from tests.release.conftest import enter
    from tests.support.constants import PASSWORD

    tech, qa = actors["tech"], actors["qa"]
    world.subject(db, tech, "S-001")
    world.lot(db, tech, "S-001")  # in expansion: not awaiting disposition
    pending = harvested(db, actors, "S-002")  # nothing reported yet
    unverified = harvested(db, actors, "S-003")
    release.add_result(release.AddResult(unverified, "VIAB", "91.5"), db=db, actor=tech, now=NOW)
    held = harvested(db, actors, "S-004", total_viable=1.0e8)  # dose NOT met
    enter(db, actors, held, {"ENDO": "12"})  # verified, out of specification
    holds.place_hold(held, "suspect sterility", PASSWORD, db=db, actor=qa, now=NOW)

    got = board.awaiting_disposition(db=db, actor=qa, now=NOW)
    full = board.board(db=db, actor=qa, now=NOW, states=board.TESTING_STATES).rows
    empty = {"fold_expansion": None, "last_viability_pct": None, "last_count_day": None}
    assert got == [replace(r, **empty) for r in full if r.lot_number != unverified]
    assert [r.lot_number for r in got] == [held, pending]  # newest first
    by_lot = {r.lot_number: r for r in got}
    assert by_lot[held].hold and {"HOLD", "OOS"} <= set(by_lot[held].flags)
    assert by_lot[held].dose_met is False and by_lot[pending].dose_met is True
    assert all(r.fold_expansion is not None for r in full)  # the board does read the counts
    with pytest.raises(NotPermitted):
        board.awaiting_disposition(db=db, actor=actors["sponsor"], now=NOW)
