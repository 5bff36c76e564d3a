"""The success-rate report is refused, naming the field and the rule, when a lot's outcome
cannot be worked out from what is stored: a subject's dose level none of its spec's (it counted
the lot as a failure, silently) or a weight that is no body weight (text on SQLite, NaN on
PostgreSQL: the per-subject report stopped on an internal error). Only an edit outside CellTrail
stores either; the body weight of such a subject cannot be verified either."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from mfg.errors import RuleViolation
from mfg.services import reporting, subjects
from tests.release.conftest import harvested
from tests.support.constants import NOW


def _edit(db, sql: str) -> None:  # type: ignore[no-untyped-def]
    with db.engine.begin() as conn:
        conn.execute(text(sql))


@pytest.mark.parametrize("unit", ["lot", "subject"])
def test_a_dose_level_none_of_the_specs_refuses_the_report(db, actors, unit):  # type: ignore[no-untyped-def]
    harvested(db, actors, "S-001")
    harvested(db, actors, "S-002")
    assert reporting.success_rate(db=db, actor=actors["sponsor"], unit=unit).data
    _edit(db, "UPDATE subject SET dose_level = 'DL9' WHERE subject_id = 'S-002'")
    with pytest.raises(RuleViolation) as e:
        reporting.success_rate(db=db, actor=actors["sponsor"], unit=unit)
    assert (e.value.field, e.value.rule) == ("dose_level", "unknown-dose-level")


@pytest.mark.parametrize("unit", ["lot", "subject"])
def test_a_weight_that_is_no_body_weight_refuses_the_report(db, actors, unit):  # type: ignore[no-untyped-def]
    harvested(db, actors, "S-001")
    weight = "'NaN'" if db.dialect == "postgresql" else "'heavy'"
    _edit(db, f"UPDATE subject SET weight_kg = {weight} WHERE subject_id = 'S-001'")
    with pytest.raises(RuleViolation) as e:
        reporting.success_rate(db=db, actor=actors["sponsor"], unit=unit)
    assert e.value.field == "weight_kg"
    assert e.value.rule in ("weight-format", "weight-range")


def test_a_weight_edited_to_zero_cannot_be_verified(db, actors):  # type: ignore[no-untyped-def]
    subjects.add_subject(
        subjects.AddSubject("S-001", "BJ01", "SLE", 62.5, "DL2"),
        db=db,
        actor=actors["tech"],
        now=NOW,
    )
    _edit(db, "UPDATE subject SET weight_kg = 0 WHERE subject_id = 'S-001'")
    with pytest.raises(RuleViolation) as e:
        subjects.verify_weight("S-001", db=db, actor=actors["tech2"], now=NOW)
    assert (e.value.field, e.value.rule) == ("weight_kg", "weight-range")
    shown = subjects.show_subject("S-001", db=db, actor=actors["qa"])
    assert shown.weight_verified_by is None  # nothing written
