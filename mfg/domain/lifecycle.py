"""Lot states and the transitions allowed between them (21 CFR 11.10(f): permitted sequencing)."""

from __future__ import annotations

from enum import StrEnum

from mfg.errors import RuleViolation


class LotState(StrEnum):
    REGISTERED = "registered"
    IN_EXPANSION = "in_expansion"
    HARVESTED = "harvested"
    IN_RELEASE_TESTING = "in_release_testing"
    RELEASED = "released"
    CONDITIONALLY_RELEASED = "conditionally_released"
    REJECTED = "rejected"
    TERMINATED = "terminated"


class Source(StrEnum):
    APHERESIS = "apheresis"
    CRYO_PBMC = "cryo-pbmc"


def parse_source(text: str) -> Source:
    """``Apheresis``, `` cryo-PBMC `` ... -> the starting material; anything else is refused."""
    try:
        return Source(text.strip().lower())
    except ValueError:
        raise RuleViolation(
            "source",
            "unknown-source",
            f"{text!r} is not one of {', '.join(s.value for s in Source)}",
        ) from None


class TerminationCause(StrEnum):
    MANUFACTURING = "manufacturing"
    NOT_EVALUABLE = "not_evaluable"


S = LotState
BEFORE_DISPOSITION = frozenset({S.REGISTERED, S.IN_EXPANSION, S.HARVESTED, S.IN_RELEASE_TESTING})
DISPOSITIONED = frozenset({S.RELEASED, S.CONDITIONALLY_RELEASED, S.REJECTED})
ACTIVE = BEFORE_DISPOSITION | {S.CONDITIONALLY_RELEASED}
# a rejected or terminated lot's bags are destroyed: never issued, thawed, infused or labeled
NOT_FOR_INFUSION = frozenset({S.REJECTED, S.TERMINATED})

TRANSITIONS: dict[LotState, frozenset[LotState]] = {
    S.REGISTERED: frozenset({S.IN_EXPANSION, S.TERMINATED}),
    S.IN_EXPANSION: frozenset({S.HARVESTED, S.TERMINATED}),
    S.HARVESTED: frozenset({S.IN_RELEASE_TESTING, S.TERMINATED}),
    S.IN_RELEASE_TESTING: frozenset(
        {S.RELEASED, S.CONDITIONALLY_RELEASED, S.REJECTED, S.TERMINATED}
    ),
    # A conditional release is completed (or withdrawn) once the pending results are in.
    S.CONDITIONALLY_RELEASED: frozenset({S.RELEASED, S.REJECTED}),
    S.RELEASED: frozenset(),
    S.REJECTED: frozenset(),
    S.TERMINATED: frozenset(),
}


def check_transition(current: LotState | str, target: LotState | str) -> LotState:
    """Return ``target`` if the lot may move there from ``current``; else raise."""
    cur, tgt = LotState(current), LotState(target)
    if tgt not in TRANSITIONS[cur]:
        allowed = ", ".join(sorted(TRANSITIONS[cur])) or "none (final state)"
        raise RuleViolation(
            "state",
            "illegal-transition",
            f"a lot that is {cur} cannot become {tgt} (allowed next: {allowed})",
        )
    return tgt


def parse_state(state: str) -> LotState:
    """A lot state named by a user (a filter); refused naming the states there are."""
    try:
        return LotState(state)
    except ValueError:
        raise RuleViolation(
            "state",
            "unknown-state",
            f"{state!r} is not one of {', '.join(s.value for s in LotState)}",
        ) from None
