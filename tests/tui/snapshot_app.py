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


def seeded_database(home: Path) -> Database:
    from tests.support.fast_hash import install

    install()
    home.mkdir(parents=True, exist_ok=True)
    url = f"sqlite:///{home / 'celltrail.db'}"
    db = Database(
        engine=store_db.make_engine(url),
        settings=Settings(home=home, facility_id="W0001", site_timezone="Asia/Shanghai"),
    )
    seed_demo(db, now=NOW)
    return db


def snapshot_app(db: Database) -> Any:
    from tui.app import CellTrailApp

    return CellTrailApp(db_factory=lambda: db, clock=lambda: NOW, demo=True, poll_s=None)


async def settle(pilot: Any, rounds: int = 4) -> None:
    """Let held keys reach their widgets (``tui.wedge``), thread workers finish and their
    results reach the UI: waits on conditions, never a fixed sleep."""
    for _ in range(rounds):
        await keys_delivered(pilot)
        await workers_done(pilot)
        await pilot.pause()


async def workers_done(pilot: Any) -> None:
    """Wait for the thread workers; one cancelled by a newer one of its group (a reload that
    replaced a reload) is fine, it is what exclusive workers are for."""
    from textual.worker import WorkerCancelled

    for _ in range(20):
        try:
            await pilot.app.workers.wait_for_complete()
            return
        except WorkerCancelled:
            continue


async def keys_delivered(pilot: Any) -> None:
    """Wait until the app holds no key back (it holds each for its scanner-burst check)."""
    for _ in range(200):
        if not pilot.app.holding_keys:
            return
        await pilot.pause(0.01)
    raise AssertionError("keys still held after 2 s")


async def log_in(pilot: Any, user: str = "qa", board: bool = True) -> None:
    await pilot.press(*user, "tab", *DEMO_PASSWORD, "enter")
    await settle(pilot)
    if board and type(pilot.app.screen).__name__ == "TodayScreen":
        await pilot.press("b")
        await settle(pilot)
