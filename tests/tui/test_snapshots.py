"""Snapshots (pytest-textual-snapshot) of the board, the lot detail and the signing dialog.

Review the SVGs in the report before running with --snapshot-update.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mfg.services.uow import Database
from tests.tui.snapshot_app import log_in, seeded_database, settle, snapshot_app
from tui.messages import OpenLot

pytestmark = pytest.mark.slow


@pytest.fixture
def demo_db(tmp_path: Path) -> Any:
    db = seeded_database(tmp_path / "home")
    yield db
    db.dispose()


def test_lot_board(snap_compare: Any, demo_db: Database) -> None:
    async def run_before(pilot: Any) -> None:
        await log_in(pilot, "tech")

    assert snap_compare(snapshot_app(demo_db), run_before=run_before, terminal_size=(100, 30))


def test_lot_detail_with_growth_chart(snap_compare: Any, demo_db: Database) -> None:
    async def run_before(pilot: Any) -> None:
        await log_in(pilot, "tech")
        pilot.app.post_message(OpenLot("BH002-26-0010"))  # in expansion, day 11
        await settle(pilot)

    assert snap_compare(snapshot_app(demo_db), run_before=run_before, terminal_size=(100, 36))


def test_signing_dialog(snap_compare: Any, demo_db: Database) -> None:
    async def run_before(pilot: Any) -> None:
        from tui.screens.sign_dialog import SignDialog

        await log_in(pilot, "qa")
        app = pilot.app
        app.push_screen(
            SignDialog.for_actor(
                app,
                meaning="released",
                record="disposition of lot BH002-26-0006",
                summary="BH002-26-0006: all results conform; dose met\n"
                "review by exception: 0 exception(s)",
                sign=lambda password: None,
            )
        )
        await settle(pilot)
        await pilot.press(*"secret")

    assert snap_compare(snapshot_app(demo_db), run_before=run_before)
