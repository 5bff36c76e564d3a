"""The release path through the CLI on SQLite and PostgreSQL: exit codes, the one-line refusals,
--json, the COA file and its verification, the printer command."""

from __future__ import annotations

import json
import re
import shlex
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import Result
from typer.testing import CliRunner

from mfg.services import lots
from mfg.services.uow import Database
from mfg.store.tables import Disposition, ReleaseResult, Signature
from tests.conftest import add_users
from tests.release.conftest import PASSING, n_rows
from tests.support import world
from tests.support.constants import PASSWORD


def run(db: Database, args: list[str], user: str, password: str = PASSWORD, **env: str) -> Result:
    from mfg.cli import app

    stdin = None
    if args and args[0] == "disposition" and "--password-stdin" not in args:
        # an e-signature reads its password from the terminal or stdin, never MFG_PASSWORD
        args, stdin = [*args, "--password-stdin"], f"{password}\n"

    base = {
        "MFG_HOME": str(db.settings.home),
        "MFG_DATABASE_URL": db.settings.database_url,
        "MFG_SITE_TZ": db.settings.site_timezone,
        "MFG_PASSWORD": password,
        "MFG_USER": user,
        "MFG_FACILITY_ID": None,
        "MFG_COA_PRINTER": None,
    }
    return CliRunner().invoke(app, args, env={**base, **env}, input=stdin, catch_exceptions=False)


def ok(r: Result) -> Result:
    assert r.exit_code == 0, (r.stdout, r.stderr)
    return r


def refused(r: Result, rule: str, starts: str = "refused: ") -> str:
    assert r.exit_code == 1, (r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(starts) and lines[0].endswith(f"[{rule}]"), lines
    return lines[0]


@pytest.fixture
def cli_lot(db, actors, cli_clock) -> str:  # type: ignore[no-untyped-def]
    # the lot is harvested "today" on the CLI's (fixed) clock
    lv, _ = world.harvested_lot(db, actors["tech"], now=cli_clock)
    return lv.lot_number


def test_whole_path_through_the_cli(db, actors, cli_lot, tmp_path):
    lot = cli_lot
    r = ok(
        run(
            db,
            ["result", "add", lot, "VIAB", "91.2 %", "--method-ref", "SOP-QC-3", "--json"],
            "tech",
        )
    )
    v = json.loads(r.stdout)
    assert (v["test_code"], v["evaluation"], v["display"], v["method_ref"]) == (
        "VIAB",
        "pass",
        "91.2 %",
        "SOP-QC-3",
    )
    for code, value in PASSING.items():
        if code != "VIAB":
            ok(run(db, ["result", "add", lot, code, value], "tech"))
    for code in PASSING:
        ok(run(db, ["result", "verify", lot, code], "tech2"))
    listed = json.loads(ok(run(db, ["result", "list", lot, "--json"], "qa")).stdout)
    assert len(listed) == 12 and all(x["verified_by"] == "tech2" for x in listed)
    assert "Release results" in ok(run(db, ["result", "list", lot], "qa")).stdout
    review = json.loads(ok(run(db, ["lot", "review", lot, "--json"], "qa")).stdout)
    assert review["blockers"]["release"] == [] and review["oos"] == []
    human = ok(run(db, ["lot", "review", lot], "qa")).stdout
    assert "Review by exception" in human and "release: possible" in human
    r = ok(run(db, ["disposition", lot, "release", "--reason", "meets spec v1"], "qa"))
    assert "signed by Quinn Quality (qa)" in r.stdout and "meaning 'released'" in r.stdout
    pdf = tmp_path / "coa.pdf"
    r = ok(run(db, ["coa", lot, "-o", str(pdf)], "qa"))
    assert pdf.read_bytes().startswith(b"%PDF") and "revision 1" in r.stdout
    r = ok(run(db, ["coa", "verify", str(pdf)], "qa"))
    assert "issued by CellTrail: yes" in r.stdout and "current revision:    yes" in r.stdout
    check = json.loads(ok(run(db, ["coa", "verify", str(pdf), "--json"], "qa")).stdout)
    assert check["ok"] and check["lot_number"] == lot and check["revision"] == 1
    bad = tmp_path / "edited.pdf"
    bad.write_bytes(pdf.read_bytes() + b"\n% edited\n")
    r = run(db, ["coa", "verify", str(bad)], "qa")
    assert r.exit_code == 1 and "unaltered:           NO" in r.stdout
    assert lots.show_lot(lot, db=db, actor=actors["qa"]).state == "released"


def test_cli_refusals_are_one_line_and_write_nothing(db, actors, cli_lot):
    lot = cli_lot
    before = n_rows(db, ReleaseResult)
    line = refused(run(db, ["result", "add", lot, "NOPE", "1"], "tech"), "unknown-test-code")
    assert line.startswith("refused: test_code: 'NOPE' is not a test of BH002 spec v1")
    refused(run(db, ["result", "add", lot, "STER", "maybe"], "tech"), "not-an-allowed-value")
    refused(run(db, ["result", "add", lot, "ENDO", "0.2 pg/mL"], "tech"), "wrong-unit")
    refused(run(db, ["result", "add", lot, "VIAB", "91"], "sponsor"), "not-permitted")
    refused(
        run(db, ["result", "add", lot, "VIAB", "91", "--tested-on", "2999-01-01"], "tech"),
        "date-in-future",
    )
    assert n_rows(db, ReleaseResult) == before
    ok(run(db, ["result", "add", lot, "VIAB", "91"], "tech"))
    refused(run(db, ["result", "verify", lot, "VIAB"], "tech"), "verify-own-result")
    refused(
        run(db, ["result", "correct", lot, "VIAB", "92", "--reason", " "], "tech"),
        "reason-required",
    )
    r = run(db, ["disposition", lot, "release", "--reason", "x"], "tech")
    refused(r, "not-permitted")
    assert r.stdout == ""  # refused before the review is shown or the password asked to sign
    refused(
        run(db, ["disposition", lot, "release", "--reason", "x"], "qa", password="nope"),
        "authentication-failed",
    )
    refused(run(db, ["disposition", lot, "release", "--reason", "x"], "qa"), "result-not-final")
    refused(run(db, ["coa", lot, "-o", "x.pdf"], "qa"), "coa-before-disposition")
    assert n_rows(db, ReleaseResult) == before + 1
    assert (n_rows(db, Signature), n_rows(db, Disposition)) == (0, 0)
    r = run(db, ["disposition", lot, "approve"], "qa")
    assert r.exit_code == 2  # usage error: --reason missing


def test_oos_exception_late_result_alert_and_deviations_through_the_cli(
    db, actors, cli_lot, tmp_path
):
    lot = cli_lot
    values = {**PASSING, "ENDO": "6.0", "STER": "pending"}
    for code, value in values.items():
        ok(run(db, ["result", "add", lot, code, value], "tech"))
        if value != "pending":
            ok(run(db, ["result", "verify", lot, code], "tech2"))
    devs = json.loads(ok(run(db, ["deviation", "list", "--open", "--json"], "qa")).stdout)
    assert [d["kind"] for d in devs] == ["OOS"]
    number = devs[0]["number"]
    refused(
        run(db, ["disposition", lot, "conditional-release", "--reason", "x"], "qa"), "result-oos"
    )
    r = ok(
        run(
            db,
            ["disposition", lot, "conditional-release", "--reason", "no alternative",
             "--exception", "--deviation", number],
            "qa",
        )
    )  # fmt: skip
    assert "conditionally released" in r.stdout
    ok(run(db, ["result", "add", lot, "STER", "Growth"], "tech"))  # late and failing
    shown = ok(run(db, ["lot", "show", lot], "qa")).stdout
    assert "ALERT" in shown and "STER" in shown and "treating site" in shown
    r = ok(run(db, ["lot", "ack-alerts", lot, "--note", "site notified"], "qa"))
    assert "1 alert(s)" in r.stdout
    assert "ALERT" not in ok(run(db, ["lot", "show", lot], "qa")).stdout
    ok(run(db, ["deviation", "close", number, "--note", "assay interference, CAPA-3"], "qa"))
    refused(run(db, ["deviation", "close", number, "--note", "again"], "qa"), "already-closed")
    revs_pdf = tmp_path / "r1.pdf"
    ok(run(db, ["coa", lot, "-o", str(revs_pdf), "--revision", "1"], "qa"))
    r = run(db, ["coa", "verify", str(revs_pdf)], "qa")
    assert r.exit_code == 1 and "SUPERSEDED" in r.stdout


def test_coa_goes_to_the_configured_printer(db, actors, cli_lot, tmp_path):
    lot = cli_lot
    for code, value in PASSING.items():
        ok(run(db, ["result", "add", lot, code, value], "tech"))
        ok(run(db, ["result", "verify", lot, code], "tech2"))
    ok(run(db, ["disposition", lot, "reject", "--reason", "sponsor request"], "qa"))
    printed = tmp_path / "printed.pdf"
    sh = shutil.which("sh")
    assert sh
    printer = f"{sh} -c {shlex.quote('cat > ' + str(printed))}"
    refused(run(db, ["coa", lot, "--print"], "qa"), "no-printer")
    r = ok(run(db, ["coa", lot, "--print", "--json"], "qa", MFG_COA_PRINTER=printer))
    assert json.loads(r.stdout)["printed"] is True
    data = printed.read_bytes()
    assert data.startswith(b"%PDF")
    out = tmp_path / "same.pdf"
    ok(run(db, ["coa", lot, "-o", str(out)], "qa"))
    assert Path(out).read_bytes() == data  # the PDF as issued, byte for byte


def test_coa_verify_of_a_file_that_is_not_a_pdf_is_one_line(db, tmp_path):
    """In a real process (pytest would capture pypdf's own log lines): only the refusal shows."""
    import os
    import subprocess
    import sys

    add_users(db, datetime.now(UTC))  # the process logs in on the real clock
    bogus = tmp_path / "scan.pdf"
    bogus.write_text("root:x:0:0:root:/root:/bin/bash\n")
    env = {
        **os.environ,
        "MFG_HOME": str(db.settings.home),
        "MFG_USER": "qa",
        "MFG_PASSWORD": PASSWORD,
        "MFG_DATABASE_URL": db.settings.database_url,
    }
    out = subprocess.run(
        [sys.executable, "-c", "from mfg.cli import main; main()", "coa", "verify", str(bogus)],
        capture_output=True, text=True, env=env,
    )  # fmt: skip
    assert out.returncode == 1
    assert out.stderr.splitlines() == [
        "refused: file: not a readable PDF (Stream has ended unexpectedly) [not-a-pdf]"
    ]


def _results_in(db: Database, lot: str) -> None:
    for code, value in PASSING.items():
        ok(run(db, ["result", "add", lot, code, value], "tech"))
        ok(run(db, ["result", "verify", lot, code], "tech2"))


def _fingerprint(db: Database, lot: str) -> str:
    human = ok(run(db, ["lot", "review", lot], "qa")).stdout
    found = re.search(r"review fingerprint ([0-9a-f]{16}):", human)
    assert found, human
    return found.group(1)


def test_disposition_signs_only_the_review_qa_read(db, actors, cli_lot):
    """``mfg lot review`` prints the review's fingerprint; ``mfg disposition --reviewed`` refuses
    to sign once a result changed since (corrected and verified again, still passing), names
    the rule, and writes nothing; a malformed fingerprint names the option's rule."""
    lot = cli_lot
    _results_in(db, lot)
    read = _fingerprint(db, lot)
    ok(run(db, ["result", "correct", lot, "CD3", "80.5", "--reason", "recalc gating"], "tech"))
    ok(run(db, ["result", "verify", lot, "CD3"], "tech2"))
    before = (n_rows(db, Signature), n_rows(db, Disposition))
    sign = ["disposition", lot, "release", "--reason", "meets spec"]
    line = refused(run(db, [*sign, "--reviewed", read], "qa"), "changed-by-someone-else")
    assert f"changed since the review {read}: nothing was signed" in line
    line = refused(run(db, [*sign, "--reviewed", "3f9a"], "qa"), "review-fingerprint-format")
    assert line.startswith("refused: reviewed: '3f9a': the review's fingerprint is")
    assert (n_rows(db, Signature), n_rows(db, Disposition)) == before
    now = _fingerprint(db, lot)
    assert now != read
    r = ok(run(db, [*sign, "--reviewed", f" {now.upper()} "], "qa"))
    assert f"fingerprint {now}" in r.stdout and "meaning 'released'" in r.stdout


def test_a_result_changed_while_the_password_is_typed_is_not_signed(
    db, actors, cli_lot, monkeypatch
):
    """Without --reviewed, the signature binds the review the command read before asking for
    the password: a correction landing while QA types it refuses the signature."""
    from mfg.cli._common import Cli

    lot = cli_lot
    _results_in(db, lot)
    typed = Cli.signing_password

    def slow_typist(self: Cli, from_stdin: bool, prompt: str = "") -> str:
        ok(run(db, ["result", "correct", lot, "CD3", "80.5", "--reason", "recalc"], "tech"))
        ok(run(db, ["result", "verify", lot, "CD3"], "tech2"))
        return typed(self, from_stdin)

    monkeypatch.setattr(Cli, "signing_password", slow_typist)
    before = (n_rows(db, Signature), n_rows(db, Disposition))
    line = refused(
        run(db, ["disposition", lot, "release", "--reason", "meets spec"], "qa"),
        "changed-by-someone-else",
    )
    assert "changed since your review: nothing was signed" in line
    assert (n_rows(db, Signature), n_rows(db, Disposition)) == before
