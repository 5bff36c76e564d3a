"""Issue 13, problems 1 and 2: the cursor never moves while a person types, and a scanner's
burst never leaks into shortcuts or form fields (upper or lower case). A person types here with
the pilot's own pause between keys (150 ms); a scanner posts every key at once."""

from __future__ import annotations

from typing import Any

from textual.widgets import Input

from mfg.services.uow import Database
from tests.support import world
from tests.tui.conftest import (
    LOT,
    TECH,
    drive,
    login,
    open_form,
    open_lot,
    press,
    scan_burst,
    settle,
    type_like_a_person,
)


def inputs(app: Any) -> dict[str, str]:
    return {w.id or "": w.value for w in app.screen.query(Input)}


def test_count_correction_typed_slowly_keeps_the_cursor_in_total(tui_db: Database) -> None:
    """Typing "7" of 7.5e8 made total < viable; the form moved the cursor to Viable."""

    async def script(app: Any, pilot: Any) -> None:
        await login(pilot)
        await open_lot(pilot)
        await open_form(pilot, "x", "CountForm")
        viable_before = app.screen.query_one("#in-viable", Input).value
        await press(pilot, "tab")  # Date counted -> Total (selects its value)
        assert app.focused.id == "in-total"
        await type_like_a_person(pilot, "7.5e8")
        assert app.focused.id == "in-total"
        values = inputs(app)
        assert values["in-total"] == "7.5e8"
        assert values["in-viable"] == viable_before

    drive(tui_db, script)


def test_register_form_opens_in_subject_and_stays_there(tui_db: Database) -> None:
    async def script(app: Any, pilot: Any) -> None:
        await login(pilot)
        await open_form(pilot, "n", "RegisterLotForm")
        assert app.focused.id == "in-subject_id"
        await type_like_a_person(pilot, "S-9")
        assert app.focused.id == "in-subject_id"
        assert inputs(app)["in-subject_id"] == "S-9"

    drive(tui_db, script)


def test_disposition_reason_typed_slowly_stays_in_reason(harvested: tuple[Database, str]) -> None:
    """Release is blocked (VIAB not entered): the decision's refusal must not pull the cursor
    back to Decision while the reason is typed."""
    db, lot = harvested

    async def script(app: Any, pilot: Any) -> None:
        await login(pilot, "qa")
        await open_lot(pilot, lot)
        await open_form(pilot, "d", "DispositionForm")
        assert app.focused.id == "in-decision"
        await type_like_a_person(pilot, "release")
        await press(pilot, "tab")
        await type_like_a_person(pilot, "ok so far")
        assert app.focused.id == "in-reason"
        values = inputs(app)
        assert values["in-decision"] == "release"
        assert values["in-reason"] == "ok so far"

    drive(db, script)


def test_a_person_typing_a_shortcut_still_opens_the_form(tui_db: Database) -> None:
    async def script(app: Any, pilot: Any) -> None:
        await login(pilot)
        await open_lot(pilot)
        await type_like_a_person(pilot, "c")
        await settle(pilot)
        assert type(app.screen).__name__ == "CountForm"

    drive(tui_db, script)


def test_a_lower_case_scan_on_a_lot_fires_no_shortcut_and_opens_the_scanned_lot(
    tui_db: Database,
) -> None:
    """Caps Lock on the scanner: "bh002-26-0002" holds c-free letters b and h (h = harvest)."""
    world.subject(tui_db, TECH, "S-002")
    second = world.lot(tui_db, TECH, "S-002").lot_number

    async def script(app: Any, pilot: Any) -> None:
        await login(pilot)
        await open_lot(pilot)
        for code in (second.lower(), LOT.lower(), second):
            await scan_burst(pilot, code)
            assert type(app.screen).__name__ == "LotDetailScreen", code
            assert app.screen.lot_number == code.upper()
        # no form was pushed; a lot opened from a lot replaces it (Esc goes back to the board)
        assert [type(s).__name__ for s in app.screen_stack] == ["LotBoardScreen", "LotDetailScreen"]

    drive(tui_db, script)


def test_a_scan_while_a_form_is_open_types_nothing_and_switches_nothing(
    tui_db: Database,
) -> None:
    """16 tries, as in the report: never a character in the form, never another lot."""

    async def script(app: Any, pilot: Any) -> None:
        await login(pilot)
        await open_lot(pilot)
        form = await open_form(pilot, "c", "CountForm")
        await press(pilot, "tab")  # into Total
        await type_like_a_person(pilot, "12")
        before = inputs(app)
        for i in range(16):
            await scan_burst(pilot, LOT.lower() if i % 2 else LOT)
            assert app.screen is form, i
            assert inputs(app) == before, i
            assert app.focused.id == "in-total"
        # what was read is shown (keys typed ahead can come as fast as a scanner's)
        assert any(
            "scan ignored" in n.message and f"Read: {LOT} " in n.message for n in app._notifications
        )

    drive(tui_db, script)


def test_a_fast_burst_that_is_no_code_fires_no_shortcut(tui_db: Database) -> None:
    async def script(app: Any, pilot: Any) -> None:
        await login(pilot)
        await open_lot(pilot)
        await scan_burst(pilot, "chxevd", enter=False)
        assert type(app.screen).__name__ == "LotDetailScreen"
        await scan_burst(pilot, "chx", enter=True)
        assert type(app.screen).__name__ == "LotDetailScreen"

    drive(tui_db, script)


def test_fast_typing_into_a_form_lands_in_the_field_in_order(tui_db: Database) -> None:
    """Typed ahead over SSH (a burst that is no code): every character, in order, in Total."""

    async def script(app: Any, pilot: Any) -> None:
        await login(pilot)
        await open_lot(pilot)
        await open_form(pilot, "c", "CountForm")
        await press(pilot, "tab")
        await scan_burst(pilot, "7.5e8", enter=False)
        assert inputs(app)["in-total"] == "7.5e8"
        assert app.focused.id == "in-total"

    drive(tui_db, script)


def test_an_implausible_count_asks_before_saving_and_saves_when_confirmed(
    tui_db: Database,
) -> None:
    """Day 10 had ~1.3e9 viable: 1.5e10 total / 1.4e10 viable today (day 11) is >10-fold."""
    from mfg.services import counts
    from tests.support.constants import NOW

    before = len(counts.growth(LOT, db=tui_db, actor=TECH, now=NOW).counts)

    async def script(app: Any, pilot: Any) -> None:
        await login(pilot)
        await open_lot(pilot)
        await open_form(pilot, "c", "CountForm")
        await pilot.press("tab")
        await type_like_a_person(pilot, "1.5e11", gap=0.05)
        await pilot.press("tab")
        await type_like_a_person(pilot, "1.4e11", gap=0.05)
        await press(pilot, "ctrl+s")
        derived = str(app.screen.query_one("#form-derived").render())
        assert "CHECK: viable cells up" in derived, derived
        confirm = str(app.screen.query_one("#form-confirm").render())
        assert "plausibility warning" in confirm and "Enter saves anyway" in confirm
        await press(pilot, "enter", rounds=5)
        assert type(app.screen).__name__ == "LotDetailScreen"

    drive(tui_db, script)
    assert len(counts.growth(LOT, db=tui_db, actor=TECH, now=NOW).counts) == before + 1
