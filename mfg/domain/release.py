"""QA disposition rules: which decisions exist and what stops each one (pure, no I/O).

``blockers_for`` takes what the read models know about a lot's results and dose (anything with
the attributes of ``ResultFacts`` / ``DoseFacts``) and answers with every blocker; an empty answer
means QA may sign. Messages say what is wrong in the lab's words; the edges add how to act on it
(the CLI names its flags, the TUI its fields).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from mfg.domain.lifecycle import LotState
from mfg.domain.results import Evaluation
from mfg.errors import RuleViolation


class ResultStatus(StrEnum):
    """Where one test of the pinned spec stands."""

    FINAL = "final"
    PENDING = "pending"
    NOT_ENTERED = "not entered"


DECISIONS: dict[str, tuple[LotState, str]] = {
    "release": (LotState.RELEASED, "released"),
    "conditional-release": (LotState.CONDITIONALLY_RELEASED, "conditionally released"),
    "reject": (LotState.REJECTED, "rejected"),
}


def parse_decision(text: str) -> str:
    """``Release``, ``conditional_release`` ... -> the decision key; anything else is refused."""
    d = text.strip().lower().replace("_", "-")
    if d not in DECISIONS:
        raise RuleViolation(
            "decision", "unknown-decision", f"{text!r}: one of {', '.join(DECISIONS)}"
        )
    return d


class ResultFacts(Protocol):
    @property
    def test_code(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def evaluation(self) -> str: ...
    @property
    def display(self) -> str: ...
    @property
    def may_be_pending(self) -> bool: ...
    @property
    def verified(self) -> bool: ...
    @property
    def deviation_number(self) -> str | None: ...


class DoseFacts(Protocol):
    @property
    def evaluation(self) -> str: ...
    @property
    def display(self) -> str: ...
    @property
    def acceptance(self) -> str: ...


@dataclass(frozen=True)
class Blocker:
    rule: str
    message: str


def _listed(results: Sequence[ResultFacts]) -> str:
    return ", ".join(f"{r.test_code} ({r.status})" for r in results)


def _completeness(decision: str, results: Sequence[ResultFacts]) -> list[Blocker]:
    """Results not final (release) or not allowed to be pending (conditional release)."""
    out: list[Blocker] = []
    non_final = [r for r in results if r.status != ResultStatus.FINAL]
    if decision == "release" and non_final:
        out.append(Blocker("result-not-final", "not final: " + _listed(non_final)))
    if decision == "conditional-release":
        not_allowed = [r for r in non_final if not r.may_be_pending]
        if not_allowed:
            out.append(
                Blocker(
                    "pending-not-allowed",
                    "the spec does not allow these to be pending at a conditional release: "
                    + _listed(not_allowed),
                )
            )
        if not non_final:
            out.append(Blocker("nothing-pending", "every result is final: release instead"))
    unverified = [r for r in results if r.status == ResultStatus.FINAL and not r.verified]
    if unverified:
        out.append(
            Blocker(
                "result-unverified",
                "not verified by a second person: " + ", ".join(r.test_code for r in unverified),
            )
        )
    return out


def _out_of_specification(
    oos: Sequence[ResultFacts], dose: DoseFacts, dose_failed: bool
) -> list[Blocker]:
    out: list[Blocker] = []
    if oos:
        out.append(
            Blocker(
                "result-oos",
                "out of specification: "
                + ", ".join(f"{r.test_code} {r.display}" for r in oos)
                + "; release only as an exception citing the deviation(s)",
            )
        )
    if dose_failed:
        out.append(
            Blocker(
                "dose-not-met",
                f"{dose.display} is below the target ({dose.acceptance}); release only as "
                "an exception citing a deviation",
            )
        )
    return out


def _exception(
    oos: Sequence[ResultFacts],
    dose_failed: bool,
    cited: tuple[str, ...],
    lot_deviations: tuple[str, ...],
) -> list[Blocker]:
    out: list[Blocker] = []
    if not oos and not dose_failed:
        out.append(
            Blocker("no-exception-needed", "the lot meets its specification: no exception needed")
        )
    if not cited:
        out.append(
            Blocker(
                "exception-must-cite-deviation",
                "an exception release must cite the deviation(s)",
            )
        )
    unknown = [n for n in cited if n not in lot_deviations]
    if unknown:
        out.append(
            Blocker("unknown-deviation", f"not a deviation of this lot: {', '.join(unknown)}")
        )
    missing = sorted({r.deviation_number for r in oos if r.deviation_number} - set(cited))
    if missing:
        out.append(
            Blocker(
                "deviation-not-cited",
                "the exception must cite every OOS deviation: missing " + ", ".join(missing),
            )
        )
    return out


def blockers_for(
    decision: str,
    results: Sequence[ResultFacts],
    dose: DoseFacts,
    *,
    exception: bool = False,
    cited: tuple[str, ...] = (),
    lot_deviations: tuple[str, ...] = (),
) -> tuple[Blocker, ...]:
    """Everything that stops ``decision`` now (empty: QA may sign it)."""
    if decision == "reject":
        return (
            (Blocker("exception-only-for-release", "an exception is only for a release"),)
            if exception
            else ()
        )
    out = _completeness(decision, results)
    oos = [r for r in results if r.status == ResultStatus.FINAL and r.evaluation == Evaluation.FAIL]
    dose_failed = dose.evaluation == Evaluation.FAIL
    if dose.evaluation == Evaluation.PENDING:
        out.append(Blocker("no-harvest", "the dose cannot be evaluated without a harvest"))
    if not exception:
        return (*out, *_out_of_specification(oos, dose, dose_failed))
    return (*out, *_exception(oos, dose_failed, cited, lot_deviations))
