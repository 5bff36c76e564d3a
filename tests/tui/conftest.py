"""TUI tests: the real app on a real (SQLite) database through the services, fixed clock."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import pytest

from mfg.services.uow import Database
from tests.conftest import add_users
from tests.support import world
from tests.support.constants import NOW, PASSWORD


def make_app(
    db: Database, poll_s: float | None = None, clock: Callable[[], datetime] = lambda: NOW
) -> Any:
    from tui.app import CellTrailApp

    return CellTrailApp(db_factory=lambda: db, clock=clock, poll_s=poll_s)


async def settle(pilot: Any, rounds: int = 3) -> None:
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
        if not getattr(pilot.app, "holding_keys", False):
            await pilot.pause()  # and the widgets have handled what the app passed on
            return
        await pilot.pause(0.01)
    raise AssertionError("keys still held after 2 s")


async def login(
    pilot: Any, user: str = "tech", password: str = PASSWORD, board: bool = True
) -> None:
    """Log in; technicians and QA land on Today, from where ``board`` goes on to the board."""
    await pilot.press(*user, "tab", *password, "enter")
    await settle(pilot)
    if board and type(pilot.app.screen).__name__ == "TodayScreen":
        await pilot.press("b")
        await settle(pilot)


def drive(
    db: Database,
    script: Callable[[Any, Any], Awaitable[None]],
    size: tuple[int, int] = (80, 24),
    poll_s: float | None = None,
    clock: Callable[[], datetime] = lambda: NOW,
) -> Any:
    """Run ``script(app, pilot)`` on the app at ``size``, its clock ``clock`` (fixed: NOW)."""
    app = make_app(db, poll_s, clock)

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


KEY_NAMES = {"-": "minus", ".": "full_stop", ":": "colon", " ": "space", "/": "slash"}


def key_name(char: str) -> str:
    return char if char.isalnum() else KEY_NAMES[char]


async def type_like_a_person(pilot: Any, text: str, gap: float = 0.15) -> None:
    """One key, then the pilot's own pause of ``gap`` seconds (a person: ~150 ms a key)."""
    for char in text:
        await pilot.press(key_name(char))
        await pilot.pause(gap)
    await keys_delivered(pilot)


async def scan_burst(pilot: Any, code: str, enter: bool = True) -> None:
    """A keyboard-wedge scanner: every key queued at once (microseconds apart), then Enter."""
    from textual import events

    for char in code:
        pilot.app.post_message(events.Key(key_name(char), char))
    if enter:
        pilot.app.post_message(events.Key("enter", "\r"))
    await settle(pilot)


async def until(pilot: Any, condition: Callable[[], bool], what: str, limit_s: float = 10) -> None:
    """Wait on a condition (never a fixed sleep), letting workers and messages run."""
    for _ in range(int(limit_s / 0.05)):
        if condition():
            return
        await workers_done(pilot)
        await pilot.pause(0.05)
    raise AssertionError(f"still waiting after {limit_s} s: {what}")
