"""CLI fixtures: an initialised MFG_HOME (admin, tech, qa, sponsor) copied fresh for each test."""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import Result
from typer.testing import CliRunner

from tests.support.constants import PASSWORD

USERS = {"tech": "technician", "qa": "qa", "qa2": "qa", "sponsor": "sponsor"}
CLEAN_ENV = ("MFG_USER", "MFG_PASSWORD", "MFG_DATABASE_URL", "MFG_FACILITY_ID", "MFG_SITE_TZ")


def invoke(
    home: Path,
    args: list[str],
    *,
    user: str | None = None,
    password: str | None = PASSWORD,
    input: str | None = None,
) -> Result:
    from mfg.cli import app

    env = {
        "MFG_HOME": str(home),
        "MFG_PASSWORD": password,
        "MFG_USER": user,
        "MFG_DATABASE_URL": None,
        "MFG_FACILITY_ID": None,
        "MFG_SITE_TZ": None,
    }
    return CliRunner().invoke(app, args, env=env, input=input, catch_exceptions=False)


@pytest.fixture(scope="session")
def cli_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("cli") / "home"
    r = invoke(home, ["init", "--admin", "admin", "--full-name", "Ada Admin"])
    assert r.exit_code == 0, r.output
    for name, role in USERS.items():
        r = invoke(
            home,
            ["user", "add", name, "--role", role, "--full-name", name.title(), "--password-stdin"],
            user="admin",
            input=PASSWORD + "\n",
        )
        assert r.exit_code == 0, r.output
    return home


@dataclass
class Home:
    path: Path

    @property
    def db_path(self) -> Path:
        return self.path / "celltrail.db"

    def today(self) -> date:
        return datetime.now(UTC).date()  # the site zone of a fresh home is UTC

    def day(self, n: int) -> str:
        """The ISO date ``n`` days ago."""
        return (self.today() - timedelta(days=n)).isoformat()

    def lot(self, n: int = 1) -> str:
        return f"BH002-{self.today().year % 100:02d}-{n:04d}"

    def run(
        self,
        *args: str,
        user: str | None = "tech",
        password: str | None = PASSWORD,
        input: str | None = None,
    ) -> Result:
        return invoke(self.path, list(args), user=user, password=password, input=input)

    def ok(self, *args: str, **kw: object) -> Result:
        r = self.run(*args, **kw)  # type: ignore[arg-type]
        assert r.exit_code == 0, (r.stdout, r.stderr)
        return r

    def snapshot(self) -> dict[str, int]:
        """Row counts of every table, read with the sqlite3 module (nothing written?)."""
        with sqlite3.connect(self.db_path) as c:
            names = [n for (n,) in c.execute("SELECT name FROM sqlite_master WHERE type='table'")]
            return {n: c.execute(f'SELECT count(*) FROM "{n}"').fetchone()[0] for n in names}

    def subject(self, sid: str = "S-001", *extra: str) -> None:
        self.ok(
            "subject",
            "add",
            sid,
            "--site",
            "BJ01",
            "--indication",
            "SLE",
            "--weight-kg",
            "62.5",
            "--dose-level",
            "DL2",
            *extra,
        )

    def register(self, sid: str = "S-001", day0_ago: int = 11) -> str:
        r = self.ok(
            "lot",
            "register",
            sid,
            "--source",
            "apheresis",
            "--apheresis-date",
            self.day(day0_ago),
            "--json",
        )
        import json

        return str(json.loads(r.stdout)["lot_number"])

    def expand(self, lot: str) -> None:
        for day, total, viable in [
            (0, "1.1e8", "1.0e8"),
            (3, "3.2e8", "3.0e8"),
            (6, "1.2e9", "1.1e9"),
            (8, "2.2e9", "2.0e9"),
        ]:
            self.ok("count", "add", lot, "--day", str(day), "--total", total, "--viable", viable)


@pytest.fixture
def home(tmp_path: Path, cli_template: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Home]:
    for var in CLEAN_ENV:
        monkeypatch.delenv(var, raising=False)
    path = tmp_path / "home"
    shutil.copytree(cli_template, path)
    monkeypatch.setenv("MFG_HOME", str(path))
    yield Home(path)
