"""Issue 11's tamperings, done with nothing but SQL (and the app's own COA renderer), on SQLite
and PostgreSQL: `mfg audit verify` exits 1 naming the record, the field and the event."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mfg.services import deviations, release
from tests.release.conftest import ready_lot, sign
from tests.robustness.support import scalar, sql, verify
from tests.support import world
from tests.support.constants import NOW, PASSWORD


@pytest.fixture
def released(db, actors):  # type: ignore[no-untyped-def]
    """A released lot (signature, disposition, two COA revisions after a late correction and
    its alert), labels printed, bag 1 stored, a deviation; a second subject with a lot."""
    lot = ready_lot(db, actors)
    sign(db, actors, lot)
    release.correct_result(
        release.AddResult(lot, "VIAB", "92.0 %"), "typo", db=db, actor=actors["tech"], now=NOW
    )
    world.stored_bag(db, actors["tech"], lot)
    dev = deviations.open_deviation(
        lot, "process", "door left open", db=db, actor=actors["qa"], now=NOW
    )
    world.subject(db, actors["tech"], "S-002")
    lot2 = world.lot(db, actors["tech"], "S-002").lot_number
    r = verify(db, actors["qa"])
    assert r.ok, (r.problem, r.record_problems)
    return {"lot": lot, "lot2": lot2, "dev": dev.number}


LOT_PK = "(SELECT id FROM lot WHERE lot_number = :lot)"
LOT2_PK = "(SELECT id FROM lot WHERE lot_number = :lot2)"

CASES = {
    "lot moved to another subject": (
        [
            "UPDATE lot SET subject_pk = (SELECT id FROM subject WHERE subject_id = 'S-002') "
            "WHERE lot_number = :lot"
        ],
        r'^lot {lot}: subject_pk is "S-002" but the audit trail recorded "S-001" \(event \d+\)',
    ),
    "signature user name": (
        ["UPDATE signature SET username = 'qa2'"],
        r'^signature \d+: username is "qa2" but the audit trail recorded "qa" \(event \d+\)',
    ),
    "signature printed name": (
        ["UPDATE signature SET printed_name = 'Someone Else'"],
        r'^signature \d+: printed_name is "Someone Else" but the audit trail recorded',
    ),
    "disposition reason": (
        ["UPDATE disposition SET reason = 'waived'"],
        r'^disposition \d+: reason is "waived" but the audit trail recorded "All results',
    ),
    "disposition signature link": (
        [
            "INSERT INTO signature (lot_pk, username, printed_name, meaning, signed_at, "
            "record_hash) SELECT lot_pk, username, printed_name, meaning, signed_at, "
            "'ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff' FROM signature",
            "UPDATE disposition SET signature_pk = (SELECT max(id) FROM signature)",
        ],
        r'^disposition \d+: signature_pk is "f{{64}}" but the audit trail recorded "[0-9a-f]{{64}}"',
    ),
    "count moved to another lot": (
        [f"UPDATE cellcount SET lot_pk = {LOT2_PK} WHERE id = (SELECT min(id) FROM cellcount)"],
        r'^count \d+: lot_pk is "{lot2}" but the audit trail recorded "{lot}" \(event \d+\)',
    ),
    "result moved to another lot": (
        [
            f"UPDATE releaseresult SET lot_pk = {LOT2_PK} WHERE id = (SELECT max(id) FROM "
            "releaseresult)"
        ],
        r'^result \d+: lot_pk is "{lot2}" but the audit trail recorded "{lot}"',
    ),
    "harvest moved to another lot": (
        [f"UPDATE harvest SET lot_pk = {LOT2_PK}"],
        r'^harvest \d+: lot_pk is "{lot2}" but the audit trail recorded "{lot}"',
    ),
    "deviation closed": (
        [
            "UPDATE deviation SET closed_by = 'qa', closure_note = 'nothing found' "
            "WHERE number = :dev"
        ],
        r'^deviation {dev}: closed_by is "qa" but the audit trail recorded null',
    ),
    "alerts deleted": (
        ["DELETE FROM alert"],
        r"^alert \d+: the audit trail created it \(event \d+\) but it no longer exists",
    ),
    "custody events deleted": (
        ["DELETE FROM custodyevent"],
        r"^custody event {lot}/B1 step 1: the audit trail recorded it \(event \d+\) but it "
        "no longer exists",
    ),
    "custody event re-dated": (
        ["UPDATE custodyevent SET by = 'tech2'"],
        r'^custody event \d+ \({lot}/B1 step 1\): by is "tech2" but the audit trail recorded '
        r'"tech" \(event \d+\)',
    ),
    "password hash swapped": (
        [
            "UPDATE app_user SET password_hash = (SELECT password_hash FROM app_user WHERE "
            "username = 'tech') WHERE username = 'qa2'"
        ],
        r"^user qa2: password_hash is \"[0-9a-f]{{64}}\" but the audit trail recorded",
    ),
    "dose bag volume": (
        [f"UPDATE dosebag SET volume_ml = 99 WHERE lot_pk = {LOT_PK} AND bag_no = 2"],
        r"^dose bag {lot}/B2: volume_ml is 99(\.0)? but its harvest \d+ makes it",
    ),
    "label copies": (
        ["UPDATE labelprint SET copies = 5 WHERE id = 1"],
        r"^label print 1: copies is 5 but the audit trail recorded 1 \(event \d+\)",
    ),
    "lot termination reason": (
        ["UPDATE lot SET termination_reason = 'withdrew' WHERE lot_number = :lot2"],
        r'^lot {lot2}: termination_reason is "withdrew" but the audit trail recorded null',
    ),
    "result verifier": (
        [
            "UPDATE releaseresult SET verified_at = NULL WHERE verified_at IS NOT NULL "
            "AND id = (SELECT min(id) FROM releaseresult)"
        ],
        r"^result \d+: verified_at is null but the audit trail recorded",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_tampering_is_named_with_record_field_and_event(db, actors, released, case):
    statements, pattern = CASES[case]
    for s in statements:
        sql(db, s, **{k: v for k, v in released.items() if f":{k}" in s})
    r = verify(db, actors["qa"])
    assert not r.ok and r.first_bad_seq is None, r.problem  # the chain is whole: records differ
    want = re.compile(pattern.format(**{k: re.escape(v) for k, v in released.items()}))
    assert any(want.search(p) for p in r.record_problems), r.record_problems


def test_coa_rewritten_with_the_apps_own_renderer(db, actors, released):
    """Content, its SHA-256, the PDF and its hash all rewritten consistently: the COA checks
    itself fine, but coa.issued recorded the original hashes in the keyed trail."""
    import hashlib

    from mfg import coa

    row = scalar(db, "SELECT max(id) FROM coarevision")
    content = json.loads(scalar(db, "SELECT content_json FROM coarevision WHERE id = :i", i=row))
    forged = {**content, "site": {**content["site"], "name": "Forged Facility"}}
    sha = coa.content_sha256(forged)
    pdf = coa.render(forged, sha)
    sql(
        db,
        "UPDATE coarevision SET content_json = :c, content_sha256 = :s, pdf = :p, "
        "pdf_sha256 = :ps WHERE id = :i",
        c=json.dumps(forged, sort_keys=True, ensure_ascii=False),
        s=sha,
        p=pdf,
        ps=hashlib.sha256(pdf).hexdigest(),
        i=row,
    )
    doc = scalar(db, "SELECT document_id FROM coarevision WHERE id = :i", i=row)
    problems = " | ".join(verify(db, actors["qa"]).record_problems)
    assert f'COA {doc}: content_sha256 is "{sha}" but the audit trail recorded' in problems
    assert f"COA {doc}: pdf_sha256 is" in problems


def test_coa_pdf_alone_replaced(db, actors, released):
    sql(db, "UPDATE coarevision SET pdf = :p WHERE id = 1", p=b"%PDF-1.4 forged")
    problems = verify(db, actors["qa"]).record_problems
    assert any("pdf hashes to" in p and "the issued PDF was replaced" in p for p in problems)


def test_coa_results_hash_set_to_hold_back_the_next_revision(db, actors, released):
    sql(db, "UPDATE coarevision SET results_hash = :h WHERE id = 1", h="0" * 64)
    problems = verify(db, actors["qa"]).record_problems
    assert any(
        p.startswith("COA ") and "results_hash is 0000000000000000... but its content makes it" in p
        for p in problems
    ), problems


def _site_spec(db, limit: str) -> Path:  # type: ignore[no-untyped-def]
    from mfg import specfiles

    src = specfiles.available("BH002")["1"]
    text = src.read_text(encoding="utf-8").replace("limit = 5.0", f"limit = {limit}", 1)
    assert text != src.read_text(encoding="utf-8")
    dest = db.products_dir() / src.name
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(text, encoding="utf-8")
    return dest


def test_spec_file_and_pin_changed_together(db, actors, released):
    """The endotoxin limit 5 -> 500 EU/mL in the site's product file, and the pin updated to
    match: the lots registered on version 1 recorded the original hash in the keyed trail."""
    _site_spec(db, "500.0")
    new_sha = db.product("BH002", "1").sha256
    sql(db, "UPDATE specpin SET sha256 = :s", s=new_sha)
    problems = verify(db, actors["qa"]).record_problems
    assert any(
        p.startswith("specpin BH002/1: sha256 is") and "the lots registered on it recorded" in p
        for p in problems
    ), problems


def test_spec_file_changed_alone(db, actors, released):
    _site_spec(db, "500.0")
    problems = verify(db, actors["qa"]).record_problems
    assert any(
        "the product file in use for BH002 spec version 1 has sha256" in p for p in problems
    ), problems


def test_cli_names_record_field_and_event(db, actors, released, monkeypatch, cli_clock):
    from mfg.cli import app

    monkeypatch.setenv("MFG_HOME", str(db.settings.home))
    monkeypatch.setenv("MFG_PASSWORD", PASSWORD)
    url = db.engine.url.render_as_string(hide_password=False)
    sql(
        db,
        "UPDATE lot SET subject_pk = (SELECT id FROM subject WHERE subject_id = 'S-002') "
        "WHERE lot_number = :lot",
        lot=released["lot"],
    )
    sql(db, "DELETE FROM alert")
    r = CliRunner().invoke(app, ["audit", "verify", "--user", "qa", "--db", url])
    assert r.exit_code == 1
    assert re.search(
        rf'lot {released["lot"]}: subject_pk is "S-002" but the audit trail recorded "S-001" '
        r"\(event \d+\)",
        r.stderr,
    ), r.stderr
    assert "alert 1: the audit trail created it" in r.stderr
    assert "[record-differs-from-trail]" in r.stderr


def test_the_coa_prints_the_keyed_checkpoint(db, actors, released):
    """What the COA says includes the trail's head when it was issued, keyed with the site
    key: a COA in a sponsor's hands later proves the trail then had that event."""
    import io

    from pypdf import PdfReader

    from mfg import auditkey

    content = json.loads(scalar(db, "SELECT content_json FROM coarevision WHERE revision = 2"))
    printed = content["audit_checkpoint"]
    m = re.fullmatch(
        r"audit checkpoint (\d+):([0-9a-f]{16}) \((k[0-9a-f]{11}), ([0-9a-f]{8})\)", printed
    )
    assert m, printed
    seq = int(m.group(1))
    assert scalar(db, "SELECT hash FROM auditevent WHERE seq = :s", s=seq).startswith(m.group(2))
    assert m.group(3) == db.audit_keyring().current
    pdf = scalar(db, "SELECT pdf FROM coarevision WHERE revision = 2")
    text = "".join(
        "\n".join(p.extract_text() or "" for p in PdfReader(io.BytesIO(pdf)).pages).split()
    )
    assert "".join(printed.split()) in text
    assert auditkey.key_id_of(db.audit_keyring().keys[m.group(3)]) == m.group(3)


def test_the_sponsor_report_prints_the_keyed_checkpoint(db, actors, released, tmp_path, cli_clock):
    import io

    from pypdf import PdfReader

    from mfg.cli import app

    url = db.engine.url.render_as_string(hide_password=False)
    out = tmp_path / "report.pdf"
    env = {"MFG_HOME": str(db.settings.home), "MFG_PASSWORD": PASSWORD}
    r = CliRunner().invoke(
        app,
        [
            "report",
            "success-rate",
            "--format",
            "pdf",
            "-o",
            str(out),
            "--user",
            "sponsor",
            "--db",
            url,
        ],
        env=env,
    )
    assert r.exit_code == 0, r.output
    text = " ".join(PdfReader(io.BytesIO(out.read_bytes())).pages[0].extract_text().split())
    head = scalar(db, "SELECT max(seq) FROM auditevent")
    assert re.search(
        rf"audit checkpoint {head}:[0-9a-f]{{16}} \(k[0-9a-f]{{11}}, [0-9a-f]{{8}}\)", text
    ), text


@pytest.mark.parametrize(
    "statement",
    [
        "DELETE FROM specpin",
        "UPDATE specpin SET product_code = product_code || 'X'",
        "UPDATE specpin SET spec_version = spec_version || 'X'",
    ],
)
def test_spec_pin_deleted_or_rekeyed_with_the_file_changed(db, actors, released, statement):
    """The pin gone (or moved to another key) turned the guard off: the product file changed
    (endotoxin 5 -> 500 EU/mL) then verified clean, nothing compared it any more."""
    _site_spec(db, "500.0")
    sql(db, statement)
    problems = verify(db, actors["qa"]).record_problems
    assert any(
        p.startswith("specpin BH002/1: lots recorded it (event ")
        and "no longer exists" in p
        and "the product file in use has sha256" in p
        for p in problems
    ), problems
