"""Issue 12: users' text in the TUI is text: Rich/Textual markup and emoji codes show literally,
stored escape sequences are made visible (never sent to the terminal)."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from sqlalchemy import text
from textual.widgets import DataTable

from mfg.domain.permissions import Role
from mfg.services import counts
from mfg.services.uow import Actor, Database
from tests.support.constants import NOW
from tests.tui.conftest import drive, login, scan_dialog, until

LOT = "BH002-26-0001"
MARKUP = "[bold red]BROKEN: x[/] :V: [link=http://evil]y[/link]"
TECH = Actor("tech", "Tom Technician", Role.TECHNICIAN)


def _cells(table: DataTable) -> list[Any]:  # type: ignore[type-arg]
    return [table.get_row_at(i) for i in range(table.row_count)]


def test_markup_and_escapes_in_the_trail_show_as_typed(tui_db: Database) -> None:
    with tui_db.engine.connect() as c:
        count_id = c.execute(text("SELECT min(id) FROM cellcount")).scalar_one()
    counts.correct_count(
        count_id,
        counts.RecordCount(LOT, 120_000_000, 100_000_000, day=0),
        MARKUP,
        db=tui_db,
        actor=TECH,
        now=NOW,
    )
    with tui_db.engine.begin() as c:  # a reason stored before input was checked (or by SQL)
        # the append-only trigger stops an accidental edit; SQL with intent drops it first
        c.execute(text("DROP TRIGGER IF EXISTS auditevent_no_update"))
        c.execute(
            text("UPDATE auditevent SET reason = :r WHERE seq = (SELECT max(seq) FROM auditevent)"),
            {"r": MARKUP + " \x1b[2K"},
        )

    async def script(app: Any, pilot: Any) -> None:
        await login(pilot)
        await scan_dialog(pilot)
        await pilot.press(*LOT.lower(), "enter")
        await until(pilot, lambda: type(app.screen).__name__ == "LotDetailScreen", "the lot")
        trail = app.screen.query_one("#trail", DataTable)
        await until(pilot, lambda: trail.row_count > 0, "the lot's trail")
        rows = _cells(trail)
        details = [r[-1] for r in rows]
        shown = [d.plain if isinstance(d, Text) else str(d) for d in details]
        assert any(s == MARKUP + " \\x1b[2K" for s in shown), shown
        assert all(isinstance(d, Text) for d in details)  # never parsed as markup
        assert not any("\x1b" in s for s in shown)

    drive(tui_db, script)
