"""Issue 13, problem 6: what could not be done in the TUI: acknowledging alerts, deviations,
terminating a lot, printing to the configured label and COA printers."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from mfg.services import deviations, lots, release
from mfg.services.uow import Database
from tests.support import world
from tests.support.constants import NOW
from tests.tui.conftest import (
    LOT,
    QA,
    TECH,
    drive,
    footer_keys,
    login,
    open_form,
    open_lot,
    press,
    released,
    type_like_a_person,
)


async def fill_and_save(pilot: Any, text: str) -> None:
    """Type into the focused field like a person, check (ctrl+s), confirm (Enter)."""
    await type_like_a_person(pilot, text, gap=0.06)
    await press(pilot, "ctrl+s")
    await press(pilot, "enter", rounds=5)


def test_qa_acknowledges_a_lots_alert(harvested: tuple[Database, str]) -> None:
    db, lot = harvested
    released(db, lot)
    release.correct_result(
        release.AddResult(lot, "STER", "Growth"), "read again", db=db, actor=TECH, now=NOW
    )
    assert lots.show_lot(lot, db=db, actor=QA).alerts

    async def script(app: Any, pilot: Any) -> None:
        await login(pilot, "qa")
        await open_lot(pilot, lot)
        assert "Ack alerts" in footer_keys(app)
        await open_form(pilot, "a", "AckAlertsForm")
        await fill_and_save(pilot, "site notified")
        assert type(app.screen).__name__ == "LotDetailScreen"
        assert "Ack alerts" not in footer_keys(app)

    drive(db, script)
    assert lots.show_lot(lot, db=db, actor=QA).alerts == ()


def test_qa_opens_and_closes_a_deviation(tui_db: Database) -> None:
    lot = LOT

    async def script(app: Any, pilot: Any) -> None:
        await login(pilot, "qa")
        await open_lot(pilot, lot)
        assert "Close dev." not in footer_keys(app, 200)
        await press(pilot, "w")
        await type_like_a_person(pilot, "process", gap=0.06)
        await pilot.press("tab", "tab")
        await fill_and_save(pilot, "door open")
        await open_form(pilot, "z", "CloseDeviationForm")
        await pilot.press("tab", "tab")
        await fill_and_save(pilot, "CAPA-1")

    drive(tui_db, script)
    (dev,) = deviations.list_deviations(db=tui_db, actor=QA, lot_number=lot)
    assert dev.kind == "process" and dev.description == "door open"
    assert dev.closed_by == "qa" and dev.closure_note == "CAPA-1"


def test_qa_terminates_a_lot(tui_db: Database) -> None:
    lot = LOT

    async def script(app: Any, pilot: Any) -> None:
        await login(pilot, "tech")
        await open_lot(pilot, lot)
        assert "Terminate" not in footer_keys(app, 200)  # QA only
        await press(pilot, "ctrl+t")
        assert type(app.screen).__name__ == "LotDetailScreen"

    drive(tui_db, script)

    async def qa(app: Any, pilot: Any) -> None:
        await login(pilot, "qa")
        await open_lot(pilot, lot)
        await open_form(pilot, "ctrl+t", "TerminateForm")
        await type_like_a_person(pilot, "manufacturing", gap=0.04)
        await pilot.press("tab")
        await fill_and_save(pilot, "contamination")

    drive(tui_db, qa)
    v = lots.show_lot(lot, db=tui_db, actor=QA)
    assert v.state == "terminated" and v.termination_reason == "contamination"


def test_labels_and_coa_go_to_the_configured_printers(
    harvested: tuple[Database, str],
    tmp_path: Path,
) -> None:
    db, lot = harvested
    released(db, lot)
    world.approve_label_layouts(db, NOW)
    label_out, coa_out = tmp_path / "label-printer.pdf", tmp_path / "coa-printer.pdf"
    db.settings = dataclasses.replace(
        db.settings, label_printer=f"tee {label_out}", coa_printer=f"tee {coa_out}"
    )

    async def script(app: Any, pilot: Any) -> None:
        await login(pilot, "qa")
        await open_lot(pilot, lot)
        await open_form(pilot, "l", "LabelForm")
        await press(pilot, "ctrl+s")
        await press(pilot, "enter", rounds=5)
        await press(pilot, "k", rounds=5)
        said = [n.message for n in app._notifications]
        assert any("COA printer" in m for m in said), said

    drive(db, script)
    assert label_out.read_bytes().startswith(b"%PDF")
    assert coa_out.read_bytes().startswith(b"%PDF")


def test_the_coa_file_is_named_after_the_revision_it_holds(
    harvested: tuple[Database, str],
) -> None:
    """A lot changed since its last COA revision (a new body weight) is re-issued before the
    TUI writes the file: COA revision 2 is written as ...-rev2.pdf, not under revision 1's name."""
    from pypdf import PdfReader

    from mfg.services import subjects

    db, lot = harvested
    released(db, lot)
    subject = lots.show_lot(lot, db=db, actor=QA).subject_id
    subjects.update_weight(subject, 70.0, NOW.date(), "re-weighed", db=db, actor=TECH, now=NOW)

    async def script(app: Any, pilot: Any) -> None:
        await login(pilot, "qa")
        await open_lot(pilot, lot)
        await press(pilot, "k", rounds=5)
        said = [n.message for n in app._notifications]
        assert any("COA written to" in m for m in said), said

    drive(db, script)
    out = db.settings.home / "coa"
    assert sorted(p.name for p in out.glob("*.pdf")) == [f"{lot}-rev2.pdf"]
    meta = PdfReader(out / f"{lot}-rev2.pdf").metadata or {}
    assert "rev=2" in str(meta.get("/Keywords", ""))
