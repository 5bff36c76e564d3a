"""Label control: QA-approved layouts, layout version on every print, applied / voided /
reconciled labels; printer routing per kind and stock."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from labels import layouts
from labels.payload import LabelKind
from mfg.domain.printers import parse_routes, printer_for
from mfg.errors import AuthenticationFailed, NotPermitted, RuleViolation
from mfg.services import label_control
from mfg.services import labels as label_svc
from mfg.store.tables import AuditEvent, LabelEvent, LabelLayoutApproval, LabelPrint
from tests.labels.helpers import harvested_with_labels, n_rows
from tests.support import world
from tests.support.constants import NOW, PASSWORD


def test_unapproved_layout_is_not_printed_and_approval_is_an_e_signature(db, actors):
    tech, qa = actors["tech"], actors["qa"]
    lv, _ = world.harvested_lot(db, tech)
    before = (n_rows(db, LabelPrint), n_rows(db, AuditEvent))
    with pytest.raises(RuleViolation) as e:
        label_svc.print_labels(
            label_svc.PrintLabels(lv.lot_number, "culture"), db=db, actor=tech, now=NOW
        )
    assert e.value.rule == "layout-not-approved" and "approve-layout culture" in e.value.message
    with pytest.raises(NotPermitted):
        label_control.approve_layout("culture", "ok", PASSWORD, db=db, actor=tech, now=NOW)
    with pytest.raises(AuthenticationFailed):
        label_control.approve_layout("culture", "ok", "wrong password", db=db, actor=qa, now=NOW)
    assert n_rows(db, LabelPrint) == before[0] == 0
    assert n_rows(db, LabelLayoutApproval) == 0

    v = label_control.approve_layout(
        "culture", "proofs checked", PASSWORD, db=db, actor=qa, now=NOW
    )
    assert (v.approved_by, v.version) == ("Quinn Quality", layouts.CURRENT_VERSION)
    with pytest.raises(RuleViolation) as e:
        label_control.approve_layout("culture", "again", PASSWORD, db=db, actor=qa, now=NOW)
    assert e.value.rule == "layout-already-approved"
    res = label_svc.print_labels(
        label_svc.PrintLabels(lv.lot_number, "culture"), db=db, actor=tech, now=NOW
    )
    assert res.prints[0].layout_version == layouts.CURRENT_VERSION
    status = {s.kind: s for s in label_control.layout_status(db=db, actor=tech)}
    assert (
        status["culture"].approved_by == "Quinn Quality" and status["dose-bag"].approved_by is None
    )


def test_a_changed_layout_definition_needs_a_new_approval(db, actors, monkeypatch):
    tech = actors["tech"]
    lv, _ = world.harvested_lot(db, tech)
    world.approve_label_layouts(db)
    label_svc.print_labels(
        label_svc.PrintLabels(lv.lot_number, "culture"), db=db, actor=tech, now=NOW
    )
    edited = layouts._codes_text().replace('culture = "YA003"', 'culture = "YA009"')
    monkeypatch.setattr(layouts, "_codes_text", lambda: edited)
    with pytest.raises(RuleViolation) as e:
        label_svc.print_labels(
            label_svc.PrintLabels(lv.lot_number, "culture", reprint_reason="x"),
            db=db,
            actor=tech,
            now=NOW,
        )
    assert e.value.rule == "layout-not-approved"


def test_applied_voided_and_reconciled(db, actors):
    tech, qa = actors["tech"], actors["qa"]
    lot, payloads = harvested_with_labels(db, tech)  # 4 bags, one copy each
    label_control.apply_label(payloads[0], db=db, actor=tech, now=NOW)
    dm = label_svc.label_history(lot, db=db, actor=qa)[1].isbt128 or ""
    label_control.apply_label(dm, db=db, actor=tech, now=NOW)  # by its Data Matrix
    with pytest.raises(RuleViolation) as e:
        label_control.apply_label(payloads[0], db=db, actor=tech, now=NOW)
    assert e.value.rule == "label-all-accounted"
    third = label_svc.label_history(lot, db=db, actor=qa)[2].id
    before = n_rows(db, LabelEvent)
    with pytest.raises(NotPermitted):
        label_control.void_labels(third, "smudged", db=db, actor=tech, now=NOW)
    with pytest.raises(RuleViolation) as e:
        label_control.void_labels(third, " ", db=db, actor=qa, now=NOW)
    assert e.value.rule == "reason-required"
    with pytest.raises(RuleViolation) as e:
        label_control.void_labels(third, "smudged", copies=2, db=db, actor=qa, now=NOW)
    assert e.value.rule == "void-copies-range"
    assert n_rows(db, LabelEvent) == before
    label_control.void_labels(third, "smudged in the printer", db=db, actor=qa, now=NOW)
    r = label_control.reconcile(lot, db=db, actor=qa)
    assert (r.printed, r.applied, r.voided, r.unaccounted) == (4, 2, 1, 1)
    assert [(x.applied, x.voided, x.unaccounted) for x in r.rows] == [
        (1, 0, 0),
        (1, 0, 0),
        (0, 1, 0),
        (0, 0, 1),
    ]
    assert {x.layout_version for x in r.rows} == {layouts.CURRENT_VERSION}


def test_printer_routes_most_specific_first():
    routes = parse_routes(
        "dose-bag/bag-4x2 = lp -d a; dose-bag = lp -d b; cryovial-2x1 = lp -d c; * = lp -d d"
    )
    assert printer_for(routes, "dose-bag", "bag-4x2", "x") == "lp -d a"
    assert printer_for(routes, "dose-bag", "letter-bag", "x") == "lp -d b"
    assert printer_for(routes, "qc-sample", "cryovial-2x1", "x") == "lp -d c"
    assert printer_for(routes, "culture", "bag-4x2", "x") == "lp -d d"
    assert printer_for({}, "culture", "bag-4x2", "x") == "x"
    for bad in ("dose-bag lp", "bags = lp", "dose-bag/a5 = lp", "dose-bag = a; dose-bag = b"):
        with pytest.raises(RuleViolation) as e:
            parse_routes(bad)
        assert e.value.rule == "printer-route"


def test_each_kind_goes_to_its_routed_printer(db, actors, tmp_path: Path):
    tech = actors["tech"]
    lv, _ = world.harvested_lot(db, tech)
    world.approve_label_layouts(db)
    out = tmp_path / "routed.zpl"
    routed = replace(
        db,
        settings=replace(
            db.settings,
            label_printer="false",
            label_printers=f"culture/bag-4x2 = sh -c 'cat > {out}'",
        ),
    )
    res = label_svc.print_labels(
        label_svc.PrintLabels(lv.lot_number, "culture", "zpl", send=True),
        db=routed,
        actor=tech,
        now=NOW,
    )
    assert res.printer == f"sh -c 'cat > {out}'"
    label_svc.send_to_printer(res.data, res.printer or "")
    assert out.read_bytes() == res.data
    rows = label_svc.label_history(lv.lot_number, db=db, actor=tech)
    assert rows[0].layout_version == layouts.CURRENT_VERSION
    assert LabelKind.CULTURE.value == rows[0].kind
