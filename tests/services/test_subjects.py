"""Subjects through the service on SQLite and PostgreSQL: validation, roles, weight changes."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

import pytest

from mfg.errors import NotFound, NotPermitted
from mfg.services import audit_trail, subjects
from tests.support import world
from tests.support.constants import NOW, TODAY
from tests.support.refusals import assert_refused

GOOD = subjects.AddSubject(
    subject_id="S-001", site="BJ01", indication="SLE", weight_kg=62.5, dose_level="DL2"
)


def add(db, actor, cmd=GOOD):  # type: ignore[no-untyped-def]
    return subjects.add_subject(cmd, db=db, actor=actor, now=NOW)


def test_add_subject_is_stored_normalised_and_audited(db, actors):
    v = add(db, actors["tech"], replace(GOOD, indication="ssc", dose_level="dl3", initials="ab"))
    assert (v.indication, v.dose_level, v.initials, v.weight_on) == ("SSc", "DL3", "AB", TODAY)
    assert subjects.show_subject("S-001", db=db, actor=actors["qa"]) == v
    [e] = audit_trail.audit_log(db=db, actor=actors["qa"], action="subject.")
    assert (e.action, e.entity_id, e.username) == ("subject.added", "S-001", "tech")
    assert e.new["weight_kg"] == 62.5 and e.new["dose_level"] == "DL3"


@pytest.mark.parametrize("weight", [20.0, 300.0])
def test_weight_limits_are_inclusive(db, actors, weight):
    assert add(db, actors["tech"], replace(GOOD, weight_kg=weight)).weight_kg == weight


@pytest.mark.parametrize("weight", [19.9, 300.1, 0.0, -62.5])
def test_weight_outside_20_300_is_refused(db, actors, weight):
    assert_refused(
        db,
        lambda: add(db, actors["tech"], replace(GOOD, weight_kg=weight)),
        "weight-range",
        "weight_kg",
    )


@pytest.mark.parametrize(
    ("change", "rule", "field"),
    [
        ({"dose_level": "DL4"}, "unknown-dose-level", "dose_level"),
        ({"indication": "RA"}, "unknown-indication", "indication"),
        ({"subject_id": "S 001"}, "subject-id-format", "subject_id"),
        ({"site": ""}, "id-required", "site"),
        ({"initials": "A1"}, "initials-format", "initials"),
        ({"dob": TODAY + timedelta(days=1)}, "dob-range", "dob"),
        ({"dob": date(1899, 12, 31)}, "dob-range", "dob"),
        ({"weight_on": TODAY + timedelta(days=1)}, "date-in-future", "weight_on"),
    ],
)
def test_bad_subject_input_is_refused_and_writes_nothing(db, actors, change, rule, field):
    assert_refused(db, lambda: add(db, actors["tech"], replace(GOOD, **change)), rule, field)


def test_unknown_product_is_refused(db, actors):
    assert_refused(
        db, lambda: add(db, actors["tech"], replace(GOOD, product_code="XY9")), "unknown-product"
    )


def test_duplicate_subject_is_refused(db, actors):
    add(db, actors["tech"])
    assert_refused(db, lambda: add(db, actors["qa"]), "subject-exists", "subject_id")


@pytest.mark.parametrize("who", ["sponsor", "admin"])
def test_only_technicians_and_qa_add_subjects(db, actors, who):
    assert_refused(db, lambda: add(db, actors[who]), "not-permitted", kind=NotPermitted)


def test_unknown_subject(db, actors):
    with pytest.raises(NotFound) as e:
        subjects.show_subject("S-404", db=db, actor=actors["tech"])
    assert e.value.rule == "unknown-subject"


def test_weight_change_keeps_the_old_value_in_the_trail(db, actors):
    world.subject(db, actors["tech"])
    v = subjects.update_weight(
        "S-001", 70.0, TODAY, "re-weighed", db=db, actor=actors["qa"], now=NOW
    )
    assert v.weight_kg == 70.0
    [e] = audit_trail.audit_log(db=db, actor=actors["qa"], action="subject.weight")
    assert e.old["weight_kg"] == 62.5 and e.new["weight_kg"] == 70.0 and e.reason == "re-weighed"


@pytest.mark.parametrize(
    ("weight", "on", "reason", "rule"),
    [
        (310.0, TODAY, "x", "weight-range"),
        (70.0, TODAY, "  ", "reason-required"),
        (70.0, TODAY + timedelta(days=1), "x", "date-in-future"),
    ],
)
def test_weight_change_refusals(db, actors, weight, on, reason, rule):
    world.subject(db, actors["tech"])
    assert_refused(
        db,
        lambda: subjects.update_weight(
            "S-001", weight, on, reason, db=db, actor=actors["tech"], now=NOW
        ),
        rule,
    )
    assert subjects.show_subject("S-001", db=db, actor=actors["tech"]).weight_kg == 62.5


def test_weight_change_of_unknown_subject(db, actors):
    assert_refused(
        db,
        lambda: subjects.update_weight(
            "S-9", 70.0, TODAY, "x", db=db, actor=actors["tech"], now=NOW
        ),
        "unknown-subject",
        kind=NotFound,
    )
