"""A screen whose first read is refused says so where it said ``loading ...``; one lot that
cannot be read is flagged on the screens that list lots, and the others are listed.

A refused read (the service's refusal: a stored value that fails a check, quoted in the
message) is notified; the screen's title line must say that nothing was read and why, not go on
saying ``loading ...`` (nor show empty lists that read as "nothing to do"). The refusal quotes
an escape sequence: the title and the toast show it as text (the toast sent it to the terminal,
which cleared the screen).

A lot whose stored product specification version was edited in SQL to one with no file (holding
an escape sequence) used to be such a refusal for everyone's Today, board and QA queue. Now each
lists the other lots and flags that one NOT READ with the refusal, shown as text."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text
from textual.widgets import DataTable

from mfg.errors import RuleViolation
from mfg.services import board, worklist
from mfg.services.uow import Database
from tests.support import world
from tests.tui.conftest import LOT, TECH, drive, login, text_of, until

ESCAPED = "\\x1b[2J"  # the escape sequence as the screens show it: as text


def _tamper_spec(db: Database, lot: str = LOT) -> None:
    with db.engine.begin() as conn:
        conn.execute(
            text("UPDATE lot SET spec_version = '9\x1b[2J' WHERE lot_number = :lot"), {"lot": lot}
        )


def _refuse(*args: Any, **kwargs: Any) -> Any:
    raise RuleViolation("lot", "record-check", "stored value '9\x1b[2J' fails its check")


def _rows(app: Any, table: str) -> list[list[str]]:
    found = app.screen.query_one(table, DataTable)
    return [[str(c) for c in found.get_row_at(i)] for i in range(found.row_count)]


def test_today_and_the_board_say_their_read_was_refused(
    tui_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(worklist, "worklist", _refuse)
    monkeypatch.setattr(board, "board", _refuse)

    async def script(app: Any, pilot: Any) -> None:
        await login(pilot, board=False)
        assert type(app.screen).__name__ == "TodayScreen"
        await until(pilot, lambda: "not read" in text_of(app, "#today-title"), "Today's refusal")
        title = text_of(app, "#today-title")
        assert "loading" not in title and title.startswith("Today: not read: "), title
        assert title.endswith("[record-check]") and "\x1b" not in title, title  # no escape sent
        assert ESCAPED in title, title
        said = [n.message for n in app._notifications]
        assert any(ESCAPED in m for m in said), said  # the toast shows it as text, too
        assert not any("\x1b" in m for m in said), said  # (it cleared the terminal before)
        await pilot.press("b")
        await until(pilot, lambda: type(app.screen).__name__ == "LotBoardScreen", "the board")
        await until(pilot, lambda: "not read" in text_of(app, "#board-status"), "its refusal")
        status = text_of(app, "#board-status")
        assert "loading" not in status and ESCAPED in status and "\x1b" not in status

    drive(tui_db, script)


def test_a_stored_date_that_is_no_date_flags_its_lot_not_a_list(tui_db: Database) -> None:
    """A day 0 edited in SQL to text that is no date (SQLite holds any text) stopped the TUI on
    an internal error after the log-in, for every user; then it refused Today and the board as
    a whole. Now both list the other lots and flag that one NOT READ, quoting the stored text;
    its own screen says it was not read."""
    from tests.tui.conftest import open_lot

    world.subject(tui_db, TECH, "S-002")
    other = world.lot(tui_db, TECH, "S-002").lot_number
    with tui_db.engine.begin() as conn:
        conn.execute(text("UPDATE lot SET day0 = '2026-13-45' WHERE lot_number = :n"), {"n": LOT})

    async def script(app: Any, pilot: Any) -> None:
        await login(pilot, board=False)
        await until(pilot, lambda: "to do" in text_of(app, "#today-title"), "Today's list")
        rows = _rows(app, "#today")
        (flagged,) = [r for r in rows if r[1] == LOT]  # listed once, apart
        assert flagged[0] == "NOT READ", flagged
        assert flagged[2] == (
            "day 0 not read [stored-value-unreadable]: a stored date '2026-13-45' cannot be "
            "read (changed outside CellTrail? mfg audit verify names the record)"
        )
        assert any(r[1] == other and r[0] == "count" for r in rows), rows
        await pilot.press("b")
        await until(pilot, lambda: getattr(app.screen, "board", None) is not None, "the board")
        board_rows = {r[0]: r for r in _rows(app, "#board")}
        assert set(board_rows) == {LOT, other}
        assert board_rows[LOT][2] == "?" and board_rows[LOT][7].startswith("NOT READ")
        assert "'2026-13-45'" in board_rows[LOT][10]
        assert "NOT READ" not in board_rows[other][7] and board_rows[other][2] == "11"
        await open_lot(pilot, LOT)
        await until(pilot, lambda: "not read" in text_of(app, "#lot-header"), "the refusal")
        header = text_of(app, "#lot-header")
        assert "'2026-13-45'" in header and header.endswith("[stored-value-unreadable]"), header
        assert app.is_running

    drive(tui_db, script, size=(200, 40))


def test_a_stored_count_that_is_no_number_is_a_refusal_not_a_stop(tui_db: Database) -> None:
    """A viable cell count edited in SQL to text (SQLite holds any type) stopped the TUI on an
    internal error when the lot was opened; now the lot's header says it was not read, and the
    app goes on (Today still lists the lot)."""
    from tests.tui.conftest import open_lot

    with tui_db.engine.begin() as conn:
        conn.execute(text("UPDATE cellcount SET viable_cells = 'lots' WHERE id = 4"))

    async def script(app: Any, pilot: Any) -> None:
        await login(pilot, board=False)
        await until(pilot, lambda: "to do" in text_of(app, "#today-title"), "Today's list")
        await open_lot(pilot)
        await until(pilot, lambda: "not read" in text_of(app, "#lot-header"), "the refusal")
        header = text_of(app, "#lot-header")
        assert header.startswith(f"{LOT}: not read: a stored viable_cells 'lots' "), header
        assert header.endswith("[stored-value-unreadable]"), header
        assert app.is_running
        await pilot.press("escape")
        await until(pilot, lambda: type(app.screen).__name__ == "TodayScreen", "back to Today")
        assert app.is_running

    drive(tui_db, script)


def test_the_qa_queue_says_its_read_was_refused(
    harvested: tuple[Database, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    db, _ = harvested
    monkeypatch.setattr(board, "awaiting_page", _refuse)

    async def script(app: Any, pilot: Any) -> None:
        await login(pilot, "qa", board=False)
        await pilot.press("q")
        await until(pilot, lambda: type(app.screen).__name__ == "QaQueueScreen", "the queue")
        await until(pilot, lambda: "not read" in text_of(app, "#verify-title"), "its refusal")
        for title in ("#verify-title", "#dispose-title"):  # neither list reads as "nothing to do"
            assert text_of(app, title).startswith("QA queue: not read: "), title

    drive(db, script)


def test_one_unreadable_lot_is_flagged_and_the_others_are_listed(tui_db: Database) -> None:
    world.subject(tui_db, TECH, "S-002")
    other = world.lot(tui_db, TECH, "S-002").lot_number  # registered 11 days ago, no count
    _tamper_spec(tui_db)

    async def script(app: Any, pilot: Any) -> None:
        await login(pilot, board=False)
        await until(pilot, lambda: "to do" in text_of(app, "#today-title"), "Today's list")
        rows = _rows(app, "#today")
        (flagged,) = [r for r in rows if r[1] == LOT]  # listed once, apart
        assert flagged[0] == "NOT READ" and flagged[2].startswith(
            "spec not read [unknown-spec-version]: "
        )
        assert ESCAPED in flagged[2] and "\x1b" not in flagged[2], flagged
        assert any(r[1] == other and r[0] == "count" for r in rows), rows
        await pilot.press("b")
        await until(pilot, lambda: getattr(app.screen, "board", None) is not None, "the board")
        board_rows = {r[0]: r for r in _rows(app, "#board")}
        assert set(board_rows) == {LOT, other}
        assert board_rows[LOT][7].startswith("NOT READ") and ESCAPED in board_rows[LOT][10]
        assert "NOT READ" not in board_rows[other][7]

    drive(tui_db, script, size=(200, 40))


def test_the_qa_queue_flags_the_unreadable_lot(harvested: tuple[Database, str]) -> None:
    db, lot = harvested
    _tamper_spec(db, lot)

    async def script(app: Any, pilot: Any) -> None:
        await login(pilot, "qa", board=False)
        await pilot.press("q")
        await until(pilot, lambda: type(app.screen).__name__ == "QaQueueScreen", "the queue")
        await until(pilot, lambda: _rows(app, "#to-dispose"), "the lots awaiting disposition")
        ((number, _, _, dose, flags),) = _rows(app, "#to-dispose")
        assert number == lot and flags.startswith("NOT READ") and dose == "-"

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


def test_a_lot_whose_weight_cannot_be_read_still_warns_of_an_implausible_count(
    tui_db: Database,
) -> None:
    """Its subject's weight edited to text: the target dose is refused (the detail says why), a
    count is still taken, and the count form still checks it against the lot's counts (it read
    the growth view, dose included, and lost every plausibility warning with it)."""
    from tests.tui.conftest import open_form, open_lot, scan_burst

    with tui_db.engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE subject SET weight_kg = 'heavy' WHERE id = "
                "(SELECT subject_pk FROM lot WHERE lot_number = :lot)"
            ),
            {"lot": LOT},
        )

    async def script(app: Any, pilot: Any) -> None:
        await login(pilot)
        await open_lot(pilot)
        await open_form(pilot, "c", "CountForm")
        await until(pilot, lambda: "day 0 = " in text_of(app, "#form-context"), "the counts")
        await pilot.press("tab")
        await scan_burst(pilot, "1.5e11", enter=False)
        await pilot.press("tab")
        await scan_burst(pilot, "1.4e11", enter=False)
        await pilot.press("ctrl+s")
        await until(pilot, lambda: "CHECK: " in text_of(app, "#form-derived"), "the warning")
        assert "CHECK: viable cells up" in text_of(app, "#form-derived")

    drive(tui_db, script)
