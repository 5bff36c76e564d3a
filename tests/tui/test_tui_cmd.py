"""`mfg tui --demo`: the demo database is created on an empty MFG_HOME, and only there."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from mfg.cli import app as cli_app


@pytest.fixture
def no_ui(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    from tui.app import CellTrailApp

    started: list[Any] = []
    monkeypatch.setattr(CellTrailApp, "run", lambda self, **kw: started.append(self))
    return started


def _lots(home: Path) -> int:
    con = sqlite3.connect(home / "celltrail.db")
    try:
        return con.execute("SELECT count(*) FROM lot").fetchone()[0]
    finally:
        con.close()


def test_demo_on_an_empty_home_then_reused(
    tmp_path: Path, monkeypatch: Any, no_ui: list[Any]
) -> None:
    home = tmp_path / "home"
    monkeypatch.setenv("MFG_HOME", str(home))
    monkeypatch.delenv("MFG_DATABASE_URL", raising=False)
    runner = CliRunner()
    # an earlier `mfg tui` without --demo may leave an empty SQLite file behind
    home.mkdir()
    sqlite3.connect(home / "celltrail.db").close()
    r = runner.invoke(cli_app, ["tui", "--demo"])
    assert r.exit_code == 0, r.output
    assert "creating a demo database" in r.output
    assert _lots(home) == 20
    assert len(no_ui) == 1 and no_ui[0].demo is True
    assert not (home / "celltrail.db.partial").exists()
    assert not list(home.glob("celltrail.db.partial*"))  # nor its write-queue lock file
    # the second start reuses it
    r = runner.invoke(cli_app, ["tui", "--demo"])
    assert r.exit_code == 0 and "creating" not in r.output
    assert _lots(home) == 20


def test_a_bug_stops_the_tui_with_one_line_and_the_traceback_in_the_log(
    tmp_path: Path, monkeypatch: Any
) -> None:
    """The app stops on a bug (Pilot tests fail on it); the person sees one line, no traceback."""
    from tui.app import CellTrailApp

    def crashing_run(self: Any, **_kw: Any) -> None:
        try:
            raise ZeroDivisionError("simulated bug")
        except ZeroDivisionError:
            from rich.traceback import Traceback

            self.error_console.print(Traceback())  # what Textual prints on a crash
        self._return_code = 1

    monkeypatch.setattr(CellTrailApp, "run", crashing_run)
    home = tmp_path / "home"
    monkeypatch.setenv("MFG_HOME", str(home))
    monkeypatch.delenv("MFG_DATABASE_URL", raising=False)
    r = CliRunner().invoke(cli_app, ["tui", "--demo"])
    assert r.exit_code == 1
    assert "internal error" in r.output and "Traceback" not in r.output
    assert "ZeroDivisionError: simulated bug" in (home / "logs" / "tui-errors.log").read_text()
