"""A body weight changed after a lot's release holds the lot (the released dose was set for the
old weight): no bag is issued, thawed or infused, the scan says HOLD, no OOS decision covers it;
a new disposition after the change (a conditional release completed) ends it, and a change
before the release holds nothing. Each on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest

from mfg.errors import RuleViolation
from mfg.services import custody, holds, subjects
from mfg.services import labels as label_svc
from tests.release.conftest import PASSING, enter, harvested, sign
from tests.services.test_holds import LATER, LOC, refused_on_hold, released_with_bags
from tests.support import world
from tests.support.constants import NOW, PASSWORD

WEIGHED = LATER.date()


def test_weight_changed_after_the_release_holds_issue_thaw_and_infusion(db, actors):
    tech, qa = actors["tech"], actors["qa"]
    lot, bags = released_with_bags(db, actors, "release")
    custody.issue_bag(bags[1], db=db, actor=tech, now=NOW)
    subjects.update_weight(
        "S-001", 55.0, WEIGHED, "re-weighed before lymphodepletion", db=db, actor=tech,
        now=LATER - timedelta(hours=1),
    )  # fmt: skip
    e = refused_on_hold(db, custody.issue_bag, bags[0], actor=tech)
    assert "62.5 kg -> 55 kg" in e.message
    refused_on_hold(db, custody.thaw_bag, bags[1], actor=tech)
    refused_on_hold(db, custody.infuse_bag, bags[1], "S-001", actor=tech)
    seen = label_svc.scan(bags[0], db=db, actor=tech)
    assert seen.on_hold and any("body weight changed" in r for r in seen.hold_reasons)
    st = holds.status(lot, db=db, actor=qa)
    assert [r.code for r in st.active] == ["weight-changed-after-release"]
    with pytest.raises(RuleViolation) as oos:
        holds.administer_oos(lot, "Dr. A. Chen", "dose", PASSWORD, db=db, actor=qa, now=LATER)
    assert oos.value.rule == "nothing-to-decide"
    # a second person checking the new weight does not end it: the release was for the old one
    subjects.verify_weight("S-001", db=db, actor=actors["tech2"], now=LATER)
    refused_on_hold(db, custody.issue_bag, bags[0], actor=tech)


def test_a_new_disposition_after_the_change_ends_the_hold(db, actors):
    tech, tech2 = actors["tech"], actors["tech2"]
    lot, bags = released_with_bags(db, actors)  # conditional: STER pending
    subjects.update_weight(
        "S-001", 55.0, WEIGHED, "re-weighed", db=db, actor=tech, now=LATER - timedelta(hours=2)
    )
    refused_on_hold(db, custody.issue_bag, bags[0], actor=tech)
    subjects.verify_weight("S-001", db=db, actor=tech2, now=LATER - timedelta(hours=1))
    enter(db, actors, lot, {"STER": PASSING["STER"]}, now=LATER - timedelta(hours=1))
    sign(db, actors, lot, "release", now=LATER - timedelta(minutes=30))
    assert not holds.status(lot, db=db, actor=tech).on_hold
    custody.issue_bag(bags[0], db=db, actor=tech, now=LATER)


def test_a_weight_changed_before_the_release_holds_nothing(db, actors):
    tech, tech2 = actors["tech"], actors["tech2"]
    lot = harvested(db, actors)
    subjects.update_weight(
        "S-001", 55.0, NOW.date(), "re-weighed", db=db, actor=tech, now=NOW - timedelta(hours=2)
    )
    subjects.verify_weight("S-001", db=db, actor=tech2, now=NOW - timedelta(hours=1))
    enter(db, actors, lot, PASSING)
    sign(db, actors, lot, "release")
    world.approve_label_layouts(db, NOW)
    payload = label_svc.print_labels(
        label_svc.PrintLabels(lot, "dose-bag"), db=db, actor=tech, now=NOW
    ).payloads[0]
    custody.store_bag(payload, LOC, db=db, actor=tech, now=NOW)
    assert not label_svc.scan(payload, db=db, actor=tech).on_hold
    custody.issue_bag(payload, db=db, actor=tech, now=LATER)


def test_the_cli_says_which_lots_a_weight_change_put_on_hold(db, actors, tmp_path, cli_clock):
    from typer.testing import CliRunner

    from mfg.cli import app

    lot, _ = released_with_bags(db, actors, "release")
    url = db.engine.url.render_as_string(hide_password=False)
    env = {"MFG_HOME": str(tmp_path / "home"), "MFG_PASSWORD": PASSWORD, "MFG_USER": "tech"}
    args = ["subject", "weight", "S-001", "--weight-kg", "58", "--reason", "re-weighed"]
    r = CliRunner().invoke(app, [*args, "--db", url], env=env)
    assert r.exit_code == 0, r.output
    assert f"lot {lot} is on HOLD: body weight changed after the release: 62.5 kg -> 58 kg" in (
        r.stdout
    )
