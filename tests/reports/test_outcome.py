"""The secondary-outcome rules, case by case, and the exact intervals against SciPy."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mfg.domain.outcome import (
    LotFacts,
    Outcome,
    evaluate_lot,
    lot_outcome,
    subject_outcome,
)
from mfg.domain.stats import betainc, clopper_pearson, proportion
from mfg.specfiles import load_product

S, F, P, IP, NE = (
    Outcome.SUCCESS,
    Outcome.FAILURE,
    Outcome.PENDING,
    Outcome.IN_PROGRESS,
    Outcome.NOT_EVALUABLE,
)
PASSING = {"VIAB": "pass", "CD3": "pass", "STER": "pass"}


def released(**kw: object) -> tuple[Outcome, tuple[str, ...]]:
    args: dict[str, object] = dict(
        state="released",
        harvest_day=12,
        car_viable_cells=200_000_000,
        target_dose_cells=125_000_000,
        results=PASSING,
    )
    args.update(kw)
    return lot_outcome(**args)  # type: ignore[arg-type]


def test_released_in_window_with_dose_and_all_passing_is_a_success() -> None:
    assert released() == (S, ())


@pytest.mark.parametrize("state", ["registered", "in_expansion", "harvested", "in_release_testing"])
def test_not_yet_dispositioned_is_in_progress_even_if_already_out_of_spec(state: str) -> None:
    assert released(state=state, harvest_day=16, results={"VIAB": "fail"}) == (IP, ())


def test_terminated_not_evaluable_and_manufacturing() -> None:
    assert lot_outcome(state="terminated", termination_cause="not_evaluable") == (NE, ())
    assert lot_outcome(state="terminated", termination_cause="manufacturing") == (
        F,
        ("terminated",),
    )


@pytest.mark.parametrize(
    ("day", "ok"), [(9, False), (10, True), (11, True), (14, True), (15, False), (0, False)]
)
def test_harvest_window_day_10_and_14_inside_9_and_15_outside(day: int, ok: bool) -> None:
    assert released(harvest_day=day) == ((S, ()) if ok else (F, ("harvest_window",)))


@pytest.mark.parametrize(
    ("cells", "ok"), [(125_000_000, True), (124_999_999, False), (125_000_001, True)]
)
def test_dose_exactly_at_target_is_met_one_cell_short_is_not(cells: int, ok: bool) -> None:
    assert released(car_viable_cells=cells) == ((S, ()) if ok else (F, ("insufficient_dose",)))


def test_every_reason_that_applies_in_order_each_failing_test_named() -> None:
    o, reasons = released(
        harvest_day=15,
        car_viable_cells=1,
        results={"VIAB": "fail", "CD3": "fail", "STER": "pending", "ENDO": "pass"},
    )
    assert o is F
    assert reasons == (
        "harvest_window",
        "insufficient_dose",
        "out_of_spec:CD3",
        "out_of_spec:VIAB",
    )


def test_released_by_exception_while_out_of_spec_is_still_a_failure() -> None:
    assert released(results={**PASSING, "VIAB": "fail"}) == (F, ("out_of_spec:VIAB",))


def test_rejected_without_any_other_reason_gets_rejected() -> None:
    assert released(state="rejected") == (F, ("rejected",))
    assert released(state="rejected", results={"STER": "pending"}) == (F, ("rejected",))
    # with a reason, "rejected" is not added
    assert released(state="rejected", harvest_day=9) == (F, ("harvest_window",))


def test_pending_result_without_reason_is_pending_with_a_reason_is_failure() -> None:
    pending = {**PASSING, "STER": "pending"}
    assert released(state="conditionally_released", results=pending) == (P, ())
    assert released(state="released", results=pending) == (P, ())
    assert released(state="conditionally_released", results=pending, harvest_day=15) == (
        F,
        ("harvest_window",),
    )


def test_untested_tests_do_not_count_and_results_may_be_pairs() -> None:
    assert released(results={}) == (S, ())
    assert released(results=[("VIAB", "pass"), ("MYCO", "fail")]) == (F, ("out_of_spec:MYCO",))


def test_dispositioned_without_harvest_is_a_failure_no_harvest() -> None:
    assert released(harvest_day=None) == (F, ("no_harvest",))


def test_unknown_state_is_a_programming_error() -> None:
    with pytest.raises(ValueError):
        lot_outcome(state="shipped")


PRODUCT = load_product("BH002")
DAY0 = date(2026, 3, 2)


def facts(**kw: object) -> LotFacts:
    base: dict[str, object] = dict(
        state="released",
        day0=DAY0,
        dose_level="DL2",
        weight_kg=62.5,
        harvested_on=DAY0 + timedelta(days=12),
        car_viable_cells=125_000_000,
        results=(("VIAB", "pass"),),
    )
    base.update(kw)
    return LotFacts(**base)  # type: ignore[arg-type]


def test_target_dose_is_dose_level_times_weight() -> None:
    # DL2 = 2.0e6/kg x 62.5 kg = 125,000,000 exactly
    assert evaluate_lot(PRODUCT, facts()) == (S, ())
    assert evaluate_lot(PRODUCT, facts(car_viable_cells=124_999_999)) == (
        F,
        ("insufficient_dose",),
    )


@pytest.mark.parametrize(
    ("weight", "cells", "ok"),
    [
        (100.0, 300_000_000, True),  # DL3 3.0e6/kg x 100 kg
        (100.0, 299_999_999, False),
        (140.0, 300_000_000, True),  # capped at 100 kg: still 3.0e8
        (140.0, 299_999_999, False),
        (99.9, 299_700_000, True),  # below the cap the real weight counts
        (99.9, 299_699_999, False),
    ],
)
def test_weight_cap_at_100_kg(weight: float, cells: int, ok: bool) -> None:
    f = facts(dose_level="DL3", weight_kg=weight, car_viable_cells=cells)
    assert evaluate_lot(PRODUCT, f)[0] is (S if ok else F)


def test_day0_for_cryopreserved_pbmc_is_the_thaw_date() -> None:
    # The lot's day0 is the thaw date; apheresis was 40 days earlier and does not count.
    thaw = DAY0
    f = facts(day0=thaw, harvested_on=thaw + timedelta(days=14))
    assert evaluate_lot(PRODUCT, f) == (S, ())
    assert evaluate_lot(PRODUCT, facts(day0=thaw, harvested_on=thaw + timedelta(days=15))) == (
        F,
        ("harvest_window",),
    )
    assert evaluate_lot(PRODUCT, facts(day0=thaw, harvested_on=thaw + timedelta(days=10)))[0] is S
    assert evaluate_lot(PRODUCT, facts(day0=thaw, harvested_on=thaw + timedelta(days=9)))[0] is F


@pytest.mark.parametrize(
    ("lots", "expected"),
    [
        ([F, S], S),  # re-manufactured after a failure: the subject succeeds
        ([S, F], S),
        ([F, IP], IP),  # re-manufacture under way
        ([F, P], P),
        ([P, IP], IP),
        ([F, NE], F),
        ([NE, NE], NE),
        ([F], F),
        ([], NE),
        (["failure", "success"], S),
    ],
)
def test_subject_outcome_precedence(lots: list[Outcome], expected: Outcome) -> None:
    assert subject_outcome(lots) is expected


# -- exact intervals ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("x", "n", "low", "high"),
    [(12, 12, 73.5, 100.0), (9, 10, 55.5, 99.7), (29, 32, 75.0, 98.0), (128, 134, 90.5, 98.3)],
)
def test_domain_examples(x: int, n: int, low: float, high: float) -> None:
    lo, hi = clopper_pearson(x, n)
    assert round(100 * lo, 1) == low and round(100 * hi, 1) == high


def _scipy(x: int, n: int) -> tuple[float, float]:
    from scipy.stats import beta

    lo = 0.0 if x == 0 else float(beta.ppf(0.025, x, n - x + 1))
    hi = 1.0 if x == n else float(beta.ppf(0.975, x + 1, n - x))
    return lo, hi


@pytest.mark.parametrize("n", [1, 2, 3, 5, 10, 17, 32, 50, 134, 500])
def test_every_x_against_scipy(n: int) -> None:
    for x in range(n + 1):
        lo, hi = clopper_pearson(x, n)
        slo, shi = _scipy(x, n)
        assert lo == pytest.approx(slo, rel=1e-9, abs=1e-14), (x, n)
        assert hi == pytest.approx(shi, rel=1e-9, abs=1e-14), (x, n)


@settings(max_examples=150, deadline=None)
@given(st.integers(1, 100_000).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))))
def test_random_x_n_against_scipy(xn: tuple[int, int]) -> None:
    x, n = xn
    lo, hi = clopper_pearson(x, n)
    slo, shi = _scipy(x, n)
    assert lo == pytest.approx(slo, rel=1e-8, abs=1e-14)
    assert hi == pytest.approx(shi, rel=1e-8, abs=1e-14)
    assert 0.0 <= lo <= x / n <= hi <= 1.0


def test_x_zero_and_x_n_ends_are_exact() -> None:
    assert clopper_pearson(0, 7)[0] == 0.0
    assert clopper_pearson(7, 7)[1] == 1.0


def test_betainc_against_scipy() -> None:
    from scipy.special import betainc as sp

    for a, b, x in [(1, 1, 0.3), (0.5, 0.5, 0.2), (30, 2, 0.9), (2, 30, 0.05), (500, 800, 0.4)]:
        assert betainc(a, b, x) == pytest.approx(float(sp(a, b, x)), rel=1e-10)


def test_proportion_with_nothing_evaluable_is_all_none() -> None:
    p = proportion(0, 0)
    assert (p.rate, p.ci_low, p.ci_high) == (None, None, None)
    with pytest.raises(ValueError):
        clopper_pearson(3, 2)
