"""Issue 12: users' text reaches terminals, PDFs and spreadsheets as text; output files are
written whole or not at all; pipes, huge numbers and odd paths are one-line refusals."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli.conftest import Home
from tests.support.constants import PASSWORD

ESC = "typo\x1b[1A\x1b[2K"
MARKUP = "[bold red]BROKEN: x[/] :V: [link=http://evil]y[/link]"


def refused_line(r, rule: str) -> str:  # type: ignore[no-untyped-def]
    assert r.exit_code == 1, (r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("refused: "), lines
    assert lines[0].endswith(f"[{rule}]"), lines
    return str(lines[0])


def corrected_lot(home: Home, reason: str = "transcription error") -> str:
    home.subject()
    lot = home.register()
    home.ok("count", "add", lot, "--day", "0", "--total", "1.1e8", "--viable", "1.0e8")
    home.ok(
        "count", "correct", lot, "1", "--day", "0", "--total", "1.2e8", "--viable", "1.1e8",
        "--reason", reason,
    )  # fmt: skip
    return lot


# -- input ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "field,args",
    [
        ("reason", ["count", "correct", "{lot}", "1", "--day", "0", "--total", "1.2e8",
                    "--viable", "1.1e8", "--reason", ESC]),
        ("method", ["count", "add", "{lot}", "--day", "1", "--total", "1e8", "--viable", "9e7",
                    "--method", "NC-200\x1b]0;pwned\x07"]),
    ],
)  # fmt: skip
def test_escape_sequences_are_refused_at_input_naming_the_field(home: Home, field, args):
    lot = corrected_lot(home)
    before = home.snapshot()
    r = home.run(*[a.format(lot=lot) for a in args])
    line = refused_line(r, "control-characters")
    assert line.startswith(f"refused: {field}: contains U+001B")
    assert "\x1b" not in r.stderr  # the refusal itself shows the character as text
    assert home.snapshot() == before  # no row, no audit event


def test_a_full_name_with_a_bidi_override_is_refused(home: Home):
    before = home.snapshot()
    r = home.run(
        "user", "add", "eve", "--role", "qa", "--full-name", "Eve \u202eevE", "--password-stdin",
        user="admin", input="correct-horse-battery\n",
    )  # fmt: skip
    assert refused_line(r, "control-characters").startswith("refused: full_name: contains U+202E")
    assert home.snapshot() == before


# -- terminal ---------------------------------------------------------------------------------


def test_markup_and_emoji_codes_in_a_reason_print_literally(home: Home):
    lot = corrected_lot(home, reason=MARKUP)
    out = home.ok("audit", "log", "--lot", lot, user="qa").stdout
    assert "[bold red]BROKEN: x[/]" in " ".join(out.split()) or "BROKEN: x[/]" in out
    assert ":V:" in out and "\u270c" not in out  # no emoji substitution
    growth = home.ok("lot", "growth", lot).stdout
    assert "\u270c" not in growth


def test_escape_sequences_already_stored_reach_the_terminal_as_text(home: Home):
    """Rows written before this rule (or by SQL) are shown inert by every read command."""
    lot = corrected_lot(home)
    with sqlite3.connect(home.db_path) as c:
        # the append-only triggers stop an accidental edit; SQL with intent drops them first
        c.execute("DROP TRIGGER IF EXISTS auditevent_no_update")
        c.execute("UPDATE auditevent SET reason = ? WHERE reason IS NOT NULL", (ESC,))
        c.execute(
            "UPDATE cellcount SET correction_reason = ? WHERE correction_reason IS NOT NULL", (ESC,)
        )
    for args, user in [
        (["audit", "log", "--lot", lot], "qa"),
        (["audit", "log", "--lot", lot, "--json"], "qa"),
        (["lot", "growth", lot], "tech"),
        (["lot", "show", lot], "tech"),
    ]:
        r = home.ok(*args, user=user)
        assert "\x1b" not in r.stdout and "\x9b" not in r.stdout, (args, r.stdout)
    shown = home.ok("audit", "log", "--lot", lot, user="qa").stdout
    assert "\\x1b[1A" in shown
    data = json.loads(home.ok("audit", "log", "--lot", lot, "--json", user="qa").stdout)
    assert any(e["reason"] == ESC for e in data)  # JSON keeps the value, escaped


# -- files ------------------------------------------------------------------------------------


def _export(home: Home, out: Path | str, *extra: str):  # type: ignore[no-untyped-def]
    return home.run("export", "lots", "-o", str(out), *extra, user="sponsor")


def test_an_existing_output_file_is_refused_unless_force(home: Home, tmp_path: Path):
    out = tmp_path / "lots.csv"
    out.write_text("precious\n")
    line = refused_line(_export(home, out), "output-exists")
    assert "--force" in line and out.read_text() == "precious\n"
    assert _export(home, out, "--force").exit_code == 0
    assert out.read_text().startswith("lot_number")


def test_a_symlink_is_never_followed(home: Home, tmp_path: Path):
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me\n")
    link = tmp_path / "lots.csv"
    link.symlink_to(victim)
    refused_line(_export(home, link), "output-symlink")
    refused_line(_export(home, link, "--force"), "output-symlink")
    assert victim.read_text() == "keep me\n" and link.is_symlink()


@pytest.mark.parametrize(
    "target,rule",
    [
        ("{tmp}", "output-is-directory"),
        ("{tmp}/no/such/folder/x.csv", "output-folder-missing"),
        ("/dev/full", "output-not-a-file"),
    ],
)
def test_impossible_targets_are_one_line_refusals(home: Home, tmp_path: Path, target, rule):
    path = target.format(tmp=tmp_path)
    refused_line(_export(home, path), rule)
    refused_line(home.run("report", "success-rate", "-f", "csv", "-o", path, user="sponsor"), rule)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes anywhere")
def test_an_unwritable_folder_is_refused(home: Home, tmp_path: Path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        refused_line(_export(home, ro / "x.csv"), "output-unwritable")
    finally:
        ro.chmod(0o700)


def test_xlsx_export_without_a_suffix_works(home: Home, tmp_path: Path):
    out = tmp_path / "NAME"
    assert _export(home, out, "-f", "xlsx").exit_code == 0
    assert out.read_bytes().startswith(b"PK")
    assert not [p for p in tmp_path.iterdir() if ".partial" in p.name]


def test_formula_cells_in_exports_are_neutralised(home: Home, tmp_path: Path):
    home.ok(
        "subject", "add", "S-002", "--site", "BJ01", "--indication", "SLE", "--weight-kg",
        "62.5", "--dose-level", "DL2",
    )  # fmt: skip
    import pandas as pd

    from mfg.reports import inert_frame

    frame = pd.DataFrame({"site": ['=HYPERLINK("http://x")', "@SUM(A1)", "BJ01"], "n": [-1, 2, 3]})
    out = inert_frame(frame)
    assert list(out["site"]) == ['\'=HYPERLINK("http://x")', "'@SUM(A1)", "BJ01"]
    assert list(out["n"]) == [-1, 2, 3]


def _approve(home: Home, kind: str) -> None:
    """QA approves the layout (the e-signature's password on stdin, never MFG_PASSWORD)."""
    home.ok(
        "labels", "approve-layout", kind, "--reason", "test", "--password-stdin",
        user="qa", input=PASSWORD + "\n",
    )  # fmt: skip


def test_a_label_print_whose_file_cannot_be_written_is_not_recorded(home: Home, tmp_path: Path):
    home.subject()
    lot = home.register()
    _approve(home, "pbmc-vial")
    before = home.snapshot()
    for target in (tmp_path, Path("/dev/full"), tmp_path / "missing" / "v.pdf"):
        r = home.run("labels", lot, "--kind", "pbmc-vial", "-o", str(target))
        assert r.exit_code == 1, (target, r.stderr)
    assert home.snapshot() == before  # no print, no audit event
    ok = tmp_path / "v.pdf"
    home.ok("labels", lot, "--kind", "pbmc-vial", "-o", str(ok))
    assert ok.read_bytes().startswith(b"%PDF")
    # the next print is a reprint only because the first one really exists
    r = home.run("labels", lot, "--kind", "pbmc-vial", "-o", str(tmp_path / "v2.pdf"))
    refused_line(r, "reprint-reason-required")


def test_a_label_print_fails_together_with_its_file(home: Home, tmp_path: Path, monkeypatch):
    """The file is written inside the print's transaction: a write error leaves neither."""
    home.subject()
    lot = home.register()
    _approve(home, "pbmc-vial")
    before = home.snapshot()
    from mfg import outfile

    def full(self, data):  # type: ignore[no-untyped-def]
        raise outfile._refuse(self.field, "output-unwritable", self.path, "No space left on device")

    monkeypatch.setattr(outfile.PendingOutput, "write", full)
    r = home.run("labels", lot, "--kind", "pbmc-vial", "-o", str(tmp_path / "v.pdf"))
    refused_line(r, "output-unwritable")
    assert home.snapshot() == before and not list(tmp_path.glob("*v.pdf*"))


# -- numbers, pipes, restore ------------------------------------------------------------------


def test_huge_and_negative_numbers_are_refused_by_the_rules(home: Home):
    lot = corrected_lot(home)
    r = home.run(
        "count", "correct", lot, "99999999999999999999", "--day", "0", "--total", "1e8",
        "--viable", "9e7", "--reason", "x",
    )  # fmt: skip
    refused_line(r, "number-out-of-range")
    refused_line(
        home.run("audit", "log", "--last", "99999999999999999999", user="qa"),
        "number-out-of-range",
    )
    refused_line(home.run("audit", "log", "--last", "-3", user="qa"), "last-range")
    refused_line(home.run("audit", "log", "--last", "0", user="qa"), "last-range")
    assert len(json.loads(home.ok("audit", "log", "--last", "2", "--json", user="qa").stdout)) == 2


@pytest.mark.parametrize(
    "target,rule", [("{tmp}", "backup-not-a-file"), ("/dev/null", "backup-not-a-file")]
)
def test_restore_of_a_directory_or_a_device_says_what_is_wrong(home: Home, tmp_path, target, rule):
    r = home.run(
        "restore", target.format(tmp=tmp_path), "--db", f"sqlite:///{tmp_path}/new.db", user="admin"
    )
    line = refused_line(r, rule)
    assert "does not exist" not in line


def test_a_closed_pipe_ends_quietly(home: Home):
    """The reader is gone before the command writes (as `| head -1` after its line): exit 0 or
    141, no traceback, no 'internal error'."""
    from tests.support.constants import PASSWORD

    lot = corrected_lot(home)
    mfg = str(Path(sys.executable).with_name("mfg"))
    env = {**os.environ, "MFG_HOME": str(home.path), "MFG_USER": "qa", "MFG_PASSWORD": PASSWORD}
    for args in (
        ["audit", "log", "--lot", lot],
        ["audit", "log", "--lot", lot, "--json"],
        ["report", "success-rate", "-f", "csv"],
        ["lot", "show", lot],
    ):
        p = subprocess.Popen([mfg, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert p.stdout is not None
        p.stdout.close()  # nobody reads: every write of the command meets a broken pipe
        _, err_bytes = p.communicate(timeout=120)
        err = err_bytes.decode("utf-8", "replace")
        assert "Traceback" not in err and "internal error" not in err, (args, err)
        assert p.returncode in (0, 141), (args, p.returncode, err)


def test_lot_list_flags_a_lot_whose_spec_version_was_edited_and_lists_the_others(home: Home):
    """One lot's spec version edited in SQL to hold an escape sequence: ``mfg lot list`` lists
    every lot (it refused the whole list), flags that one NOT READ with the refusal shown as
    text, and ``mfg lot show`` of it stays refused."""
    home.subject()
    edited = home.register()
    home.subject("S-002")
    other = home.register("S-002")
    with sqlite3.connect(home.db_path) as conn:
        conn.execute("UPDATE lot SET spec_version = ? WHERE lot_number = ?", ("9" + ESC, edited))
    r = home.ok("lot", "list")
    assert "\x1b" not in r.output and "2 lot(s)" in r.stdout, r.output
    flagged = [line for line in r.stdout.splitlines() if line.startswith(f"{edited}: ")]
    assert len(flagged) == 1 and "not read [unknown-spec-version]: " in flagged[0], r.stdout
    assert "\\x1b[1A" in flagged[0], flagged
    listed = json.loads(home.ok("lot", "list", "--json").stdout)
    by_number = {v["lot_number"]: v for v in listed}
    assert by_number[edited]["not_read"].startswith("not read [unknown-spec-version]: ")
    assert by_number[edited]["target_dose_cells"] is None
    assert by_number[other]["not_read"] == "" and by_number[other]["target_dose_cells"] > 0
    refused_line(home.run("lot", "show", edited), "unknown-spec-version")


def test_a_lost_database_connection_is_told_plainly(home: Home, monkeypatch):
    """The server gone in the middle of a command (PostgreSQL restarted): a plain message with
    its rule, no 'internal error' and no log to open; the change is told as not confirmed."""
    from sqlalchemy.exc import DBAPIError

    from mfg.services import counts

    lot = home.lot()

    def lost(*a, **k):  # type: ignore[no-untyped-def]
        raise DBAPIError("COMMIT", None, Exception("server closed the connection"), None, True)

    monkeypatch.setattr(counts, "record_count", lost)
    r = home.run("count", "add", lot, "--day", "0", "--total", "1.1e8", "--viable", "1.0e8")
    assert r.exit_code == 3, (r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: the connection to the database was lost")
    assert "not confirmed" in lines[0] and lines[0].endswith("[database-connection-lost]"), lines
    assert "internal error" not in r.stderr and "Traceback" not in r.stderr
