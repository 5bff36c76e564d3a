"""Defects found walking a technician's and QA's day in tmux at 80x24 (final review round):
each test failed before its fix."""

from __future__ import annotations

from typing import Any

from textual.widgets import DataTable, Input

from mfg.domain.permissions import Role
from mfg.services import release
from mfg.services.uow import Actor, Database
from tests.support.constants import NOW
from tests.tui.conftest import drive, login, open_lot, settle, text_of, type_like_a_person

TECH = Actor("tech", "Tom Technician", Role.TECHNICIAN)
TECH2 = Actor("tech2", "Tara Technician", Role.TECHNICIAN)
QA = Actor("qa", "Quinn Quality", Role.QA)


def test_a_result_correction_corrects_the_chosen_test_and_no_other(
    harvested: tuple[Database, str],
) -> None:
    """The form said "Correct result VIAB" and opened with the cursor in an editable Test code
    holding "VIAB": typing there (a value, or another code) corrected CD3 under VIAB's title."""
    db, lot = harvested
    release.add_result(release.AddResult(lot, "VIAB", "91.5"), db=db, actor=TECH, now=NOW)

    async def script(app: Any, pilot: Any) -> None:
        await login(pilot, "tech")
        await open_lot(pilot, lot)
        await pilot.press("2")
        await settle(pilot)
        table = app.screen.query_one("#results", DataTable)
        table.move_cursor(row=[str(k.value) for k in table.rows].index("VIAB"))
        await pilot.press("x")
        await settle(pilot)
        assert "Correct result VIAB" in text_of(app, ".form-title")
        assert not app.screen.query("#in-test_code")  # the test is the one chosen
        await type_like_a_person(pilot, "92.5", gap=0.1)  # where the cursor is: Result
        assert app.screen.query_one("#in-value", Input).value == "92.5"
        app.screen.query_one("#in-reason", Input).focus()
        await type_like_a_person(pilot, "misread", gap=0.05)
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert "replaces 91.5 %" in text_of(app, "#form-derived")
        await pilot.press("enter")
        await settle(pilot)

    drive(db, script)
    results = {r.test_code: r for r in release.list_results(lot, db=db, actor=QA)}
    assert results["VIAB"].display == "92.5 %" and results["VIAB"].corrected
    assert results["CD3"].display == "96.8 %" and not results["CD3"].corrected
