"""Issue 13, problems 3 and 4 at 80x24: the footer by role and state, what tables and forms
show (units once, no "None", no CLI flag names, the old value of a correction)."""

from __future__ import annotations

from typing import Any

from textual.widgets import DataTable, Input
from textual.widgets.data_table import RowKey

from mfg.services import release
from mfg.services.uow import Database
from tests.support.constants import NOW
from tests.tui.conftest import (
    LOT,
    TECH,
    drive,
    footer_keys,
    login,
    open_form,
    open_lot,
    press,
    released,
    text_of,
    type_like_a_person,
)


def test_qa_sees_sign_and_verify_first_at_80_columns(harvested: tuple[Database, str]) -> None:
    db, lot = harvested

    async def script(app: Any, pilot: Any) -> None:
        await login(pilot, "qa")
        await open_lot(pilot, lot)
        keys = footer_keys(app)
        assert keys[:2] == ["Sign", "Verify"], keys
        assert "Count" not in keys and "Harvest" not in keys

    drive(db, script)


def test_technician_sees_count_on_an_expanding_lot_but_never_sign(tui_db: Database) -> None:
    async def script(app: Any, pilot: Any) -> None:
        await login(pilot)
        keys = footer_keys(app)
        assert {"Search", "New lot", "Count"} <= set(keys), keys
        await open_lot(pilot, LOT)
        keys = footer_keys(app)
        assert keys[0] == "Count" and "Sign" not in keys and "COA" not in keys, keys
        await press(pilot, "d")  # hidden means refused too: no form opens
        assert type(app.screen).__name__ == "LotDetailScreen"

    drive(tui_db, script)


def test_a_sponsor_is_not_offered_the_board(tui_db: Database) -> None:
    async def script(app: Any, pilot: Any) -> None:
        await login(pilot, "sponsor")
        assert type(app.screen).__name__ == "ReportsScreen"
        assert "Board" not in footer_keys(app)

    drive(tui_db, script)


def test_the_qa_queue_shows_a_unit_once(harvested: tuple[Database, str]) -> None:
    db, lot = harvested
    release.add_result(release.AddResult(lot, "VIAB", "91.8 %"), db=db, actor=TECH, now=NOW)

    async def script(app: Any, pilot: Any) -> None:
        await login(pilot, "qa")
        await press(pilot, "q")
        table = app.screen.query_one("#to-verify", DataTable)
        assert str(table.get_row_at(0)[3]) == "91.8 %"

    drive(db, script)


def test_register_form_says_nothing_of_values_not_given_and_names_no_cli_flag(
    tui_db: Database,
) -> None:
    async def script(app: Any, pilot: Any) -> None:
        await login(pilot)
        await open_form(pilot, "n", "RegisterLotForm")
        await type_like_a_person(pilot, "S-9", gap=0.08)
        site = app.screen.query_one("#in-site", Input)
        site.focus()
        await type_like_a_person(pilot, "SH02", gap=0.08)
        assert "None" not in text_of(app, "#form-derived")
        date = app.screen.query_one("#in-apheresis_date", Input)
        date.value = ""
        await press(pilot, "ctrl+s")
        errors = " ".join(text_of(app, f"#{w.id}") for w in app.screen.query(".error"))
        assert "apheresis" in errors.lower(), errors
        assert "--" not in errors

    drive(tui_db, script)


def test_result_correction_shows_the_old_value_and_the_signature_it_breaks(
    harvested: tuple[Database, str],
) -> None:
    db, lot = harvested
    released(db, lot)

    async def script(app: Any, pilot: Any) -> None:
        await login(pilot, "qa")
        await open_lot(pilot, lot)
        await press(pilot, "2")
        table = app.screen.query_one("#results", DataTable)
        keys = [str(k.value) for k in table.rows]
        table.move_cursor(row=keys.index("CD3"))
        await open_form(pilot, "x", "ResultForm")
        context = text_of(app, "#form-context")
        assert "CD3 = 96.8" in context
        assert "breaks that signature" in context

    drive(db, script)


def test_release_table_fits_80_columns_with_every_result_entered(
    harvested: tuple[Database, str],
) -> None:
    """At 80x24 the Release table shows every specification whole once results are entered: the
    unit is said once, in the specification, and a long one wraps in its column (it was cut to
    '<= 5.0 cop')."""
    db, lot = harvested
    released(db, lot)

    async def script(app: Any, pilot: Any) -> None:
        await login(pilot, "qa")
        await open_lot(pilot, lot)
        await press(pilot, "2")
        table = app.screen.query_one("#results", DataTable)
        assert app.size.width == 80
        assert table.virtual_size.width <= table.scrollable_content_region.width
        row = table.get_row("VCN")
        assert str(row[2]) == "2.1"
        assert str(row[5]) == "<= 5.0 copies/transduced cell"
        assert table.rows[RowKey("VCN")].height == 2  # wrapped within the column, not cut
        assert table.rows[RowKey("CD3")].height == 1
        assert str(table.get_row("CD3")[2]) == "96.8"

    drive(db, script)
