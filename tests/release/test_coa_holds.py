"""A held lot never prints a clean-looking COA (issue 10): placing, lifting a hold and signing an
OOS administration re-issue the certificate, which then states the hold (why, who, when) or the
exception (physician, reason, QA signer, time) on its first page and in every page header; a
hold that arose without a re-issue (a corrected body weight) is re-issued at print. Read back
from the PDF, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import col, select

from mfg.services import holds, release, subjects
from mfg.services.lots import get_lot_row
from mfg.store.tables import Alert, AuditEvent
from tests.release.conftest import PASSING, enter, harvested, sign
from tests.release.test_coa_pdf import pdf_text, squash
from tests.support.constants import NOW, PASSWORD

LATER = NOW + timedelta(days=2)
LATEST = NOW + timedelta(days=3)


def released(db, actors, decision: str = "release") -> str:  # type: ignore[no-untyped-def]
    lot = harvested(db, actors)
    values = PASSING if decision == "release" else {**PASSING, "STER": "pending"}
    enter(db, actors, lot, values)
    sign(db, actors, lot, decision, reason="meets specification v1")
    return lot


def print_coa(db, actors, lot: str, **kw) -> release.CoaIssue:  # type: ignore[no-untyped-def]
    return release.issue_coa(lot, destination="test", db=db, actor=actors["qa"], now=LATEST, **kw)


def actions(db) -> list[str]:  # type: ignore[no-untyped-def]
    with db.read() as s:
        return list(s.exec(select(AuditEvent.action).order_by(col(AuditEvent.seq))).all())


def test_a_manual_hold_reissues_the_coa_which_states_it(db, actors):
    qa = actors["qa"]
    lot = released(db, actors)
    clean = print_coa(db, actors, lot)
    assert "HOLD" not in pdf_text(clean.pdf) and clean.hold == ""
    holds.place_hold(lot, "LN2-01 <b>excursion</b> & [bold]", PASSWORD, db=db, actor=qa, now=LATER)

    held = print_coa(db, actors, lot)
    assert held.revision.revision == clean.revision.revision + 1
    assert held.revision.reason.startswith("QA hold placed: ")
    text = squash(pdf_text(held.pdf))
    for expected in (
        "ONHOLD:DONOTISSUE,THAWORINFUSETHISPRODUCT",  # the notice before section 1
        "ONHOLD-DONOTISSUE,THAWORINFUSE",  # every page's header, instead of RELEASED
        squash(f"QA hold placed by {qa.full_name} (qa) at 2026-11-27 09:30 UTC"),
        "LN2-01<b>excursion</b>&[bold]",  # the reason as typed, markup inert
    ):
        assert expected in text, expected
    assert held.hold.startswith("this COA states the lot is ON HOLD: QA hold: LN2-01")
    # the clean revision printed before is no longer the current one
    check = release.verify_pdf(clean.pdf, db=db, actor=qa)
    assert not check.ok and not check.current

    holds.lift_hold(lot, "temperature log reviewed", PASSWORD, db=db, actor=qa, now=LATEST)
    lifted = print_coa(db, actors, lot)
    assert lifted.revision.revision == held.revision.revision + 1 and lifted.hold == ""
    text = squash(pdf_text(lifted.pdf))
    assert "ONHOLD" not in text and "RELEASED" in text
    assert "QAhold1lifted:temperaturelogreviewed" in text  # in the revision history
    assert actions(db).count("coa.issued") == 3


def test_an_automatic_hold_and_the_oos_administration_are_on_the_coa(db, actors):
    tech, qa = actors["tech"], actors["qa"]
    lot = released(db, actors, "conditional-release")
    release.add_result(release.AddResult(lot, "STER", "Growth"), db=db, actor=tech, now=LATER)
    held = squash(pdf_text(print_coa(db, actors, lot).pdf))
    assert "ONHOLD:DONOTISSUE" in held
    assert "result-failedsince2026-11-27" in held and "STERfailedaftertherelease" in held

    holds.administer_oos(
        lot, "Dr. A. Chen", "no alternative therapy", PASSWORD, db=db, actor=qa, now=LATEST
    )
    issue = print_coa(db, actors, lot)
    assert issue.revision.reason == "OOS administration approved (physician Dr. A. Chen)"
    text = squash(pdf_text(issue.pdf))
    assert "ONHOLD:DONOTISSUE" not in text
    for expected in (
        "OOS-ADMINISTRATIONBYEXCEPTION",  # header
        "OUT-OF-SPECIFICATIONPRODUCT:ADMINISTRATIONAPPROVEDBYQAASANEXCEPTION",
        "treatingphysicianDr.A.Chen",
        "Reason:noalternativetherapy",
        squash(f"Approved (e-signed) by {qa.full_name} (qa) at 2026-11-28 09:30 UTC"),
        "STERfailedaftertherelease",  # what it covers
        "thelotremainsamanufacturingfailure",
    ):
        assert expected in text, expected
    assert f"out-of-specification administration approved by {qa.full_name}" in issue.hold


def test_a_hold_no_writer_reissued_for_is_reissued_at_print(db, actors):
    """The net under every writer: an alert raised by a write that did not re-issue the COA
    (simulated: the row added by hand, audited) is on the next COA printed."""
    lot = released(db, actors)
    before = print_coa(db, actors, lot)
    with db.write(actors["tech"], LATER) as tx:
        row = get_lot_row(tx.session, lot)
        tx.session.add(
            Alert(lot_pk=row.id, kind="test", message="bag 2 dropped", raised_at=LATER,
                  raised_by="tech")
        )  # fmt: skip
        tx.audit("alert.raised", "alert", 0, lot_number=lot, new={"kind": "test"})
        tx.commit()
    after = print_coa(db, actors, lot)
    assert after.revision.revision == before.revision.revision + 1
    assert after.revision.reason == "the lot changed since revision 1 (found at print)"
    text = squash(pdf_text(after.pdf))
    assert "ONHOLD:DONOTISSUE" in text and "openalert:bag2dropped" in text
    assert actions(db)[-3:] == ["coa.issued", "coa.rendered", "coa.printed"]
    # printing an earlier revision on purpose does not re-issue
    old = print_coa(db, actors, lot, revision=1)
    assert old.revision.revision == 1 and not old.revision.current


def test_a_corrected_weight_is_on_the_next_coa_printed(db, actors):
    lot = released(db, actors)
    print_coa(db, actors, lot)
    subjects.update_weight(
        "S-001", 70.0, LATER.date(), "re-weighed", db=db, actor=actors["tech"], now=LATER
    )
    after = print_coa(db, actors, lot)
    assert after.revision.revision == 2 and "found at print" in after.revision.reason
    assert "70kg" in squash(pdf_text(after.pdf))


def test_a_lot_never_held_keeps_its_content_and_revision(db, actors):
    lot = released(db, actors)
    first = print_coa(db, actors, lot)
    again = print_coa(db, actors, lot)
    assert again.revision.revision == first.revision.revision == 1
    assert "holds" not in release.content_of(lot, None, db=db, actor=actors["qa"])


def test_mfg_coa_says_hold_on_the_terminal_with_the_reason_as_typed(
    db, actors, tmp_path, cli_clock
):
    from tests.release.test_release_cli import ok, run
    from tests.support import world

    now = cli_clock  # the lot is made "today" on the CLI's (fixed) clock
    lot = world.harvested_lot(db, actors["tech"], now=now)[0].lot_number
    enter(db, actors, lot, PASSING, now=now)
    sign(db, actors, lot, reason="meets specification v1", now=now)
    reason = "[bold]LN2-01[/bold] :skull: <b>alarm</b>"
    holds.place_hold(lot, reason, PASSWORD, db=db, actor=actors["qa"], now=now)
    r = ok(run(db, ["coa", lot, "-o", str(tmp_path / "coa.pdf")], "qa"))
    assert f"this COA states the lot is ON HOLD: QA hold: {reason}" in r.stdout
    assert "ONHOLD-DONOTISSUE" in squash(pdf_text((tmp_path / "coa.pdf").read_bytes()))
