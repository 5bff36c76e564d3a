"""Lot states: every allowed and every forbidden transition."""

from __future__ import annotations

import itertools

import pytest

from mfg.domain.lifecycle import (
    BEFORE_DISPOSITION,
    DISPOSITIONED,
    TRANSITIONS,
    LotState,
    check_transition,
)
from mfg.errors import RuleViolation

S = LotState
ALLOWED = {
    (S.REGISTERED, S.IN_EXPANSION),
    (S.REGISTERED, S.TERMINATED),
    (S.IN_EXPANSION, S.HARVESTED),
    (S.IN_EXPANSION, S.TERMINATED),
    (S.HARVESTED, S.IN_RELEASE_TESTING),
    (S.HARVESTED, S.TERMINATED),
    (S.IN_RELEASE_TESTING, S.RELEASED),
    (S.IN_RELEASE_TESTING, S.CONDITIONALLY_RELEASED),
    (S.IN_RELEASE_TESTING, S.REJECTED),
    (S.IN_RELEASE_TESTING, S.TERMINATED),
    (S.CONDITIONALLY_RELEASED, S.RELEASED),
    (S.CONDITIONALLY_RELEASED, S.REJECTED),
}
ALL_PAIRS = list(itertools.product(S, S))


def test_the_table_is_exactly_the_design():
    assert {(a, b) for a, targets in TRANSITIONS.items() for b in targets} == ALLOWED
    assert set(TRANSITIONS) == set(S)


@pytest.mark.parametrize(("current", "target"), sorted(ALLOWED))
def test_allowed(current: LotState, target: LotState):
    assert check_transition(current.value, target.value) is target


@pytest.mark.parametrize(("current", "target"), [p for p in ALL_PAIRS if p not in ALLOWED])
def test_forbidden(current: LotState, target: LotState):
    with pytest.raises(RuleViolation) as e:
        check_transition(current, target)
    assert (e.value.field, e.value.rule) == ("state", "illegal-transition")
    assert str(current) in e.value.message and str(target) in e.value.message


def test_every_state_before_disposition_can_be_terminated_and_none_after():
    for st in S:
        can = S.TERMINATED in TRANSITIONS[st]
        assert can == (st in BEFORE_DISPOSITION)
    for st in DISPOSITIONED | {S.TERMINATED}:
        if st is not S.CONDITIONALLY_RELEASED:
            assert TRANSITIONS[st] == frozenset(), f"{st} is final"


def test_unknown_state_is_an_error():
    with pytest.raises(ValueError):
        check_transition("frozen", "registered")
