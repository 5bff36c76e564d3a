"""TUI tests: the real app on a real (SQLite) database through the services, fixed clock."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from mfg.services.uow import Database
from tests.conftest import add_users
from tests.support import world
from tests.support.constants import NOW, PASSWORD


def make_app(db: Database) -> Any:
    from tui.app import CellTrailApp

    return CellTrailApp(db_factory=lambda: db, clock=lambda: NOW)


async def settle(pilot: Any, rounds: int = 3) -> None:
    """Let thread workers finish and their results reach the UI."""
    import contextlib

    from textual.worker import WorkerCancelled

    for _ in range(rounds):
        # an exclusive worker replaced by a newer one (a second reload) is not an error
        with contextlib.suppress(WorkerCancelled):
            await pilot.app.workers.wait_for_complete()
        await pilot.pause()


async def login(pilot: Any, user: str = "tech", password: str = PASSWORD) -> None:
    await pilot.press(*user, "tab", *password, "enter")
    await settle(pilot)


def drive(db: Database, script: Callable[[Any, Any], Awaitable[None]], size=(80, 24)) -> Any:
    app = make_app(db)

    async def main() -> None:
        async with app.run_test(size=size) as pilot:
            await pilot.pause()
            await script(app, pilot)

    asyncio.run(main())
    return app


@pytest.fixture
def tui_db(sqlite_db: Database) -> Database:
    """Users of every role, one lot in expansion (day 11, counts on days 0-9)."""
    actors = add_users(sqlite_db)
    tech = actors["tech"]
    world.subject(sqlite_db, tech, "S-001")
    lv = world.lot(sqlite_db, tech, "S-001")
    world.expand(sqlite_db, tech, lv.lot_number)
    return sqlite_db
