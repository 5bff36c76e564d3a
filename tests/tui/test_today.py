"""Issue 13: Today, the worklist technicians and QA land on, with the handover."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from textual.widgets import DataTable, Static

from mfg.services import custody, release, worklist
from mfg.services.uow import Database
from tests.support import world
from tests.support.constants import NOW
from tests.tui.conftest import LOT, QA, TECH, TECH2, drive, login, press, released, settle
from tui.screens.today import countdown


def test_the_technician_lands_on_today_and_opens_a_lot_from_it(tui_db: Database) -> None:
    async def script(app: Any, pilot: Any) -> None:
        await login(pilot, board=False)
        assert type(app.screen).__name__ == "TodayScreen"
        table = app.screen.query_one("#today", DataTable)
        rows = [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]
        assert any(r[1] == LOT and "harvest window" in r[2] for r in rows), rows
        await press(pilot, "enter")
        assert type(app.screen).__name__ == "LotDetailScreen"
        await press(pilot, "escape")
        assert type(app.screen).__name__ == "TodayScreen"

    drive(tui_db, script)


def test_qa_today_lists_results_to_verify_and_the_handover(
    harvested: tuple[Database, str],
) -> None:
    db, lot = harvested
    release.add_result(release.AddResult(lot, "VIAB", "91.5"), db=db, actor=TECH, now=NOW)
    w = worklist.worklist(db=db, actor=QA, now=NOW + timedelta(minutes=1))
    assert any(i.kind == "verify" and "VIAB" in i.text for i in w.items)
    assert any(c.lot_number == lot and c.username == "tech" for c in w.changes)
    # the technician who entered it is not asked to verify it
    mine = worklist.worklist(db=db, actor=TECH, now=NOW + timedelta(minutes=1))
    assert not any(i.kind == "verify" and "VIAB" in i.text for i in mine.items)

    async def script(app: Any, pilot: Any) -> None:
        await login(pilot, "qa", board=False)
        assert type(app.screen).__name__ == "TodayScreen"
        handover = str(app.screen.query_one("#handover", Static).render())
        assert lot in handover and "result.added (tech)" in handover
        table = app.screen.query_one("#today", DataTable)
        kinds = [str(table.get_row_at(i)[0]) for i in range(table.row_count)]
        table.move_cursor(row=kinds.index("verify"))
        await press(pilot, "enter")
        # the result to verify is on the Release tab: the lot opens there
        assert type(app.screen).__name__ == "LotDetailScreen"
        assert app.screen.query_one("#lot-tabs").active == "tab-release"

    drive(db, script)


def test_a_thawed_bag_counts_down_to_its_infusion_limit(harvested: tuple[Database, str]) -> None:
    db, lot = harvested
    released(db, lot, reason="ok")
    bag = world.stored_bag(db, TECH, lot, box="B1")
    custody.issue_bag(bag, db=db, actor=TECH, now=NOW)
    custody.thaw_bag(bag, db=db, actor=TECH, now=NOW)
    w = worklist.worklist(db=db, actor=TECH, now=NOW + timedelta(minutes=10))
    (thawed,) = [i for i in w.items if i.kind == "thawed"]
    assert thawed.deadline == NOW + timedelta(minutes=30) and thawed.urgent
    assert str(countdown(thawed.deadline, NOW + timedelta(minutes=10))) == "20:00 left"
    assert str(countdown(thawed.deadline, NOW + timedelta(minutes=31))) == "1:00 OVER"


def test_the_handover_starts_at_the_end_of_my_previous_session_not_at_this_log_in(
    tui_db: Database,
) -> None:
    """Issue 12 audits every log-in (``session.opened``): the handover used to start at that
    event, so it was always empty. It starts at my last action before this log-in."""
    from mfg.services import accounts, counts, users
    from tests.support.constants import PASSWORD

    db, hour = tui_db, timedelta(hours=1)
    yesterday = accounts.open_session(db, TECH, kind="tui", host="bench-1", now=NOW + hour)
    accounts.close_session(db, yesterday, reason="logout", now=NOW + 2 * hour)
    counts.record_count(
        counts.RecordCount(LOT, 10**9, 9 * 10**8, day=10), db=db, actor=TECH2, now=NOW + 3 * hour
    )
    start = NOW + 20 * hour
    tech = users.login(db, "tech", PASSWORD, now=start)
    accounts.open_session(db, tech, kind="tui", host="bench-1", now=start)

    w = worklist.worklist(db=db, actor=tech, now=start + timedelta(minutes=1))
    assert [(c.username, c.action) for c in w.changes] == [("tech2", "count.recorded")]
    assert w.since == NOW + 2 * hour  # the previous session's end
    # my own work in this session does not move the handover's start
    counts.record_count(
        counts.RecordCount(LOT, 10**9, 9 * 10**8, day=11),
        db=db,
        actor=tech,
        now=start + timedelta(minutes=2),
    )
    later = worklist.worklist(
        db=db, actor=tech, now=start + timedelta(minutes=3), session_start=start
    )
    assert [(c.username, c.action) for c in later.changes] == [("tech2", "count.recorded")]


def test_the_board_opened_after_today_shows_lots_registered_since_the_log_in(
    tui_db: Database,
) -> None:
    """The log-in reads what Today shows, not a board page kept for later: a board opened after
    others registered a lot shows it (it showed the board as it was at log-in)."""

    async def script(app: Any, pilot: Any) -> None:
        await login(pilot, board=False)
        assert type(app.screen).__name__ == "TodayScreen"
        world.subject(tui_db, TECH2, "S-077")
        new = world.lot(tui_db, TECH2, "S-077").lot_number
        await pilot.press("b")
        await settle(pilot)
        assert type(app.screen).__name__ == "LotBoardScreen"
        assert new in [r.lot_number for r in app.screen.board.rows]
        table = app.screen.query_one("#board", DataTable)
        assert any(new in str(table.get_row_at(i)[0]) for i in range(table.row_count))

    drive(tui_db, script)


def test_today_lists_the_most_urgent_first_and_a_lists_everything(
    tui_db: Database, monkeypatch: Any
) -> None:
    """Today counts every item in its title but lists only the most urgent ones
    (``worklist.LIMIT``); ``a`` lists them all, and again only the most urgent."""
    world.subject(tui_db, TECH2, "S-078")
    world.lot(tui_db, TECH2, "S-078", day0=NOW.date() - timedelta(days=5))  # count overdue
    full = worklist.worklist(db=tui_db, actor=TECH, now=NOW, limit=None)
    assert full.total >= 2
    monkeypatch.setattr(worklist, "LIMIT", 1)

    async def script(app: Any, pilot: Any) -> None:
        await login(pilot, board=False)
        table = app.screen.query_one("#today", DataTable)
        title = str(app.screen.query_one("#today-title", Static).render())
        assert f"{full.total} thing(s) to do, {full.urgent} urgent" in title, title
        assert "the 1 most urgent listed (a: all)" in title, title
        assert table.row_count == 1
        assert str(table.get_row_at(0)[2]) == full.items[0].text
        await press(pilot, "a")
        assert table.row_count == full.total
        assert [str(table.get_row_at(i)[2]) for i in range(table.row_count)] == [
            i.text for i in full.items
        ]
        title = str(app.screen.query_one("#today-title", Static).render())
        assert "listed" not in title, title
        await press(pilot, "r")  # a reload keeps every item
        assert table.row_count == full.total
        await press(pilot, "a")  # and back to the most urgent only
        assert table.row_count == 1
        title = str(app.screen.query_one("#today-title", Static).render())
        assert "the 1 most urgent listed (a: all)" in title, title

    drive(tui_db, script)
