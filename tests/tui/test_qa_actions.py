"""Issue 13, problem 6: what could not be done in the TUI: acknowledging alerts, deviations,
terminating a lot, printing to the configured label and COA printers."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from mfg.domain.permissions import Role
from mfg.services import deviations, lots, release
from mfg.services.uow import Actor, Database
from tests.support import world
from tests.support.constants import NOW, PASSWORD
from tests.tui.conftest import drive, login, settle, type_like_a_person
from tests.tui.test_display import footer_keys
from tests.tui.test_release_flows import harvested  # noqa: F401  (fixture)
from tui.messages import OpenLot

TECH = Actor("tech", "Tom Technician", Role.TECHNICIAN)
TECH2 = Actor("tech2", "Tara Technician", Role.TECHNICIAN)
QA = Actor("qa", "Quinn Quality", Role.QA)


def released(db: Database, lot: str) -> None:
    release.add_result(release.AddResult(lot, "VIAB", "91.5"), db=db, actor=TECH, now=NOW)
    release.verify_result(lot, "VIAB", db=db, actor=TECH2, now=NOW)
    release.dispose(
        release.Dispose(lot, "release", "all results conform"), PASSWORD, db=db, actor=QA, now=NOW
    )


async def open_lot(pilot: Any, lot: str) -> None:
    pilot.app.post_message(OpenLot(lot))
    await settle(pilot)


async def fill_and_save(pilot: Any, text: str) -> None:
    """Type into the focused field like a person, check (ctrl+s), confirm (Enter)."""
    await type_like_a_person(pilot, text, gap=0.06)
    await pilot.press("ctrl+s")
    await settle(pilot)
    await pilot.press("enter")
    await settle(pilot, 5)


def test_qa_acknowledges_a_lots_alert(harvested: tuple[Database, str]) -> None:  # noqa: F811
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
        await pilot.press("a")
        await settle(pilot)
        assert type(app.screen).__name__ == "AckAlertsForm"
        await fill_and_save(pilot, "site notified")
        assert type(app.screen).__name__ == "LotDetailScreen"
        assert "Ack alerts" not in footer_keys(app)

    drive(db, script)
    assert lots.show_lot(lot, db=db, actor=QA).alerts == ()


def test_qa_opens_and_closes_a_deviation(tui_db: Database) -> None:
    lot = "BH002-26-0001"

    async def script(app: Any, pilot: Any) -> None:
        await login(pilot, "qa")
        await open_lot(pilot, lot)
        assert "Close dev." not in footer_keys(app, 200)
        await pilot.press("w")
        await settle(pilot)
        await type_like_a_person(pilot, "process", gap=0.06)
        await pilot.press("tab", "tab")
        await fill_and_save(pilot, "door open")
        await pilot.press("z")
        await settle(pilot)
        assert type(app.screen).__name__ == "CloseDeviationForm"
        await pilot.press("tab", "tab")
        await fill_and_save(pilot, "CAPA-1")

    drive(tui_db, script)
    (dev,) = deviations.list_deviations(db=tui_db, actor=QA, lot_number=lot)
    assert dev.kind == "process" and dev.description == "door open"
    assert dev.closed_by == "qa" and dev.closure_note == "CAPA-1"


def test_qa_terminates_a_lot(tui_db: Database) -> None:
    lot = "BH002-26-0001"

    async def script(app: Any, pilot: Any) -> None:
        await login(pilot, "tech")
        await open_lot(pilot, lot)
        assert "Terminate" not in footer_keys(app, 200)  # QA only
        await pilot.press("ctrl+t")
        await settle(pilot)
        assert type(app.screen).__name__ == "LotDetailScreen"

    drive(tui_db, script)

    async def qa(app: Any, pilot: Any) -> None:
        await login(pilot, "qa")
        await open_lot(pilot, lot)
        await pilot.press("ctrl+t")
        await settle(pilot)
        assert type(app.screen).__name__ == "TerminateForm"
        await type_like_a_person(pilot, "manufacturing", gap=0.04)
        await pilot.press("tab")
        await fill_and_save(pilot, "contamination")

    drive(tui_db, qa)
    v = lots.show_lot(lot, db=tui_db, actor=QA)
    assert v.state == "terminated" and v.termination_reason == "contamination"


def test_labels_and_coa_go_to_the_configured_printers(
    harvested: tuple[Database, str],  # noqa: F811
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
        await pilot.press("l")
        await settle(pilot)
        assert type(app.screen).__name__ == "LabelForm"
        await pilot.press("ctrl+s")
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot, 5)
        await pilot.press("k")
        await settle(pilot, 5)
        said = [n.message for n in app._notifications]
        assert any("COA printer" in m for m in said), said

    drive(db, script)
    assert label_out.read_bytes().startswith(b"%PDF")
    assert coa_out.read_bytes().startswith(b"%PDF")


def test_the_coa_file_is_named_after_the_revision_it_holds(
    harvested: tuple[Database, str],  # noqa: F811
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
        await pilot.press("k")
        await settle(pilot, 5)
        said = [n.message for n in app._notifications]
        assert any("COA written to" in m for m in said), said

    drive(db, script)
    out = db.settings.home / "coa"
    assert sorted(p.name for p in out.glob("*.pdf")) == [f"{lot}-rev2.pdf"]
    meta = PdfReader(out / f"{lot}-rev2.pdf").metadata or {}
    assert "rev=2" in str(meta.get("/Keywords", ""))
