"""A screen whose first read is refused says so where it said ``loading ...``.

A lot whose stored product specification version is not a known one (an SQL edit: the
record check names it) makes Today's, the board's and the QA queue's reads refuse. The
refusal is notified; the screen's title line must say that nothing was read and why, not
go on saying ``loading ...`` (nor show empty lists that read as "nothing to do"). The edited
value holds an escape sequence: the title and the toast show it as text (the toast sent it to
the terminal, which cleared the screen)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from mfg.services.uow import Database
from tests.tui.conftest import LOT, drive, login, text_of, until


def _tamper_spec(db: Database, lot: str = LOT) -> None:
    with db.engine.begin() as conn:
        conn.execute(
            text("UPDATE lot SET spec_version = '9\x1b[2J' WHERE lot_number = :lot"), {"lot": lot}
        )


def test_today_and_the_board_say_their_read_was_refused(tui_db: Database) -> None:
    _tamper_spec(tui_db)

    async def script(app: Any, pilot: Any) -> None:
        await login(pilot, board=False)
        assert type(app.screen).__name__ == "TodayScreen"
        await until(pilot, lambda: "not read" in text_of(app, "#today-title"), "Today's refusal")
        title = text_of(app, "#today-title")
        assert "loading" not in title and title.startswith("Today: not read: "), title
        assert title.endswith("]") and "\x1b" not in title, title  # the rule; no escape sent
        assert "\\x1b[2J" in title, title
        said = [n.message for n in app._notifications]
        assert any("\\x1b[2J" in m for m in said), said  # the toast shows it as text, too
        assert not any("\x1b" in m for m in said), said  # (it cleared the terminal before)
        await pilot.press("b")
        await until(pilot, lambda: type(app.screen).__name__ == "LotBoardScreen", "the board")
        await until(pilot, lambda: "not read" in text_of(app, "#board-status"), "its refusal")
        status = text_of(app, "#board-status")
        assert "loading" not in status and "\\x1b[2J" in status and "\x1b" not in status

    drive(tui_db, script)


def test_the_qa_queue_says_its_read_was_refused(harvested: tuple[Database, str]) -> None:
    db, lot = harvested  # a lot awaiting disposition: the queue works out its flags
    _tamper_spec(db, lot)

    async def script(app: Any, pilot: Any) -> None:
        await login(pilot, "qa", board=False)
        await pilot.press("q")
        await until(pilot, lambda: type(app.screen).__name__ == "QaQueueScreen", "the queue")
        await until(pilot, lambda: "not read" in text_of(app, "#verify-title"), "its refusal")
        for title in ("#verify-title", "#dispose-title"):  # neither list reads as "nothing to do"
            assert text_of(app, title).startswith("QA queue: not read: "), title

    drive(db, script)


def test_a_toast_is_plain_text(tui_db: Database) -> None:
    """Whoever raises it, a toast shows markup and control characters as typed."""

    async def script(app: Any, pilot: Any) -> None:
        app.notify("[b]S-001[/b] \x1b[2J", title="\x07bell", markup=True)
        await until(pilot, lambda: len(app._notifications) > 0, "the toast")
        (toast,) = [n for n in app._notifications if "S-001" in n.message]
        assert toast.message == "[b]S-001[/b] \\x1b[2J" and toast.title == "\\x07bell"
        assert toast.markup is False

    drive(tui_db, script)
