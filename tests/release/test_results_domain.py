"""parse_result / evaluate_dose: every operator at, just past and beyond its limit, censored values,
units, categorical matching and pending (pure domain, no database)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mfg.domain.results import (
    Evaluation,
    ParsedResult,
    dose_acceptance,
    evaluate_dose,
    judge,
    parse_result,
)
from mfg.domain.specs import TestKind as Kind
from mfg.domain.specs import TestSpec as Spec
from mfg.errors import RuleViolation
from mfg.specfiles import load_product

P = load_product("BH002", "1")
VIAB = P.test("VIAB")  # >= 70.0 %
POT = P.test("POT")  # > 50.0 pg/mL
VCN = P.test("VCN")  # <= 5.0 copies/transduced cell
ENDO = P.test("ENDO")  # < 5.0 EU/mL
STER = P.test("STER")  # No growth / Growth
BEADS = P.test("BEADS")  # < 100 per 3e6 cells


def spec(operator: str, limit: float, unit: str = "u") -> Spec:
    return Spec("T", "Test", "m", Kind.NUMERIC, operator=operator, limit=limit, unit=unit)


def ev(test: Spec | None, text: str) -> str:
    assert test is not None
    return parse_result(test, text).evaluation


def refused(test: Spec | None, text: str) -> RuleViolation:
    assert test is not None
    with pytest.raises(RuleViolation) as e:
        parse_result(test, text)
    assert e.value.field == "value"
    return e.value


# --- each operator exactly at the limit and just past it --------------------------------------


@pytest.mark.parametrize(
    ("test", "text", "expected"),
    [
        (VIAB, "70.0", "pass"),
        (VIAB, "70", "pass"),
        (VIAB, "69.9", "fail"),
        (VIAB, "70.1", "pass"),
        (POT, "50", "fail"),
        (POT, "50.0", "fail"),
        (POT, "50.01", "pass"),
        (POT, "49.99", "fail"),
        (VCN, "5.0", "pass"),
        (VCN, "5.01", "fail"),
        (VCN, "4.99", "pass"),
        (ENDO, "5.0", "fail"),
        (ENDO, "4.99", "pass"),
        (ENDO, "0", "pass"),
        (BEADS, "99", "pass"),
        (BEADS, "100", "fail"),
    ],
)
def test_plain_numbers_at_and_just_past_the_limit(test: Spec, text: str, expected: str) -> None:
    assert ev(test, text) == expected


@pytest.mark.parametrize(
    ("operator", "at", "inside", "outside"),
    [
        (">=", "pass", "10.001", "9.999"),
        (">", "fail", "10.001", "9.999"),
        ("<=", "pass", "9.999", "10.001"),
        ("<", "fail", "9.999", "10.001"),
    ],
)
def test_every_operator_at_inside_and_outside(
    operator: str, at: str, inside: str, outside: str
) -> None:
    t = spec(operator, 10.0)
    assert ev(t, "10") == at
    assert ev(t, inside) == "pass"
    assert ev(t, outside) == "fail"


# --- censored values (beyond the assay range) -------------------------------------------------


@pytest.mark.parametrize(
    ("test", "text", "expected"),
    [
        (ENDO, "<5.0", "pass"),  # '<5.0' against '< 5.0 EU/mL' passes
        (ENDO, "<0.5", "pass"),
        (ENDO, "< 0.5 EU/mL", "pass"),
        (POT, ">50", "pass"),  # '>50' against '> 50 pg/mL' passes
        (POT, ">1000", "pass"),
        (VIAB, "<60", "fail"),  # '<60' against '>= 70 %' fails
        (VIAB, "<70", "fail"),
        (VIAB, ">70", "pass"),
        (VIAB, ">75", "pass"),
        (VCN, ">1000", "fail"),  # '>1000' against '<= 5.0' fails
        (VCN, ">5", "fail"),
        (VCN, "<5", "pass"),
        (VCN, "<0.1", "pass"),
        (ENDO, ">5", "fail"),
        (ENDO, ">10", "fail"),
        (POT, "<50", "fail"),
        (POT, "<10", "fail"),
    ],
)
def test_censored_values_judged_against_the_limit(test: Spec, text: str, expected: str) -> None:
    r = parse_result(test, text)
    assert r.evaluation == expected
    assert r.qualifier == text.strip()[0]


@pytest.mark.parametrize(
    ("test", "text"),
    [
        (ENDO, "<5.1"),  # could be 5.05 (fail) or 1 (pass)
        (ENDO, ">4"),  # could be 4.5 (pass) or 6 (fail)
        (VCN, "<5.01"),
        (VCN, ">4.99"),
        (POT, ">49.9"),
        (POT, "<50.1"),
        (VIAB, "<70.1"),
        (VIAB, ">69.9"),
    ],
)
def test_censored_value_that_cannot_be_judged_is_an_input_error(test: Spec, text: str) -> None:
    e = refused(test, text)
    assert e.rule == "censored-undecidable"
    assert test.acceptance in e.message


def test_censored_value_keeps_qualifier_number_and_text() -> None:
    r = parse_result(ENDO, "<0.5 eu/ml")
    assert r == ParsedResult("<0.5 eu/ml", 0.5, "<", "EU/mL", Evaluation.PASS)
    assert r.display == "< 0.5 EU/mL"


# --- units ------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["91.2", "91.2 %", "91.2%", "  91.2 %  "])
def test_unit_is_optional_and_recorded_from_the_spec(text: str) -> None:
    r = parse_result(VIAB, text)
    assert (r.value_num, r.unit, r.evaluation, r.value_text) == (91.2, "%", "pass", text)


def test_unit_matching_ignores_case_and_spacing() -> None:
    assert parse_result(POT, "120 PG/ML").unit == "pg/mL"
    assert parse_result(VCN, "1.2 copies / transduced cell").evaluation == "pass"
    assert parse_result(BEADS, "12 per 3e6 cells").value_num == 12


@pytest.mark.parametrize(("test", "text"), [(VIAB, "91 pg/mL"), (ENDO, "0.2 %"), (POT, "90 EU")])
def test_wrong_unit_is_refused_naming_the_expected_unit(test: Spec, text: str) -> None:
    e = refused(test, text)
    assert e.rule == "wrong-unit"
    assert repr(test.unit) in e.message


def test_unit_given_for_a_unitless_test_is_refused() -> None:
    e = refused(spec(">=", 1.0, unit=""), "3 mg")
    assert e.rule == "wrong-unit" and "no unit" in e.message


def test_percentage_above_100_is_refused() -> None:
    assert refused(VIAB, "101").rule == "percent-range"


def test_scientific_notation() -> None:
    t = spec(">=", 1e6, "cells")
    assert parse_result(t, "1.2e6").value_num == 1.2e6
    assert parse_result(t, "1.2 x 10^6 cells").evaluation == "pass"
    assert parse_result(t, "9.9x10^5").evaluation == "fail"
    assert parse_result(t, "1,200,000").value_num == 1.2e6


@pytest.mark.parametrize("text", ["abc", "-5", "5..0", "≤5", "=5", "1,20", "<", "five"])
def test_not_a_number_is_refused(text: str) -> None:
    assert refused(VIAB, text).rule in {"result-format", "number-format", "wrong-unit"}


@pytest.mark.parametrize("text", ["", "   "])
def test_empty_is_refused(text: str) -> None:
    assert refused(VIAB, text).rule == "result-empty"


# --- categorical ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected", "category"),
    [
        ("No growth", "pass", "No growth"),
        ("no growth", "pass", "No growth"),
        ("NO  GROWTH", "pass", "No growth"),
        ("Growth", "fail", "Growth"),
        ("growth", "fail", "Growth"),
    ],
)
def test_categorical_values_match_case_insensitively(
    text: str, expected: str, category: str
) -> None:
    r = parse_result(STER, text)
    assert (r.evaluation, r.category, r.value_text, r.value_num, r.unit) == (
        expected,
        category,
        text,
        None,
        "",
    )
    assert r.display == category


@pytest.mark.parametrize("text", ["negative", "ok", "no growth seen", "<1", "5"])
def test_anything_else_is_refused_listing_the_allowed_values(text: str) -> None:
    e = refused(STER, text)
    assert e.rule == "not-an-allowed-value"
    assert "'No growth'" in e.message and "'Growth'" in e.message


# --- pending ----------------------------------------------------------------------------------


@pytest.mark.parametrize("test", list(P.tests))
@pytest.mark.parametrize("text", ["pending", "Pending", " PENDING "])
def test_pending_is_always_parseable(test: Spec, text: str) -> None:
    r = parse_result(test, text)
    assert r.evaluation == "pending" and r.value_num is None and r.value_text == text
    assert r.display == "Pending"


# --- dose -------------------------------------------------------------------------------------


def test_dose_exactly_at_target_passes_one_cell_short_fails() -> None:
    assert evaluate_dose(125_000_000, 125_000_000).evaluation == "pass"
    assert evaluate_dose(124_999_999, 125_000_000).evaluation == "fail"
    assert evaluate_dose(900_000_000, 125_000_000).evaluation == "pass"
    assert evaluate_dose(None, 125_000_000).evaluation == "pending"
    assert dose_acceptance(125_000_000) == ">= 1.2 x 10^8 CAR+ viable T cells"


def test_dose_refuses_impossible_inputs() -> None:
    with pytest.raises(RuleViolation):
        evaluate_dose(5, 0)
    with pytest.raises(RuleViolation):
        evaluate_dose(-1, 10)


# --- properties -------------------------------------------------------------------------------

OPS = st.sampled_from([">=", ">", "<=", "<"])
DEC = st.decimals(min_value=0, max_value=10_000, places=3, allow_nan=False, allow_infinity=False)


def holds(x: Decimal, op: str, limit: Decimal) -> bool:
    return {">=": x >= limit, ">": x > limit, "<=": x <= limit, "<": x < limit}[op]


@given(op=OPS, limit=DEC, value=DEC)
def test_plain_value_evaluation_agrees_with_the_operator(
    op: str, limit: Decimal, value: Decimal
) -> None:
    t = spec(op, float(limit))
    r = parse_result(t, f"{value}")
    assert r.evaluation == ("pass" if holds(value, op, Decimal(repr(float(limit)))) else "fail")
    assert r.qualifier == "" and r.unit == "u"


@given(op=OPS, limit=DEC.filter(lambda d: d > 0), bound=DEC, qual=st.sampled_from(["<", ">"]))
def test_censored_verdict_is_true_for_every_value_the_bound_stands_for(
    op: str, limit: Decimal, bound: Decimal, qual: str
) -> None:
    """A censored result judged pass or fail agrees with every true value it stands for
    (x < bound, x >= 0; or x > bound); one refused as undecidable stands for values on both sides."""
    lim = Decimal(repr(float(limit)))
    eps = Decimal("0.0001")
    candidates = [Decimal(0), lim, lim - eps, lim + eps, (lim + bound) / 2, bound - eps]
    candidates += [bound + eps, bound * 2 + 1]
    behind = [x for x in candidates if x >= 0 and (x < bound if qual == "<" else x > bound)]
    verdict = judge(bound, qual, op, lim)
    sides = {holds(x, op, lim) for x in behind}
    if verdict is not None:
        assert sides <= {verdict == Evaluation.PASS}
    else:
        assert sides == {True, False}


@given(text=st.text(max_size=20))
def test_any_text_either_parses_or_is_a_rule_violation(text: str) -> None:
    for t in (VIAB, ENDO, STER):
        assert t is not None
        try:
            r = parse_result(t, text)
        except RuleViolation as e:
            assert e.field == "value" and e.rule
        else:
            assert r.evaluation in ("pass", "fail", "pending")
            assert r.value_text == text


def test_a_number_beyond_float_range_is_refused() -> None:
    assert refused(POT, "1e999").rule == "result-range"
    assert refused(POT, ">1e999").rule == "result-range"


@pytest.mark.parametrize(
    ("test", "text"),
    [
        (BEADS, "99.99999999999999999"),
        (VIAB, "69.9999999999999999 %"),
        (ENDO, "<4.9999999999999999"),
    ],
)
def test_a_result_more_precise_than_it_is_kept_is_refused(test: Spec, text: str) -> None:
    """Judged exactly, stored as a float: 99.99999999999999999 against < 100 conformed and was
    stored, shown and printed as 100 (the hostile trial of 2026-12-04)."""
    e = refused(test, text)
    assert e.rule == "result-precision" and "at most 15" in e.message, e


@pytest.mark.parametrize("text", ["99.9999999999999", "100.000000000000000000", "1.2 x 10^9"])
def test_fifteen_significant_digits_or_trailing_zeros_are_kept(text: str) -> None:
    assert parse_result(spec("<", 1e12), text).value_num == float(
        Decimal(text.replace(" x 10^", "e"))
    )
