"""Issue 13 (9): plausibility warnings on a new count (pure rules)."""

from __future__ import annotations

from datetime import date, timedelta

from mfg.domain.plausibility import Count, count_warnings

D0 = date(2026, 11, 20)


def count(day: int, viable: float, viability: float = 90.0) -> Count:
    return Count(day, D0 + timedelta(days=day), int(viable), viability)


EARLIER = [count(0, 1e8), count(2, 1.5e8), count(4, 3e8)]


def test_a_plausible_count_has_no_warning() -> None:
    assert count_warnings(count(6, 6e8, 88.0), EARLIER) == []


def test_a_second_count_the_same_day() -> None:
    (w,) = count_warnings(count(4, 3.1e8), EARLIER)
    assert "exists already" in w and "day 4" in w


def test_more_than_ten_fold_in_two_days_up_or_down() -> None:
    (up,) = count_warnings(count(6, 3.5e9), EARLIER)
    assert "up 12-fold in 2 day(s) since day 4" in up
    (down,) = count_warnings(count(6, 2e7), EARLIER)
    assert "down 15-fold" in down
    # ten-fold exactly, or over more than two days, is growth
    assert count_warnings(count(6, 3e9), EARLIER) == []
    assert count_warnings(count(7, 3.5e9), EARLIER) == []


def test_a_viability_drop_of_more_than_20_points() -> None:
    (w,) = count_warnings(count(6, 6e8, 69.0), EARLIER)
    assert "21.0 points below day 4" in w
    assert count_warnings(count(6, 6e8, 70.0), EARLIER) == []


def test_the_first_count_has_nothing_to_compare() -> None:
    assert count_warnings(count(0, 1e8), []) == []
