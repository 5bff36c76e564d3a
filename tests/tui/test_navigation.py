"""Issue 13, problems 4 and 5: selection and navigation, refresh on change, what is shown."""

from __future__ import annotations

from typing import Any

from textual.widgets import DataTable, Input, TabbedContent

from mfg.services import counts
from mfg.services.uow import Database
from tests.support import world
from tests.support.constants import NOW
from tests.tui.conftest import (
    LOT,
    TECH,
    drive,
    login,
    open_form,
    open_lot,
    press,
    settle,
    type_like_a_person,
    until,
)


def test_arrows_move_in_lot_detail_at_once_and_the_row_stays_after_a_reload(
    tui_db: Database,
) -> None:
    async def script(app: Any, pilot: Any) -> None:
        await login(pilot)
        await open_lot(pilot)
        table = app.screen.query_one("#counts", DataTable)
        assert app.focused is table  # no Tab needed before the arrows
        await press(pilot, "down", "down")
        assert table.cursor_row == 2
        app.screen.reload()
        await settle(pilot)
        assert table.cursor_row == 2  # kept after a reload (e.g. after a custody step)
        await press(pilot, "2")  # the Release tab, its table takes the arrows
        assert app.screen.query_one("#lot-tabs", TabbedContent).active == "tab-release"
        assert app.focused is app.screen.query_one("#results", DataTable)

    drive(tui_db, script)


def test_ctrl_b_leaves_a_lot_for_the_board(tui_db: Database) -> None:
    async def script(app: Any, pilot: Any) -> None:
        await login(pilot)
        await open_lot(pilot)
        await press(pilot, "ctrl+b")
        assert type(app.screen).__name__ == "LotBoardScreen"

    drive(tui_db, script)


def test_the_board_refreshes_when_another_user_writes(tui_db: Database) -> None:
    async def script(app: Any, pilot: Any) -> None:
        await login(pilot)
        table = app.screen.query_one("#board", DataTable)
        assert table.row_count == 1
        world.subject(tui_db, TECH, "S-002")  # another terminal registers a lot
        world.lot(tui_db, TECH, "S-002")
        await until(pilot, lambda: table.row_count == 2, "the board shows the new lot")

    drive(tui_db, script, poll_s=0.2)


def test_correcting_a_count_keeps_its_volume(tui_db: Database) -> None:
    g = counts.growth(LOT, db=tui_db, actor=TECH, now=NOW)
    last = g.counts[-1]
    counts.correct_count(
        last.id,
        counts.RecordCount(
            LOT, last.total_cells, last.viable_cells, day=last.expansion_day, volume_ml=750
        ),
        "volume added",
        db=tui_db,
        actor=TECH,
        now=NOW,
    )

    async def script(app: Any, pilot: Any) -> None:
        await login(pilot)
        await open_lot(pilot)
        table = app.screen.query_one("#counts", DataTable)
        table.move_cursor(row=len(g.counts) - 1)
        await open_form(pilot, "x", "CountForm")
        assert app.screen.query_one("#in-volume_ml", Input).value == "750"
        app.screen.query_one("#in-reason", Input).focus()
        await type_like_a_person(pilot, "typo", gap=0.08)
        await press(pilot, "ctrl+s")
        await press(pilot, "enter", rounds=5)

    drive(tui_db, script)
    after = counts.growth(LOT, db=tui_db, actor=TECH, now=NOW).counts[-1]
    assert after.id != last.id and after.volume_ml == 750


def test_escape_on_a_filled_form_asks_before_discarding(tui_db: Database) -> None:
    async def script(app: Any, pilot: Any) -> None:
        await login(pilot)
        await open_lot(pilot)
        await open_form(pilot, "c", "CountForm")
        await pilot.press("tab")
        await type_like_a_person(pilot, "12")
        await press(pilot, "escape")
        assert type(app.screen).__name__ == "ConfirmDialog"
        await press(pilot, "escape")  # no: back to the form, nothing lost
        assert type(app.screen).__name__ == "CountForm"
        assert app.screen.query_one("#in-total", Input).value == "12"
        await press(pilot, "escape", "enter")  # yes: discard
        assert type(app.screen).__name__ == "LotDetailScreen"
        # an untouched form closes at once
        await open_form(pilot, "c", "CountForm")
        await press(pilot, "escape")
        assert type(app.screen).__name__ == "LotDetailScreen"

    drive(tui_db, script)


def _count_calls(monkeypatch: Any, method: str) -> list[int]:
    """From now on, a 1 for each call of ``Stylesheet.<method>`` (which still runs)."""
    from textual.css.stylesheet import Stylesheet

    calls: list[int] = []
    original = getattr(Stylesheet, method)

    def counted(self: Stylesheet) -> None:
        calls.append(1)
        original(self)

    monkeypatch.setattr(Stylesheet, method, counted)
    return calls


def test_opening_a_mode_for_the_first_time_does_not_reparse_every_stylesheet(
    tui_db: Database, monkeypatch: Any
) -> None:
    """Today, the board and the QA queue are modes; Textual re-parsed all of the app's CSS
    twice on the first switch to each (a third of Enter -> Today at 10,000 lots). Their
    screens start at the app's CSS generation instead (``tui.app._screen``), and are still
    styled: the Today and board snapshots check how they look."""

    async def script(app: Any, pilot: Any) -> None:
        reparsed = _count_calls(monkeypatch, "reparse")
        await login(pilot, board=False)
        assert type(app.screen).__name__ == "TodayScreen"
        await press(pilot, "b")
        assert type(app.screen).__name__ == "LotBoardScreen"
        await press(pilot, "q")
        assert type(app.screen).__name__ == "QaQueueScreen"
        assert reparsed == []
        # the screens are styled: the board's table takes the screen's width
        table = app.screen.query_one(DataTable)
        assert table.styles.height is not None and table.region.width > 0

    drive(tui_db, script)


def test_the_css_of_the_screens_after_the_log_in_is_parsed_while_the_user_types(
    tui_db: Database, monkeypatch: Any
) -> None:
    """Textual adds a widget class's CSS when the first one is mounted and then parses every
    stylesheet again: twice between Enter on the log-in and Today's rows (its Header and
    DataTable). The app adds their CSS while the log-in waits for the user, so Enter -> Today
    parses nothing, and Today is still styled as before (its snapshot checks the look)."""
    from textual.widgets import Header

    async def script(app: Any, pilot: Any) -> None:
        for _ in range(100):  # it runs after the log-in's first paint
            if app.css_preloaded:
                break
            await pilot.pause()
        assert app.css_preloaded
        parsed = _count_calls(monkeypatch, "parse")
        await login(pilot, board=False)
        assert type(app.screen).__name__ == "TodayScreen"
        assert parsed == []
        assert app.screen.query_one(Header).region.height == 1
        assert app.screen.query_one(DataTable).row_count > 0

    drive(tui_db, script)
