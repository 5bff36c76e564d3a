"""Expansion: day 0, fold expansion, doublings, doubling time, projection, harvest window."""

from __future__ import annotations

import math
from datetime import date

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from mfg.domain import expansion as ex
from mfg.domain.expansion import CountPoint
from mfg.errors import RuleViolation
from mfg.specfiles import load_product

APH = date(2026, 11, 1)
THAW = date(2026, 11, 20)
WINDOW = (10, 14)


# -- day 0 -------------------------------------------------------------------------------------
def test_day0_is_the_apheresis_date_for_fresh_material():
    assert ex.day0_for("apheresis", APH, None) == APH


def test_day0_is_the_thaw_date_for_cryopreserved_pbmc():
    assert ex.day0_for("cryo-pbmc", APH, THAW) == THAW
    assert ex.day0_for("cryo-pbmc", None, THAW) == THAW


@pytest.mark.parametrize(
    ("source", "aph", "thaw", "field", "rule"),
    [
        ("apheresis", None, None, "apheresis_date", "day0-missing"),
        ("apheresis", None, THAW, "apheresis_date", "day0-missing"),
        ("apheresis", APH, THAW, "thaw_date", "thaw-not-for-fresh"),
        ("cryo-pbmc", APH, None, "thaw_date", "day0-missing"),
        ("cryo-pbmc", THAW, APH, "thaw_date", "thaw-before-apheresis"),
        ("whole-blood", APH, None, "source", "unknown-source"),
    ],
)
def test_day0_refusals(source, aph, thaw, field, rule):
    with pytest.raises(RuleViolation) as e:
        ex.day0_for(source, aph, thaw)
    assert (e.value.field, e.value.rule) == (field, rule)


def test_expansion_day_and_its_inverse():
    assert ex.expansion_day(APH, date(2026, 11, 12)) == 11
    assert ex.expansion_day(APH, APH) == 0
    assert ex.date_of_day(APH, 11) == date(2026, 11, 12)
    with pytest.raises(RuleViolation) as e:
        ex.expansion_day(APH, date(2026, 10, 31))
    assert e.value.rule == "count-before-day-0"
    with pytest.raises(RuleViolation) as e:
        ex.date_of_day(APH, -1)
    assert (e.value.field, e.value.rule) == ("day", "count-before-day-0")


def test_future_dates_are_refused():
    assert ex.check_not_future(APH, APH) == APH
    with pytest.raises(RuleViolation) as e:
        ex.check_not_future(date(2026, 11, 2), APH, "harvest_date")
    assert (e.value.field, e.value.rule) == ("harvest_date", "date-in-future")


def test_viable_may_not_exceed_total():
    ex.check_count(10, 10)
    with pytest.raises(RuleViolation) as e:
        ex.check_count(10, 11)
    assert (e.value.field, e.value.rule) == ("viable", "viable-exceeds-total")


# -- derived values ---------------------------------------------------------------------------
def test_thirty_fold_is_4_91_doublings():
    s = ex.growth_series(
        [CountPoint(0, 100_000_000, 110_000_000), CountPoint(11, 3_000_000_000, 3_200_000_000)]
    )
    assert s[0].fold_expansion is None and s[0].population_doublings is None
    assert s[1].fold_expansion == pytest.approx(30.0)
    assert s[1].population_doublings == pytest.approx(4.91, abs=0.005)
    assert s[1].population_doublings == pytest.approx(math.log2(30))
    assert s[0].viability_pct == pytest.approx(100 / 1.1)


def test_doubling_time():
    s = ex.growth_series([CountPoint(0, 10**8, 10**8), CountPoint(4, 4 * 10**8, 4 * 10**8)])
    assert s[1].doubling_time_h == pytest.approx(48.0)
    # no growth: no doubling time
    s = ex.growth_series([CountPoint(0, 10**8, 10**8), CountPoint(2, 10**8, 10**8)])
    assert s[1].doubling_time_h is None and s[1].fold_expansion == 1.0


def test_without_a_day0_count_the_first_count_is_the_reference():
    s = ex.growth_series([CountPoint(5, 4 * 10**8, 5 * 10**8), CountPoint(3, 10**8, 2 * 10**8)])
    assert [p.day for p in s] == [3, 5]
    assert s[1].fold_expansion == pytest.approx(4.0)
    assert ex.growth_series([]) == []


def test_viability():
    assert ex.viability_pct(1_000, 912) == pytest.approx(91.2)


# -- harvest window ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("day", "inside"), [(9, False), (10, True), (12, True), (14, True), (15, False)]
)
def test_bh002_harvest_window_is_day_10_to_14_inclusive(day: int, inside: bool):
    assert load_product("BH002", "1").in_window(day) is inside


# -- projection -------------------------------------------------------------------------------
def exponential(n0: float, k: float, days: list[int]) -> list[CountPoint]:
    return [CountPoint(d, round(n0 * math.exp(k * d)), round(n0 * math.exp(k * d))) for d in days]


def test_projection_on_exact_exponential_data_hits_the_analytic_day():
    # viable = 1e8 * 2^(day/2) (48 h doubling). Target 1.5e8 CAR+ at 30 % CAR+ => 5e8 viable,
    # reached when 2^(d/2) = 5: d = 2 log2(5) = 4.64, so the first whole day is day 5.
    k = math.log(2) / 2
    pts = exponential(1e8, k, [0, 1, 2, 3])
    p = ex.project_harvest(pts, 150_000_000, 30.0, WINDOW)
    assert p is not None
    assert p.slope_per_day == pytest.approx(k, rel=1e-6)
    assert p.viable_on(4.64) == pytest.approx(1e8 * 2**2.32, rel=1e-5)
    analytic = 2 * math.log2(5)
    assert p.reach_day == math.ceil(analytic) == 5
    assert p.within_window and "harvest from day 10" in p.note


def test_projection_after_the_window_is_flagged():
    # slow growth: 1.5-fold every 4 days from 1e8; 1e9 viable needed
    k = math.log(1.5) / 4
    pts = exponential(1e8, k, [0, 3, 5, 7])
    p = ex.project_harvest(pts, 300_000_000, 30.0, WINDOW)
    analytic = math.log(10) / k
    assert p is not None and p.reach_day == math.ceil(analytic)
    assert p.reach_day > 14 and not p.within_window
    assert "after the window" in p.note


def test_projection_inside_the_window():
    k = math.log(2) / 2
    pts = exponential(1e7, k, [0, 2, 4, 6])
    p = ex.project_harvest(pts, 300_000_000, 30.0, WINDOW)  # 1e9 viable: d = 2*log2(100) = 13.3
    assert p is not None and p.reach_day == 14 and p.within_window
    assert p.note == "dose projected on day 14"


def test_projection_when_already_reached_is_the_last_count_day():
    pts = exponential(1e8, 0.5, [0, 3, 7])
    p = ex.project_harvest(pts, 10_000_000, 30.0, WINDOW)
    assert p is not None and p.reach_day == 7


def test_projection_needs_two_days_and_growth():
    assert ex.project_harvest([CountPoint(0, 10**8, 10**8)], 10**8, 30.0, WINDOW) is None
    assert (
        ex.project_harvest(
            [CountPoint(0, 10**8, 10**8), CountPoint(0, 2 * 10**8, 3 * 10**8)], 10**8, 30.0, WINDOW
        )
        is None
    )
    shrinking = [CountPoint(0, 10**8, 10**8), CountPoint(3, 5 * 10**7, 10**8)]
    p = ex.project_harvest(shrinking, 10**9, 30.0, WINDOW)
    assert p is not None and p.reach_day is None and not p.within_window
    assert "not expanding" in p.note


def test_projection_uses_only_the_recent_counts():
    # a slow lag phase, then fast growth: the last 4 points decide
    lag = [CountPoint(0, 10**8, 10**8), CountPoint(1, 10**8, 10**8)]
    pts = [*lag, *exponential(1e8, 0.4, [3, 4, 5, 6])]
    p = ex.project_harvest(pts, 10**12, 30.0, WINDOW)
    assert p is not None and p.slope_per_day == pytest.approx(0.4, rel=1e-5)


@settings(deadline=None)
@given(
    n0=st.floats(1e6, 1e9),
    doubling_h=st.floats(18, 120),
    last_day=st.integers(3, 12),
    needed_factor=st.floats(1.5, 1e4),
)
def test_projection_property_on_exponential_growth(n0, doubling_h, last_day, needed_factor):
    k = math.log(2) * 24 / doubling_h
    days = [last_day - 6, last_day - 4, last_day - 2, last_day]
    days = [d for d in days if d >= 0]
    pts = exponential(n0, k, days)
    needed_viable = n0 * math.exp(k * last_day) * needed_factor
    target = needed_viable * 0.3
    analytic = math.log(needed_viable / n0) / k
    assume(abs(analytic - round(analytic)) > 1e-3)  # away from float ties at whole days
    assume(round(target) > 0)
    p = ex.project_harvest(pts, round(target), 30.0, WINDOW)
    assert p is not None
    assert p.slope_per_day == pytest.approx(k, rel=1e-3)
    assert p.reach_day == max(last_day, math.ceil(analytic))
    assert p.within_window == (p.reach_day <= 14)


@settings(deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 20), st.integers(10**6, 10**11)),
        min_size=1,
        max_size=10,
        unique_by=lambda t: t[0],
    )
)
def test_growth_series_properties(rows):
    pts = [CountPoint(d, v, v + d) for d, v in rows]
    s = ex.growth_series(pts)
    assert [p.day for p in s] == sorted(d for d, _ in rows)
    seed = s[0]
    for p in s[1:]:
        assert p.fold_expansion == pytest.approx(p.viable_cells / seed.viable_cells)
        assert p.population_doublings == pytest.approx(math.log2(p.fold_expansion))
        if p.fold_expansion > 1:
            assert p.doubling_time_h == pytest.approx(
                (p.day - seed.day) * 24 / p.population_doublings
            )
        assert 0 < p.viability_pct <= 100
    # order of input does not matter
    assert ex.growth_series(list(reversed(pts))) == s


@settings(deadline=None)
@given(st.lists(st.integers(10**6, 10**10), min_size=3, max_size=3))
def test_fold_expansion_multiplies_and_doublings_add(vs):
    s = ex.growth_series([CountPoint(i * 3, v, v) for i, v in enumerate(vs)])
    f01 = vs[1] / vs[0]
    f12 = vs[2] / vs[1]
    assert s[2].fold_expansion == pytest.approx(f01 * f12)
    assert s[2].population_doublings == pytest.approx(math.log2(f01) + math.log2(f12), abs=1e-9)
