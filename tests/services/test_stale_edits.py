"""Stale edits (issue 10): every correction from the CLI carries the version the user saw
(``--expect-version``, or the version the command read as it started); a change made meanwhile
by someone else is refused with "changed by X at T". On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mfg.services import counts, harvest, release, subjects
from mfg.services.uow import Database
from tests.support import world
from tests.support.constants import NOW, PASSWORD, TODAY

# mfg runs on data made at NOW: its clock is fixed a week on (cli_clock), not the real one
pytestmark = pytest.mark.usefixtures("cli_clock")


def cli(db: Database, tmp: Path, *args: str, user: str = "tech"):  # type: ignore[no-untyped-def]
    from mfg.cli import app

    url = db.engine.url.render_as_string(hide_password=False)
    env = {"MFG_HOME": str(tmp / "home"), "MFG_PASSWORD": PASSWORD, "MFG_USER": user}
    return CliRunner().invoke(app, [*args, "--db", url], env=env)


def conflict(r) -> None:  # type: ignore[no-untyped-def]
    assert r.exit_code == 1, r.output
    assert "[changed-by-someone-else]" in r.stderr and "changed by qa at " in r.stderr, r.stderr


def test_result_correction_with_a_stale_version_is_refused(db, actors, tmp_path):
    lv, _ = world.harvested_lot(db, actors["tech"])
    lot = lv.lot_number
    release.add_result(release.AddResult(lot, "VIAB", "92"), db=db, actor=actors["tech"], now=NOW)
    seen = next(r.version for r in release.list_results(lot, db=db, actor=actors["tech"]))
    release.correct_result(
        release.AddResult(lot, "VIAB", "91"), "typo", db=db, actor=actors["qa"], now=NOW
    )
    args = ["result", "correct", lot, "VIAB", "90", "--reason", "mine"]
    conflict(cli(db, tmp_path, *args, "--expect-version", str(seen)))
    ok = cli(db, tmp_path, *args)  # reads the version as it starts: the current one
    assert ok.exit_code == 0, ok.stderr
    assert "version 2" in ok.stdout


def test_harvest_correction_with_a_stale_version_is_refused(db, actors, tmp_path):
    lv, hv = world.harvested_lot(db, actors["tech"])
    assert hv.version == 1
    harvest.correct_harvest(
        harvest.RecordHarvest(lv.lot_number, hv.harvested_on, 3_100_000_000, 30.0),
        "recount",
        db=db,
        actor=actors["qa"],
        now=NOW,
        expected_version=hv.version,
    )
    r = cli(
        db, tmp_path, "harvest", lv.lot_number, "--date", hv.harvested_on.isoformat(),
        "--total-viable", "3.2e9", "--car-pct", "30", "--correct", "mine", "--expect-version", "1",
    )  # fmt: skip
    conflict(r)
    assert harvest.harvest_version(lv.lot_number, db=db, actor=actors["qa"]) == 2


def test_count_correction_of_a_count_someone_corrected_is_refused(db, actors, tmp_path):
    tech = actors["tech"]
    world.subject(db, tech)
    lv = world.lot(db, tech, day0=TODAY - timedelta(days=5))
    c = counts.record_count(
        counts.RecordCount(lv.lot_number, 200_000_000, 100_000_000, day=0), db=db, actor=tech,
        now=NOW,
    )  # fmt: skip
    counts.correct_count(
        c.id,
        counts.RecordCount(lv.lot_number, 210_000_000, 100_000_000, day=0),
        "typo",
        db=db,
        actor=actors["qa"],
        now=NOW,
        expected_version=c.version,
    )
    r = cli(
        db, tmp_path, "count", "correct", lv.lot_number, str(c.id), "--day", "0",
        "--total", "2.2e8", "--viable", "1e8", "--reason", "mine",
    )  # fmt: skip
    conflict(r)


def test_weight_change_with_a_stale_version_is_refused(db, actors, tmp_path):
    v = world.subject(db, actors["tech"])
    subjects.update_weight(
        "S-001", 61.0, date(2026, 11, 20), "re-weighed", db=db, actor=actors["qa"], now=NOW,
        expected_version=v.version,
    )  # fmt: skip
    r = cli(
        db, tmp_path, "subject", "weight", "S-001", "--weight-kg", "60", "--reason", "mine",
        "--expect-version", str(v.version),
    )  # fmt: skip
    conflict(r)
    assert subjects.show_subject("S-001", db=db, actor=actors["qa"]).weight_kg == 61.0
