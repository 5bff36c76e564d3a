"""Label printing, scan verification and dose-bag custody through the services, both backends."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta

import pytest
from sqlmodel import select

from labels.payload import LabelKind, LabelRef, encode
from mfg.domain.custody import parse_location
from mfg.errors import NotPermitted, RuleViolation
from mfg.services import audit_trail, custody, lots
from mfg.services import labels as label_svc
from mfg.store.tables import Alert, AuditEvent, CustodyEvent, DoseBag, LabelPrint
from tests.labels.helpers import harvested_with_labels, n_rows, set_lot_state
from tests.support import world
from tests.support.constants import NOW

LOC = parse_location("LN2-01", "R3", "B12", "A5")


def written(db) -> tuple[int, int, int, int]:  # type: ignore[no-untyped-def]
    return (
        n_rows(db, LabelPrint),
        n_rows(db, CustodyEvent),
        n_rows(db, AuditEvent),
        n_rows(db, Alert),
    )


def bag_states(db) -> list[tuple[int, str, str | None]]:  # type: ignore[no-untyped-def]
    with db.read() as s:
        return [
            (b.bag_no, b.state, b.location)
            for b in s.exec(select(DoseBag).order_by(DoseBag.bag_no)).all()  # type: ignore[arg-type]
        ]


# -- printing ---------------------------------------------------------------------------------


def test_every_print_is_recorded_and_a_reprint_needs_a_reason(db, actors):
    tech, qa = actors["tech"], actors["qa"]
    lot, payloads = harvested_with_labels(db, tech)
    assert len(payloads) == 4  # 3.0e9 x 30 % CAR+, 62.5 kg at DL2: 4 doses, 4 bags
    with db.read() as s:
        rows = s.exec(select(LabelPrint).order_by(LabelPrint.id)).all()  # type: ignore[arg-type]
    assert [r.object_ref for r in rows] == [f"{lot}/B{n}" for n in (1, 2, 3, 4)]
    assert {(r.kind, r.printed_by, r.output_format, r.stock) for r in rows} == {
        ("dose-bag", "tech", "pdf", "bag-4x2")
    }
    assert [r.payload for r in rows] == payloads and rows[0].printed_at == NOW
    log = audit_trail.audit_log(db=db, actor=qa, lot_number=lot)
    assert [e.action for e in log].count("label.printed") == 4

    before = written(db)
    with pytest.raises(RuleViolation) as e:
        label_svc.print_labels(
            label_svc.PrintLabels(lot, "dose-bag", "zpl"), db=db, actor=qa, now=NOW
        )
    assert e.value.rule == "reprint-reason-required" and e.value.field == "reprint_reason"
    assert "by tech" in e.value.message
    assert written(db) == before

    later = NOW + timedelta(hours=1)
    res = label_svc.print_labels(
        label_svc.PrintLabels(lot, "dose-bag", "zpl", reprint_reason="smudged", bag_no=2),
        db=db,
        actor=qa,
        now=later,
    )
    assert [p.object_ref for p in res.prints] == [f"{lot}/B2"]
    assert res.prints[0].reprint_reason == "smudged" and res.data.startswith(b"^XA")
    assert res.payloads == (payloads[1],)  # the same identity, the same code
    log = audit_trail.audit_log(db=db, actor=qa, lot_number=lot)
    assert [e.action for e in log][-1] == "label.reprinted" and log[-1].reason == "smudged"

    # a first print of another kind needs no reason, and refuses one
    with pytest.raises(RuleViolation) as e:
        label_svc.print_labels(
            label_svc.PrintLabels(lot, "culture", reprint_reason="x"), db=db, actor=tech, now=NOW
        )
    assert e.value.rule == "not-a-reprint"
    res = label_svc.print_labels(label_svc.PrintLabels(lot, "culture"), db=db, actor=tech, now=NOW)
    assert [p.object_ref for p in res.prints] == [lot]


def test_print_refusals_write_nothing(db, actors):
    tech = actors["tech"]
    world.subject(db, tech)
    lv = world.lot(db, tech)
    world.approve_label_layouts(db)
    before = written(db)
    cases = [
        (label_svc.PrintLabels(lv.lot_number, "dose-bag"), "no-dose-bags"),
        (label_svc.PrintLabels(lv.lot_number, "bag-label"), "unknown-label-kind"),
        (label_svc.PrintLabels(lv.lot_number, "culture", stock="a5"), "unknown-stock"),
        (label_svc.PrintLabels(lv.lot_number, "culture", "docx"), "unknown-output-format"),
        (label_svc.PrintLabels(lv.lot_number, "culture", copies=0), "copies-range"),
        (label_svc.PrintLabels(lv.lot_number, "culture", bag_no=1), "bag-only-for-dose-bags"),
    ]
    for cmd, rule in cases:
        with pytest.raises(RuleViolation) as e:
            label_svc.print_labels(cmd, db=db, actor=tech, now=NOW)
        assert e.value.rule == rule
    with pytest.raises(NotPermitted):
        label_svc.print_labels(
            label_svc.PrintLabels(lv.lot_number, "culture"), db=db, actor=actors["sponsor"], now=NOW
        )
    assert written(db) == before


def test_label_content_comes_from_the_lot(db, actors):
    tech = actors["tech"]
    lot, _ = harvested_with_labels(db, tech)
    bags = label_svc.preview_labels(lot, "dose-bag", db=db, actor=tech)
    b = bags[0]
    assert (b.bag_no, b.bag_count, b.volume_ml, b.car_viable_cells) == (1, 4, 50.0, 225_000_000)
    assert b.subject_id == "S-001" and b.initials == "AB" and str(b.dob) == "1988-04-02"
    assert b.expires_on is not None and b.storage.startswith("Store <= -150")
    assert b.facility == "Test GMP Facility" and b.coi_eye_readable.startswith(
        "CH A9990 26 000001 |"
    )
    (vial,) = label_svc.preview_labels(lot, "pbmc-vial", db=db, actor=tech)
    assert vial.kind is LabelKind.PBMC_VIAL and vial.collected_on == NOW.date() - timedelta(11)


# -- scanning ---------------------------------------------------------------------------------


def test_scan_verifies_and_shows_the_object(db, actors):
    tech = actors["tech"]
    lot, payloads = harvested_with_labels(db, tech)
    v = label_svc.scan(
        payloads[2] + "\n", db=db, actor=tech, expect_lot=lot, expect_subject="S-001"
    )
    assert (v.kind, v.object_ref, v.bag_no, v.bag_count, v.bag_state) == (
        "dose-bag",
        f"{lot}/B3",
        3,
        4,
        "created",
    )
    assert v.subject_id == "S-001" and v.times_printed == 1 and "printed by CellTrail" in v.checks


def test_scan_refuses_damaged_forged_and_foreign_labels(db, actors):
    tech = actors["tech"]
    lot1, p1 = harvested_with_labels(db, tech, "S-001")
    lot2, p2 = harvested_with_labels(db, tech, "S-002")
    before = written(db)
    coi1 = lots.show_lot(lot1, db=db, actor=tech).coi
    coi2 = lots.show_lot(lot2, db=db, actor=tech).coi
    never = encode(LabelRef(LabelKind.QC_SAMPLE, lot1, coi1))
    swapped = encode(LabelRef(LabelKind.DOSE_BAG, lot1, coi2, 1, 4))
    ghost = encode(LabelRef(LabelKind.DOSE_BAG, lot1, coi1, 5, 5))
    unknown = encode(LabelRef(LabelKind.CULTURE, "BH002-26-0099", coi1))
    cases = [
        (p1[0][:-1] + ("A" if p1[0][-1] != "A" else "B"), {}, "payload-damaged"),
        (p1[0][:30], {}, "payload-damaged"),
        (never, {}, "label-never-printed"),
        (swapped, {}, "payload-coi-mismatch"),
        (ghost, {}, "payload-unknown-bag"),
        (unknown, {}, "payload-unknown-lot"),
        (p2[0], {"expect_lot": lot1}, "wrong-lot"),
        (p2[0], {"expect_subject": "S-001"}, "wrong-subject"),
    ]
    for payload, kw, rule in cases:
        with pytest.raises(RuleViolation) as e:
            label_svc.scan(payload, db=db, actor=tech, **kw)
        assert (e.value.rule, e.value.field) == (rule, "payload"), payload
    with pytest.raises(NotPermitted):
        label_svc.scan(p1[0], db=db, actor=actors["sponsor"])
    assert written(db) == before


def test_site_key_refuses_labels_made_outside(db, actors):
    tech = actors["tech"]
    keyed = replace(db, settings=replace(db.settings, label_key="site-secret"))
    lot, payloads = harvested_with_labels(keyed, tech)
    assert all(p.split(":")[-1].startswith("K") for p in payloads)
    assert label_svc.scan(payloads[0], db=keyed, actor=tech).checks[0] == "site MAC verified"
    coi = lots.show_lot(lot, db=db, actor=tech).coi
    forged = encode(LabelRef(LabelKind.DOSE_BAG, lot, coi, 1, 4), "guessed-key")
    unkeyed = encode(LabelRef(LabelKind.DOSE_BAG, lot, coi, 1, 4))
    for payload, rule in ((forged, "payload-mac-mismatch"), (unkeyed, "payload-unkeyed")):
        with pytest.raises(RuleViolation) as e:
            label_svc.scan(payload, db=keyed, actor=tech)
        assert e.value.rule == rule
    with pytest.raises(RuleViolation) as e:  # a site without the key cannot check it
        label_svc.scan(payloads[0], db=db, actor=tech)
    assert e.value.rule == "payload-key-missing"


# -- custody ----------------------------------------------------------------------------------


def test_custody_from_storage_to_infusion(db, actors):
    tech, qa = actors["tech"], actors["qa"]
    lot, payloads = harvested_with_labels(db, tech)
    p = payloads[0]
    v = custody.store_bag(p, LOC, db=db, actor=tech, now=NOW)
    assert (v.state, v.location) == ("stored", "LN2-01/R3/B12/A5")
    set_lot_state(db, lot, "released")
    t1 = NOW + timedelta(days=2)
    assert custody.issue_bag(p, db=db, actor=qa, now=t1, subject_id="S-001").state == "issued"
    assert custody.thaw_bag(p, db=db, actor=tech, now=t1 + timedelta(minutes=5)).state == "thawed"
    v = custody.infuse_bag(p, "S-001", db=db, actor=tech, now=t1 + timedelta(minutes=25))
    assert v.state == "infused" and v.thaw_to_infusion_minutes == 20.0 and not v.infusion_overrun
    assert [e.action for e in v.events] == ["store", "issue", "thaw", "infuse"]
    assert [(e.from_state, e.to_state) for e in v.events][-1] == ("thawed", "infused")
    assert v.events[1].details["from_location"] == "LN2-01/R3/B12/A5" and v.location is None
    assert v.events[-1].by == "tech" and v.events[-1].at == t1 + timedelta(minutes=25)
    actions = [e.action for e in audit_trail.audit_log(db=db, actor=qa, lot_number=lot)]
    bag_actions = [a for a in actions if a.startswith("bag.")]  # QA's release in between
    assert bag_actions == ["bag.stored", "bag.issued", "bag.thawed", "bag.infused"]
    assert n_rows(db, Alert) == 0

    # never twice, and nothing written by the refusal
    before = written(db)
    with pytest.raises(RuleViolation) as e:
        custody.infuse_bag(p, "S-001", db=db, actor=tech, now=t1 + timedelta(minutes=30))
    assert e.value.rule == "bag-already-infused"
    assert written(db) == before

    # the further doses draw on the remaining bags
    bl = custody.list_bags(lot, db=db, actor=tech)
    assert bl.remaining == 3 and [b.state for b in bl.bags] == [
        "infused",
        "created",
        "created",
        "created",
    ]


def test_overrun_is_flagged_and_alerted(db, actors):
    tech = actors["tech"]
    lot, (p, *_) = harvested_with_labels(db, tech)
    custody.store_bag(p, LOC, db=db, actor=tech, now=NOW)
    set_lot_state(db, lot, "conditionally_released")
    v = custody.issue_bag(p, db=db, actor=tech, now=NOW)
    assert v.events[-1].details["conditional_release"] is True
    custody.thaw_bag(p, db=db, actor=tech, now=NOW)
    v = custody.infuse_bag(p, "S-001", db=db, actor=tech, now=NOW + timedelta(minutes=42))
    assert v.infusion_overrun and v.thaw_to_infusion_minutes == 42.0
    with db.read() as s:
        (alert,) = s.exec(select(Alert)).all()
        event = s.exec(select(CustodyEvent).where(CustodyEvent.action == "infuse")).one()
    assert alert.kind == "infusion-overrun" and "42.0 min" in alert.message
    assert json.loads(event.details)["infusion_overrun"] is True
    assert "42.0 min" in lots.show_lot(lot, db=db, actor=tech).alerts[0]


@pytest.mark.parametrize("state", ["harvested", "in_release_testing", "rejected", "terminated"])
def test_issuing_a_bag_of_an_unreleased_lot_is_refused(db, actors, state):
    tech = actors["tech"]
    lot, (p, *_) = harvested_with_labels(db, tech)
    custody.store_bag(p, LOC, db=db, actor=tech, now=NOW)
    if state != "harvested":
        set_lot_state(db, lot, state)
    before, states = written(db), bag_states(db)
    with pytest.raises(RuleViolation) as e:
        custody.issue_bag(p, db=db, actor=tech, now=NOW)
    assert e.value.rule == "lot-not-released" and state in e.value.message
    assert written(db) == before and bag_states(db) == states


def test_illegal_steps_and_wrong_patient_write_nothing(db, actors):
    tech = actors["tech"]
    lot, payloads = harvested_with_labels(db, tech)
    _, (other, *_) = harvested_with_labels(db, tech, "S-002")
    p = payloads[0]
    set_lot_state(db, lot, "released")
    culture = label_svc.print_labels(
        label_svc.PrintLabels(lot, "culture"), db=db, actor=tech, now=NOW
    ).payloads[0]
    before, states = written(db), bag_states(db)
    refusals = [
        (lambda: custody.issue_bag(p, db=db, actor=tech, now=NOW), "illegal-custody-step"),
        (lambda: custody.thaw_bag(p, db=db, actor=tech, now=NOW), "illegal-custody-step"),
        (
            lambda: custody.infuse_bag(p, "S-001", db=db, actor=tech, now=NOW),
            "illegal-custody-step",
        ),
        (lambda: custody.discard_bag(p, " ", db=db, actor=tech, now=NOW), "reason-required"),
        (
            lambda: custody.store_bag(culture, LOC, db=db, actor=tech, now=NOW),
            "not-a-bag-label",
        ),
    ]
    for call, rule in refusals:
        with pytest.raises(RuleViolation) as e:
            call()
        assert e.value.rule == rule
    assert written(db) == before and bag_states(db) == states

    # the bedside check: a bag of S-001 is not infused into S-002
    custody.store_bag(p, LOC, db=db, actor=tech, now=NOW)
    custody.issue_bag(p, db=db, actor=tech, now=NOW)
    custody.thaw_bag(p, db=db, actor=tech, now=NOW)
    before, states = written(db), bag_states(db)
    with pytest.raises(RuleViolation) as e:
        custody.infuse_bag(p, "S-002", db=db, actor=tech, now=NOW)
    assert e.value.rule == "wrong-subject" and "STOP" in e.value.message
    with pytest.raises(RuleViolation) as e:
        custody.store_bag(p, LOC, db=db, actor=tech, now=NOW)
    assert "refrozen" in e.value.message
    with pytest.raises(RuleViolation) as e:
        custody.issue_bag(other, db=db, actor=tech, now=NOW)  # S-002's lot is not released
    assert e.value.rule == "illegal-custody-step"  # (and not stored either)
    with pytest.raises(NotPermitted):
        custody.discard_bag(p, "x", db=db, actor=actors["sponsor"], now=NOW)
    assert written(db) == before and bag_states(db) == states

    v = custody.discard_bag(p, "bag cracked on thaw", db=db, actor=tech, now=NOW)
    assert v.state == "discarded" and v.events[-1].details["reason"] == "bag cracked on thaw"
    log = audit_trail.audit_log(db=db, actor=actors["qa"], lot_number=lot)
    assert log[-1].action == "bag.discarded" and log[-1].reason == "bag cracked on thaw"
    # discarded bags get no new labels, the others still do
    res = label_svc.print_labels(
        label_svc.PrintLabels(lot, "dose-bag", reprint_reason="new printer"),
        db=db,
        actor=tech,
        now=NOW,
    )
    assert [x.object_ref for x in res.prints] == [f"{lot}/B{n}" for n in (2, 3, 4)]


def test_expired_bag_is_not_issued(db, actors):
    tech = actors["tech"]
    lot, (p, *_) = harvested_with_labels(db, tech)
    custody.store_bag(p, LOC, db=db, actor=tech, now=NOW)
    set_lot_state(db, lot, "released")
    with pytest.raises(RuleViolation) as e:
        custody.issue_bag(p, db=db, actor=tech, now=NOW + timedelta(days=400))
    assert e.value.rule == "bag-expired"


@pytest.mark.parametrize(
    ("decision", "results", "lot_state"),
    [
        ("release", {}, "released"),
        ("conditional-release", {"STER": "pending"}, "conditionally_released"),
        ("reject", {"VIAB": "41.0 %"}, "rejected"),
    ],
)
def test_issue_follows_the_real_qa_disposition(db, actors, decision, results, lot_state):
    """The release engineer's services decide; custody reads the lot state they leave."""
    from tests.release.conftest import PASSING, enter, sign

    tech = actors["tech"]
    lot, (p, *_) = harvested_with_labels(db, tech)
    custody.store_bag(p, LOC, db=db, actor=tech, now=NOW)
    with pytest.raises(RuleViolation) as e:
        custody.issue_bag(p, db=db, actor=tech, now=NOW)  # not yet released
    assert e.value.rule == "lot-not-released"
    enter(db, actors, lot, {**PASSING, **results})
    if decision == "reject":
        sign(db, actors, lot, decision, reason="viability out of specification")
    else:
        sign(db, actors, lot, decision)
    assert lots.show_lot(lot, db=db, actor=tech).state == lot_state
    if lot_state == "rejected":
        before = written(db)
        with pytest.raises(RuleViolation) as e:
            custody.issue_bag(p, db=db, actor=tech, now=NOW)
        assert e.value.rule == "lot-not-released" and written(db) == before
    else:
        assert custody.issue_bag(p, db=db, actor=tech, now=NOW).state == "issued"


def test_scan_warns_when_a_harvest_correction_outdates_the_label(db, actors):
    from mfg.services import harvest

    tech = actors["tech"]
    lot, payloads = harvested_with_labels(db, tech)
    assert label_svc.scan(payloads[0], db=db, actor=tech).warnings == ()
    h = harvest.show_harvest(lot, db=db, actor=tech)
    assert h is not None
    later = NOW + timedelta(hours=2)
    harvest.correct_harvest(
        harvest.RecordHarvest(lot, h.harvested_on, 2_800_000_000, 30.0),
        "viable count re-read from the counter printout",
        db=db,
        actor=tech,
        now=later,
    )
    (warning,) = label_svc.scan(payloads[0], db=db, actor=tech).warnings
    assert "corrected" in warning and "print a new one" in warning
    label_svc.print_labels(
        label_svc.PrintLabels(lot, "dose-bag", reprint_reason="harvest corrected"),
        db=db,
        actor=tech,
        now=later + timedelta(minutes=5),
    )
    assert label_svc.scan(payloads[0], db=db, actor=tech).warnings == ()
    (new,) = label_svc.preview_labels(lot, "dose-bag", db=db, actor=tech, bag_no=1)
    assert new.car_viable_cells == 2_800_000_000 * 30 // 100 // 4


@pytest.mark.parametrize("state", ["rejected", "terminated"])
def test_a_scan_of_a_rejected_or_terminated_lots_bag_is_a_stop(db, actors, state):
    """It answered "OK dose-bag ..." (the hostile trial of 2026-12-04); the custody steps
    refused the bag, the scan at the hand-off did not say so."""
    tech = actors["tech"]
    lot, (p, *_) = harvested_with_labels(db, tech)
    assert not label_svc.scan(p, db=db, actor=tech).on_hold
    set_lot_state(db, lot, state)
    v = label_svc.scan(p, db=db, actor=tech)
    assert v.on_hold and v.hold_reasons[-1] == (
        f"the lot is {state}: its bags are never issued, thawed or infused"
    )


@pytest.mark.parametrize("state", ["rejected", "terminated"])
def test_no_dose_bag_label_for_a_rejected_or_terminated_lot(db, actors, state):
    """A rejected lot's dose-bag label printed and previewed like any other (the hostile trial
    of 2026-12-04): a fresh label on a bag that is to be destroyed. Now refused, nothing
    recorded; the lot's other labels (a retained QC sample) still print."""
    tech = actors["tech"]
    lot, _ = harvested_with_labels(db, tech)
    set_lot_state(db, lot, state)
    before = written(db)
    for call in (
        lambda: label_svc.preview_labels(lot, "dose-bag", db=db, actor=tech),
        lambda: label_svc.print_labels(
            label_svc.PrintLabels(lot, "dose-bag", reprint_reason="smudged", bag_no=1),
            db=db,
            actor=tech,
            now=NOW,
        ),
    ):
        with pytest.raises(RuleViolation) as e:
            call()
        assert (e.value.field, e.value.rule) == ("kind", "lot-not-for-infusion")
        assert f"lot {lot} is {state}" in e.value.message
    assert written(db) == before
    res = label_svc.print_labels(
        label_svc.PrintLabels(lot, "qc-sample"), db=db, actor=tech, now=NOW
    )
    assert [p.object_ref for p in res.prints] == [lot]
