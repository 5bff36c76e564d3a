"""Release results: parsing what the lab types against one test of the pinned specification.

Pure functions, no SQL and no clock. ``parse_result`` turns the text of a result into a
``ParsedResult`` with an evaluation (``pass``, ``fail`` = out of specification, ``pending``) or
refuses it with a ``RuleViolation`` on the field ``value`` naming the rule broken:

- numeric tests: ``91.2``, ``91.2 %``, ``1.2e9``, ``1,200`` with the spec's unit or none; a wrong
  unit is refused naming the expected one (``wrong-unit``);
- values beyond the range of the assay: ``<0.5`` (below the quantitation limit) or ``>1000``
  (above the range) are judged against the limit when every true value they stand for falls on
  the same side of it (``<5.0`` against ``< 5.0 EU/mL`` passes; ``<60`` against ``>= 70 %``
  fails); one that could fall on either side cannot be judged and is refused
  (``censored-undecidable``), so the lab must re-test with a dilution that can;
- categorical tests: matched case-insensitively against the spec's allowed values (anything else
  is refused listing them, ``not-an-allowed-value``);
- ``pending`` is always parseable; whether a lot may be released with it is the disposition rule.

Comparisons use ``Decimal`` so a value typed exactly at the limit is judged at the limit, not at a
binary rounding of it.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Literal

from mfg.domain.numbers import format_cells, parse_decimal
from mfg.domain.specs import TestKind, TestSpec
from mfg.errors import RuleViolation


class Evaluation(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    PENDING = "pending"


Qualifier = Literal["", "<", ">"]

PENDING_WORDS = frozenset({"pending"})
DOSE_CODE = "DOSE"
DOSE_NAME = "Dose (CAR+ viable T cells)"
DOSE_UNIT = "CAR+ viable T cells"

_NUMBER_RE = re.compile(
    r"^(?P<qual>[<>])?\s*"
    r"(?P<num>(?:[0-9][0-9,]*(?:\.[0-9]+)?|\.[0-9]+)"
    r"(?:\s*[x×*]\s*10\s*(?:\^|\*\*)?\s*[+-]?[0-9]{1,3}|[eE][+-]?[0-9]{1,3})?)"
    r"\s*(?P<unit>.*?)\s*$",
    re.DOTALL,
)


@dataclass(frozen=True)
class ParsedResult:
    """A result as typed (``value_text``, verbatim) and as understood."""

    value_text: str
    value_num: float | None
    qualifier: Qualifier
    unit: str
    evaluation: Evaluation
    # categorical tests: the allowed value matched, spelled as the spec spells it
    category: str = ""

    @property
    def display(self) -> str:
        """The result as a COA prints it: ``91.2 %``, ``< 0.5 EU/mL``, ``No growth``, ``Pending``."""
        if self.evaluation is Evaluation.PENDING and self.value_num is None and not self.category:
            return "Pending"
        if self.category:
            return self.category
        return format_value(self.value_num, self.qualifier, self.unit)


def format_value(value: float | None, qualifier: str = "", unit: str = "") -> str:
    if value is None:
        return "-"
    if value == int(value) and abs(value) >= 10_000:
        num = format_cells(value)
    else:
        num = f"{value:g}" if abs(value) >= 1e-3 or value == 0 else f"{value:.3g}"
    q = f"{qualifier} " if qualifier else ""
    u = f" {unit}" if unit else ""
    return f"{q}{num}{u}"


def _unit_key(unit: str) -> str:
    return "".join(unit.split()).casefold()


def is_pending(text: str) -> bool:
    return text.strip().casefold() in PENDING_WORDS


def _compare(value: Decimal, operator: str, limit: Decimal) -> bool:
    if operator == ">=":
        return value >= limit
    if operator == ">":
        return value > limit
    if operator == "<=":
        return value <= limit
    if operator == "<":
        return value < limit
    raise ValueError(f"unknown operator {operator!r}")  # the loader never lets one through


def judge(value: Decimal, qualifier: str, operator: str, limit: Decimal) -> Evaluation | None:
    """Pass or fail for ``qualifier value`` against ``operator limit``; None if undecidable.

    ``<v`` stands for every true value x < v (x >= 0); ``>v`` for every x > v.
    """
    if qualifier == "":
        return Evaluation.PASS if _compare(value, operator, limit) else Evaluation.FAIL
    if qualifier == "<":
        if operator in ("<", "<="):
            # every x < v is < L (and <= L) exactly when v <= L
            return Evaluation.PASS if value <= limit else None
        # operator > or >=: every x < v misses the limit exactly when v <= L
        return Evaluation.FAIL if value <= limit else None
    if qualifier == ">":
        if operator in (">", ">="):
            # every x > v is > L (and >= L) exactly when v >= L
            return Evaluation.PASS if value >= limit else None
        # operator < or <=: every x > v breaks the limit exactly when v >= L
        return Evaluation.FAIL if value >= limit else None
    raise ValueError(f"unknown qualifier {qualifier!r}")


# The significant digits a stored result keeps (a float's 15): more were judged exactly and
# stored rounded, so ``99.99999999999999999`` against "< 100" was judged conforming and shown,
# stored and printed on the COA as 100.
MAX_DIGITS = 15


def _check_precision(test: TestSpec, text: str, value: Decimal) -> None:
    digits = len(value.normalize().as_tuple().digits)
    if value.is_finite() and digits > MAX_DIGITS:
        raise RuleViolation(
            "value",
            "result-precision",
            f"{text.strip()!r} has {digits} significant digits; a result of {test.code} keeps "
            f"at most {MAX_DIGITS} (it would be stored as {float(value):g}): write it as the "
            "assay reports it",
        )


def _parse_numeric(test: TestSpec, text: str) -> ParsedResult:
    s = text.strip()
    m = _NUMBER_RE.match(s)
    if not m:
        unit = f" {test.unit}" if test.unit else ""
        raise RuleViolation(
            "value",
            "result-format",
            f"{text!r} is not a result for {test.code} ({test.name}); write a number such as "
            f"12.5{unit}, a value beyond the assay range such as <0.5 or >1000, or 'pending'",
        )
    qualifier: Qualifier = m["qual"] or ""  # type: ignore[assignment]
    value = parse_decimal(m["num"], "value")
    _check_precision(test, text, value)
    typed_unit = m["unit"]
    if typed_unit and _unit_key(typed_unit) != _unit_key(test.unit):
        expected = f"expected {test.unit!r} or no unit" if test.unit else "it takes no unit"
        raise RuleViolation(
            "value",
            "wrong-unit",
            f"{typed_unit!r} is not the unit of {test.code} ({test.name}): {expected}",
        )
    if test.unit.strip() == "%" and value > 100:
        raise RuleViolation(
            "value", "percent-range", f"{text.strip()!r}: a percentage cannot exceed 100 %"
        )
    assert test.operator is not None and test.limit is not None  # numeric tests always have them
    limit = Decimal(repr(test.limit))
    evaluation = judge(value, qualifier, test.operator, limit)
    if evaluation is None:
        raise RuleViolation(
            "value",
            "censored-undecidable",
            f"{text.strip()!r} cannot be judged against {test.acceptance}: the true value may lie "
            "on either side of the limit; re-test so the result is a number, or a bound on the "
            "decisive side of the limit",
        )
    if not math.isfinite(float(value)):
        raise RuleViolation(
            "value", "result-range", f"{text.strip()!r} is beyond any number an assay reports"
        )
    return ParsedResult(
        value_text=text,
        value_num=float(value),
        qualifier=qualifier,
        unit=test.unit,
        evaluation=evaluation,
    )


def _parse_categorical(test: TestSpec, text: str) -> ParsedResult:
    key = " ".join(text.split()).casefold()
    for allowed in test.allowed:
        if " ".join(allowed.split()).casefold() == key:
            passing = {p.casefold() for p in test.passing}
            evaluation = Evaluation.PASS if allowed.casefold() in passing else Evaluation.FAIL
            return ParsedResult(
                value_text=text,
                value_num=None,
                qualifier="",
                unit="",
                evaluation=evaluation,
                category=allowed,
            )
    choices = ", ".join(repr(a) for a in test.allowed)
    raise RuleViolation(
        "value",
        "not-an-allowed-value",
        f"{text.strip()!r} is not a result for {test.code} ({test.name}); "
        f"allowed: {choices} or 'pending'",
    )


def parse_result(test: TestSpec, text: str) -> ParsedResult:
    """Parse and evaluate ``text`` as a result of ``test``; refuse it with a RuleViolation."""
    if not text.strip():
        raise RuleViolation("value", "result-empty", f"a result for {test.code} is required")
    if is_pending(text):
        return ParsedResult(
            value_text=text,
            value_num=None,
            qualifier="",
            unit=test.unit if test.kind is TestKind.NUMERIC else "",
            evaluation=Evaluation.PENDING,
        )
    if test.kind is TestKind.NUMERIC:
        return _parse_numeric(test, text)
    return _parse_categorical(test, text)


def evaluate_dose(car_viable_cells: int | None, target: int) -> ParsedResult:
    """The dose row of the COA: CAR+ viable T cells harvested >= the subject's target dose.

    ``None`` (no harvest recorded yet) is pending.
    """
    if target <= 0:
        raise RuleViolation("target_dose_cells", "dose-positive", "the target dose must be > 0")
    if car_viable_cells is None:
        return ParsedResult("pending", None, "", DOSE_UNIT, Evaluation.PENDING)
    if car_viable_cells < 0:
        raise RuleViolation("car_viable_cells", "count-positive", "a cell count cannot be < 0")
    return ParsedResult(
        value_text=str(car_viable_cells),
        value_num=float(car_viable_cells),
        qualifier="",
        unit=DOSE_UNIT,
        evaluation=Evaluation.PASS if car_viable_cells >= target else Evaluation.FAIL,
    )


def dose_acceptance(target: int) -> str:
    return f">= {format_cells(target)} {DOSE_UNIT}"
