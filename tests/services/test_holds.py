"""Holds (issue 10): no bag of a held lot is issued, thawed or infused; the scan says HOLD; QA
places and lifts holds and signs OOS administration decisions. Each on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import func, select

from mfg.domain.custody import Location
from mfg.errors import AuthenticationFailed, NotPermitted, RuleViolation
from mfg.services import custody, holds, release
from mfg.services import labels as label_svc
from mfg.services.uow import Actor, Database
from mfg.store.tables import AuditEvent, CustodyEvent, LotHold, OosAdministration
from tests.release.conftest import PASSING, enter, harvested, sign
from tests.support import world
from tests.support.constants import NOW, PASSWORD

LATER = NOW + timedelta(days=3)
LOC = Location("LN2-01", "R1", "B1", "A1")


def count(db: Database, table: type) -> int:
    with db.read() as s:
        return s.exec(select(func.count()).select_from(table)).one()


def released_with_bags(
    db: Database, actors: dict[str, Actor], decision: str = "conditional-release"
) -> tuple[str, list[str]]:
    """A lot released (STER pending when conditional), its bags labelled and stored."""
    lot = harvested(db, actors)
    values = {**PASSING, "STER": "pending"} if decision == "conditional-release" else PASSING
    enter(db, actors, lot, values)
    sign(db, actors, lot, decision, reason="sterility pending" if values != PASSING else "ok")
    tech = actors["tech"]
    world.approve_label_layouts(db, NOW)
    res = label_svc.print_labels(label_svc.PrintLabels(lot, "dose-bag"), db=db, actor=tech, now=NOW)
    payloads = list(res.payloads)
    for p in payloads:
        custody.store_bag(p, LOC, db=db, actor=tech, now=NOW)
    return lot, payloads


def refused_on_hold(db: Database, fn, *args, **kw) -> RuleViolation:  # type: ignore[no-untyped-def]
    before = (count(db, CustodyEvent), count(db, AuditEvent))
    with pytest.raises(RuleViolation) as e:
        fn(*args, db=db, now=LATER, **kw)
    assert e.value.rule == "lot-on-hold", e.value
    assert e.value.message.startswith("HOLD: ")
    assert (count(db, CustodyEvent), count(db, AuditEvent)) == before
    return e.value


def test_failing_result_after_conditional_release_holds_every_bag(db, actors):
    tech = actors["tech"]
    lot, bags = released_with_bags(db, actors)
    custody.issue_bag(bags[0], db=db, actor=tech, now=NOW)
    custody.issue_bag(bags[1], db=db, actor=tech, now=NOW)
    custody.thaw_bag(bags[1], db=db, actor=tech, now=NOW)
    release.add_result(release.AddResult(lot, "STER", "Growth"), db=db, actor=tech, now=LATER)

    refused_on_hold(db, custody.issue_bag, bags[2], actor=tech)
    refused_on_hold(db, custody.thaw_bag, bags[0], actor=tech)
    e = refused_on_hold(db, custody.infuse_bag, bags[1], "S-001", actor=tech)
    assert "STER failed after the release" in e.message
    seen = label_svc.scan(bags[2], db=db, actor=tech)
    assert seen.on_hold and any("STER" in r for r in seen.hold_reasons)
    listed = custody.list_bags(lot, db=db, actor=tech)
    assert listed.hold is not None and listed.hold.summary.startswith("HOLD: ")
    st = holds.status(lot, db=db, actor=actors["qa"])
    assert {r.code for r in st.active} >= {
        "result-failed",
        "open-alert",
        "deviation-after-disposition",
    }


def test_hold_is_said_first_whatever_else_is_wrong_with_the_step(db, actors):
    """A stored bag of a held lot scanned for thaw or infusion at the bedside: the refusal is
    HOLD (it said "a bag that is stored cannot be infused here", which hid the hold)."""
    tech = actors["tech"]
    lot, bags = released_with_bags(db, actors)
    release.add_result(release.AddResult(lot, "STER", "Growth"), db=db, actor=tech, now=LATER)
    refused_on_hold(db, custody.thaw_bag, bags[3], actor=tech)
    e = refused_on_hold(db, custody.infuse_bag, bags[3], "S-001", actor=tech)
    assert "do not infuse" in e.message


def test_correction_that_breaks_the_release_signature_holds_the_lot(db, actors):
    tech = actors["tech"]
    lot, bags = released_with_bags(db, actors, "release")
    assert not label_svc.scan(bags[0], db=db, actor=tech).on_hold
    v = release.list_results(lot, db=db, actor=tech)
    viab = next(r for r in v if r.test_code == "VIAB")
    release.correct_result(
        release.AddResult(lot, "VIAB", "55"), "transcription error", db=db, actor=tech, now=LATER,
        expected_version=viab.version,
    )  # fmt: skip
    codes = {r.code for r in holds.status(lot, db=db, actor=tech).active}
    assert {"signature-broken", "result-failed"} <= codes
    refused_on_hold(db, custody.issue_bag, bags[0], actor=tech)


def test_withdrawn_release_is_a_hold(db, actors):
    tech = actors["tech"]
    lot, bags = released_with_bags(db, actors)
    sign(db, actors, lot, "reject", reason="sterility failed at the reference lab", now=LATER)
    seen = label_svc.scan(bags[0], db=db, actor=tech)
    assert seen.on_hold and "the release was withdrawn" in seen.hold_reasons
    refused_on_hold(db, custody.issue_bag, bags[0], actor=tech)


def test_manual_hold_is_signed_placed_and_lifted_by_qa(db, actors):
    tech, qa = actors["tech"], actors["qa"]
    lot, bags = released_with_bags(db, actors, "release")
    with pytest.raises(NotPermitted):
        holds.place_hold(lot, "suspect", PASSWORD, db=db, actor=tech, now=LATER)
    with pytest.raises(AuthenticationFailed):
        holds.place_hold(lot, "suspect", "wrong password!", db=db, actor=qa, now=LATER)
    with pytest.raises(RuleViolation) as e:
        holds.place_hold(lot, "  ", PASSWORD, db=db, actor=qa, now=LATER)
    assert e.value.rule == "reason-required"
    assert count(db, LotHold) == 0
    st = holds.place_hold(lot, "freezer excursion LN2-01", PASSWORD, db=db, actor=qa, now=LATER)
    assert st.on_hold and st.manual[0].placed_name == qa.full_name
    refused_on_hold(db, custody.issue_bag, bags[0], actor=tech)
    # an OOS administration never covers a hold QA placed by hand
    with pytest.raises(RuleViolation) as e:
        holds.administer_oos(
            lot, "Dr. A. Chen", "no alternative", PASSWORD, db=db, actor=qa, now=LATER
        )
    assert e.value.rule == "nothing-to-decide"
    st = holds.lift_hold(lot, "temperature log reviewed", PASSWORD, db=db, actor=qa, now=LATER)
    assert not st.on_hold
    custody.issue_bag(bags[0], db=db, actor=tech, now=LATER)
    with db.read() as s:
        actions = list(s.exec(select(AuditEvent.action)).all())
    assert "lot.hold_placed" in actions and "lot.hold_lifted" in actions


def test_oos_administration_is_a_signed_decision_and_the_lot_stays_a_failure(db, actors):
    from mfg.services import reporting

    tech, qa = actors["tech"], actors["qa"]
    lot, bags = released_with_bags(db, actors)
    release.add_result(release.AddResult(lot, "STER", "Growth"), db=db, actor=tech, now=LATER)
    refused_on_hold(db, custody.issue_bag, bags[0], actor=tech)
    with pytest.raises(RuleViolation) as e:
        holds.administer_oos(lot, " ", "no alternative", PASSWORD, db=db, actor=qa, now=LATER)
    assert e.value.field == "physician"
    assert count(db, OosAdministration) == 0
    st = holds.administer_oos(
        lot, "Dr. A. Chen", "no alternative therapy", PASSWORD, db=db, actor=qa, now=LATER
    )
    assert not st.on_hold and st.oos_decisions[0].physician == "Dr. A. Chen"
    v = custody.issue_bag(bags[0], db=db, actor=tech, now=LATER)
    assert v.events[-1].details["oos_administration"]["physician"] == "Dr. A. Chen"
    # a new cause after the decision holds the lot again
    holds.place_hold(lot, "label damaged", PASSWORD, db=db, actor=qa, now=LATER)
    refused_on_hold(db, custody.thaw_bag, bags[0], actor=tech)
    lots = reporting.lot_table(db=db, actor=actors["sponsor"]).set_index("lot_number")
    assert lots.loc[lot, "outcome"] == "failure"


def test_board_and_cli_scan_say_hold(db, actors, tmp_path, cli_clock):
    from typer.testing import CliRunner

    from mfg.cli import app
    from mfg.services import board

    tech = actors["tech"]
    lot, bags = released_with_bags(db, actors)
    release.add_result(release.AddResult(lot, "STER", "Growth"), db=db, actor=tech, now=LATER)
    (row,) = [r for r in board.board(db=db, actor=tech, now=LATER).rows if r.lot_number == lot]
    assert row.flags[0] == "HOLD" and "STER failed after the release" in row.hold
    url = db.engine.url.render_as_string(hide_password=False)
    env = {"MFG_HOME": str(tmp_path / "home"), "MFG_PASSWORD": PASSWORD, "MFG_USER": "tech"}
    r = CliRunner().invoke(app, ["scan", bags[0], "--db", url], env=env)
    assert r.exit_code == 1, r.output
    assert "HOLD" in r.stdout and "[lot-on-hold]" in r.stderr
    r = CliRunner().invoke(app, ["bag", "issue", bags[0], "--db", url], env=env)
    assert r.exit_code == 1 and "HOLD:" in r.stderr and "[lot-on-hold]" in r.stderr


def test_isbt128_scans_of_a_held_lot_say_hold_and_custody_refuses(db, actors, tmp_path, cli_clock):
    """The Data Matrix (compound message) and the CoI bar code of a held lot's bag say HOLD like
    the QR payload does, and a custody step scanned from the Data Matrix is refused."""
    from typer.testing import CliRunner

    from mfg.cli import app
    from mfg.domain import isbt128

    tech, qa = actors["tech"], actors["qa"]
    lot, _ = released_with_bags(db, actors, "release")
    holds.place_hold(lot, "freezer excursion LN2-01", PASSWORD, db=db, actor=qa, now=LATER)
    (msg, *_) = [
        p.isbt128 or ""
        for p in label_svc.label_history(lot, db=db, actor=qa)
        if p.kind == "dose-bag"
    ]
    v = label_svc.scan(msg, db=db, actor=tech)
    assert (v.lot_number, v.bag_no, v.on_hold) == (lot, 1, True)
    assert "freezer excursion LN2-01" in " ".join(v.hold_reasons)
    coi = isbt128.find(isbt128.parse(msg), isbt128.COI)
    assert coi is not None
    assert label_svc.scan(coi.text, db=db, actor=tech).on_hold  # the Code 128 CoI alone
    refused_on_hold(db, custody.issue_bag, msg, actor=tech)
    url = db.engine.url.render_as_string(hide_password=False)
    env = {"MFG_HOME": str(tmp_path / "home"), "MFG_PASSWORD": PASSWORD, "MFG_USER": "tech"}
    r = CliRunner().invoke(app, ["scan", msg, "--db", url], env=env)
    assert r.exit_code == 1, r.output
    assert "HOLD" in r.stdout and "[lot-on-hold]" in r.stderr
