"""The app the snapshot tests photograph: the demo database seeded at a FIXED clock.

Everything on screen derives from ``NOW`` (lot days, projections, audit times), so the SVGs are
stable from run to run and from day to day.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mfg.config import Settings
from mfg.demo import DEMO_PASSWORD, seed_demo
from mfg.services.uow import Database
from mfg.store import db as store_db
from tests.support.constants import NOW
from tests.tui.conftest import board_shown
from tests.tui.conftest import settle as settle_keys_and_workers


def seeded_database(home: Path) -> Database:
    from tests.support.fast_hash import install

    install()
    home.mkdir(parents=True, exist_ok=True)
    url = f"sqlite:///{home / 'celltrail.db'}"
    db = Database(
        engine=store_db.make_engine(url),
        settings=Settings(home=home, facility_id="A9990", site_timezone="Asia/Shanghai"),
    )
    seed_demo(db, now=NOW)
    return db


def snapshot_app(db: Database) -> Any:
    from tui.app import CellTrailApp

    return CellTrailApp(db_factory=lambda: db, clock=lambda: NOW, demo=True, poll_s=None)


async def settle(pilot: Any, rounds: int = 4) -> None:
    """The Pilot tests' settle (held keys delivered, workers done), one round more."""
    await settle_keys_and_workers(pilot, rounds)


async def log_in(pilot: Any, user: str = "qa", board: bool = True) -> None:
    await pilot.press(*user, "tab", *DEMO_PASSWORD, "enter")
    await settle(pilot)
    if board and type(pilot.app.screen).__name__ == "TodayScreen":
        await pilot.press("b")
        await board_shown(pilot)
        await settle(pilot)
