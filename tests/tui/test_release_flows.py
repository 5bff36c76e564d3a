"""Pilot tests: enter and verify a result, sign a release, scan a label, a custody step."""

from __future__ import annotations

from typing import Any

from textual.widgets import DataTable, Input

from mfg.services import custody, labels, lots, release
from mfg.services.uow import Database
from tests.support import world
from tests.support.constants import NOW, PASSWORD
from tests.tui.conftest import (
    QA,
    TECH,
    TECH2,
    drive,
    keys_delivered,
    login,
    settle,
    text_of,
    until,
)


async def open_first_lot(pilot: Any) -> None:
    await pilot.press("enter")
    await settle(pilot)


async def select_result(pilot: Any, code: str) -> None:
    table = pilot.app.screen.query_one("#results", DataTable)
    keys = [str(k.value) for k in table.rows]
    table.move_cursor(row=keys.index(code))
    await pilot.pause()


def test_enter_verify_and_sign_a_release(harvested: tuple[Database, str]) -> None:
    db, lot = harvested

    async def enter(app: Any, pilot: Any) -> None:
        await login(pilot, "tech")
        await open_first_lot(pilot)
        await pilot.press("e")  # the result grid: every test of the spec
        await settle(pilot)
        assert type(app.screen).__name__ == "ResultGrid"
        viab = app.screen.query_one("#g-VIAB", Input)
        await until(pilot, lambda: app.focused is viab, "focus on the only test to enter")
        assert app.screen.query_one("#g-CD3", Input).disabled  # entered: correct with x
        await pilot.press(*"0.915")
        await keys_delivered(pilot)
        # the same rule as `mfg result add`: a fraction is not a percentage here
        assert "FAIL" in text_of(app, "#ev-VIAB") or "[" in text_of(app, "#ev-VIAB")
        await settle(pilot)
        viab.value = ""
        await pilot.press(*"91.5")
        await keys_delivered(pilot)
        assert text_of(app, "#ev-VIAB") == "PASS"
        await pilot.press("ctrl+s")
        assert "1 result(s) to save: VIAB" in text_of(app, "#grid-confirm")
        await pilot.press("enter")
        await settle(pilot, 5)
        # back on the lot, on the Release tab where the new result waits for verification
        assert type(app.screen).__name__ == "LotDetailScreen"
        assert app.screen.query_one("#lot-tabs").active == "tab-release"

    drive(db, enter)
    viab = next(r for r in release.list_results(lot, db=db, actor=QA) if r.test_code == "VIAB")
    assert viab.entered_by == "tech" and viab.verified_by is None

    async def verify(app: Any, pilot: Any) -> None:
        await login(pilot, "tech2")
        await open_first_lot(pilot)
        await pilot.press("v")  # switches to the Release tab
        await select_result(pilot, "VIAB")
        await pilot.press("v")
        await settle(pilot)
        assert type(app.screen).__name__ == "ConfirmDialog"
        await pilot.press("enter")
        await settle(pilot, 5)

    drive(db, verify)
    viab = next(r for r in release.list_results(lot, db=db, actor=QA) if r.test_code == "VIAB")
    assert viab.verified_by == "tech2"

    async def sign(app: Any, pilot: Any) -> None:
        await login(pilot, "qa")
        await open_first_lot(pilot)
        await pilot.press("d")
        await settle(pilot)
        app.screen.query_one("#in-decision", Input).focus()
        await pilot.press(*"release", "tab", *"all results conform")
        await pilot.press("ctrl+s")
        assert "sign with your password" in text_of(app, "#form-derived")
        await pilot.press("enter")
        await settle(pilot)
        assert type(app.screen).__name__ == "SignDialog"
        manifest = text_of(app, "#sign-manifest")
        assert "released" in manifest and "Quinn Quality" in manifest
        await pilot.press(*"wrong-password-here", "enter")
        await settle(pilot)
        assert "wrong password" in text_of(app, "#sign-error")
        await pilot.press(*PASSWORD, "enter")
        await settle(pilot, 5)
        assert type(app.screen).__name__ == "LotDetailScreen"
        # the signature manifestation on the lot: meaning, printed name, valid
        assert "signed: released by Quinn Quality (qa)" in text_of(app, "#release-note")

    drive(db, sign)
    assert lots.show_lot(lot, db=db, actor=QA).state == "released"
    sig = release.signatures(lot, db=db, actor=QA)[-1]
    assert (sig.printed_name, sig.valid) == ("Quinn Quality", True)


def test_scanning_a_label_opens_the_lot_and_custody_checks_the_bag(
    harvested: tuple[Database, str],
) -> None:
    db, lot = harvested
    world.approve_label_layouts(db)
    printed = labels.print_labels(labels.PrintLabels(lot, "dose-bag"), db=db, actor=TECH, now=NOW)
    assert len(printed.payloads) >= 2
    bag1, bag2 = printed.payloads[0], printed.payloads[1]

    async def script(app: Any, pilot: Any) -> None:
        await login(pilot, "tech")
        app.scan_max_gap_s = 1.0  # Pilot types ~40 ms a key; a real scanner a few ms
        # a keyboard-wedge scanner types the payload and Enter, fast, on the board
        await pilot.press(*bag1, "enter")
        await settle(pilot)
        assert type(app.screen).__name__ == "LotDetailScreen"
        assert app.screen.lot_number == lot
        await pilot.press("t")  # custody step on the selected bag (bag 1)
        await settle(pilot)
        app.screen.query_one("#cu-step", Input).focus()
        await pilot.press(*"store", "tab", *"LN2-1/R1/B01/A1", "tab")
        await pilot.press(*bag2, "enter")  # the wrong bag is scanned
        await settle(pilot)
        assert type(app.screen).__name__ == "CustodyDialog"
        assert "wrong-bag" in text_of(app, "#cu-verdict")
        await pilot.press(*bag1, "enter")
        await settle(pilot, 5)
        assert type(app.screen).__name__ == "LotDetailScreen"

    drive(db, script)
    bags = custody.list_bags(lot, db=db, actor=QA).bags
    assert [b.state for b in bags][:2] == ["stored", "created"]
    assert bags[0].location == "LN2-1/R1/B01/A1"


def test_qa_queue_lists_results_to_verify_and_verifies_one(
    harvested: tuple[Database, str],
) -> None:
    db, lot = harvested
    release.add_result(release.AddResult(lot, "VIAB", "91.5"), db=db, actor=TECH, now=NOW)
    from mfg.services import board

    queue = board.results_to_verify(db=db, actor=QA)
    assert [(r.lot_number, r.test_code, r.entered_by) for r in queue] == [(lot, "VIAB", "tech")]

    async def script(app: Any, pilot: Any) -> None:
        await login(pilot, "qa")
        await pilot.press("q")
        await settle(pilot)
        assert type(app.screen).__name__ == "QaQueueScreen"
        table = app.screen.query_one("#to-verify", DataTable)
        assert table.row_count == 1 and str(table.get_row_at(0)[2]) == "VIAB"
        await pilot.press("v")
        await settle(pilot)
        await pilot.press("enter")  # confirm
        await settle(pilot, 5)
        assert app.screen.query_one("#to-verify", DataTable).row_count == 0

    drive(db, script)
    viab = next(r for r in release.list_results(lot, db=db, actor=QA) if r.test_code == "VIAB")
    assert viab.verified_by == "qa"
    assert board.results_to_verify(db=db, actor=QA) == []


def test_the_qa_queue_lists_the_lots_awaiting_disposition_only(
    harvested: tuple[Database, str],
) -> None:
    """It reads the lots in release testing alone (not the whole board): the lot in testing with
    its dose and flags (VIAB not reported yet), not a lot still being registered."""
    db, lot = harvested
    world.subject(db, TECH, "S-078")
    world.lot(db, TECH, "S-078")

    async def script(app: Any, pilot: Any) -> None:
        await login(pilot, "qa")
        await pilot.press("q")
        await settle(pilot)
        table = app.screen.query_one("#to-dispose", DataTable)
        rows = [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]
        assert rows == [[lot, "S-001", "in_release_testing", "met", "pending 1"]], rows

    drive(db, script)


def test_a_caps_lock_scanner_opens_the_lot_and_confirms_the_bag(
    harvested: tuple[Database, str],
) -> None:
    """A scanner sending lower case (Caps Lock): a label payload carries upper case only, so it
    is the same code, on the board and in a custody step (it was refused as damaged)."""
    db, lot = harvested
    world.approve_label_layouts(db)
    printed = labels.print_labels(labels.PrintLabels(lot, "dose-bag"), db=db, actor=TECH, now=NOW)
    bag1 = printed.payloads[0]

    async def script(app: Any, pilot: Any) -> None:
        await login(pilot, "tech")
        app.scan_max_gap_s = 1.0  # Pilot types ~40 ms a key; a real scanner a few ms
        await pilot.press(*bag1.lower(), "enter")
        await settle(pilot)
        assert type(app.screen).__name__ == "LotDetailScreen" and app.screen.lot_number == lot
        await pilot.press("t")
        await settle(pilot)
        app.screen.query_one("#cu-step", Input).focus()
        await pilot.press(*"store", "tab", *"LN2-1/R1/B01/A1", "tab")
        await pilot.press(*bag1.lower(), "enter")
        await settle(pilot, 5)
        assert type(app.screen).__name__ == "LotDetailScreen"

    drive(db, script)
    assert custody.list_bags(lot, db=db, actor=QA).bags[0].state == "stored"


def test_the_signing_dialog_and_the_form_show_typed_text_as_text(
    harvested: tuple[Database, str],
) -> None:
    """Markup typed into a reason (and a correction reason in the review) is shown as typed,
    never interpreted: ``[b]ok[/b]`` used to show as a bold "ok" in the signing dialog."""
    db, lot = harvested
    markup = "[b]ok[/b] :smile: [link=http://evil]x[/link]"
    release.add_result(release.AddResult(lot, "VIAB", "91.5"), db=db, actor=TECH, now=NOW)
    release.verify_result(lot, "VIAB", db=db, actor=TECH2, now=NOW)
    release.correct_result(
        release.AddResult(lot, "VIAB", "91.6"), markup, db=db, actor=TECH, now=NOW
    )
    release.verify_result(lot, "VIAB", db=db, actor=TECH2, now=NOW)

    async def sign(app: Any, pilot: Any) -> None:
        await open_signing(app, pilot, markup, review_shows=markup)
        assert f"{lot}: {markup}" in text_of(app, "#sign-summary")

    drive(db, sign)


async def open_signing(app: Any, pilot: Any, reason: str, *, review_shows: str) -> None:
    """As QA on the first lot: the disposition form, its review read (``review_shows`` in its
    context), ``release`` for ``reason`` confirmed: the signature dialog is up."""
    await login(pilot, "qa")
    await open_first_lot(pilot)
    await pilot.press("d")
    await settle(pilot)
    await until(pilot, lambda: review_shows in text_of(app, "#form-context"), "the review")
    app.screen.query_one("#in-decision", Input).focus()
    # every key on its own (no burst; the Pilot's keys come a few ms apart): under load its
    # keys came >50 ms apart now and then, and the rest of a reason after such a pause,
    # '=http://evil]x[/link]', reads as an ISBT 128 message: refused as a scan
    # (tests/tui/test_typing.py), not typed. Not 0: Textual's timer divides by it.
    app.scan_max_gap_s = 0.001
    await pilot.press(*"release", "tab", *reason)
    await pilot.press("ctrl+s")
    assert "sign with your password" in text_of(app, "#form-derived")
    await pilot.press("enter")
    await until(pilot, lambda: type(app.screen).__name__ == "SignDialog", "the signature dialog")


def test_a_result_corrected_while_qa_signs_is_not_signed(harvested: tuple[Database, str]) -> None:
    """The signature dialog is open on the review QA read; a technician corrects CD3 and a
    second one verifies it; the password is refused with the record's change, nothing signed."""
    db, lot = harvested
    release.add_result(release.AddResult(lot, "VIAB", "91.5"), db=db, actor=TECH, now=NOW)
    release.verify_result(lot, "VIAB", db=db, actor=TECH2, now=NOW)

    async def sign(app: Any, pilot: Any) -> None:
        await open_signing(app, pilot, "all results conform", review_shows="dose:")
        release.correct_result(
            release.AddResult(lot, "CD3", "80.5"), "recalc gating", db=db, actor=TECH, now=NOW
        )
        release.verify_result(lot, "CD3", db=db, actor=TECH2, now=NOW)
        await pilot.press(*PASSWORD, "enter")
        await until(pilot, lambda: "changed since your review" in text_of(app, "#sign-error"), "no")

    drive(db, sign)
    assert lots.show_lot(lot, db=db, actor=QA).state != "released"
    assert release.signatures(lot, db=db, actor=QA) == []
