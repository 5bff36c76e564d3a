"""The dose-bag state machine (pure)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from mfg.domain.custody import (
    STEPS,
    BagState,
    CustodyAction,
    check_issuable,
    check_patient,
    check_step,
    infusion_timing,
    parse_location,
)
from mfg.errors import RuleViolation

B, A = BagState, CustodyAction
ALLOWED = {
    (B.CREATED, A.STORE): B.STORED,
    (B.STORED, A.STORE): B.STORED,
    (B.ISSUED, A.STORE): B.STORED,
    (B.STORED, A.ISSUE): B.ISSUED,
    (B.ISSUED, A.THAW): B.THAWED,
    (B.THAWED, A.INFUSE): B.INFUSED,
    **{(s, A.DISCARD): B.DISCARDED for s in (B.CREATED, B.STORED, B.ISSUED, B.THAWED)},
}


@pytest.mark.parametrize("state", list(BagState))
@pytest.mark.parametrize("action", list(CustodyAction))
def test_every_state_and_step(state, action):
    if (state, action) in ALLOWED:
        assert check_step(state, action) is ALLOWED[(state, action)]
    else:
        with pytest.raises(RuleViolation) as e:
            check_step(state, action)
        assert e.value.field == "bag"
        assert e.value.rule in ("illegal-custody-step", "bag-already-infused")


def test_the_table_is_what_the_tests_say():
    assert {(s, a) for a, (src, _) in STEPS.items() for s in src} == set(ALLOWED)


def test_infused_twice_and_refreezing_have_their_own_words():
    with pytest.raises(RuleViolation) as e:
        check_step("infused", "infuse")
    assert e.value.rule == "bag-already-infused" and "only once" in e.value.message
    with pytest.raises(RuleViolation) as e:
        check_step("thawed", "store")
    assert "refrozen" in e.value.message


T0 = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("minutes", "overrun"), [(0, False), (29.5, False), (30, False), (30.5, True), (95, True)]
)
def test_thaw_to_infusion_limit(minutes, overrun):
    t = infusion_timing(T0, T0 + timedelta(minutes=minutes))
    assert t.minutes == minutes and t.overrun is overrun and t.limit_minutes == 30


def test_infusion_before_thaw_is_refused():
    with pytest.raises(RuleViolation) as e:
        infusion_timing(T0, T0 - timedelta(minutes=1))
    assert e.value.rule == "infusion-before-thaw"


@pytest.mark.parametrize(
    "state", ["registered", "in_expansion", "harvested", "in_release_testing", "rejected"]
)
def test_only_released_lots_issue(state):
    with pytest.raises(RuleViolation) as e:
        check_issuable("BH002-26-0001", state, None, date(2026, 11, 25))
    assert e.value.rule == "lot-not-released"


def test_released_and_conditional_issue_unless_expired():
    for state in ("released", "conditionally_released"):
        check_issuable("L", state, date(2026, 11, 25), date(2026, 11, 25))
    with pytest.raises(RuleViolation) as e:
        check_issuable("L", "released", date(2026, 11, 24), date(2026, 11, 25))
    assert e.value.rule == "bag-expired"


def test_patient_check_and_location():
    check_patient("s-001", "S-001")  # one canonical form: the same subject
    with pytest.raises(RuleViolation) as e:
        check_patient("s-001 ", "S-001")  # surrounding space refused, never stripped
    assert e.value.rule == "id-surrounding-space"
    with pytest.raises(RuleViolation) as e:
        check_patient("S-002", "S-001")
    assert e.value.rule == "wrong-subject" and e.value.field == "subject"
    assert parse_location("ln2-01", "r3", "B12", "a5").text == "LN2-01/R3/B12/A5"
    with pytest.raises(RuleViolation) as e:
        parse_location("LN2 01", "R3", "B12", "A5")
    assert e.value.field == "tank" and e.value.rule == "location-format"
