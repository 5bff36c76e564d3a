"""Dose: target CAR+ viable T cells for a subject, and the doses a harvest yields.

Target dose = dose level (CAR+ viable T cells / kg) x body weight capped at the protocol's cap
(BH002 spec v1: 100 kg). Doses available = floor(CAR+ viable cells / target). NCT06350110 allows
2-3 further doses after the first "if cells suffice".
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

from mfg.domain.specs import Product
from mfg.errors import RuleViolation

MIN_WEIGHT_KG = 20.0
MAX_WEIGHT_KG = 300.0
MAX_FURTHER_DOSES = 3


def check_weight(weight_kg: float) -> float:
    if not math.isfinite(weight_kg) or not MIN_WEIGHT_KG <= weight_kg <= MAX_WEIGHT_KG:
        raise RuleViolation(
            "weight_kg",
            "weight-range",
            f"{weight_kg:g} kg is outside {MIN_WEIGHT_KG:g}-{MAX_WEIGHT_KG:g} kg",
        )
    return weight_kg


def check_dose_level(product: Product, dose_level: str) -> str:
    level = dose_level.strip().upper()
    if level not in product.dose_levels:
        raise RuleViolation(
            "dose_level",
            "unknown-dose-level",
            f"{dose_level!r} is not a dose level of {product.code} "
            f"(one of {', '.join(product.dose_levels)})",
        )
    return level


def dosing_weight_kg(product: Product, weight_kg: float) -> float:
    return min(weight_kg, product.weight_cap_kg)


def stored_weight(weight_kg: object) -> float:
    """A weight as stored, checked: a real number of kg within the range. Text, NaN, 0 (an edit
    in SQL) are refused: never dosed from, never verified."""
    if isinstance(weight_kg, bool) or not isinstance(weight_kg, numbers.Real):
        raise RuleViolation(
            "weight_kg", "weight-format", f"{weight_kg!r} is not a body weight in kg"
        )
    return check_weight(float(weight_kg))


def target_dose_cells(product: Product, dose_level: str, weight_kg: float) -> int:
    """CAR+ viable T cells to reach ``dose_level`` for a subject of ``weight_kg``; the weight
    as ``stored_weight`` checks it."""
    per_kg = product.dose_levels[check_dose_level(product, dose_level)]
    return math.ceil(per_kg * dosing_weight_kg(product, stored_weight(weight_kg)))


def car_viable_cells(total_viable_cells: int, car_pct: float) -> int:
    return math.floor(total_viable_cells * car_pct / 100.0)


def default_bag_count(doses_available: int) -> int:
    """Dose bags a harvest fills unless the lab says otherwise: one per dose available (the first
    dose and at most ``MAX_FURTHER_DOSES`` further ones), and at least one."""
    return max(1, min(doses_available, 1 + MAX_FURTHER_DOSES))


@dataclass(frozen=True)
class DoseAssessment:
    target_dose_cells: int
    car_viable_cells: int
    dose_met: bool
    doses_available: int
    further_doses: int
    cells_per_kg: float


def assess_dose(
    product: Product, dose_level: str, weight_kg: float, car_viable: int
) -> DoseAssessment:
    target = target_dose_cells(product, dose_level, weight_kg)
    doses = car_viable // target if target else 0
    return DoseAssessment(
        target_dose_cells=target,
        car_viable_cells=car_viable,
        dose_met=car_viable >= target,
        doses_available=doses,
        further_doses=max(0, min(doses - 1, MAX_FURTHER_DOSES)),
        cells_per_kg=car_viable / dosing_weight_kg(product, weight_kg),
    )
