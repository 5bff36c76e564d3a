"""The trial's secondary outcome: was a lot (a subject) manufactured successfully?

NCT06350110 secondary outcome (domain.md section 5; design.md "Definitions that decide the
numbers"): a lot succeeds when it was harvested 10-14 days after day 0 (the apheresis date for
fresh material, the thaw date for cryopreserved PBMC), its CAR+ viable cells reach the target dose
(dose level x body weight capped at the protocol's cap) and every release test on its COA passes.

Outcome of a lot, in this order:

- not yet dispositioned (registered, in expansion, harvested, in release testing): ``in_progress``;
- terminated with cause ``not_evaluable``: ``not_evaluable`` (outside the denominator, counted);
- terminated with cause ``manufacturing``: ``failure``, reason ``terminated``;
- otherwise (released, conditionally released, rejected) every reason that applies:
  ``harvest_window`` (harvest day outside the window), ``insufficient_dose`` (CAR+ viable cells
  below the target), ``out_of_spec:CODE`` for each failing test; a rejected lot with none of
  these gets ``rejected``. Any reason: ``failure`` -- a lot released by exception while out of
  specification is still a failure. No reason but a pending result: ``pending``. Else ``success``.

A test with no current result (not tested) neither fails nor holds a lot pending. A
dispositioned lot with no harvest record (which the services never produce) cannot show that it
met the window or the dose: it fails with reason ``no_harvest``.

A subject succeeds if any of its lots succeeded (re-manufacture counts); else it is in progress
if any lot is; else pending if any is; else a failure if any failed; else not evaluable.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from mfg.domain import dose
from mfg.domain.specs import Product


class Outcome(StrEnum):
    SUCCESS = "success"
    FAILURE = "failure"
    PENDING = "pending"
    IN_PROGRESS = "in_progress"
    NOT_EVALUABLE = "not_evaluable"


IN_PROGRESS_STATES = frozenset({"registered", "in_expansion", "harvested", "in_release_testing"})
DISPOSITIONED_STATES = frozenset({"released", "conditionally_released", "rejected"})

REASON_TERMINATED = "terminated"
REASON_WINDOW = "harvest_window"
REASON_DOSE = "insufficient_dose"
REASON_OOS = "out_of_spec:"
REASON_REJECTED = "rejected"
REASON_NO_HARVEST = "no_harvest"

REASON_TEXT = {
    REASON_TERMINATED: "terminated for a manufacturing cause",
    REASON_WINDOW: "harvest outside the day 10-14 window",
    REASON_DOSE: "CAR+ viable cells below the target dose",
    REASON_REJECTED: "rejected by QA (no other reason recorded)",
    REASON_NO_HARVEST: "dispositioned without a harvest record",
}


def reason_text(reason: str) -> str:
    if reason.startswith(REASON_OOS):
        return f"out of specification: {reason.removeprefix(REASON_OOS)}"
    return REASON_TEXT.get(reason, reason)


def lot_outcome(
    *,
    state: str,
    termination_cause: str | None = None,
    harvest_day: int | None = None,
    car_viable_cells: int | None = None,
    target_dose_cells: int | None = None,
    results: Mapping[str, str] | Iterable[tuple[str, str]] = (),
    window: tuple[int, int] = (10, 14),
) -> tuple[Outcome, tuple[str, ...]]:
    """Outcome and failure reasons of one lot.

    ``results`` maps each release test code to the evaluation of its *current* result
    (``pass``, ``fail`` or ``pending``); ``window`` is the spec's harvest window (first, last day).
    """
    dose_met = (
        None
        if car_viable_cells is None or target_dose_cells is None
        else car_viable_cells >= target_dose_cells
    )
    return decide(
        state=state,
        termination_cause=termination_cause,
        harvest_day=harvest_day,
        dose_met=dose_met,
        results=results,
        window=window,
    )


def decide(
    *,
    state: str,
    termination_cause: str | None,
    harvest_day: int | None,
    dose_met: bool | None,
    results: Mapping[str, str] | Iterable[tuple[str, str]],
    window: tuple[int, int],
) -> tuple[Outcome, tuple[str, ...]]:
    """``lot_outcome`` given whether the CAR+ viable cells reach the target dose (``None``: not
    known, no harvest) instead of the two numbers: what a report that compared them in SQL for
    many lots at once asks, once per distinct combination of inputs."""
    if state in IN_PROGRESS_STATES:
        return Outcome.IN_PROGRESS, ()
    if state == "terminated":
        if termination_cause == "not_evaluable":
            return Outcome.NOT_EVALUABLE, ()
        return Outcome.FAILURE, (REASON_TERMINATED,)
    if state not in DISPOSITIONED_STATES:
        raise ValueError(f"unknown lot state {state!r}")
    pairs = results.items() if isinstance(results, Mapping) else results
    failing: set[str] = set()
    pending = False
    for code, evaluation in pairs:
        if evaluation == "fail":
            failing.add(code)
        elif evaluation == "pending":
            pending = True
    reasons: list[str] = []
    if harvest_day is None or dose_met is None:
        reasons.append(REASON_NO_HARVEST)
    else:
        if not window[0] <= harvest_day <= window[1]:
            reasons.append(REASON_WINDOW)
        if not dose_met:
            reasons.append(REASON_DOSE)
    reasons.extend(REASON_OOS + code for code in sorted(failing))
    if not reasons and state == "rejected":
        reasons.append(REASON_REJECTED)
    if reasons:
        return Outcome.FAILURE, tuple(reasons)
    if pending:
        return Outcome.PENDING, ()
    return Outcome.SUCCESS, ()


@dataclass(frozen=True)
class LotFacts:
    """What the outcome of one lot depends on, as stored (current rows only)."""

    state: str
    day0: date
    dose_level: str
    weight_kg: float
    termination_cause: str | None = None
    harvested_on: date | None = None
    car_viable_cells: int | None = None
    results: tuple[tuple[str, str], ...] = ()


def evaluate_lot(product: Product, facts: LotFacts) -> tuple[Outcome, tuple[str, ...]]:
    """``lot_outcome`` with the day and target dose derived from the lot's pinned spec.

    Harvest day = harvest date - day 0; target = dose level x min(weight, weight cap).
    """
    day = None if facts.harvested_on is None else (facts.harvested_on - facts.day0).days
    target = dose.target_dose_cells(product, facts.dose_level, facts.weight_kg)
    return lot_outcome(
        state=facts.state,
        termination_cause=facts.termination_cause,
        harvest_day=day,
        car_viable_cells=facts.car_viable_cells,
        target_dose_cells=target,
        results=facts.results,
        window=(product.window_first_day, product.window_last_day),
    )


# A subject takes the first of these that any of its lots has (else not evaluable).
SUBJECT_PRECEDENCE = (
    Outcome.SUCCESS,
    Outcome.IN_PROGRESS,
    Outcome.PENDING,
    Outcome.FAILURE,
    Outcome.NOT_EVALUABLE,
)


def subject_outcome(lot_outcomes: Iterable[Outcome | str]) -> Outcome:
    """A subject's outcome from the outcomes of all its lots (re-manufacture included)."""
    seen = {Outcome(o) for o in lot_outcomes}
    return next((o for o in SUBJECT_PRECEDENCE if o in seen), Outcome.NOT_EVALUABLE)
