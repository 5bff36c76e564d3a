"""What a report may be asked for and what it contains: units, strata, columns, the definition.

No pandas, no SQL: the CLI checks its arguments with these before anything heavy is imported.
"""

from __future__ import annotations

from collections.abc import Iterable

from mfg.errors import RuleViolation

UNITS = ("lot", "subject")
STRATA = ("dose_level", "source", "indication", "site", "quarter")
COUNT_FIELDS = (
    "successes",
    "failures",
    "evaluable",
    "pending",
    "in_progress",
    "not_evaluable",
    "rate",
    "ci_low",
    "ci_high",
)
# The de-identified lot-level table: no initials, no date of birth, ever.
LOT_COLUMNS = (
    "lot_number",
    "subject_id",
    "site",
    "indication",
    "dose_level",
    "weight_kg",
    "product_code",
    "spec_version",
    "source",
    "day0",
    "quarter",
    "state",
    "termination_cause",
    "harvested_on",
    "harvest_day",
    "car_viable_cells",
    "target_dose_cells",
    "failing_tests",
    "pending_tests",
    "disposition",
    "disposition_on",
    "released_by_exception",
    "days_to_harvest",
    "days_to_disposition",
    "outcome",
    "reasons",
)
DEFINITION = (
    "A lot is a manufacturing success when it was harvested on day 10-14 after day 0 (the "
    "apheresis date for fresh material, the thaw date for cryopreserved PBMC), its CAR+ viable "
    "T cells reach the target dose (dose level x body weight, weight capped at 100 kg) and every "
    "release test passes. Lots terminated for a manufacturing cause, harvested outside the "
    "window, short of the dose, out of specification (even if released by exception) or "
    "rejected are failures. Lots not yet dispositioned are in progress; lots with results still "
    "pending are pending; lots terminated for a cause outside manufacturing are not evaluable. "
    "Rate = successes / (successes + failures), with the exact Clopper-Pearson 95% interval. "
    "A subject succeeds when any of its lots (re-manufacture included) succeeds."
)


def check_unit(unit: str) -> str:
    if unit not in UNITS:
        raise RuleViolation("unit", "unknown-unit", f"{unit!r} is not one of {', '.join(UNITS)}")
    return unit


def check_strata(by: Iterable[str]) -> tuple[str, ...]:
    keys: list[str] = []
    for item in by:
        for key in (k.strip() for k in item.split(",")):
            if not key:
                continue
            if key not in STRATA:
                raise RuleViolation(
                    "by", "unknown-stratum", f"{key!r} is not one of {', '.join(STRATA)}"
                )
            if key not in keys:
                keys.append(key)
    return tuple(keys)
