"""Numbers as the lab writes them."""

from __future__ import annotations

import math
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mfg.domain.numbers import (
    MAX_CELLS,
    format_cells,
    format_pct,
    parse_cells,
    parse_decimal,
    parse_percent,
)
from mfg.errors import RuleViolation


@pytest.mark.parametrize(
    "text",
    [
        "1.2e9",
        "1.2E9",
        "1.2e+9",
        "1.2x10^9",
        "1.2X10^9",
        "1.2 x 10^9",
        "1.2*10^9",
        "1.2x10**9",
        "1,200x10^6",
        "1,200,000,000",
        "1200000000",
        "1.2×10⁹",
        "1.2 × 10⁹",
        "12e8",
        "0.0012e12",
        " 1.2e9 ",
        "1\u00a0200x10^6",
    ],
)
def test_the_lab_ways_of_writing_1_2e9(text: str):
    assert parse_cells(text, "total") == 1_200_000_000


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("-1.2e9", "count-positive"),
        ("-5", "count-positive"),
        ("0", "count-positive"),
        ("0x10^9", "count-positive"),
        ("0.0e5", "count-positive"),
        ("1.1e13", "count-impossible"),
        ("2x10^13", "count-impossible"),
        ("1.5", "count-whole"),
        ("1.23456789e3", "count-whole"),
        ("1,20x10^6", "number-format"),
        ("12,00", "number-format"),
        ("1,2000", "number-format"),
        ("1234,000", "number-format"),
        (",200", "number-format"),
        ("1.2e9 cells", "number-format"),
        ("1.2e9cells", "number-format"),
        ("1.2 million", "number-format"),
        ("1.2x10", "number-format"),
        ("1.2e", "number-format"),
        ("e9", "number-format"),
        ("", "number-format"),
        ("1.2.3", "number-format"),
        ("nan", "number-format"),
        ("inf", "number-format"),
    ],
)
def test_refused_cell_counts_name_field_and_rule(text: str, rule: str):
    with pytest.raises(RuleViolation) as e:
        parse_cells(text, "viable")
    assert (e.value.field, e.value.rule) == ("viable", rule)


def test_the_largest_possible_count_is_accepted():
    assert parse_cells("1e13", "total") == MAX_CELLS == 10**13
    assert parse_cells("1", "total") == 1


def test_parse_decimal_keeps_precision():
    assert parse_decimal("62.5", "weight_kg") == Decimal("62.5")
    assert parse_decimal("1.25x10^-1", "x") == Decimal("0.125")
    assert parse_decimal("2.5×10⁻³", "x") == Decimal("0.0025")


@pytest.mark.parametrize(
    ("text", "value"), [("91.2", 91.2), ("91.2 %", 91.2), ("0", 0.0), ("100%", 100.0)]
)
def test_percent(text: str, value: float):
    assert parse_percent(text, "car_pct") == value


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("100.1", "percent-range"),
        ("-1", "percent-range"),
        ("abc", "percent-format"),
        ("nan", "percent-range"),
        ("", "percent-format"),
    ],
)
def test_percent_refused(text: str, rule: str):
    with pytest.raises(RuleViolation) as e:
        parse_percent(text, "car_pct")
    assert (e.value.field, e.value.rule) == ("car_pct", rule)


@pytest.mark.parametrize(
    ("n", "shown"),
    [
        (1_200_000_000, "1.2 x 10^9"),
        (3.0e9, "3.0 x 10^9"),
        (99_999_999, "1.0 x 10^8"),  # rounding carries into the exponent
        (125_000_000, "1.2 x 10^8"),
        (9_999, "9999"),
        (0, "0"),
        (None, "-"),
    ],
)
def test_format_cells(n, shown: str):
    assert format_cells(n) == shown


def test_format_pct():
    assert format_pct(91.234) == "91.2 %"
    assert format_pct(None) == "-"


@settings(deadline=None)
@given(st.integers(1, MAX_CELLS), st.integers(1, 4))
def test_format_then_parse_round_trips_within_the_shown_precision(n: int, digits: int):
    shown = format_cells(n, digits)
    back = parse_cells(shown, "total")
    if n < 10_000:
        assert back == n
    else:
        # the mantissa is rounded to `digits` significant digits
        assert abs(back - n) <= 0.5 * 10 ** (1 - digits) * n * (1 + 1e-9) + 1


@settings(deadline=None)
@given(st.integers(1, MAX_CELLS))
def test_every_whole_count_written_plain_or_with_commas_parses_exactly(n: int):
    assert parse_cells(str(n), "total") == n
    assert parse_cells(f"{n:,}", "total") == n
    assert parse_cells(f"{n}e0", "total") == n


@settings(deadline=None)
@given(st.integers(1, 99_999), st.integers(0, 8))
def test_mantissa_times_power_of_ten_in_every_notation(mant: int, exp: int):
    n = mant * 10**exp
    if n > MAX_CELLS:
        return
    expected = n
    for text in (f"{mant}e{exp}", f"{mant}x10^{exp}", f"{mant:,}x10^{exp}", f"{mant} × 10^{exp}"):
        assert parse_cells(text, "total") == expected
    assert math.isclose(float(parse_decimal(f"{mant}e{exp}", "x")), n)


@pytest.mark.parametrize(
    "n, two, short",
    [
        (1_950_000_000, "2.0 x 10^9", "1.95 x 10^9"),  # float rounding gave "1.9 x 10^9"
        (1_200_000_000, "1.2 x 10^9", "1.2 x 10^9"),
        (100_000_000, "1.0 x 10^8", "1.0 x 10^8"),
        (1_234_567, "1.2 x 10^6", "1.23 x 10^6"),
        (9_960_000_000, "1.0 x 10^10", "9.96 x 10^9"),
        (999, "999", "999"),
        (None, "-", "-"),
    ],
)
def test_cells_are_rounded_on_the_exact_decimal_value(n: int | None, two: str, short: str) -> None:
    from mfg.domain.numbers import format_cells_short

    assert format_cells(n) == two
    assert format_cells_short(n) == short
