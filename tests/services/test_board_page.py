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


def _without_counts(rows):  # type: ignore[no-untyped-def]
    from dataclasses import replace

    empty = {"fold_expansion": None, "last_viability_pct": None, "last_count_day": None}
    return [replace(r, **empty) for r in rows]


def test_the_queue_finds_its_lots_in_sql_as_the_boards_tallies_would(
    db: Database, actors: dict[str, Actor]
) -> None:
    """``awaiting_page`` leaves out in SQL the lots with a current result waiting for its second
    person, exactly the lots whose board row counts one: a pending result does not wait, a
    corrected result's earlier row does not count, and an evaluation an SQL edit made 'PASS'
    (verified by nobody) waits. ``limit``: the newest lots, every one counted."""
    from mfg.services import release
    from tests.release.conftest import enter

    tech, qa = actors["tech"], actors["qa"]
    world.subject(db, tech, "S-001")
    world.lot(db, tech, "S-001")  # in expansion
    nothing = harvested(db, actors, "S-002")
    waiting = harvested(db, actors, "S-003")
    release.add_result(release.AddResult(waiting, "VIAB", "91.5"), db=db, actor=tech, now=NOW)
    pending = harvested(db, actors, "S-004")
    enter(db, actors, pending, {"VIAB": "91.5", "STER": "pending"})
    corrected = harvested(db, actors, "S-005")
    enter(db, actors, corrected, {"VIAB": "91.5"}, verify_by=None)  # superseded unverified
    fixed = release.AddResult(corrected, "VIAB", "92.0")
    release.correct_result(fixed, "transcription error", db=db, actor=tech, now=NOW)
    release.verify_result(corrected, "VIAB", db=db, actor=actors["tech2"], now=NOW)
    edited = harvested(db, actors, "S-006")
    enter(db, actors, edited, {"VIAB": "91.5"}, verify_by=None)
    with db.engine.begin() as conn:
        conn.exec_driver_sql(
            "UPDATE releaseresult SET evaluation = 'PASS' WHERE lot_pk = "
            f"(SELECT id FROM lot WHERE lot_number = '{edited}')"
        )
    board_rows = board.board(db=db, actor=qa, now=NOW, states=board.TESTING_STATES).rows
    expected = _without_counts([r for r in board_rows if not r.unverified_results])
    page = board.awaiting_page(db=db, actor=qa, now=NOW, limit=None)
    assert list(page.rows) == expected and page.total_lots == len(expected)
    assert [r.lot_number for r in page.rows] == [corrected, pending, nothing]
    assert {r.lot_number for r in board_rows} == {nothing, waiting, pending, corrected, edited}
    first = board.awaiting_page(db=db, actor=qa, now=NOW, limit=1)
    assert (list(first.rows), first.total_lots) == (expected[:1], 3)
    assert board.awaiting_disposition(db=db, actor=qa, now=NOW) == expected


def test_a_page_reads_the_results_of_its_own_lots_by_index(sqlite_db: Database) -> None:
    """The board's page and the QA queue's look up the results of the lots on the page in
    ``ix_releaseresult_lot_pk``; joined to the page's lots, SQLite scanned every result (the
    board's first 50 rows at 100,000 lots with 475,873 results: 210-211 against 51 ms). The queue
    leaves out a lot with a result to verify through migration 0010's partial index."""
    from tests.conftest import add_users
    from tests.support.plans import query_plans, statements_sent

    actors = add_users(sqlite_db)
    for i in range(3):
        harvested(sqlite_db, actors, f"S-01{i}")
    qa = actors["qa"]
    with statements_sent(sqlite_db.engine) as sent:
        board.board(db=sqlite_db, actor=qa, now=NOW, limit=2)
        board.awaiting_page(db=sqlite_db, actor=qa, now=NOW, limit=2)
    pages = [(q, p) for q, p in sent if "FROM releaseresult" in q and "GROUP BY" in q]
    assert len(pages) == 2, sent
    for statement, plan in query_plans(sqlite_db.engine, pages).items():
        results = [line for line in plan if " releaseresult " in f"{line} "]
        assert not [line for line in results if line.startswith("SCAN")], plan
        assert any("USING INDEX ix_releaseresult_lot_pk (lot_pk=?)" in line for line in results)
        if "NOT (EXISTS" in statement:
            assert any("ix_releaseresult_unverified (lot_pk=?)" in line for line in results)
