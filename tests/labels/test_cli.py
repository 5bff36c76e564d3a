"""mfg labels / scan / bag through the CLI: every QR code printed reads back and scans OK."""

from __future__ import annotations

import io
import json
import shlex
from pathlib import Path

import pypdfium2 as pdfium
import pytest
import zxingcpp
from click.testing import Result
from PIL import Image
from typer.testing import CliRunner

from labels.payload import LabelKind
from mfg.domain import isbt128
from mfg.store.tables import CustodyEvent, LabelPrint
from tests.conftest import add_users
from tests.labels.helpers import n_rows, set_lot_state
from tests.support import world
from tests.support.constants import CLI_NOW, PASSWORD


class Site:
    def __init__(self, db, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
        self.db = db
        self.tmp = tmp_path
        self.env = {
            "MFG_HOME": str(db.settings.home),
            "MFG_DATABASE_URL": db.settings.database_url,
            "MFG_PASSWORD": PASSWORD,
            "MFG_USER": "tech",
            "MFG_LABEL_KEY": None,
            "MFG_LABEL_PRINTER": None,
            "MFG_SITE_TZ": None,
            "MFG_FACILITY_ID": None,
        }

    def run(self, *args: str, input: str | None = None, **env: str) -> Result:
        from mfg.cli import app

        return CliRunner().invoke(app, list(args), env={**self.env, **env}, input=input)

    def ok(self, *args: str, input: str | None = None, **env: str) -> Result:
        r = self.run(*args, input=input, **env)
        assert r.exit_code == 0, (r.stdout, r.stderr)
        return r

    def refused(self, rule: str, *args: str, **env: str) -> str:
        r = self.run(*args, **env)
        assert r.exit_code == 1, (r.stdout, r.stderr)
        assert r.stderr.startswith("refused: ") and r.stderr.rstrip().endswith(f"[{rule}]")
        assert "Traceback" not in r.stderr
        return r.stderr


@pytest.fixture
def site(sqlite_db, tmp_path, cli_clock):  # type: ignore[no-untyped-def]
    actors = add_users(sqlite_db)
    now = cli_clock  # the lots are harvested "today" on the CLI's (fixed) clock
    world.harvested_lot(sqlite_db, actors["tech"], now=now)
    world.harvested_lot(sqlite_db, actors["tech"], "S-002", now=now)
    world.approve_label_layouts(sqlite_db, now)
    return Site(sqlite_db, tmp_path)


def lot_number(n: int = 1) -> str:
    return f"BH002-{CLI_NOW.year % 100:02d}-{n:04d}"


def symbols_in_pdf(path: Path) -> list[tuple[str, str]]:
    pdf = pdfium.PdfDocument(path.read_bytes())
    return [
        (r.format.name, r.text)
        for page in pdf
        for r in zxingcpp.read_barcodes(page.render(scale=300 / 72).to_pil())
    ]


def symbols_in_png(path: Path) -> list[tuple[str, str]]:
    img = Image.open(io.BytesIO(path.read_bytes()))
    return [(r.format.name, r.text) for r in zxingcpp.read_barcodes(img)]


def codes_in_pdf(path: Path) -> list[str]:
    return [t for f, t in symbols_in_pdf(path) if f == "QRCode"]


def codes_in_png(path: Path) -> list[str]:
    return [t for f, t in symbols_in_png(path) if f == "QRCode"]


def expected_symbols(prints: list[dict[str, object]], kind: str) -> list[tuple[str, str]]:
    """QR payload and Data Matrix message of each print; Code 128 CoI and product code on the
    2-inch stocks (every kind but the cryovial ones)."""
    out: list[tuple[str, str]] = []
    for p in prints:
        out += [("QRCode", str(p["payload"])), ("DataMatrix", str(p["isbt128"]))]
        if kind not in ("pbmc-vial", "qc-sample"):
            structures = isbt128.parse(str(p["isbt128"]))
            coi = isbt128.find(structures, isbt128.COI)
            product = isbt128.find(structures, isbt128.PRODUCT)
            assert coi is not None and product is not None
            out += [("Code128", coi.text), ("Code128", product.text)]
    return sorted(out)


@pytest.mark.parametrize("kind", [k.value for k in LabelKind])
def test_every_kind_to_pdf_and_png_reads_back_and_scans(site, kind):
    lot = lot_number()
    pdf = site.tmp / f"{kind}.pdf"
    r = site.ok("labels", lot, "--kind", kind, "-o", str(pdf), "--json")
    prints = json.loads(r.stdout)["prints"]
    printed = [p["payload"] for p in prints]
    assert sorted(symbols_in_pdf(pdf)) == expected_symbols(prints, kind)
    assert len(printed) == (4 if kind == "dose-bag" else 1)
    assert {p["layout_version"] for p in prints} == {2}

    png = site.tmp / f"{kind}.png"
    site.refused("reprint-reason-required", "labels", lot, "--kind", kind, "-o", str(png))
    site.ok("labels", lot, "--kind", kind, "-o", str(png), "--reprint-reason", "preview")
    assert sorted(symbols_in_png(png)) == expected_symbols(prints, kind)

    for p in prints:
        for code in (p["payload"], p["isbt128"]):  # the QR code and the Data Matrix symbol
            out = json.loads(site.ok("scan", code, "--expect-lot", lot, "--json").stdout)
            assert out["lot_number"] == lot and out["kind"] == kind and out["times_printed"] == 2
            assert out["subject_id"] == "S-001" and out["object_ref"] == p["object_ref"]
    human = site.ok("scan", "-", input=printed[0] + "\n").stdout
    assert human.startswith("OK ") and "CH A9990" in human and "S-001" in human


def test_scan_refusals_exit_1_with_the_rule(site):
    lot, other = lot_number(1), lot_number(2)
    out = site.tmp / "b.pdf"
    (p,) = json.loads(site.ok("labels", lot, "--kind", "culture", "-o", str(out), "--json").stdout)[
        "prints"
    ]
    payload = p["payload"]
    err = site.refused(
        "payload-damaged", "scan", payload[:-1] + ("2" if payload[-1] != "2" else "3")
    )
    assert err.startswith("refused: payload: the check does not match")
    site.refused("payload-damaged", "scan", payload[:25])
    site.refused("payload-damaged", "scan", payload.lower())
    err = site.refused("wrong-lot", "scan", payload, "--expect-lot", other)
    assert "STOP" in err
    site.refused("wrong-subject", "scan", payload, "--expect-subject", "S-002")
    site.refused("payload-unkeyed", "scan", payload, MFG_LABEL_KEY="a-site-secret")
    site.refused("not-permitted", "scan", payload, MFG_USER="sponsor")


def test_bag_custody_through_the_cli(site):
    lot = lot_number()
    pdf = site.tmp / "bags.pdf"
    site.ok("labels", lot, "--kind", "dose-bag", "-o", str(pdf))
    bag1, bag2, *_ = sorted(codes_in_pdf(pdf))  # what the scanner reads off the labels
    where = ("--tank", "LN2-01", "--rack", "R3", "--box", "B12", "--position", "A5")
    assert "stored at LN2-01/R3/B12/A5" in site.ok("bag", "store", bag1, *where).stdout
    site.ok("bag", "store", bag2, *where[:-1], "B6")
    before = (n_rows(site.db, CustodyEvent), n_rows(site.db, LabelPrint))
    err = site.refused("lot-not-released", "bag", "issue", bag1)
    assert "harvested" in err
    site.refused("location-format", "bag", "store", bag1, *where[:-1], "A 5")
    site.refused("illegal-custody-step", "bag", "thaw", bag1)
    assert (n_rows(site.db, CustodyEvent), n_rows(site.db, LabelPrint)) == before

    set_lot_state(site.db, lot, "released", now=CLI_NOW)
    site.refused("wrong-subject", "bag", "issue", bag1, "--subject", "S-002")
    site.ok("bag", "issue", bag1, "--subject", "S-001", MFG_USER="qa")
    site.ok("bag", "thaw", "-", input=bag1 + "\r\n")  # as a keyboard-wedge scanner types it
    site.refused("wrong-subject", "bag", "infuse", bag1, "--subject", "S-002")
    out = site.ok("bag", "infuse", bag1, "--subject", "S-001").stdout
    assert "infused" in out and "thaw to infusion: 0 min" in out
    site.refused("bag-already-infused", "bag", "infuse", bag1, "--subject", "S-001")
    site.refused("reason-required", "bag", "discard", bag2, "--reason", " ")
    site.ok("bag", "discard", bag2, "--reason", "label damaged in tank")

    data = json.loads(site.ok("bag", "list", lot, "--json").stdout)
    assert [b["state"] for b in data["bags"]] == ["infused", "discarded", "created", "created"]
    assert data["remaining"] == 2 and data["bags"][0]["infusion_overrun"] is False
    assert [e["action"] for e in data["bags"][0]["events"]] == ["store", "issue", "thaw", "infuse"]
    assert "2 bag(s) left for further doses" in site.ok("bag", "list", lot).stdout


def test_zpl_goes_to_the_configured_printer(site):
    lot = lot_number()
    sink = site.tmp / "printer.zpl"
    printer = f"sh -c {shlex.quote('cat > ' + shlex.quote(str(sink)))}"
    out = site.tmp / "v.zpl"
    site.ok(
        "labels", lot, "--kind", "pbmc-vial", "-o", str(out), "--print", MFG_LABEL_PRINTER=printer
    )
    assert sink.read_bytes() == out.read_bytes() and out.read_bytes().startswith(b"^XA")
    site.refused(
        "printer-failed",
        "labels",
        lot,
        "--kind",
        "qc-sample",
        "-o",
        str(site.tmp / "q.zpl"),
        "--print",
        MFG_LABEL_PRINTER="false",
    )


def test_usage_errors_and_help(site):
    r = site.run("labels", lot_number(), "--kind", "culture", "-o", str(site.tmp / "x.docx"))
    assert r.exit_code == 2 and "[output-format]" in r.stderr
    site.refused("unknown-label-kind", "labels", lot_number(), "--kind", "bag", "-o", "x.pdf")
    for args in (
        ["labels"],
        ["scan"],
        ["bag", "store"],
        ["bag", "issue"],
        ["bag", "thaw"],
        ["bag", "infuse"],
        ["bag", "discard"],
        ["bag", "list"],
    ):
        r = site.run(*args, "--help")
        assert r.exit_code == 0 and "Example: mfg " in r.stdout, args
