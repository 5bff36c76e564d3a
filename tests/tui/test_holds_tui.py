"""The TUI shows holds (issue 10): the board flags the lot HOLD, a scan of a held lot's label
rings the bell with a red HOLD banner, and the lot's detail lists why."""

from __future__ import annotations

from typing import Any

from textual.widgets import DataTable, Input, Static

from mfg.services import custody, release
from mfg.services.uow import Database
from tests.conftest import add_users
from tests.services.test_holds import LATER, released_with_bags
from tests.tui.conftest import drive, login, scan_dialog, settle, until


def test_board_scan_and_detail_show_the_hold(sqlite_db: Database) -> None:
    actors = add_users(sqlite_db)
    lot, bags = released_with_bags(sqlite_db, actors)
    release.add_result(
        release.AddResult(lot, "STER", "Growth"), db=sqlite_db, actor=actors["tech"], now=LATER
    )
    bells: list[int] = []

    async def script(app: Any, pilot: Any) -> None:
        app.bell = lambda: bells.append(1)
        await login(pilot, "qa")
        table = app.screen.query_one("#board", DataTable)

        def flagged() -> bool:  # the rows reach the table after the board's read (waited on)
            cells = [str(c) for row in range(table.row_count) for c in table.get_row_at(row)]
            return any("HOLD" in c for c in cells)

        await until(pilot, flagged, "the board flags the held lot HOLD")
        await scan_dialog(pilot)
        await pilot.press(*bags[0], "enter")
        # the scan's worker rings, then opens the lot, whose own worker fills the header:
        # waited on, not counted in rounds (five rounds of settle missed the bell once, in CI)
        await until(pilot, lambda: bool(bells), "a scan of a held lot rings the bell")
        # the banner is a message the app handles after the bell (under load, a round later)
        await until(pilot, lambda: any(app._notifications), "the scan's banner")
        notes = [n for n in app._notifications]
        assert any(n.title == "HOLD" and n.severity == "error" for n in notes), notes

        def header() -> str:
            if type(app.screen).__name__ != "LotDetailScreen":
                return ""
            return str(app.screen.query_one("#lot-header", Static).render())

        await until(pilot, lambda: "HOLD" in header(), "the lot's header shows the hold")
        await settle(pilot)
        assert "HOLD" in header() and "STER failed after the release" in header()

    drive(sqlite_db, script, size=(120, 40))


def test_a_held_lots_bag_scanned_at_the_bedside_says_hold(sqlite_db: Database) -> None:
    """Issuing a bag of a held lot, its label scanned in lower case (Caps Lock): the custody
    step refuses with HOLD (bell, red verdict), nothing is written."""
    actors = add_users(sqlite_db)
    lot, bags = released_with_bags(sqlite_db, actors)
    release.add_result(
        release.AddResult(lot, "STER", "Growth"), db=sqlite_db, actor=actors["tech"], now=LATER
    )
    before = custody.list_bags(lot, db=sqlite_db, actor=actors["qa"]).bags
    bells: list[int] = []

    async def script(app: Any, pilot: Any) -> None:
        app.bell = lambda: bells.append(1)
        await login(pilot, "tech")
        app.scan_max_gap_s = 1.0  # Pilot types ~40 ms a key; a real scanner a few ms
        await pilot.press(*bags[0].lower(), "enter")
        await settle(pilot, 5)
        assert type(app.screen).__name__ == "LotDetailScreen"
        await pilot.press("3", "t")
        await settle(pilot)
        assert type(app.screen).__name__ == "CustodyDialog"
        app.screen.query_one("#cu-step", Input).focus()
        await pilot.press(*"issue", "tab", "tab")
        bells.clear()
        await pilot.press(*bags[0].lower(), "enter")
        await settle(pilot, 5)
        assert type(app.screen).__name__ == "CustodyDialog"
        verdict = str(app.screen.query_one("#cu-verdict", Static).render())
        assert verdict.startswith("HOLD") and "lot-on-hold" in verdict, verdict
        assert bells

    drive(sqlite_db, script, size=(120, 40))
    assert custody.list_bags(lot, db=sqlite_db, actor=actors["qa"]).bags == before
