"""CoI identifiers (ISBT 128 data structure 040) and their keyboard check character K; the
CellTrail 0.1 lot codes they replace; lot numbers."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mfg.domain.ids import (
    MOD37_ALPHABET,
    coi,
    coi_from_content,
    lot_number,
    migrated_coi,
    mod37_2_check,
    parse_coi,
    parse_legacy_coi,
)
from mfg.errors import RuleViolation

ALNUM = MOD37_ALPHABET[:36]
FIN_FIRST = "ABCDEFGHIJKLMNPQRSTUVWXYZ123456789"

fins = st.builds(
    lambda a, b: a + b,
    st.sampled_from(FIN_FIRST),
    st.text(alphabet="0123456789", min_size=4, max_size=4),
)
sequences = st.one_of(st.integers(1, 999_999), st.text(alphabet=ALNUM, min_size=6, max_size=6))
cois = st.builds(coi, fins, st.integers(0, 99), sequences)


def test_iso_7064_published_example():
    # ISO/IEC 7064 MOD 37-2 example (also the ISBT 128 DIN example): G123498654321 -> H
    assert mod37_2_check("G123498654321") == "H"


def test_coi_layout_field_by_field():
    c = coi("A9990", 2026, 42)
    assert c.structure == "&/CHA999026000042" and len(c.content) == 15
    assert (c.content[:2], c.content[2:7], c.content[7:9], c.content[9:]) == (
        "CH",
        "A9990",
        "26",
        "000042",
    )
    assert c.check == mod37_2_check("CHA999026000042")  # K over the 15-character data content
    assert c.text == "CH A9990 26 000042"
    assert c.eye_readable == f"CH A9990 26 000042 |{c.check}|"
    # as typed from the label (with K), as scanned (with its data identifier), as stored
    assert parse_coi(f"ch a9990 26 000042 {c.check}") == c
    assert parse_coi("&/CHA999026000042") == c == coi_from_content("CHA999026000042")


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("CHA99902600004", "coi-length"),
        ("CHO999026000042", "coi-format"),  # O is not a FIN's first character
        ("CHA9990260000-2", "coi-format"),
        ("XXA999026000042", "coi-format"),
        ("&/CHA99902600004", "coi-length"),
    ],
)
def test_malformed_cois_are_refused_naming_the_rule(text: str, rule: str):
    with pytest.raises(RuleViolation) as e:
        parse_coi(text)
    assert (e.value.field, e.value.rule) == ("coi", rule)


@settings(deadline=None, max_examples=60)
@given(cois)
def test_any_single_character_change_to_the_eye_readable_coi_is_caught(c):
    typed = c.content + c.check  # what a person types from the label: data content, then K
    assert parse_coi(typed) == c
    for i in range(len(typed)):
        for ch in MOD37_ALPHABET:
            if ch == typed[i]:
                continue
            typo = typed[:i] + ch + typed[i + 1 :]
            with pytest.raises(RuleViolation) as e:
                parse_coi(typo)
            assert e.value.field == "coi"


def test_legacy_codes_read_and_map_to_the_coi_of_migration_0005():
    old = "W000126000042" + mod37_2_check("W000126000042")
    assert parse_legacy_coi(old).sequence == 42
    assert migrated_coi(old).content == "CHW000126000042"
    with pytest.raises(RuleViolation) as e:
        parse_legacy_coi(old[:13] + ("A" if old[13] != "A" else "B"))
    assert e.value.rule == "coi-check-character"


def test_lot_number():
    assert lot_number("BH002", 2026, 7) == "BH002-26-0007"
