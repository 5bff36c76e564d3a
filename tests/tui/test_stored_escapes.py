"""Text stored by an SQL edit (CellTrail refuses control characters at input) is shown as text on
every screen: its escape sequences are written as visible escapes (``\\x1b]2;``), never sent to
the terminal. A termination reason holding OSC 52 and OSC 2 wrote the clipboard and the
terminal's title when its lot was opened; so did a hold's reason (the header's hold lines).

What is checked is what the screen draws (the compositor's lines, as the terminal gets them) and
what the widgets hold: no C0 or C1 control character, and the escape shown as text."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import text
from textual.widgets import DataTable, Static

from mfg.services import holds, lots, release
from mfg.services.uow import Database
from tests.support.constants import NOW, PASSWORD
from tests.tui.conftest import LOT, QA, TECH, drive, login, press, scan_dialog, text_of, until

OSC = "ok\x1b]52;c;cm0gLXJmIC8gIyBwYXN0ZWQ=\x1b\\ done\x1b]2;TITLE3\x1b\\"
SHOWN = "\\x1b]2;TITLE3"  # the title's escape as the screens show it: as text
NAME = "t\x1b]2;T\x1b\\"  # a short one, for a name (64 characters at most)
NAME_SHOWN = "t\\x1b]2;T"
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _sql(db: Database, statement: str, **params: Any) -> None:
    with db.engine.begin() as conn:
        conn.execute(text(statement), params)


def drawn(app: Any) -> str:
    """Every line the current screen draws (what reaches the terminal, less the styles)."""
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


def on_detail(app: Any) -> bool:
    return type(app.screen).__name__ == "LotDetailScreen"


def tab(app: Any) -> str:
    from textual.widgets import TabbedContent

    return str(app.screen.query_one("#lot-tabs", TabbedContent).active)


def cells(app: Any, table: str) -> list[str]:
    found = app.screen.query_one(table, DataTable)
    return [str(c) for i in range(found.row_count) for c in found.get_row_at(i)]


def statics(app: Any) -> str:
    """What the current screen's ``Static`` widgets hold (a dialog's title and body)."""
    return "\n".join(str(w.render()) for w in app.screen.query(Static))


def inert(shown: str | list[str], escaped: str) -> None:
    """``shown`` has no control character and shows ``escaped`` as text."""
    joined = shown if isinstance(shown, str) else "\n".join(shown)
    assert not CONTROL.search(joined.replace("\n", "")), repr(joined)
    assert escaped in joined, joined


async def drawn_inert(pilot: Any, escaped: str) -> None:
    """Once the screen draws ``escaped`` (its rows can be drawn a frame after they arrive),
    nothing it draws is a control character."""
    await until(pilot, lambda: escaped in drawn(pilot.app), f"{escaped!r} drawn")
    inert(drawn(pilot.app), escaped)


def test_termination_and_hold_reasons_counts_and_trail_show_escapes_as_text(
    tui_db: Database,
) -> None:
    holds.place_hold(LOT, "sterility in doubt", PASSWORD, db=tui_db, actor=QA, now=NOW)
    lots.terminate_lot(LOT, "manufacturing", "contamination", db=tui_db, actor=QA, now=NOW)
    _sql(tui_db, "UPDATE lot SET termination_reason = :r", r=OSC)
    _sql(tui_db, "UPDATE lothold SET reason = :r", r=OSC)
    _sql(tui_db, "UPDATE cellcount SET recorded_by = :n", n=NAME)
    # the append-only trigger stops an accidental edit; SQL with intent drops it first
    _sql(tui_db, "DROP TRIGGER IF EXISTS auditevent_no_update")
    _sql(tui_db, "UPDATE auditevent SET username = :n", n=NAME)
    _sql(tui_db, "UPDATE app_user SET full_name = :n WHERE username = 'qa'", n=NAME)

    async def script(app: Any, pilot: Any) -> None:
        await login(pilot, "qa", board=False)
        await until(pilot, lambda: "change(s)" in text_of(app, "#handover-title"), "handover")
        inert(text_of(app, "#handover"), NAME_SHOWN)  # Today: who changed which lot
        inert(app.sub_title, NAME_SHOWN)  # the header: the user's full name
        await drawn_inert(pilot, NAME_SHOWN)
        await scan_dialog(pilot)  # its field focused: keys typed before reach Today (flaked)
        await press(pilot, *LOT.lower(), "enter")
        await until(pilot, lambda: "terminated" in text_of(app, "#lot-header"), "the header")
        header = text_of(app, "#lot-header")
        inert(header, SHOWN)
        assert header.count(SHOWN) == 2, header  # the termination reason and the hold's
        inert(cells(app, "#counts"), NAME_SHOWN)  # 1 Growth: who counted
        await drawn_inert(pilot, SHOWN)
        await press(pilot, "4")  # 4 Audit: who did what
        await until(pilot, lambda: tab(app) == "tab-audit", "the Audit tab")
        inert(cells(app, "#trail"), NAME_SHOWN)
        await drawn_inert(pilot, NAME_SHOWN)

    drive(tui_db, script, size=(160, 50))


def test_release_bags_and_the_verify_dialog_show_escapes_as_text(
    harvested: tuple[Database, str],
) -> None:
    db, lot = harvested
    release.add_result(release.AddResult(lot, "VIAB", "91.5"), db=db, actor=TECH, now=NOW)
    _sql(db, "UPDATE releaseresult SET entered_by = :n WHERE test_code = 'VIAB'", n=NAME)
    _sql(db, "UPDATE dosebag SET location = :r", r=OSC)

    async def script(app: Any, pilot: Any) -> None:
        from tui.messages import OpenLot

        await login(pilot, "qa", board=False)
        app.post_message(OpenLot(lot, "tab-release"))  # opened to verify: the cursor on VIAB
        await until(pilot, lambda: on_detail(app) and app.screen.detail, "the lot's detail")
        inert(cells(app, "#results"), NAME_SHOWN)  # 2 Release: who entered the result
        await drawn_inert(pilot, NAME_SHOWN)
        await press(pilot, "v")
        await until(pilot, lambda: type(app.screen).__name__ == "ConfirmDialog", "the dialog")
        inert(statics(app), NAME_SHOWN)  # "entered by ..."
        await drawn_inert(pilot, NAME_SHOWN)
        await press(pilot, "escape")
        await press(pilot, "3")  # 3 Bags: where each bag is
        await until(pilot, lambda: tab(app) == "tab-bags", "the Bags tab")
        inert(cells(app, "#bags"), SHOWN)
        await drawn_inert(pilot, SHOWN)

    drive(db, script, size=(200, 50))
