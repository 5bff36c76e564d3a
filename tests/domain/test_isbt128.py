"""ISBT 128 data structures CellTrail writes and reads, field by field against ST-001."""

from __future__ import annotations

from datetime import date, time

import pytest

from mfg.domain import isbt128
from mfg.domain.ids import coi
from mfg.errors import RuleViolation

C = coi("A9990", 26, 1)


def test_st001_example_date_and_time():
    # ST-001 appendix label 4: expiry 29 JAN 2018 with no time -> 0180292359
    assert isbt128.expiry(date(2018, 1, 29)) == "&>0180292359"
    [s] = isbt128.parse("&>0180292359")
    assert (s.spec.number, s.fields) == ("005", {"date": date(2018, 1, 29), "time": time(23, 59)})
    assert isbt128.collection(date(2026, 12, 31)) == "&*0263652359"  # day 365 of 2026


def test_product_code_fields_and_divisions():
    assert isbt128.product_code("YA005", "1", isbt128.division_code(2)) == "=<YA0051B0"
    [s] = isbt128.parse("=<S11941A0")
    assert s.fields == {"pdc": "S1194", "collection_type": "1", "division": "A0"}
    assert [isbt128.division_code(n) for n in (1, 2, 26)] == ["A0", "B0", "Z0"]
    assert isbt128.bag_of_division("C0") == 3 and isbt128.bag_of_division("00") is None


def test_compound_message_layout():
    msg = isbt128.compound(
        [C.structure, "=<YA0051B0", "&>0273292359", isbt128.mpho_lot("BH002-26-0001")]
    )
    assert msg == "=+04000&/CHA999026000001=<YA0051B0&>0273292359&,10000000BH002260001"
    parts = isbt128.parse(msg)
    assert [p.spec.number for p in parts] == ["040", "003", "005", "035"]
    assert parts[0].fields == {"fin": "A9990", "year": "26", "sequence": "000001"}
    assert parts[3].content == "0000000BH002260001"


@pytest.mark.parametrize(
    ("text", "rule", "structure"),
    [
        ("=+05000&/CHA999026000001", "count", "023"),  # announces 5, 1 follows
        ("=+01000&/CHA999026000001=<YA0051B0", "count", "023"),  # more than announced
        ("=+01001&/CHA999026000001", "specified-sequence", "023"),
        ("&/CHA99902600000", "length", "040"),
        ("&/CHA999026000001X", "length", "040"),
        ("&/CHO999026000001", "characters", "040"),
        ("=<YA0051B", "length", "003"),
        ("=<ZZ0051B0", "product-family", "003"),
        ("=<YA005ZB0", "collection-type", "003"),
        ("=<YA0051b0", "division", "003"),
        ("&>0263662359", "day-of-year", "005"),  # 2026 has 365 days
        ("&>0260012460", "time", "005"),
        ("&*02600A2359", "characters", "007"),
        ("&,10000000bh002260001", "characters", "035"),
        ("=%5100", "unknown-structure", None),
        ("CT2:D:X", "data-identifier", None),
    ],
)
def test_malformed_structures_are_refused_naming_structure_and_rule(text, rule, structure):
    with pytest.raises(RuleViolation) as e:
        isbt128.parse(text)
    assert (e.value.field, e.value.rule) == ("isbt128", rule)
    if structure:
        assert f"ISBT 128 {structure} " in e.value.message


def test_writer_refuses_what_the_standard_does_not_allow():
    with pytest.raises(RuleViolation):
        isbt128.product_code("X0001")  # not an S or Y product
    with pytest.raises(RuleViolation):
        isbt128.division_code(27)
    with pytest.raises(RuleViolation):
        isbt128.compound([])
