"""The QA queue reads the newest lots awaiting disposition first, the rest (up to its limit)
once they are on screen, and says how many there are in all: at 100,000 lots (36,781 awaiting)
the whole list took 1.5 s before anything showed."""

from __future__ import annotations

from typing import Any

import pytest
from textual.widgets import DataTable

from mfg.services.uow import Database
from tests.support import world
from tests.tui.conftest import TECH, drive, login, settle, text_of, until
from tui.screens import qa_queue


def _lots(table: DataTable[Any]) -> list[str]:
    return [str(table.get_row_at(i)[0]) for i in range(table.row_count)]


@pytest.fixture
def small_pages(monkeypatch: pytest.MonkeyPatch) -> tuple[Any, list[tuple[Any, int]]]:
    """Pages of 2 then up to 4 lots; the rest's read held (``asked``) until the test runs it
    (``read_rest(*asked[k])``)."""
    monkeypatch.setattr(qa_queue, "FIRST_ROWS", 2)
    monkeypatch.setattr(qa_queue, "QUEUE_LIMIT", 4)
    read_rest = qa_queue.QaQueueScreen.load_rest
    asked: list[tuple[Any, int]] = []

    def hold(screen: Any, token: int) -> None:
        asked.append((screen, token))

    monkeypatch.setattr(qa_queue.QaQueueScreen, "load_rest", hold)
    return read_rest, asked


def test_the_newest_first_then_the_rest_the_cursor_kept(
    harvested: tuple[Database, str], small_pages: tuple[Any, list[tuple[Any, int]]]
) -> None:
    db, first = harvested
    later = [world.harvested_lot(db, TECH, f"S-08{i}")[0].lot_number for i in range(4)]
    newest = [*reversed(later), first]  # five lots awaiting disposition, newest first
    read_rest, asked = small_pages

    async def script(app: Any, pilot: Any) -> None:
        await login(pilot, "qa", board=False)
        await pilot.press("q")
        await until(pilot, lambda: bool(asked), "the first lots shown")
        table = app.screen.query_one("#to-dispose", DataTable)
        assert _lots(table) == newest[:2]
        assert text_of(app, "#dispose-title") == "Lots awaiting disposition (5; the newest 2 shown)"
        table.focus()
        table.move_cursor(row=1)  # the person moves to a lot before the rest arrives
        chosen = newest[1]
        # meanwhile another lot is harvested: the chosen lot moves down a row
        newer = world.harvested_lot(db, TECH, "S-089")[0].lot_number
        read_rest(*asked[0])
        await until(pilot, lambda: len(_lots(table)) == 4, "the rest shown")
        assert _lots(table) == [newer, *newest[:3]]
        assert text_of(app, "#dispose-title") == "Lots awaiting disposition (6; the newest 4 shown)"
        assert str(table.get_row_at(table.cursor_row)[0]) == chosen and table.cursor_row == 2
        assert len(asked) == 1  # the rest is read once, not again and again
        # a reload with more than the first lots shown reads them all at once: the cursor stays
        # on a lot past the first few, and nothing more is asked for
        table.move_cursor(row=3)
        await pilot.press("r")
        await settle(pilot)
        assert str(table.get_row_at(table.cursor_row)[0]) == newest[2] and table.cursor_row == 3
        assert len(asked) == 1

    drive(db, script)


def test_a_rest_read_before_a_reload_is_dropped(
    harvested: tuple[Database, str], small_pages: tuple[Any, list[tuple[Any, int]]]
) -> None:
    """The rest asked for by a list a reload has since replaced is not shown over the newer
    list (it was read before the change the reload shows)."""
    db, _ = harvested
    for i in range(3):
        world.harvested_lot(db, TECH, f"S-08{i}")
    read_rest, asked = small_pages

    async def script(app: Any, pilot: Any) -> None:
        await login(pilot, "qa", board=False)
        await pilot.press("q")
        await until(pilot, lambda: len(asked) == 1, "the first lots shown")
        await pilot.press("r")  # a reload (as another person's change makes one)
        await until(pilot, lambda: len(asked) == 2, "the reload's first lots shown")
        table = app.screen.query_one("#to-dispose", DataTable)
        read_rest(*asked[0])  # the stale read comes back last
        await settle(pilot)
        assert table.row_count == 2, "the stale rest replaced the newer list"
        read_rest(*asked[1])
        await until(pilot, lambda: table.row_count == 4, "the reload's own rest shown")

    drive(db, script)


def test_every_lot_shown_is_counted_plainly(harvested: tuple[Database, str]) -> None:
    db, lot = harvested

    async def script(app: Any, pilot: Any) -> None:
        await login(pilot, "qa", board=False)
        await pilot.press("q")
        await settle(pilot)
        assert _lots(app.screen.query_one("#to-dispose", DataTable)) == [lot]
        assert text_of(app, "#dispose-title") == "Lots awaiting disposition (1)"

    drive(db, script)


@pytest.mark.parametrize(
    ("waiting", "title"), [(2, "2"), (3, "the oldest 2 shown; more are waiting")]
)
def test_the_results_title_says_when_more_are_waiting(
    harvested: tuple[Database, str], monkeypatch: pytest.MonkeyPatch, waiting: int, title: str
) -> None:
    """The oldest results to verify are listed (500); the title says so when more are waiting,
    where it read as if the list were all of them ("Results to verify (500)" of 3,068)."""
    from mfg.services import release
    from tests.support.constants import NOW

    db, _ = harvested
    for i in range(waiting):
        lot = world.harvested_lot(db, TECH, f"S-07{i}")[0].lot_number
        release.add_result(release.AddResult(lot, "VIAB", "91.5"), db=db, actor=TECH, now=NOW)
    monkeypatch.setattr(qa_queue, "RESULTS_SHOWN", 2)

    async def script(app: Any, pilot: Any) -> None:
        await login(pilot, "qa", board=False)
        await pilot.press("q")
        await settle(pilot)
        assert app.screen.query_one("#to-verify", DataTable).row_count == 2
        assert text_of(app, "#verify-title") == f"Results to verify ({title})"

    drive(db, script)
