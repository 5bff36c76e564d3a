"""Release testing, verification, disposition and COA revisions through the services, on SQLite and
PostgreSQL. Every refusal is checked for its rule AND that nothing was written."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from mfg.errors import AuthenticationFailed, NotPermitted, RuleViolation
from mfg.services import audit_trail, lots, release
from mfg.services.uow import Actor, Database
from mfg.store.tables import (
    Alert,
    AuditEvent,
    CoaRevision,
    Deviation,
    Disposition,
    Lot,
    ReleaseResult,
    Signature,
)
from tests.release.conftest import MAY_BE_PENDING, PASSING, enter, harvested, n_rows, sign
from tests.support import world
from tests.support.constants import NOW, TODAY
from tests.support.refusals import assert_refused

TABLES = (ReleaseResult, Deviation, Signature, Disposition, CoaRevision, Alert, AuditEvent)


def snapshot(db: Database, lot: str) -> tuple[object, ...]:
    """The lot's state and the release tables' row counts (the audit trail last)."""
    with db.read() as s:
        state = s.exec(select(Lot.state).where(Lot.lot_number == lot)).one()
    return (state, *(n_rows(db, t) for t in TABLES))


def refused(database: Database, lot: str, exc: type, rule: str, fn, /, *a, **kw) -> Exception:  # type: ignore[no-untyped-def]
    """Call ``fn``: it must raise ``exc`` with ``rule`` and write nothing at all."""
    del lot  # every table is compared, the lot's row included
    return assert_refused(database, lambda: fn(*a, **kw), rule, kind=exc)


def add(db: Database, actor: Actor, lot: str, code: str, value: str, **kw) -> release.ResultView:  # type: ignore[no-untyped-def]
    return release.add_result(
        release.AddResult(lot, code, value, **kw), db=db, actor=actor, now=NOW
    )


def state(db: Database, actor: Actor, lot: str) -> str:
    return lots.show_lot(lot, db=db, actor=actor).state


# --- the whole path ---------------------------------------------------------------------------


def test_whole_path_harvest_results_verification_release_coa(db, actors):
    lot = harvested(db, actors)
    assert state(db, actors["qa"], lot) == "harvested"
    v = add(db, actors["tech"], lot, "viab", "91.2 %", method_ref="SOP-QC-003")
    assert (v.test_code, v.evaluation, v.value_num, v.unit, v.verified) == (
        "VIAB",
        "pass",
        91.2,
        "%",
        False,
    )
    assert state(db, actors["qa"], lot) == "in_release_testing"  # the first result moves it
    release.verify_result(lot, "VIAB", db=db, actor=actors["tech2"], now=NOW)
    enter(db, actors, lot, {k: v for k, v in PASSING.items() if k != "VIAB"})
    review = release.review(lot, db=db, actor=actors["qa"])
    assert review.blockers["release"] == ()
    assert review.oos == () and review.unverified == () and review.pending == ()
    assert review.dose.met
    sig = sign(db, actors, lot)
    assert (sig.printed_name, sig.meaning, sig.signed_at, sig.valid) == (
        "Quinn Quality",
        "released",
        NOW,
        True,
    )
    assert len(sig.record_hash) == 64
    assert state(db, actors["qa"], lot) == "released"
    revs = release.revisions(lot, db=db, actor=actors["qa"])
    assert [(r.revision, r.current) for r in revs] == [(1, True)]
    issue = release.issue_coa(lot, destination="test", db=db, actor=actors["qa"], now=NOW)
    assert issue.pdf.startswith(b"%PDF") and issue.revision.revision == 1
    actions = [e.action for e in audit_trail.audit_log(db=db, actor=actors["qa"], lot_number=lot)]
    for a in ("result.added", "result.verified", "lot.disposition", "coa.issued", "coa.printed"):
        assert a in actions
    assert actions.count("result.added") == 12 and actions.count("result.verified") == 12


# --- entering results -------------------------------------------------------------------------


def test_result_refusals_write_nothing(db, actors):
    lot = harvested(db, actors)
    add(db, actors["tech"], lot, "VIAB", "91")
    t = actors["tech"]
    A = release.AddResult
    cases = [
        (RuleViolation, "unknown-test-code", A(lot, "NOPE", "1")),
        (RuleViolation, "dose-from-harvest", A(lot, "DOSE", "1e9")),
        (RuleViolation, "not-an-allowed-value", A(lot, "STER", "5")),
        (RuleViolation, "result-format", A(lot, "CD3", "No growth")),
        (RuleViolation, "wrong-unit", A(lot, "ENDO", "0.2 pg/mL")),
        (RuleViolation, "censored-undecidable", A(lot, "ENDO", "<10")),
        (RuleViolation, "result-exists", A(lot, "VIAB", "92")),
        (RuleViolation, "date-in-future", A(lot, "CD3", "95", TODAY + timedelta(days=1))),
        (RuleViolation, "tested-before-harvest", A(lot, "CD3", "95", TODAY - timedelta(days=3))),
    ]
    for exc, rule, cmd in cases:
        refused(db, lot, exc, rule, release.add_result, cmd, db=db, actor=t, now=NOW)
    for who in ("sponsor", "admin"):
        refused(
            db, lot, NotPermitted, "not-permitted", release.add_result, A(lot, "CD3", "95"),
            db=db, actor=actors[who], now=NOW,
        )  # fmt: skip


def test_unknown_code_error_lists_the_codes_of_the_spec(db, actors):
    lot = harvested(db, actors)
    with pytest.raises(RuleViolation) as e:
        add(db, actors["tech"], lot, "XYZ", "1")
    assert e.value.field == "test_code" and "VIAB" in e.value.message and "STER" in e.value.message


def test_result_for_a_lot_not_yet_harvested_is_refused(db, actors):
    world.subject(db, actors["tech"])
    lv = world.lot(db, actors["tech"])
    refused(
        db, lv.lot_number, RuleViolation, "lot-not-harvested", add, db, actors["tech"],
        lv.lot_number, "VIAB", "91",
    )  # fmt: skip
    world.expand(db, actors["tech"], lv.lot_number)
    refused(
        db, lv.lot_number, RuleViolation, "lot-not-harvested", add, db, actors["tech"],
        lv.lot_number, "VIAB", "91",
    )  # fmt: skip


def test_failing_result_opens_an_oos_deviation_numbered_per_year(db, actors):
    lot = harvested(db, actors)
    v = add(db, actors["tech"], lot, "ENDO", "7.5")
    assert v.evaluation == "fail" and v.deviation_number == "DEV-2026-0001"
    v2 = add(db, actors["tech"], lot, "STER", "growth")
    assert v2.deviation_number == "DEV-2026-0002" and v2.display == "Growth"
    devs = release.list_deviations(db=db, actor=actors["qa"], lot_number=lot, open_only=True)
    assert [(d.number, d.kind, d.test_code) for d in devs] == [
        ("DEV-2026-0001", "OOS", "ENDO"),
        ("DEV-2026-0002", "OOS", "STER"),
    ]
    assert "7.5 EU/mL" in devs[0].description and "< 5.0 EU/mL" in devs[0].description
    add(db, actors["tech"], lot, "VIAB", "91")  # a passing result opens nothing
    assert n_rows(db, Deviation) == 2


def test_pending_then_the_result_supersedes_the_pending_row(db, actors):
    lot = harvested(db, actors)
    p = add(db, actors["tech"], lot, "STER", "pending")
    assert (p.status, p.evaluation, p.display) == ("pending", "pending", "Pending")
    refused(
        db, lot, RuleViolation, "nothing-to-verify", release.verify_result, lot, "STER",
        db=db, actor=actors["tech2"], now=NOW,
    )  # fmt: skip
    refused(
        db, lot, RuleViolation, "already-pending", add, db, actors["tech"], lot, "STER", "Pending"
    )
    v = add(db, actors["tech"], lot, "STER", "No growth")
    assert v.status == "final" and not v.corrected and [h.display for h in v.history] == ["Pending"]


# --- verification and correction --------------------------------------------------------------


def test_verification_needs_a_second_person(db, actors):
    lot = harvested(db, actors)
    add(db, actors["tech"], lot, "VIAB", "91")
    e = refused(
        db, lot, NotPermitted, "verify-own-result", release.verify_result, lot, "VIAB",
        db=db, actor=actors["tech"], now=NOW,
    )  # fmt: skip
    assert "different person" in str(e)
    refused(
        db, lot, NotPermitted, "not-permitted", release.verify_result, lot, "VIAB",
        db=db, actor=actors["sponsor"], now=NOW,
    )  # fmt: skip
    refused(
        db, lot, RuleViolation, "no-result", release.verify_result, lot, "CD3",
        db=db, actor=actors["tech2"], now=NOW,
    )  # fmt: skip
    v = release.verify_result(lot, "VIAB", db=db, actor=actors["qa"], now=NOW)  # QA may verify
    assert v.verified_by == "qa" and v.verified_at == NOW
    refused(
        db, lot, RuleViolation, "already-verified", release.verify_result, lot, "VIAB",
        db=db, actor=actors["tech2"], now=NOW,
    )  # fmt: skip


def test_correction_supersedes_keeps_the_old_value_and_needs_verification_again(db, actors):
    lot = harvested(db, actors)
    enter(db, actors, lot, {"VIAB": "81"})
    C = release.AddResult
    refused(
        db, lot, RuleViolation, "reason-required", release.correct_result, C(lot, "VIAB", "85"),
        " ", db=db, actor=actors["tech"], now=NOW,
    )  # fmt: skip
    refused(
        db, lot, RuleViolation, "no-change", release.correct_result, C(lot, "VIAB", "81"),
        "typo", db=db, actor=actors["tech"], now=NOW,
    )  # fmt: skip
    refused(
        db, lot, RuleViolation, "no-result", release.correct_result, C(lot, "CD3", "85"),
        "typo", db=db, actor=actors["tech"], now=NOW,
    )  # fmt: skip
    v = release.correct_result(
        C(lot, "VIAB", "88.5"), "transcription error", db=db, actor=actors["tech2"], now=NOW
    )
    assert (v.display, v.verified, v.corrected, v.original_display) == (
        "88.5 %",
        False,
        True,
        "81 %",
    )
    assert v.correction_reason == "transcription error"
    assert [(h.display, h.verified_by) for h in v.history] == [("81 %", "tech2")]
    with db.read() as s:
        rows = s.exec(select(ReleaseResult).where(ReleaseResult.test_code == "VIAB")).all()
    assert len(rows) == 2  # nothing deleted
    log = audit_trail.audit_log(db=db, actor=actors["qa"], lot_number=lot)
    ev = next(e for e in log if e.action == "result.corrected")
    assert ev.reason == "transcription error"
    # tech2 corrected it, so tech2 cannot verify it; tech can
    refused(
        db, lot, NotPermitted, "verify-own-result", release.verify_result, lot, "VIAB",
        db=db, actor=actors["tech2"], now=NOW,
    )  # fmt: skip
    assert release.verify_result(lot, "VIAB", db=db, actor=actors["tech"], now=NOW).verified


def test_correction_into_failure_opens_a_deviation(db, actors):
    lot = harvested(db, actors)
    enter(db, actors, lot, {"VIAB": "81"})
    v = release.correct_result(
        release.AddResult(lot, "VIAB", "65"), "recount", db=db, actor=actors["tech"], now=NOW
    )
    assert v.evaluation == "fail" and v.deviation_number == "DEV-2026-0001"


# --- review by exception ----------------------------------------------------------------------


def test_review_by_exception_lists_what_qa_must_look_at(db, actors):
    earlier = NOW - timedelta(days=3)
    lv, hv = world.harvested_lot(db, actors["tech"], now=earlier)
    lot = lv.lot_number
    # tested two days before it is entered: a late entry
    add(db, actors["tech"], lot, "ENDO", "9", tested_on=hv.harvested_on + timedelta(days=1))
    enter(db, actors, lot, {"VIAB": "81", "CD3": "90"})
    release.correct_result(
        release.AddResult(lot, "CD3", "91"), "wrong gate", db=db, actor=actors["tech"], now=NOW
    )
    add(db, actors["tech"], lot, "STER", "pending")
    r = release.review(lot, db=db, actor=actors["qa"])
    assert [x.test_code for x in r.oos] == ["ENDO"]
    assert [(c.ref, c.old, c.new, c.reason) for c in r.corrections] == [
        ("CD3", "90 %", "91 %", "wrong gate")
    ]
    late = {(e.what, e.ref) for e in r.late_entries}
    assert ("result", "ENDO") in late and ("result", "VIAB") not in late
    assert any(w == "count" for w, _ in late)  # counts recorded after their day by world.expand
    assert [d.number for d in r.open_deviations] == ["DEV-2026-0001"]
    assert {x.test_code for x in r.unverified} == {"ENDO", "CD3"}
    pending = {x.test_code: x.status for x in r.pending}
    assert pending["STER"] == "pending" and pending["APPEAR"] == "not entered"
    rules = {b.rule for b in r.blockers["release"]}
    assert {"result-not-final", "result-unverified", "result-oos"} <= rules
    assert r.blockers["reject"] == ()
    assert r.exception_count >= 6


# --- disposition ------------------------------------------------------------------------------


def test_release_rules_refuse_and_write_nothing(db, actors):
    lot = harvested(db, actors)
    enter(db, actors, lot, {k: v for k, v in PASSING.items() if k != "CD3"})
    refused(db, lot, RuleViolation, "result-not-final", sign, db, actors, lot)
    add(db, actors["tech"], lot, "CD3", "95")  # entered, not verified
    refused(db, lot, RuleViolation, "result-unverified", sign, db, actors, lot)
    release.verify_result(lot, "CD3", db=db, actor=actors["tech2"], now=NOW)
    refused(db, lot, NotPermitted, "not-permitted", sign, db, actors, lot, by="tech")
    refused(db, lot, NotPermitted, "not-permitted", sign, db, actors, lot, by="sponsor")
    refused(db, lot, NotPermitted, "not-permitted", sign, db, actors, lot, by="admin")
    refused(db, lot, RuleViolation, "reason-required", sign, db, actors, lot, reason=" ")
    refused(db, lot, RuleViolation, "unknown-decision", sign, db, actors, lot, "approve")
    refused(db, lot, RuleViolation, "nothing-pending", sign, db, actors, lot, "conditional-release")
    refused(
        db, lot, RuleViolation, "no-exception-needed", sign, db, actors, lot, exception=True,
        deviations=("DEV-2026-0001",),
    )  # fmt: skip
    # a wrong password signs nothing; only the failed attempt is audited (lock-out counting)
    before = snapshot(db, lot)
    with pytest.raises(AuthenticationFailed):
        sign(db, actors, lot, password="wrong")
    after = snapshot(db, lot)
    assert after[:-1] == before[:-1] and after[-1] == before[-1] + 1
    last = audit_trail.audit_log(db=db, actor=actors["admin"])[-1]
    assert (last.action, last.username) == ("user.login_failed", "qa")
    sign(db, actors, lot)
    assert state(db, actors["qa"], lot) == "released"
    refused(db, lot, RuleViolation, "illegal-transition", sign, db, actors, lot, "reject", by="qa2")


def test_nobody_signs_a_lot_whose_results_they_entered_or_verified(db, actors):
    lot = harvested(db, actors)
    enter(db, actors, lot, {k: v for k, v in PASSING.items() if k != "VIAB"})
    enter(db, actors, lot, {"VIAB": "91"}, by="tech", verify_by="qa")  # qa verified one result
    e = refused(db, lot, NotPermitted, "signer-entered-or-verified", sign, db, actors, lot)
    assert "another QA person" in str(e)
    refused(db, lot, NotPermitted, "signer-entered-or-verified", sign, db, actors, lot, "reject")
    lot2 = harvested(db, actors, "S-002")
    enter(db, actors, lot2, {"VIAB": "91"}, by="qa2", verify_by="tech")  # qa2 entered one
    refused(
        db,
        lot2,
        NotPermitted,
        "signer-entered-or-verified",
        sign,
        db,
        actors,
        lot2,
        "reject",
        by="qa2",
    )
    assert sign(db, actors, lot, by="qa2").meaning == "released"


def test_conditional_release_only_with_may_be_pending_tests_pending(db, actors):
    lot = harvested(db, actors)
    values = dict(PASSING)
    values["STER"] = "pending"
    values["POT"] = "pending"  # potency may not be pending in spec v1
    enter(db, actors, lot, values)
    e = refused(
        db, lot, RuleViolation, "pending-not-allowed", sign, db, actors, lot, "conditional-release"
    )
    assert "POT" in str(e) and "STER" not in str(e).split("pending at")[1]
    refused(db, lot, RuleViolation, "result-not-final", sign, db, actors, lot, "release")
    add(db, actors["tech"], lot, "POT", "250")
    release.verify_result(lot, "POT", db=db, actor=actors["tech2"], now=NOW)
    sig = sign(db, actors, lot, "conditional-release", reason="sterility read-out on day 14")
    assert sig.meaning == "conditionally released" and sig.pending_tests == ("STER",)
    assert state(db, actors["qa"], lot) == "conditionally_released"


def test_oos_lot_is_released_only_as_an_exception_citing_its_deviations(db, actors):
    lot = harvested(db, actors)
    enter(db, actors, lot, {**PASSING, "ENDO": "6.1", "BEADS": "150"})
    refused(db, lot, RuleViolation, "result-oos", sign, db, actors, lot)
    refused(
        db,
        lot,
        RuleViolation,
        "exception-must-cite-deviation",
        sign,
        db,
        actors,
        lot,
        exception=True,
    )
    refused(
        db, lot, RuleViolation, "deviation-without-exception", sign, db, actors, lot,
        deviations=("DEV-2026-0001",),
    )  # fmt: skip
    refused(
        db, lot, RuleViolation, "deviation-not-cited", sign, db, actors, lot, exception=True,
        deviations=("DEV-2026-0001",),
    )  # fmt: skip
    refused(
        db, lot, RuleViolation, "unknown-deviation", sign, db, actors, lot, exception=True,
        deviations=("DEV-2026-0001", "DEV-2026-0002", "DEV-2026-0099"),
    )  # fmt: skip
    refused(
        db, lot, RuleViolation, "exception-only-for-release", sign, db, actors, lot, "reject",
        exception=True, deviations=("DEV-2026-0001",),
    )  # fmt: skip
    sig = sign(
        db, actors, lot, exception=True, deviations=("dev-2026-0001", "DEV-2026-0002"),
        reason="compassionate release, no alternative therapy; sponsor informed",
    )  # fmt: skip
    assert sig.exception and sig.deviation_numbers == ("DEV-2026-0001", "DEV-2026-0002")
    assert state(db, actors["qa"], lot) == "released"


def test_dose_not_met_blocks_release_unless_exception(db, actors):
    lot = harvested(db, actors, total_viable=3.0e8, car_pct=20.0)  # 6e7 < 1.25e8
    enter(db, actors, lot, PASSING)
    refused(db, lot, RuleViolation, "dose-not-met", sign, db, actors, lot)
    d = release.open_deviation(lot, "dose", "dose not reached", db=db, actor=actors["qa"], now=NOW)
    sig = sign(db, actors, lot, exception=True, deviations=(d.number,), reason="single dose")
    assert sig.exception


def test_reject_needs_only_a_reason_and_a_signature(db, actors):
    lot = harvested(db, actors)
    enter(db, actors, lot, {"STER": "Growth"})
    sig = sign(db, actors, lot, "reject", reason="sterility failure DEV-2026-0001")
    assert sig.meaning == "rejected" and state(db, actors["qa"], lot) == "rejected"
    refused(db, lot, RuleViolation, "lot-closed", add, db, actors["tech"], lot, "VIAB", "91")


def test_signature_breaks_when_a_signed_result_changes_later(db, actors):
    lot = harvested(db, actors)
    enter(db, actors, lot, PASSING)
    sign(db, actors, lot)
    release.correct_result(
        release.AddResult(lot, "VIAB", "90.5"), "re-read of printout", db=db, actor=actors["tech"],
        now=NOW,
    )  # fmt: skip
    (sig,) = release.signatures(lot, db=db, actor=actors["qa"])
    assert not sig.valid
    with db.read() as s:
        assert not release.signature_valid(s, s.exec(select(Signature)).one())
    alerts = lots.show_lot(lot, db=db, actor=actors["qa"]).alerts
    assert any("signature no longer matches" in a for a in alerts)
    revs = release.revisions(lot, db=db, actor=actors["qa"])
    assert [r.revision for r in revs] == [1, 2] and revs[1].current
    content = release.content_of(lot, None, db=db, actor=actors["qa"])
    assert content["signatures"][0]["valid"] is False


def test_harvest_is_locked_once_signed(db, actors):
    """The signature binds the harvest too; after disposition the harvest cannot change."""
    from mfg.services import harvest

    lot = harvested(db, actors)
    enter(db, actors, lot, {**PASSING, "STER": "pending"})
    sign(db, actors, lot, "conditional-release", reason="sterility pending")
    with pytest.raises(RuleViolation) as e:
        harvest.correct_harvest(
            harvest.RecordHarvest(lot, TODAY, 3_100_000_000, 30.0), "recount",
            db=db, actor=actors["tech"], now=NOW,
        )  # fmt: skip
    assert e.value.rule == "harvest-locked"
    (sig,) = release.signatures(lot, db=db, actor=actors["qa"])
    assert sig.valid


def test_late_results_after_conditional_release(db, actors):
    lot = harvested(db, actors)
    enter(db, actors, lot, {**PASSING, "STER": "pending", "RCL": "pending"})
    sign(db, actors, lot, "conditional-release", reason="sterility and RCL pending")
    assert [r.revision for r in release.revisions(lot, db=db, actor=actors["qa"])] == [1]
    later = NOW + timedelta(days=14)
    v = release.add_result(
        release.AddResult(lot, "RCL", "not detected"), db=db, actor=actors["tech"], now=later
    )
    assert v.after_disposition and v.evaluation == "pass"
    release.verify_result(lot, "RCL", db=db, actor=actors["tech2"], now=later)
    revs = release.revisions(lot, db=db, actor=actors["qa"])
    assert [r.revision for r in revs] == [1, 2, 3] and "RCL" in revs[1].reason
    (sig,) = release.signatures(lot, db=db, actor=actors["qa"])
    assert sig.valid  # a pending test completed is not a change of what was signed
    assert lots.show_lot(lot, db=db, actor=actors["qa"]).alerts == ()
    # a failing late result: OOS deviation + alert on the lot + audit event
    v = release.add_result(
        release.AddResult(lot, "STER", "Growth"), db=db, actor=actors["tech"], now=later
    )
    assert v.evaluation == "fail" and v.deviation_number
    alerts = lots.show_lot(lot, db=db, actor=actors["qa"]).alerts
    assert len(alerts) == 1 and "STER" in alerts[0] and "treating site" in alerts[0]
    actions = [e.action for e in audit_trail.audit_log(db=db, actor=actors["qa"], lot_number=lot)]
    assert "alert.raised" in actions
    assert len(release.revisions(lot, db=db, actor=actors["qa"])) == 4
    release.verify_result(lot, "STER", db=db, actor=actors["tech2"], now=later)
    assert len(release.revisions(lot, db=db, actor=actors["qa"])) == 5
    # QA acknowledges (site notified): gone from the lot, kept on the COA and in the trail
    refused(
        db, lot, NotPermitted, "not-permitted", release.acknowledge_alerts, lot, "x",
        db=db, actor=actors["tech"], now=later,
    )  # fmt: skip
    refused(
        db, lot, RuleViolation, "note-required", release.acknowledge_alerts, lot, " ",
        db=db, actor=actors["qa"], now=later,
    )  # fmt: skip
    assert (
        release.acknowledge_alerts(lot, "site notified", db=db, actor=actors["qa"], now=later) == 1
    )
    assert lots.show_lot(lot, db=db, actor=actors["qa"]).alerts == ()
    (alert,) = release.content_of(lot, None, db=db, actor=actors["qa"])["alerts"]
    assert "STER" in alert and "acknowledged by qa" in alert
    refused(
        db, lot, RuleViolation, "no-open-alerts", release.acknowledge_alerts, lot, "again",
        db=db, actor=actors["qa"], now=later,
    )  # fmt: skip
    # QA completes the disposition: release refused (OOS), reject allowed
    refused(db, lot, RuleViolation, "result-oos", sign, db, actors, lot, now=later)
    sign(db, actors, lot, "reject", reason="sterility growth", now=later)
    assert state(db, actors["qa"], lot) == "rejected"
    sigs = release.signatures(lot, db=db, actor=actors["qa"])
    assert [s.meaning for s in sigs] == ["conditionally released", "rejected"]
    assert all(s.valid for s in sigs)


def test_conditional_release_completed_by_release_when_pending_results_pass(db, actors):
    lot = harvested(db, actors)
    enter(db, actors, lot, {**PASSING, "STER": "pending"})
    sign(db, actors, lot, "conditional-release", reason="sterility pending")
    enter(db, actors, lot, {"STER": "No growth"})
    sig = sign(db, actors, lot, "release", reason="sterility no growth at day 14", by="qa2")
    assert sig.meaning == "released" and state(db, actors["qa"], lot) == "released"
    content = release.content_of(lot, None, db=db, actor=actors["qa"])
    assert content["disposition"]["decision"] == "released"
    assert [s["meaning"] for s in content["signatures"]] == ["conditionally released", "released"]


# --- deviations -------------------------------------------------------------------------------


def test_deviation_close_by_qa_only_with_a_note(db, actors):
    lot = harvested(db, actors)
    add(db, actors["tech"], lot, "ENDO", "9")
    refused(
        db, lot, NotPermitted, "not-permitted", release.close_deviation, "DEV-2026-0001", "x",
        db=db, actor=actors["tech"], now=NOW,
    )  # fmt: skip
    refused(
        db, lot, RuleViolation, "note-required", release.close_deviation, "DEV-2026-0001", "",
        db=db, actor=actors["qa"], now=NOW,
    )  # fmt: skip
    refused(
        db, lot, RuleViolation, "unknown-classification", release.close_deviation,
        "DEV-2026-0001", "ok", classification="huge", db=db, actor=actors["qa"], now=NOW,
    )  # fmt: skip
    d = release.close_deviation(
        "dev-2026-0001", "lab error, CAPA-7", classification="minor", db=db, actor=actors["qa"],
        now=NOW,
    )  # fmt: skip
    assert (d.is_open, d.closed_by, d.classification) == (False, "qa", "minor")
    refused(
        db, lot, RuleViolation, "already-closed", release.close_deviation, "DEV-2026-0001", "x",
        db=db, actor=actors["qa"], now=NOW,
    )  # fmt: skip
    assert release.list_deviations(db=db, actor=actors["qa"], open_only=True) == []


def test_coa_before_disposition_is_refused(db, actors):
    lot = harvested(db, actors)
    enter(db, actors, lot, {"VIAB": "91"})
    refused(
        db, lot, RuleViolation, "coa-before-disposition", release.issue_coa, lot,
        destination="x", db=db, actor=actors["qa"], now=NOW,
    )  # fmt: skip
    sign(db, actors, lot, "reject", reason="test")
    refused(
        db, lot, RuleViolation, "unknown-revision", release.issue_coa, lot, revision=5,
        destination="x", db=db, actor=actors["qa"], now=NOW,
    )  # fmt: skip
    refused(
        db, lot, NotPermitted, "not-permitted", release.issue_coa, lot,
        destination="x", db=db, actor=actors["tech"], now=NOW,
    )  # fmt: skip


def test_may_be_pending_tests_of_the_spec(db, actors):
    from mfg.specfiles import load_product

    p = load_product("BH002", "1")
    assert tuple(t.code for t in p.tests if t.may_be_pending) == MAY_BE_PENDING


# --- specification versions -------------------------------------------------------------------


def test_results_use_the_pinned_spec_version_and_a_changed_file_is_refused(db, actors):
    from mfg.specfiles import PACKAGED_DIR

    lot_v1 = harvested(db, actors)
    products = db.products_dir()
    products.mkdir(parents=True, exist_ok=True)
    v1_text = (PACKAGED_DIR / "BH002-v1.toml").read_text(encoding="utf-8")
    viab_v1 = 'operator = ">="\nlimit = 70.0\nunit = "%"'
    assert viab_v1 in v1_text
    v2_text = v1_text.replace('spec_version = "1"', 'spec_version = "2"').replace(
        viab_v1, 'operator = ">="\nlimit = 75.0\nunit = "%"'
    )
    (products / "BH002-v2.toml").write_text(v2_text, encoding="utf-8")
    lot_v2 = harvested(db, actors, "S-002")  # new lots take the newest version
    assert lots.show_lot(lot_v1, db=db, actor=actors["qa"]).spec_version == "1"
    assert lots.show_lot(lot_v2, db=db, actor=actors["qa"]).spec_version == "2"
    assert add(db, actors["tech"], lot_v1, "VIAB", "72").evaluation == "pass"  # >= 70.0 %
    v = add(db, actors["tech"], lot_v2, "VIAB", "72")
    assert v.evaluation == "fail" and v.acceptance == ">= 75.0 %"
    # a site edits version 1 in place while lots use it: refused, nothing written
    (products / "BH002-v1.toml").write_text(v1_text.replace("limit = 80.0", "limit = 60.0"))
    e = refused(
        db,
        lot_v1,
        RuleViolation,
        "spec-version-changed",
        add,
        db,
        actors["tech"],
        lot_v1,
        "CD3",
        "70",
    )
    assert "must be a new version file" in str(e)


def test_two_people_correcting_the_same_result_the_second_is_told_not_overwritten(db, actors):
    """Optimistic locking: both read version 1; the first correction wins, the second gets
    "changed by X at T" and writes nothing."""
    from mfg.errors import Conflict

    lot = harvested(db, actors)
    enter(db, actors, lot, {"VIAB": "81"})
    read_by_both = next(
        v for v in release.list_results(lot, db=db, actor=actors["tech"]) if v.test_code == "VIAB"
    )
    assert read_by_both.version == 1
    C = release.AddResult
    first = release.correct_result(
        C(lot, "VIAB", "88.5"), "transcription error", db=db, actor=actors["tech2"], now=NOW,
        expected_version=read_by_both.version,
    )  # fmt: skip
    assert first.version == 2
    e = refused(
        db, lot, Conflict, "changed-by-someone-else", release.correct_result,
        C(lot, "VIAB", "86"), "re-read the counter", db=db, actor=actors["tech"], now=NOW,
        expected_version=read_by_both.version,
    )  # fmt: skip
    assert "changed by tech2" in str(e) and "now version 2, you edited version 1" in str(e)
    # with the version just read, the correction goes through
    v = release.correct_result(
        C(lot, "VIAB", "86"), "re-read the counter", db=db, actor=actors["tech"], now=NOW,
        expected_version=first.version,
    )  # fmt: skip
    assert v.display == "86 %" and v.version == 3


def test_a_pending_read_out_corrected_names_pending_as_what_it_replaced(db, actors):
    """A correction over a pending read-out (sterility pending, then corrected to its final
    value with a reason) says what it replaced: "pending", never None."""
    lot = harvested(db, actors)
    enter(db, actors, lot, {"STER": "pending"})
    release.correct_result(
        release.AddResult(lot, "STER", PASSING["STER"]),
        "day-14 read-out",
        db=db,
        actor=actors["tech"],
        now=NOW,
    )
    v = next(
        r for r in release.list_results(lot, db=db, actor=actors["qa"]) if r.test_code == "STER"
    )
    assert v.corrected and v.original_display == "Pending"
    assert v.correction_reason == "day-14 read-out"
