"""Dose: target CAR+ viable T cells, the 100 kg weight cap, doses available (BH002 spec v1)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mfg.domain import dose
from mfg.errors import RuleViolation
from mfg.specfiles import load_product

BH002 = load_product("BH002", "1")


def test_bh002_dose_levels_and_cap():
    assert BH002.dose_levels == {"DL1": 1.0e6, "DL2": 2.0e6, "DL3": 3.0e6}
    assert BH002.weight_cap_kg == 100.0


@pytest.mark.parametrize(
    ("level", "weight", "target"),
    [
        ("DL1", 62.5, 62_500_000),
        ("DL2", 62.5, 125_000_000),
        ("DL3", 62.5, 187_500_000),
        ("DL1", 100.0, 100_000_000),
        ("DL3", 100.0, 300_000_000),
        ("DL3", 120.0, 300_000_000),  # capped at 100 kg
        ("DL2", 300.0, 200_000_000),
        ("DL2", 20.0, 40_000_000),
        ("dl2", 80.0, 160_000_000),  # typed in lower case
    ],
)
def test_target_dose(level: str, weight: float, target: int):
    assert dose.target_dose_cells(BH002, level, weight) == target


@pytest.mark.parametrize(
    ("weight", "rule"),
    [
        (0.0, "weight-range"),
        (-62.5, "weight-range"),
        (math.nan, "weight-range"),
        (math.inf, "weight-range"),
        (19.9, "weight-range"),
        (300.1, "weight-range"),
        ("62.5", "weight-format"),  # SQLite hands back text stored in a REAL column as text
        (None, "weight-format"),
        (True, "weight-format"),
    ],
)
def test_a_stored_weight_that_is_no_body_weight_is_never_dosed_from(weight: object, rule: str):
    """A weight edited in SQL (text, NaN, 0, negative) is refused with the field and the rule,
    not turned into a target of 0 or less that every harvest 'meets'."""
    with pytest.raises(RuleViolation) as e:
        dose.target_dose_cells(BH002, "DL2", weight)  # type: ignore[arg-type]
    assert (e.value.field, e.value.rule) == ("weight_kg", rule)


def test_doses_available_floor_and_further_doses():
    # DL3 at 120 kg: target 3.0e8
    a = dose.assess_dose(BH002, "DL3", 120.0, 899_999_999)
    assert (a.doses_available, a.dose_met, a.further_doses) == (2, True, 1)
    a = dose.assess_dose(BH002, "DL3", 120.0, 900_000_000)
    assert (a.doses_available, a.further_doses) == (3, 2)
    a = dose.assess_dose(BH002, "DL3", 120.0, 299_999_999)
    assert (a.doses_available, a.dose_met, a.further_doses) == (0, False, 0)
    a = dose.assess_dose(BH002, "DL1", 50.0, 10**10)  # 200 doses: at most 3 further
    assert (a.doses_available, a.further_doses) == (200, 3)
    assert a.cells_per_kg == pytest.approx(2e8)


def test_cells_per_kg_uses_the_capped_weight():
    a = dose.assess_dose(BH002, "DL3", 150.0, 300_000_000)
    assert a.cells_per_kg == pytest.approx(3.0e6)


def test_car_viable_cells_floor():
    assert dose.car_viable_cells(3_000_000_000, 32.5) == 975_000_000
    assert dose.car_viable_cells(3, 50.0) == 1


@pytest.mark.parametrize("w", [20.0, 20, 62.5, 300.0])
def test_weight_in_range(w: float):
    assert dose.check_weight(w) == w


@pytest.mark.parametrize("w", [19.99, 0.0, -60.0, 300.01, 1000.0, math.nan, math.inf])
def test_weight_out_of_range(w: float):
    with pytest.raises(RuleViolation) as e:
        dose.check_weight(w)
    assert (e.value.field, e.value.rule) == ("weight_kg", "weight-range")


@pytest.mark.parametrize("level", ["DL4", "DL0", "", "2"])
def test_unknown_dose_level(level: str):
    with pytest.raises(RuleViolation) as e:
        dose.check_dose_level(BH002, level)
    assert (e.value.field, e.value.rule) == ("dose_level", "unknown-dose-level")
    assert "DL1, DL2, DL3" in e.value.message


@settings(deadline=None)
@given(
    st.sampled_from(["DL1", "DL2", "DL3"]),
    st.floats(20, 300),
    st.integers(1, 10**12),
)
def test_assessment_properties(level: str, weight: float, car: int):
    a = dose.assess_dose(BH002, level, weight, car)
    assert a.target_dose_cells == dose.target_dose_cells(BH002, level, min(weight, 100.0))
    assert a.doses_available * a.target_dose_cells <= car
    assert (a.doses_available + 1) * a.target_dose_cells > car
    assert a.dose_met == (a.doses_available >= 1)
    assert 0 <= a.further_doses <= dose.MAX_FURTHER_DOSES
