"""`mfg validate -o FILE.pdf`: the operational qualification passes on a scratch database of the
configured kind, writes the PDF report, and leaves the production database exactly as it was."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from tests.robustness.support import counts
from tests.support import world
from tests.support.constants import PASSWORD

STEPS = (
    "Registration", "Counts", "Harvest", "Results", "Verification", "Release", "COA", "Labels",
    "Scan", "Custody", "Import", "OOS", "Export", "Report", "Audit trail", "Bad input", "Roles",
    "Tamper evidence",
    "Isolation",
)  # fmt: skip


def test_validate_passes_writes_the_report_and_never_touches_production(
    db, actors, backend, tmp_path, monkeypatch, cli_clock
):
    from pypdf import PdfReader

    from mfg.cli import app

    world.harvested_lot(db, actors["tech"])
    before = counts(db)
    monkeypatch.setenv("MFG_HOME", str(tmp_path / "cli-home"))
    monkeypatch.setenv("MFG_AUDIT_KEY_FILE", str(db.settings.audit_key_path))
    monkeypatch.setenv("MFG_PASSWORD", PASSWORD)
    url = db.engine.url.render_as_string(hide_password=False)
    pdf = tmp_path / "oq.pdf"
    r = CliRunner().invoke(app, ["validate", "-o", str(pdf), "--user", "qa", "--db", url, "--json"])
    out = json.loads(r.stdout)
    failed = [c for c in out["checks"] if c["status"] != "pass"]
    assert r.exit_code == 0 and out["passed"], failed
    assert out["database_kind"] == ("SQLite" if backend == "sqlite" else "PostgreSQL")
    assert {c["step"] for c in out["checks"]} >= set(STEPS)
    assert counts(db) == before  # the production database is untouched
    text = " ".join(" ".join(p.extract_text() for p in PdfReader(str(pdf)).pages).split())
    assert "operational qualification" in text and "PASSED" in text
    assert "Quinn Quality (qa, role qa)" in text
    for step in STEPS:
        assert step in text
    # the scratch PostgreSQL database was dropped
    if backend == "postgresql":
        from sqlalchemy import text as sql_text

        with db.engine.connect() as c:
            names = c.execute(sql_text("SELECT datname FROM pg_database")).scalars().all()
        assert not [n for n in names if n.startswith("celltrail_oq_")]


def test_validate_needs_qa_or_admin(db, actors, tmp_path, monkeypatch, cli_clock):
    from mfg.cli import app

    monkeypatch.setenv("MFG_HOME", str(tmp_path / "cli-home"))
    monkeypatch.setenv("MFG_AUDIT_KEY_FILE", str(db.settings.audit_key_path))
    monkeypatch.setenv("MFG_PASSWORD", PASSWORD)
    url = db.engine.url.render_as_string(hide_password=False)
    for who in ("tech", "sponsor"):
        r = CliRunner().invoke(
            app, ["validate", "-o", str(tmp_path / "x.pdf"), "--user", who, "--db", url]
        )
        assert r.exit_code == 1 and "[not-permitted]" in r.stderr
    assert not (tmp_path / "x.pdf").exists()
