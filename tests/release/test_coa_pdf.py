"""The COA PDF read back: text (pypdf) holds every field the issue lists; the QR code decoded from
a rendered page (pypdfium2 + zxing-cpp) identifies lot and revision; `verify` tells issued,
unaltered and current apart; the layout comes from the product file."""

from __future__ import annotations

import io
import json
import shutil
from datetime import timedelta
from pathlib import Path

import pypdfium2 as pdfium
import pytest
import zxingcpp
from pypdf import PdfReader
from sqlmodel import select

from mfg import coa
from mfg.services import release
from mfg.services.uow import Database
from mfg.specfiles import PACKAGED_DIR
from mfg.store.tables import CoaRevision
from tests.release.conftest import PASSING, enter, harvested, sign
from tests.support.constants import NOW


def squash(text: str) -> str:
    return "".join(text.split())


def pdf_text(data: bytes) -> str:
    return "\n".join(p.extract_text() or "" for p in PdfReader(io.BytesIO(data)).pages)


def qr_codes(data: bytes, page: int = 0) -> list[str]:
    pdf = pdfium.PdfDocument(data)
    try:
        image = pdf[page].render(scale=2).to_pil()
    finally:
        pdf.close()
    return [r.text for r in zxingcpp.read_barcodes(image)]


def released_with_correction(db: Database, actors) -> str:  # type: ignore[no-untyped-def]
    lot = harvested(db, actors)
    enter(db, actors, lot, {**PASSING, "VIAB": "81.0"})
    release.correct_result(
        release.AddResult(lot, "VIAB", "88.4 %"),
        "transcribed from the wrong sample sheet",
        db=db,
        actor=actors["tech"],
        now=NOW,
    )
    release.verify_result(lot, "VIAB", db=db, actor=actors["tech2"], now=NOW)
    sign(db, actors, lot, reason="meets specification v1")
    return lot


def test_coa_text_contains_every_field(db, actors):
    lot = released_with_correction(db, actors)
    issue = release.issue_coa(lot, destination="test", db=db, actor=actors["qa"], now=NOW)
    text = pdf_text(issue.pdf)
    flat = squash(text)
    content = release.content_of(lot, None, db=db, actor=actors["qa"])
    expected = [
        "Certificate of Analysis",
        "BH002 injection, CD19-BCMA CAR-T cells",  # product
        "BH002 version 1",  # spec version
        lot,
        "CH A9990 26 000001",  # the ISBT 128 CoI eye-readable, with its check character K
        "check character J",
        "S-001",  # subject
        "NCT06350110",  # protocol
        "DL2: 2.0 x 10^6 CAR+ viable T cells/kg",  # dose level
        "1.2 x 10^8 CAR+ viable T cells",  # target (DL2 x 62.5 kg)
        "Harvest date",
        "2026-11-25 (day 11)",
        "Cryopreservation date",
        "Expiry date",
        "2027-11-25 23:59 UTC+08:00",  # expiry with the time (none recorded: 23:59) and zone
        "<= -150 °C, vapour phase of liquid nitrogen",  # storage condition
        "4 bag(s) x 50 mL = 200 mL",  # bags and volume
        "9.0 x 10^8 CAR+ viable T cells",  # CAR+ viable cells
        "1.4 x 10^7 CAR+ viable T cells/kg",  # cells/kg
        "RELEASED",  # disposition
        "meets specification v1",
        "Quinn Quality",  # signature: printed name, meaning, time
        "released",
        "2026-11-25 09:30 UTC",
        "Valid",
        "changed since original entry",
        "originally 81 %",
        "transcribed from the wrong sample sheet",
        "Revision history",
        "Page 1 of 2",
        "Page 2 of 2",
        content["document_id"],
        f"Content SHA-256 {issue.revision.content_sha256}",
        "Autologous product: FOR AUTOLOGOUS USE ONLY",  # footer from the template
    ]
    for field in expected:
        assert squash(field) in flat, field
    for r in content["results"]:  # a row per test: name, method, specification, result, status
        for key in ("name", "method", "acceptance", "result", "status", "conforms"):
            assert squash(r[key]) in flat, (r["code"], key, r[key])
    assert "88.4 % *" in text or squash("88.4 % *") in flat
    assert "Conforms" in text and "Final, verified" in text
    assert issue.revision.content_sha256 == coa.content_sha256(content)


def test_qr_code_on_every_page_identifies_lot_and_revision(db, actors):
    lot = released_with_correction(db, actors)
    issue = release.issue_coa(lot, destination="test", db=db, actor=actors["qa"], now=NOW)
    for page in (0, 1):
        (text,) = qr_codes(issue.pdf, page)
        ident = coa.parse_qr(text)
        assert ident is not None
        assert (ident.lot_number, ident.revision) == (lot, 1)
        assert ident.document_id == issue.revision.document_id
        assert ident.content_sha256 == issue.revision.content_sha256


def test_verify_issued_altered_superseded_and_foreign_files(db, actors):
    lot = harvested(db, actors)
    enter(db, actors, lot, {**PASSING, "STER": "pending"})
    sign(db, actors, lot, "conditional-release", reason="sterility pending")
    rev1 = release.issue_coa(lot, destination="t", db=db, actor=actors["qa"], now=NOW).pdf
    check = release.verify_pdf(rev1, db=db, actor=actors["qa"])
    assert check.ok and check.revision == 1 and check.found_in == "metadata"

    # same metadata, different words: claims to be revision 1 but was edited
    content = release.content_of(lot, 1, db=db, actor=actors["qa"])
    forged = json.loads(json.dumps(content))
    forged["results"][0]["result"] = "Does not conform"
    fake = coa.render(forged, sha256=content_sha(rev1))
    check = release.verify_pdf(fake, db=db, actor=actors["qa"])
    assert check.issued_by_celltrail and check.unaltered is False and not check.ok
    assert any("text differs" in m for m in check.messages)

    # bytes appended (e.g. re-saved): not the file issued
    check = release.verify_pdf(rev1 + b"\n%tampered\n", db=db, actor=actors["qa"])
    assert check.unaltered is False and not check.ok

    # a late result makes revision 2: revision 1 is then superseded
    later = NOW + timedelta(days=14)
    release.add_result(
        release.AddResult(lot, "STER", "No growth"), db=db, actor=actors["tech"], now=later
    )
    check = release.verify_pdf(rev1, db=db, actor=actors["qa"])
    assert check.issued_by_celltrail and check.unaltered and not check.current
    assert check.current_revision == 2 and not check.ok
    assert any("SUPERSEDED" in m for m in check.messages)
    rev2 = release.issue_coa(lot, destination="t", db=db, actor=actors["qa"], now=later).pdf
    assert release.verify_pdf(rev2, db=db, actor=actors["qa"]).ok
    assert "STER" in release.revisions(lot, db=db, actor=actors["qa"])[1].reason
    old = release.issue_coa(lot, revision=1, destination="t", db=db, actor=actors["qa"], now=later)
    assert old.pdf == rev1 and not old.revision.current

    # a PDF CellTrail never issued
    from reportlab.pdfgen.canvas import Canvas

    buf = io.BytesIO()
    c = Canvas(buf)
    c.drawString(100, 700, "Certificate of Analysis")
    c.save()
    check = release.verify_pdf(buf.getvalue(), db=db, actor=actors["qa"])
    assert not check.issued_by_celltrail and not check.ok


def content_sha(pdf: bytes) -> str:
    facts = coa.read_pdf(pdf)
    assert facts.identity is not None
    return facts.identity.content_sha256


def test_verify_a_scanned_copy_by_its_qr_code(db, actors, tmp_path):
    lot = harvested(db, actors)
    enter(db, actors, lot, PASSING)
    sign(db, actors, lot)
    pdf = release.issue_coa(lot, destination="t", db=db, actor=actors["qa"], now=NOW).pdf
    doc = pdfium.PdfDocument(pdf)
    image = doc[0].render(scale=2).to_pil().convert("RGB")
    doc.close()
    scan = tmp_path / "scan.pdf"
    image.save(scan, "PDF", resolution=144)
    check = release.verify_pdf(scan.read_bytes(), db=db, actor=actors["qa"])
    assert check.found_in == "qr" and check.lot_number == lot and check.revision == 1
    assert check.issued_by_celltrail and check.current and check.unaltered is None
    assert not check.ok  # an image cannot prove its content unaltered


def test_layout_comes_from_the_product_file(db, actors):
    """A site copy of the spec file with its own [coa] table (title, footer, sections, logo)."""
    from PIL import Image

    products = db.products_dir()
    products.mkdir(parents=True, exist_ok=True)
    text = (PACKAGED_DIR / "BH002-v1.toml").read_text(encoding="utf-8")
    head, _ = text.split("[coa]")
    (products / "BH002-v1.toml").write_text(
        head
        + "[coa]\n"
        + 'title = "Certificate of Analysis and Release"\n'
        + 'subtitle = "Site Beijing"\n'
        + 'sections = ["results", "identity", "disposition", "signatures"]\n'
        + 'footer = "Site footer: keep with the batch record."\n'
        + 'logo = "site-logo.png"\n',
        encoding="utf-8",
    )
    Image.new("RGB", (120, 48), (31, 58, 95)).save(products / "site-logo.png")
    lot = harvested(db, actors)
    enter(db, actors, lot, PASSING)
    sign(db, actors, lot)
    pdf = release.issue_coa(lot, destination="t", db=db, actor=actors["qa"], now=NOW).pdf
    text = pdf_text(pdf)
    assert "Certificate of Analysis and Release" in text and "Site Beijing" in text
    assert "Site footer: keep with the batch record." in text
    assert "Revision history" not in text  # not among the site's sections
    assert text.index("Release test results") < text.index("Identity")
    reader = PdfReader(io.BytesIO(pdf))
    assert len(list(reader.pages[0].images)) >= 1  # the logo


def test_printer_command_receives_the_pdf_on_stdin(tmp_path: Path):
    out = tmp_path / "printed.pdf"
    sh = shutil.which("sh")
    assert sh
    coa.send_to_printer(f"{sh} -c 'cat > {out}'", b"%PDF-1.4 test")
    assert out.read_bytes() == b"%PDF-1.4 test"
    from mfg.errors import RuleViolation

    with pytest.raises(RuleViolation) as e:
        coa.send_to_printer(f"{sh} -c 'exit 3'", b"x")
    assert e.value.rule == "printer-failed"


def test_the_qr_reader_ships_with_celltrail_not_only_with_the_test_extras():
    """Issue 13 (7): a genuine scanned COA was "issued by CellTrail: NO" without the extras."""
    import tomllib

    project = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    main = " ".join(project["project"]["dependencies"])
    assert "zxing-cpp" in main and "pypdfium2" in main


def test_a_scan_without_the_qr_reader_says_what_is_missing(monkeypatch, tmp_path):
    import builtins

    from mfg.errors import RuleViolation

    real_import = builtins.__import__

    def no_zxing(name, *args, **kw):
        if name == "zxingcpp":
            raise ModuleNotFoundError("No module named 'zxingcpp'", name="zxingcpp")
        return real_import(name, *args, **kw)

    monkeypatch.setattr(builtins, "__import__", no_zxing)
    from PIL import Image

    image = Image.new("RGB", (200, 200), "white")
    scan = tmp_path / "scan.pdf"
    image.save(scan, "PDF", resolution=72)
    with pytest.raises(RuleViolation) as e:
        coa.read_pdf(scan.read_bytes())
    assert e.value.rule == "qr-reader-missing" and "zxingcpp is not installed" in e.value.message


def test_no_page_is_left_empty_whatever_the_length(db, actors):
    """The last section may end anywhere on a page: no blank page follows it (a trailing spacer
    that did not fit pushed an empty 'Page 3 of 3' after a held lot's revision history)."""
    lot = released_with_correction(db, actors)
    release.issue_coa(lot, destination="t", db=db, actor=actors["qa"], now=NOW)
    with db.read() as s:
        content = json.loads(s.exec(select(CoaRevision)).one().content_json)
    first = content["revisions"][0]
    for n in range(1, 41):
        revisions = [{**first, "revision": i, "reason": f"revision note {i:03d}"} for i in range(n)]
        pdf = coa.render({**content, "revisions": revisions})
        last_page = PdfReader(io.BytesIO(pdf)).pages[-1].extract_text() or ""
        assert f"revision note {n - 1:03d}" in last_page, f"{n} revisions: the last page is empty"
