"""Defects found walking a technician's and QA's day in tmux at 80x24 (final review round):
each test failed before its fix."""

from __future__ import annotations

from typing import Any

from textual.widgets import DataTable, Input

from mfg.domain.permissions import Role
from mfg.services import harvest, release, subjects
from mfg.services.uow import Actor, Database
from tests.conftest import add_users
from tests.support import world
from tests.support.constants import NOW
from tests.tui.conftest import (
    drive,
    login,
    open_form,
    open_lot,
    press,
    settle,
    text_of,
    type_like_a_person,
)

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


def test_a_second_person_verifies_the_harvest_and_the_weight_in_the_tui(
    sqlite_db: Database,
) -> None:
    """A release needs the harvest and the body weight checked by a second person; the TUI had
    no way to do it (QA's disposition was refused with "not verified by a second person: the
    harvest" until someone ran `mfg verify harvest` / `mfg verify weight` at a shell)."""
    add_users(sqlite_db)
    lv, _ = world.harvested_lot(sqlite_db, TECH, verify=False)
    lot = lv.lot_number

    async def script(app: Any, pilot: Any) -> None:
        await login(pilot, "tech2", board=False)
        items = app.screen.query_one("#today", DataTable)
        texts = [str(items.get_row_at(i)[2]) for i in range(items.row_count)]
        assert "verify the harvest (tech)" in texts, texts
        assert "verify S-001's weight (tech)" in texts, texts
        items.move_cursor(row=texts.index("verify the harvest (tech)"))
        await pilot.press("enter")  # the Release tab of the lot
        await settle(pilot)
        table = app.screen.query_one("#results", DataTable)
        keys = [str(k.value) for k in table.rows]
        for key, title in (("@harvest", "Verify the harvest?"), ("@weight", "Verify the body")):
            table = app.screen.query_one("#results", DataTable)
            table.move_cursor(row=keys.index(key))
            await pilot.press("v")
            await settle(pilot)
            assert text_of(app, ".form-title").startswith(title)
            await pilot.press("enter")
            await settle(pilot)
        table = app.screen.query_one("#results", DataTable)
        verified = [str(table.get_row(k)[4]) for k in ("@harvest", "@weight")]
        assert verified == ["tech2", "tech2"], verified

    drive(sqlite_db, script)
    assert harvest.show_harvest(lot, db=sqlite_db, actor=QA).verified_by == "tech2"  # type: ignore[union-attr]
    assert subjects.show_subject("S-001", db=sqlite_db, actor=QA).weight_verified_by == "tech2"


def test_who_entered_the_harvest_cannot_verify_it_in_the_tui(sqlite_db: Database) -> None:
    add_users(sqlite_db)
    lv, _ = world.harvested_lot(sqlite_db, TECH, verify=False)

    async def script(app: Any, pilot: Any) -> None:
        await login(pilot, "tech", board=False)
        items = app.screen.query_one("#today", DataTable)
        texts = [str(items.get_row_at(i)[2]) for i in range(items.row_count)]
        assert not [t for t in texts if "harvest (" in t or "weight (" in t], texts
        await open_lot(pilot, lv.lot_number)
        await pilot.press("2")
        await settle(pilot)
        table = app.screen.query_one("#results", DataTable)
        table.move_cursor(row=[str(k.value) for k in table.rows].index("@harvest"))
        await pilot.press("v")
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)

    drive(sqlite_db, script)
    assert harvest.show_harvest(lv.lot_number, db=sqlite_db, actor=QA).verified_by is None  # type: ignore[union-attr]


def _label_in_view(form: Any) -> bool:
    """The focused input's label is inside the scrolled fields' visible region."""
    from textual.widgets import Label

    row = form.focused.parent
    label = row.query_one(Label)
    view = form.query_one(".form-fields").region
    return bool(label.region.height) and view.contains_region(label.region)


def test_every_label_of_the_register_form_is_in_view_at_80x24(tui_db: Database) -> None:
    """At 80x24 the register form opened scrolled one line down: the cursor was in Subject but
    its label "Subject id" was hidden (Textual centred the focused input before the layout)."""

    async def script(app: Any, pilot: Any) -> None:
        await login(pilot, "tech")
        form = await open_form(pilot, "n", "RegisterLotForm")
        await settle(pilot)
        assert form.focused.id == "in-subject_id"
        for _ in range(len(form.fields())):
            assert _label_in_view(form), form.focused.id
            await press(pilot, "tab")

    drive(tui_db, script)


def test_today_opens_the_harvest_to_verify_on_its_row_and_the_release_table_fits_80(
    sqlite_db: Database,
) -> None:
    """Walked at 80x24: Today's "verify the harvest" opened the Release tab on APPEAR, the
    HARVEST row (the 13th) below the fold; and its value "3.6 x 10^9 x 31.5 %" widened the
    result column so that every specification was cut ("<= 5.0 copies/tra")."""
    add_users(sqlite_db)
    world.harvested_lot(sqlite_db, TECH, verify=False)

    async def script(app: Any, pilot: Any) -> None:
        await login(pilot, "tech2", board=False)
        items = app.screen.query_one("#today", DataTable)
        texts = [str(items.get_row_at(i)[2]) for i in range(items.row_count)]
        items.move_cursor(row=texts.index("verify the harvest (tech)"))
        await press(pilot, "enter")
        table = app.screen.query_one("#results", DataTable)
        row_key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key
        assert row_key.value == "@harvest"
        widths = [c.get_render_width(table) for c in table.columns.values()]
        assert sum(widths) <= 80, widths

    drive(sqlite_db, script)


def test_the_next_person_types_their_name_while_the_log_out_finishes(tui_db: Database) -> None:
    """Walked at 80x24: F10, then "tech" typed at once at human speed showed "h" in User: the
    log-in screen is up before the log-out has dropped the session's screens, and the log-out
    then cleared its fields (and put the cursor back in User) under the first keys."""

    async def script(app: Any, pilot: Any) -> None:
        await login(pilot, "tech")
        switch_mode = app.switch_mode

        async def keys_arrive_meanwhile(mode: str) -> None:
            await switch_mode(mode)
            user = app.screen.query_one("#user", Input)
            user.insert_text_at_cursor("te")  # what the next person typed so far

        app.switch_mode = keys_arrive_meanwhile
        await press(pilot, "f10")
        await type_like_a_person(pilot, "ch")
        await press(pilot, "tab")
        await type_like_a_person(pilot, "pa")
        assert type(app.screen).__name__ == "LoginScreen"
        assert app.screen.query_one("#user", Input).value == "tech"
        assert app.screen.query_one("#password", Input).value == "pa"
        assert app.focused.id == "password"
        assert "logged out" in text_of(app, "#login-error")

    drive(tui_db, script)


def test_the_custody_dialog_shows_its_whole_wording_at_80x24(
    harvested: tuple[Database, str],
) -> None:
    """The details label ended at "subject id (issue, infuse)," (", reason (discard)" cut) and
    the label field's placeholder showed the old CT1 payload, not what today's labels carry."""
    from textual.widgets import Label

    db, lot = harvested

    async def script(app: Any, pilot: Any) -> None:
        await login(pilot, "tech")
        await open_lot(pilot, lot)
        await press(pilot, "3")
        await press(pilot, "t")
        assert type(app.screen).__name__ == "CustodyDialog"
        box = app.screen.query_one(".form-box").content_region
        for label in app.screen.query(Label):
            assert box.contains_region(label.region), str(label.render())
        assert app.screen.query_one("#cu-payload", Input).placeholder.startswith("CT2:")

    drive(db, script)


def test_qa_is_told_before_verifying_that_another_qa_must_then_sign(
    harvested: tuple[Database, str],
) -> None:
    """Walked at 80x24: QA verified the one result Today listed for them, then the signature
    was refused (signer-entered-or-verified) with no other QA person there; the dialog had not
    said so. A technician's dialog does not carry the note."""
    db, lot = harvested
    release.add_result(release.AddResult(lot, "VIAB", "91.5"), db=db, actor=TECH, now=NOW)

    def dialog_text(app: Any) -> str:
        from textual.widgets import Static

        return "\n".join(str(s.render()) for s in app.screen.query(Static))

    async def verify_dialog(app: Any, pilot: Any, user: str) -> str:
        await login(pilot, user)
        await open_lot(pilot, lot)
        await press(pilot, "2")
        table = app.screen.query_one("#results", DataTable)
        table.move_cursor(row=[str(k.value) for k in table.rows].index("VIAB"))
        await press(pilot, "v")
        assert type(app.screen).__name__ == "ConfirmDialog"
        return dialog_text(app)

    seen: dict[str, str] = {}

    async def as_qa(app: Any, pilot: Any) -> None:
        seen["qa"] = await verify_dialog(app, pilot, "qa")

    async def as_tech2(app: Any, pilot: Any) -> None:
        seen["tech2"] = await verify_dialog(app, pilot, "tech2")

    drive(db, as_qa)
    drive(db, as_tech2)
    assert "another QA person must sign this lot" in seen["qa"], seen["qa"]
    assert "Verify this result?" in seen["tech2"]
    assert "another QA person" not in seen["tech2"]


def test_a_held_lots_alert_is_in_its_header_once(harvested: tuple[Database, str]) -> None:
    """Walked at 80x24: a held lot's header said "open alert: <text>" under HOLD and then
    "ALERT <text>" again; with a deviation too, the six header lines cut both."""
    from mfg.services import lots
    from tests.tui.conftest import released

    db, lot = harvested
    released(db, lot)
    release.correct_result(
        release.AddResult(lot, "STER", "Growth"), "read again", db=db, actor=TECH, now=NOW
    )
    (alert,) = lots.show_lot(lot, db=db, actor=QA).alerts

    async def script(app: Any, pilot: Any) -> None:
        await login(pilot, "qa")
        await open_lot(pilot, lot)
        header = text_of(app, "#lot-header")
        assert "HOLD: do not issue, thaw or infuse" in header
        assert header.count(alert) == 1, header
        assert f"ALERT {alert}" in header

    drive(db, script)
