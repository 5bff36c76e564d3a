"""Pilot tests of the main flows, at 80x24, against the real services."""

from __future__ import annotations

from typing import Any

import pytest
from rich.cells import cell_len
from textual.widgets import Input, Static

from mfg.domain.permissions import Role
from mfg.services import audit_trail, counts, harvest, lots
from mfg.services.uow import Actor, Database
from tests.support.constants import PASSWORD
from tests.tui.conftest import drive, keys_delivered, login, scan_dialog, settle, until

LOT = "BH002-26-0001"
QA = Actor("qa", "Quinn Quality", Role.QA)


def text_of(app: Any, selector: str) -> str:
    return str(app.screen.query_one(selector, Static).render())


async def type_into(pilot: Any, selector: str, text: str) -> None:
    inp = pilot.app.screen.query_one(selector, Input)
    inp.focus()
    inp.value = ""
    await pilot.press(*text)
    await keys_delivered(pilot)


def test_login_wrong_password_then_board(tui_db: Database) -> None:
    async def script(app: Any, pilot: Any) -> None:
        assert app.focused.id == "user"
        await login(pilot, "tech", "not-the-password")
        assert type(app.screen).__name__ == "LoginScreen"
        assert "wrong password" in text_of(app, "#login-error")
        assert "attempt(s) left" in text_of(app, "#login-error")
        assert app.focused.id == "password"
        await pilot.press(*PASSWORD, "enter")
        await settle(pilot)
        assert type(app.screen).__name__ == "TodayScreen"  # technicians land on Today
        await pilot.press("b")
        await settle(pilot)
        assert type(app.screen).__name__ == "LotBoardScreen"
        table = app.screen.query_one("#board")
        assert table.row_count == 1
        assert str(table.get_row_at(0)[0]) == LOT

    drive(tui_db, script)


def test_login_typed_in_one_burst_follows_the_tab(tui_db: Database) -> None:
    """Over SSH, in tmux or from a paste, "tech<Tab>password<Enter>" arrives at once: the keys
    after Tab must reach the password field, not the user field."""
    from textual import events

    async def script(app: Any, pilot: Any) -> None:
        keys = [*"tech", "tab", *PASSWORD, "enter"]
        for key in keys:  # queued together, no pause between them
            char = key if len(key) == 1 else ("\t" if key == "tab" else "\r")
            app.post_message(events.Key(key, char))
        await settle(pilot)
        assert type(app.screen).__name__ == "TodayScreen"

    drive(tui_db, script)


def test_register_a_lot_for_a_new_subject(tui_db: Database) -> None:
    async def script(app: Any, pilot: Any) -> None:
        await login(pilot)
        await pilot.press("n")
        await settle(pilot)
        assert type(app.screen).__name__ == "RegisterLotForm"
        await type_into(pilot, "#in-subject_id", "S-777")
        await type_into(pilot, "#in-source", "plasma")
        assert "unknown-source" in text_of(app, "#err-source")
        await type_into(pilot, "#in-source", "apheresis")
        assert text_of(app, "#err-source") == ""
        await type_into(pilot, "#in-site", "SH02")
        await type_into(pilot, "#in-indication", "LN")
        await type_into(pilot, "#in-weight_kg", "71.5")
        await type_into(pilot, "#in-dose_level", "DL1")
        await pilot.press("ctrl+s")
        assert "day 0 = 2026-11-25" in text_of(app, "#form-derived")
        await pilot.press("enter")
        await settle(pilot, 5)
        assert type(app.screen).__name__ == "LotDetailScreen"
        assert app.screen.lot_number == "BH002-26-0002"

    drive(tui_db, script)
    v = lots.show_lot("BH002-26-0002", db=tui_db, actor=QA)
    assert (v.subject_id, v.site, v.dose_level) == ("S-777", "SH02", "DL1")


def test_the_register_confirmation_shows_the_ids_as_they_will_be_stored(
    tui_db: Database,
) -> None:
    """A technician types in lower case (or a scanner in Caps Lock's opposite): the confirmation
    shows the subject id, site and indication in the one form they are stored and compared in,
    and a malformed id is named under its field at Ctrl+S, before anything is asked."""

    async def script(app: Any, pilot: Any) -> None:
        await login(pilot)
        await pilot.press("n")
        await settle(pilot)
        await type_into(pilot, "#in-subject_id", "s 778")
        await type_into(pilot, "#in-site", "gz  04")
        await pilot.press("ctrl+s")
        assert "subject-id-format" in text_of(app, "#err-subject_id")
        await type_into(pilot, "#in-subject_id", "s-778")
        await type_into(pilot, "#in-indication", "ln")
        await type_into(pilot, "#in-weight_kg", "71.5")
        await type_into(pilot, "#in-dose_level", "DL1")
        await pilot.press("ctrl+s")
        derived = text_of(app, "#form-derived")
        assert "subject S-778," in derived, derived
        assert "new subject at GZ 04: LN" in derived, derived
        assert "s-778" not in derived and "gz" not in derived

    drive(tui_db, script)


def test_new_subject_fields_for_an_existing_id_are_named_before_any_confirmation(
    tui_db: Database,
) -> None:
    """The confirmation never says "new subject" for an id that exists (or looks like one that
    does): the id's field says so at Ctrl+S, and nothing is confirmed or saved."""
    existing = lots.show_lot(LOT, db=tui_db, actor=QA).subject_id
    assert "0" in existing

    async def script(app: Any, pilot: Any) -> None:
        await login(pilot)
        await pilot.press("n")
        await settle(pilot)
        await type_into(pilot, "#in-subject_id", existing.lower())
        await type_into(pilot, "#in-site", "SH02")
        await pilot.press("ctrl+s")
        assert "[subject-exists]" in text_of(app, "#err-subject_id")
        assert "new subject" not in text_of(app, "#form-derived")
        assert not app.screen.confirming
        await type_into(pilot, "#in-subject_id", existing.replace("0", "O"))
        await pilot.press("ctrl+s")
        assert "[subject-lookalike]" in text_of(app, "#err-subject_id")
        assert not app.screen.confirming

    drive(tui_db, script)


def test_count_with_a_mistake_then_fixed_then_corrected(tui_db: Database) -> None:
    before = len(counts.growth(LOT, db=tui_db, actor=QA, now=_now()).counts)

    async def script(app: Any, pilot: Any) -> None:
        await login(pilot)
        await pilot.press("enter")  # open the lot
        await settle(pilot)
        assert type(app.screen).__name__ == "LotDetailScreen"
        await pilot.press("c")
        await settle(pilot)
        await type_into(pilot, "#in-when", "day 10")
        await type_into(pilot, "#in-total", "2.5e9")
        await type_into(pilot, "#in-viable", "2.6e9")  # more viable than total
        await pilot.press("ctrl+s")
        # the same message and rule as `mfg count add` prints
        assert "exceed total cells" in text_of(app, "#err-viable")
        assert "viable-exceeds-total" in text_of(app, "#err-viable")
        await type_into(pilot, "#in-viable", "2.3x10^9")
        assert text_of(app, "#err-viable") == ""
        await pilot.press("ctrl+s")
        derived = text_of(app, "#form-derived")
        assert (
            "day 10" in derived
            and "viability 92.0 %" in derived
            and "fold expansion 23.0x" in derived
        )
        await pilot.press("enter")  # confirm: save
        await settle(pilot, 5)
        assert type(app.screen).__name__ == "LotDetailScreen"
        # correct the day-10 count (the last row) with a reason
        table = app.screen.query_one("#counts")
        table.move_cursor(row=before)
        await pilot.press("x")
        await settle(pilot)
        assert "Correct count" in text_of(app, ".form-title")
        await type_into(pilot, "#in-viable", "2.2e9")
        await pilot.press("ctrl+s")
        assert "required" in text_of(app, "#err-reason")
        await type_into(pilot, "#in-reason", "transcription error")
        await pilot.press("ctrl+s")
        await pilot.press("enter")
        await settle(pilot, 5)
        # the superseded row is marked in full: no cell is cut by its column ("correc")
        table = app.screen.query_one("#counts")
        old = [k.value for k in table.rows if str(k.value).startswith("old-")]
        assert old, [k.value for k in table.rows]
        cells = table.get_row(old[0])
        assert str(cells[5]) == "corr."
        for cell, column in zip(cells, table.ordered_columns, strict=True):
            assert cell_len(str(cell)) <= column.width, (str(cell), column.width)

    drive(tui_db, script)
    g = counts.growth(LOT, db=tui_db, actor=QA, now=_now())
    assert len(g.counts) == before + 1
    assert g.counts[-1].viable_cells == 2_200_000_000
    assert [c.viable_cells for c in g.corrected] == [2_300_000_000]
    trail = audit_trail.lot_trail(LOT, db=tui_db, actor=QA)
    assert trail[-1].action == "count.corrected" and trail[-1].reason == "transcription error"


def test_a_refused_save_writes_nothing_and_marks_the_field(tui_db: Database) -> None:
    async def script(app: Any, pilot: Any) -> None:
        await login(pilot)
        await pilot.press("c")
        await settle(pilot)
        await type_into(pilot, "#in-when", "2026-11-26")  # tomorrow: refused by the service
        await type_into(pilot, "#in-total", "2.5e9")
        await type_into(pilot, "#in-viable", "2.3e9")
        await pilot.press("ctrl+s", "enter")
        await settle(pilot)
        assert "date-in-future" in text_of(app, "#err-when")
        assert type(app.screen).__name__ == "CountForm"

    n = len(audit_trail.lot_trail(LOT, db=tui_db, actor=QA))
    drive(tui_db, script)
    assert len(audit_trail.lot_trail(LOT, db=tui_db, actor=QA)) == n


def test_harvest_shows_the_dose_before_saving(tui_db: Database) -> None:
    async def script(app: Any, pilot: Any) -> None:
        await login(pilot)
        await pilot.press("h")
        await settle(pilot)
        await type_into(pilot, "#in-total_viable", "3.0e9")
        await type_into(pilot, "#in-car_pct", "130")
        assert "percent-range" in text_of(app, "#err-car_pct")
        await type_into(pilot, "#in-car_pct", "30")
        await pilot.press("ctrl+s")
        derived = text_of(app, "#form-derived")
        assert "harvest day 11" in derived
        assert "CAR+ viable cells 9.0 x 10^8" in derived
        assert "dose met" in derived
        await pilot.press("enter")
        await settle(pilot, 5)

    drive(tui_db, script)
    h = harvest.show_harvest(LOT, db=tui_db, actor=QA)
    assert h is not None and h.car_viable_cells == 900_000_000 and h.dose_met

    async def correct(app: Any, pilot: Any) -> None:
        await login(pilot)
        await pilot.press("enter")  # open the lot
        await settle(pilot)
        await pilot.press("h")  # harvested already: the form corrects, with a reason
        await settle(pilot)
        assert "Correct the harvest" in text_of(app, ".form-title")
        assert app.screen.query_one("#in-total_viable", Input).value == "3,000,000,000"
        await type_into(pilot, "#in-car_pct", "31")
        await pilot.press("ctrl+s")
        assert "required" in text_of(app, "#err-reason")
        await type_into(pilot, "#in-reason", "CAR% re-read from the flow report")
        await pilot.press("ctrl+s", "enter")
        await settle(pilot, 5)

    drive(tui_db, correct)
    h = harvest.show_harvest(LOT, db=tui_db, actor=QA)
    assert (
        h is not None
        and h.car_pct == 31
        and h.correction_reason == ("CAR% re-read from the flow report")
    )


def test_scan_opens_the_lot_from_the_board(tui_db: Database) -> None:
    async def script(app: Any, pilot: Any) -> None:
        await login(pilot)
        await scan_dialog(pilot)
        await pilot.press(*"W0001 26 000001", "enter")
        await settle(pilot)
        # a COI without its check character is refused loudly, nothing opens
        assert type(app.screen).__name__ == "LotBoardScreen"
        await scan_dialog(pilot)
        await pilot.press(*LOT.lower(), "enter")
        await until(pilot, lambda: type(app.screen).__name__ == "LotDetailScreen", "the lot")
        assert type(app.screen).__name__ == "LotDetailScreen"
        assert app.screen.lot_number == LOT

    drive(tui_db, script)


def test_every_screen_fits_80x24_without_error(tui_db: Database) -> None:
    async def script(app: Any, pilot: Any) -> None:
        await login(pilot, "qa")
        for key in ("enter", "right", "right", "right", "escape", "q", "p", "b", "f1"):
            await pilot.press(key)
            await settle(pilot)
        assert type(app.screen).__name__ == "HelpScreen"

    drive(tui_db, script)


def _now():  # type: ignore[no-untyped-def]
    from tests.support.constants import NOW

    return NOW


def test_a_bug_in_a_key_handler_fails_the_pilot_run(tui_db: Database, monkeypatch: Any) -> None:
    """Only expected refusals become messages: a bug is not swallowed into a toast."""
    from tui.screens.lot_board import LotBoardScreen

    def broken(self: Any) -> None:
        raise ZeroDivisionError("simulated bug")

    monkeypatch.setattr(LotBoardScreen, "action_cycle_sort", broken)

    async def script(app: Any, pilot: Any) -> None:
        await login(pilot)
        await pilot.press("o")
        await settle(pilot)

    with pytest.raises(ZeroDivisionError, match="simulated bug"):
        drive(tui_db, script)


def test_a_bug_in_a_service_worker_fails_the_pilot_run(tui_db: Database, monkeypatch: Any) -> None:
    from mfg.services import board

    def broken(*_a: Any, **_k: Any) -> None:
        raise ZeroDivisionError("simulated bug in a worker")

    async def script(app: Any, pilot: Any) -> None:
        await login(pilot)
        monkeypatch.setattr(board, "board", broken)
        await pilot.press("r")
        await settle(pilot)

    from textual.worker import WorkerFailed

    with pytest.raises(WorkerFailed, match="simulated bug in a worker"):
        drive(tui_db, script)


def test_sponsor_lands_on_reports_and_cannot_open_the_board(tui_db: Database) -> None:
    async def script(app: Any, pilot: Any) -> None:
        await login(pilot, "sponsor")
        assert type(app.screen).__name__ == "ReportsScreen"
        await pilot.press("b")
        await settle(pilot)
        assert type(app.screen).__name__ == "ReportsScreen"

    drive(tui_db, script)


def test_the_command_palette_lists_the_screens_actions(tui_db: Database) -> None:
    async def script(app: Any, pilot: Any) -> None:
        await login(pilot)
        await pilot.press("ctrl+p")
        await settle(pilot)
        await pilot.press(*"New lot")
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        assert type(app.screen).__name__ == "RegisterLotForm"

    drive(tui_db, script)
