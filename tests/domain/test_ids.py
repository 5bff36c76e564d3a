"""COI codes: ISO/IEC 7064 MOD 37-2 check characters, parsing, lot numbers."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mfg.domain.ids import (
    MOD37_ALPHABET,
    coi_code,
    lot_number,
    mod37_2_check,
    parse_coi,
)
from mfg.errors import RuleViolation

ALNUM = MOD37_ALPHABET[:36]
FIN_FIRST = "ABCDEFGHIJKLMNPQRSTUVWXYZ123456789"

fins = st.builds(
    lambda a, b: a + b,
    st.sampled_from(FIN_FIRST),
    st.text(alphabet="0123456789", min_size=4, max_size=4),
)
cois = st.builds(coi_code, fins, st.integers(0, 99), st.integers(1, 999_999))


def test_iso_7064_published_example():
    # ISO/IEC 7064 MOD 37-2 example (also the ISBT 128 DIN example): G123498654321 -> H
    assert mod37_2_check("G123498654321") == "H"


def test_coi_layout_and_eye_readable_form():
    code = coi_code("W0001", 2026, 42)
    assert len(code) == 14 and code[:13] == "W000126000042"
    coi = parse_coi(code)
    assert (coi.facility_id, coi.year, coi.sequence) == ("W0001", 26, 42)
    assert coi.code == code
    assert coi.eye_readable == f"W0001 26 000042 {code[13]}"
    assert parse_coi(coi.eye_readable.lower()) == coi  # as scanned or typed, spaces allowed


@settings(deadline=None)
@given(cois)
def test_generated_codes_parse_back(code: str):
    assert parse_coi(code).code == code


@settings(deadline=None)
@given(cois)
def test_every_single_character_substitution_is_detected(code: str):
    for i in range(len(code)):
        for ch in MOD37_ALPHABET:
            if ch == code[i]:
                continue
            typo = code[:i] + ch + code[i + 1 :]
            with pytest.raises(RuleViolation) as e:
                parse_coi(typo)
            assert e.value.field == "coi"


@settings(deadline=None)
@given(cois)
def test_every_adjacent_transposition_is_detected(code: str):
    for i in range(len(code) - 1):
        if code[i] == code[i + 1]:
            continue
        swapped = code[:i] + code[i + 1] + code[i] + code[i + 2 :]
        with pytest.raises(RuleViolation):
            parse_coi(swapped)


@settings(deadline=None)
@given(st.text(alphabet=ALNUM, min_size=1, max_size=20), st.data())
def test_check_character_changes_with_any_substitution_in_any_body(body: str, data):
    # The property of the algorithm itself, not only of the COI format.
    i = data.draw(st.integers(0, len(body) - 1))
    ch = data.draw(st.sampled_from(ALNUM).filter(lambda c: c != body[i]))
    assert mod37_2_check(body[:i] + ch + body[i + 1 :]) != mod37_2_check(body)


@settings(deadline=None)
@given(st.text(alphabet=ALNUM, min_size=2, max_size=20), st.data())
def test_check_character_changes_with_any_adjacent_transposition_in_any_body(body: str, data):
    i = data.draw(st.integers(0, len(body) - 2))
    if body[i] != body[i + 1]:
        swapped = body[:i] + body[i + 1] + body[i] + body[i + 2 :]
        assert mod37_2_check(swapped) != mod37_2_check(body)


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("W000126000001", "coi-length"),
        ("W000126000001LL", "coi-length"),
        ("O000126000001L", "coi-format"),  # O is not a FIN first character
        ("W00A126000001L", "coi-format"),
        ("W000126000001*", "coi-check-character"),
    ],
)
def test_malformed_codes_are_refused_with_a_rule(text: str, rule: str):
    code = coi_code("W0001", 26, 1)
    assert code != "W000126000001*"
    with pytest.raises(RuleViolation) as e:
        parse_coi(text)
    assert e.value.rule == rule


def test_check_character_may_be_the_asterisk():
    # value 36: the one check character that is not a digit or letter; it must still parse
    body = next(
        f"W000126{n:06d}" for n in range(1, 10_000) if mod37_2_check(f"W000126{n:06d}") == "*"
    )
    assert parse_coi(body + "*").check == "*"


@pytest.mark.parametrize(
    ("fin", "seq", "rule"),
    [
        ("W0001", 0, "coi-sequence-range"),
        ("W0001", 1_000_000, "coi-sequence-range"),
        ("O0001", 1, "coi-format"),
        ("W001", 1, "coi-format"),
    ],
)
def test_coi_code_refuses_bad_parts(fin: str, seq: int, rule: str):
    with pytest.raises(RuleViolation) as e:
        coi_code(fin, 2026, seq)
    assert e.value.rule == rule


def test_lower_case_or_star_in_a_body_is_not_a_check_input():
    with pytest.raises(RuleViolation) as e:
        mod37_2_check("W0001*")
    assert e.value.rule == "coi-charset"


def test_lot_number():
    assert lot_number("BH002", 2026, 7) == "BH002-26-0007"
    assert lot_number("BH002", 2100, 12345) == "BH002-00-12345"
