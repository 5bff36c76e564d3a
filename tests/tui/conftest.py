"""TUI tests: the real app on a real (SQLite) database through the services, fixed clock."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import pytest
import pytest_textual_snapshot

from mfg.domain.permissions import Role
from mfg.services import release
from mfg.services.uow import Actor, Database
from tests.conftest import add_users
from tests.support import world
from tests.support.constants import NOW, PASSWORD

LOT = "BH002-26-0001"  # the lot of ``tui_db`` and of ``harvested``
TECH = Actor("tech", "Tom Technician", Role.TECHNICIAN)
TECH2 = Actor("tech2", "Tara Technician", Role.TECHNICIAN)
QA = Actor("qa", "Quinn Quality", Role.QA)
VALUES = {  # every result of BH002 spec v1 but VIAB, conforming
    "APPEAR": "Conforms",
    "CD3": "96.8",
    "CAR": "30",
    "VCN": "2.1",
    "POT": "412",
    "ENDO": "<0.5",
    "GRAM": "No organisms seen",
    "MYCO": "Negative",
    "STER": "No growth",
    "RCL": "Not detected",
    "BEADS": "<10",
}


_EMPTY_RECT = re.compile(r'<rect [^>]*\bwidth="0"[^>]*/>\s*')
_as_exported = pytest_textual_snapshot.normalize_svg


def normalize_svg(svg: str) -> str:
    """The snapshot plugin's normalisation, and no rectangle of width 0 (it paints nothing). A
    DataTable's rows sometimes end in one, before the scrollbar, when they were painted before
    the scrollbar was measured: the photo looks the same and the SVG differed (seen once in
    six runs of the QA Release tab under load)."""
    return _EMPTY_RECT.sub("", _as_exported(svg))


pytest_textual_snapshot.normalize_svg = normalize_svg  # both sides: the stored and the taken


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
    await tables_measured(pilot)


async def tables_measured(pilot: Any) -> None:
    """Wait until the tables on screen have measured the rows added to them: a DataTable sizes
    its columns when its message queue is next idle, so a photo taken before shows every column
    as wide as its header ('BH0' for a lot number; seen under load). The screen under a modal
    dialog counts: it shows around the dialog."""
    from textual.screen import ModalScreen
    from textual.widgets import DataTable

    stack = pilot.app.screen_stack
    shown = stack[-2:] if isinstance(stack[-1], ModalScreen) and len(stack) > 1 else stack[-1:]
    for _ in range(500):
        tables = [t for screen in shown for t in screen.query(DataTable)]
        # private to Textual's DataTable: rows added, columns not yet measured
        if not any(t._require_update_dimensions or t._updated_cells for t in tables):
            break
        await pilot.pause(0.01)
    else:
        raise AssertionError("tables still unmeasured after 5 s")
    # Lines painted between the rows' arrival and the measurement are painted again by the
    # screens' table (tui.widgets.table.Table); the photo shows what the user sees.
    await pilot.pause()


async def board_shown(pilot: Any) -> None:
    """After the board is opened: wait until its first page has reached the table (the load
    worker can finish, and ``settle`` return, before the worker's rows are handed to the UI;
    a photo taken as they arrive shows unmeasured columns). Then settle."""
    for _ in range(500):
        if getattr(pilot.app.screen, "board", None) is not None:
            break
        await pilot.pause(0.01)
    else:
        raise AssertionError("the board showed no rows within 5 s")
    await settle(pilot)


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
        await board_shown(pilot)


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


@pytest.fixture
def harvested(sqlite_db: Database) -> tuple[Database, str]:
    """A harvested lot with every result but VIAB entered (tech) and verified (tech2)."""
    add_users(sqlite_db)
    lv, _ = world.harvested_lot(sqlite_db, TECH)
    for code, value in VALUES.items():
        release.add_result(
            release.AddResult(lv.lot_number, code, value), db=sqlite_db, actor=TECH, now=NOW
        )
        release.verify_result(lv.lot_number, code, db=sqlite_db, actor=TECH2, now=NOW)
    return sqlite_db, lv.lot_number


def released(db: Database, lot: str, reason: str = "all results conform") -> None:
    """``harvested``'s lot released: VIAB entered (tech), verified (tech2), QA signs."""
    release.add_result(release.AddResult(lot, "VIAB", "91.5"), db=db, actor=TECH, now=NOW)
    release.verify_result(lot, "VIAB", db=db, actor=TECH2, now=NOW)
    release.dispose(release.Dispose(lot, "release", reason), PASSWORD, db=db, actor=QA, now=NOW)


def footer_keys(app: Any, width: int = 80) -> list[str]:
    """The keys the footer shows inside the terminal's width, in order."""
    from textual.widgets._footer import FooterKey

    return [
        k.description
        for k in app.screen.query(FooterKey)
        if k.region.width and k.region.right <= width
    ]


def text_of(app: Any, selector: str) -> str:
    """What the ``Static`` ``selector`` of the current screen shows."""
    from textual.widgets import Static

    return str(app.screen.query_one(selector, Static).render())


async def press(pilot: Any, *keys: str, rounds: int = 3) -> None:
    """Press ``keys``, then let the app settle (see ``settle``)."""
    await pilot.press(*keys)
    await settle(pilot, rounds)


async def open_lot(pilot: Any, lot: str = LOT) -> None:
    """Open ``lot`` the way a scan does (an ``OpenLot`` message); its detail screen is up."""
    from tui.messages import OpenLot

    pilot.app.post_message(OpenLot(lot))
    await settle(pilot)
    assert type(pilot.app.screen).__name__ == "LotDetailScreen"


async def open_form(pilot: Any, key: str, form: str) -> Any:
    """Press ``key``; the form ``form`` (its class name) is open. Returns it."""
    await press(pilot, key)
    assert type(pilot.app.screen).__name__ == form
    return pilot.app.screen


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


async def scan_dialog(pilot: Any) -> None:
    """ctrl+o, then wait until the scan dialog's field has the focus: keys typed before would
    land on the screen behind it (a Pilot run under load opened nothing once). What is typed
    into it then is held as one burst (``scan_max_gap_s`` 1 s): Pilot types ~40 ms a key, more
    under load, and a prefix of the code was read as a scan of its own (twice in full runs)."""
    pilot.app.scan_max_gap_s = 1.0
    await pilot.press("ctrl+o")
    await until(
        pilot, lambda: getattr(pilot.app.focused, "id", None) == "scan-input", "the scan field"
    )
