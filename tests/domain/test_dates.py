"""Dates as typed at the bench."""

from __future__ import annotations

from datetime import date

import pytest

from mfg.domain.dates import parse_date
from mfg.errors import RuleViolation

TODAY = date(2026, 11, 25)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-25", date(2026, 11, 25)),
        ("2026/11/05", date(2026, 11, 5)),
        ("2026-1-5", date(2026, 1, 5)),
        (" 2024-02-29 ", date(2024, 2, 29)),
        ("today", TODAY),
        ("TODAY", TODAY),
        ("yesterday", date(2026, 11, 24)),
    ],
)
def test_accepted(text: str, expected: date):
    assert parse_date(text, "date", TODAY) == expected


@pytest.mark.parametrize("text", ["25.11.2026", "2026-13-01", "2025-02-29", "", "11/25/2026"])
def test_refused_names_field_and_rule(text: str):
    with pytest.raises(RuleViolation) as e:
        parse_date(text, "apheresis_date", TODAY)
    assert (e.value.field, e.value.rule) == ("apheresis_date", "date-format")


def test_today_needs_a_today():
    # The domain has no clock: without `today` the word is not a date.
    with pytest.raises(RuleViolation):
        parse_date("today", "date")
