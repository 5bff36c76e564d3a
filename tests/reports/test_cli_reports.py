"""mfg report success-rate, mfg export lots, mfg import lots through the CLI (SQLite home)."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from tests.cli.conftest import Home, cli_template, home  # noqa: F401 (fixtures)
from tests.reports import scenario
from tests.support.constants import PASSWORD

C_KEYS = scenario.C_KEYS


@pytest.fixture
def history(home: Home) -> Home:  # noqa: F811
    path = scenario.write_csv(home.path / "history.csv", scenario.HISTORY)
    r = home.ok("import", "lots", str(path), "--product", "BH002", user="qa")
    assert "staged import 1: 11 historical lots" in r.stdout
    r = home.ok("import", "approve", "1", "--password-stdin", user="qa2", input=PASSWORD + "\n")
    assert "imported 11 historical lots (10 new subjects, 0 matched, 108 results)" in r.stdout
    return home


def test_json_report_has_the_exact_shape(history: Home):
    r = history.ok("report", "success-rate", "--by", "dose_level", "--json", user="sponsor")
    data = json.loads(r.stdout)
    assert list(data) == ["unit", "overall", "strata", "failure_reasons"]
    assert data["unit"] == "lot" and list(data["overall"]) == C_KEYS
    assert [s["dose_level"] for s in data["strata"]] == ["DL2", "DL3"]
    assert all(list(s) == ["dose_level", *C_KEYS] for s in data["strata"])
    assert data["overall"]["successes"] == 3 and data["overall"]["failures"] == 6
    same = history.ok(
        "report", "success-rate", "--by", "dose_level", "--format", "json", user="sponsor"
    )
    assert json.loads(same.stdout) == data


def test_subject_unit_and_cross_strata_on_the_command_line(history: Home):
    r = history.ok(
        "report",
        "success-rate",
        "--unit",
        "subject",
        "--by",
        "source,site",
        "--json",
        user="sponsor",
    )
    data = json.loads(r.stdout)
    assert data["unit"] == "subject" and data["overall"]["successes"] == 3
    assert {(s["source"], s["site"]) for s in data["strata"]} == {
        ("apheresis", "BJ01"),
        ("cryo-pbmc", "SH02"),
    }


def test_table_is_readable(history: Home):
    r = history.ok("report", "success-rate", "--by", "site", user="qa")
    out = r.stdout
    assert "Manufacturing success rate, per lot" in out
    assert "95% CI (exact)" in out and "33.3 %" in out
    assert "harvest_window" in out and "day 0 to harvest" in out


def test_csv_and_xlsx(history: Home):
    r = history.ok("report", "success-rate", "--by", "indication", "-f", "csv", user="sponsor")
    lines = r.stdout.strip().splitlines()
    assert lines[0] == "indication," + ",".join(C_KEYS)
    assert lines[-1].startswith("all,3,6,9,")
    out = history.path / "r.xlsx"
    history.ok("report", "success-rate", "-f", "xlsx", "-o", str(out), user="sponsor")
    sheets = pd.read_excel(out, sheet_name=None)
    assert set(sheets) == {"success rate", "failure reasons", "days from day 0"}
    assert int(sheets["success rate"]["successes"].iloc[-1]) == 3


def test_pdf_is_one_page_with_the_summary(history: Home):
    from pypdf import PdfReader

    out = history.path / "summary.pdf"
    r = history.ok("report", "success-rate", "-f", "pdf", "-o", str(out), user="sponsor")
    assert f"wrote {out}" in r.stderr
    reader = PdfReader(out)
    assert len(reader.pages) == 1
    text = reader.pages[0].extract_text()
    for needle in (
        "Manufacturing success rate",
        "33.3 %",
        "Success rate by dose level",
        "Failure reasons",
        "day 0 to harvest",
        "Clopper-Pearson",
    ):
        assert needle in text, needle


def test_xlsx_and_pdf_need_an_output_file(home: Home):  # noqa: F811
    r = home.run("report", "success-rate", "-f", "pdf", user="sponsor")
    assert r.exit_code == 1
    assert r.stderr.strip() == "refused: output: the pdf format needs -o FILE [output-required]"


def test_export_lots_is_de_identified(history: Home):
    history.subject("S-001", "--initials", "ZQ", "--dob", "1971-06-05")
    out = history.path / "lots.csv"
    r = history.ok("export", "lots", "--format", "csv", "-o", str(out), user="sponsor")
    assert "wrote 11 lots" in r.stdout
    text = out.read_text()
    assert "initials" not in text and "dob" not in text.lower().split("\n")[0]
    assert "ZQ" not in text and "1971-06-05" not in text
    parquet = history.path / "lots.parquet"
    history.ok("export", "lots", "-f", "parquet", "-o", str(parquet), user="sponsor")
    assert len(pd.read_parquet(parquet)) == 11


def test_bad_import_lists_every_bad_row_and_writes_nothing(home: Home):  # noqa: F811
    rows = [
        scenario.row("BH002-25-0001"),
        scenario.row("BH002-25-0002", weight_kg="heavy"),
        scenario.row("BH002-25-0003", STER="maybe", dose_level="DL7"),
    ]
    path = scenario.write_csv(home.path / "bad.csv", rows)
    before = home.snapshot()
    r = home.run("import", "lots", str(path), user="qa")
    assert r.exit_code == 1
    lines = r.stderr.strip().splitlines()
    assert lines[0].startswith("row 3 (BH002-25-0002): weight_kg: ")
    assert lines[0].endswith("[number-format]")
    assert lines[1].startswith("row 4 (BH002-25-0003): STER: ")
    assert lines[2].startswith("row 4 (BH002-25-0003): dose_level: ")
    assert lines[-1] == (
        "refused: file: 2 bad rows (3 problems); nothing was imported [import-invalid]"
    )
    assert home.snapshot() == before


def test_sponsor_runs_reports_and_exports_and_nothing_else(home: Home):  # noqa: F811
    home.ok("report", "success-rate", user="sponsor")
    r = home.run("lot", "list", user="sponsor")
    assert r.exit_code == 1 and "[not-permitted]" in r.stderr
    r = home.run("import", "lots", str(home.path / "none.csv"), user="sponsor")
    assert r.exit_code == 1 and "may not import.lots" in r.stderr
    r = home.run("report", "success-rate", user="tech")
    assert r.exit_code == 1 and "may not report.read" in r.stderr


def test_an_import_file_name_prints_as_it_is(home: Home):  # noqa: F811
    """A file named with Rich markup and an escape: the markup printed literally, the escape
    made visible, in `import lots`, `import list` and `import approve`."""
    name = "lab[bold]2024[red]\x1b[2J.csv"
    path = scenario.write_csv(home.path / name, [scenario.row("BH002-25-0001")])
    shown = "lab[bold]2024[red]\\x1b[2J.csv"
    r = home.ok("import", "lots", str(path), user="qa")
    assert f"historical lots from {shown} (sha256" in r.stdout
    assert f"1 lots from {shown}, staged by qa" in home.ok("import", "list", user="qa").stdout
    r = home.ok("import", "approve", "1", "--password-stdin", user="qa2", input=PASSWORD + "\n")
    assert r.stdout.strip().endswith(f"from {shown}")


def test_the_import_progress_bar_writes_numbers_as_the_lab_does(monkeypatch):
    """On a terminal, a long import's bar counts ``1,234/10,000`` (the approval's records too)."""
    from rich.console import Console

    from mfg.cli import reports as cli_reports

    monkeypatch.setattr(cli_reports.sys.stderr, "isatty", lambda: True)
    bar, update = cli_reports._progress()
    update("writing", 1234, 155_009)
    screen = Console(record=True, width=100)
    screen.print(bar.make_tasks_table(bar.tasks))
    shown = screen.export_text()
    assert "writing" in shown and "1,234/155,009" in shown
