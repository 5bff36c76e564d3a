"""The canonical JSON every hash is computed over: orjson's fast path must write exactly the
text of the json encoder it stands in for, or leave the value to that encoder."""

from __future__ import annotations

import enum
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mfg.domain import canonical
from mfg.domain.canonical import canonical_json


def _reference(value: object) -> str:
    return canonical._ENCODER.encode(value)


def _same(value: object) -> None:
    """canonical_json gives the encoder's text, or raises what the encoder raises."""
    try:
        expected = _reference(value)
    except (TypeError, ValueError) as e:
        with pytest.raises(type(e)):
            canonical_json(value)
        return
    assert canonical_json(value) == expected


class Colour(enum.Enum):
    RED = "red"


class Level(enum.IntEnum):
    ONE = 1


_text = st.text(st.characters(min_codepoint=0, max_codepoint=0x10FFFF, categories=None))
_scalars = (
    _text
    | st.integers()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.booleans()
    | st.none()
    | st.floats()  # NaN, infinities, subnormals, -0.0
    | st.floats(min_value=-1e-3, max_value=1e-3)
    | st.floats(min_value=1e14, max_value=1e18)
    | st.dates()
    | st.datetimes(timezones=st.just(UTC))
    | st.datetimes(timezones=st.just(timezone(timedelta(hours=-5))))
    | st.sampled_from([Colour.RED, Level.ONE, Decimal("1.50"), frozenset({"b", "a"})])
)
_values = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=5)
        | st.tuples(inner, inner)
        | st.dictionaries(_text, inner, max_size=6)
        | st.dictionaries(st.integers(), inner, max_size=3)
    ),
    max_leaves=20,
)


@settings(max_examples=600, deadline=None)
@given(_values)
def test_fast_path_writes_the_encoders_text(value: object) -> None:
    _same(value)


@pytest.mark.parametrize(
    "value",
    [
        1e-4,
        9.999e-5,  # Python 9.999e-05, orjson 0.00009999
        2.5e-7,
        5e-324,
        -0.0,
        0.0,
        1e16,
        1.7976931348623157e308,
        float("nan"),
        float("inf"),
        2**63,
        2**64,
        -(2**63) - 1,
        "\ud800",  # a lone surrogate: orjson refuses it, the encoder writes it
        '\x00\x1f\x7f\u2028"\\\n\t\b\f\r',
        {"\U0001f600": 1, "\uffff": 2, "é": 3, "Z": 4},  # sorted by code point
        {"a": {"b": [1, (2, 3)]}},
        Colour.RED,
        Level.ONE,
        Decimal("0.1"),
        {"z", "a"},
        datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=1))),
        date(9, 1, 2),
    ],
)
def test_edges(value: object) -> None:
    _same({"v": value})
    _same([value])


def test_unknown_types_are_refused_as_before() -> None:
    import uuid

    for value in (object(), uuid.UUID(int=1), b"bytes"):
        with pytest.raises(TypeError, match="not JSON-serialisable"):
            canonical_json({"v": value})


def test_an_events_values_take_the_fast_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """A result's event values (the bulk of an import) never reach the slower encoder."""

    class Refuse:
        def encode(self, value: object) -> str:
            raise AssertionError("the json encoder was used")

    values = {
        "test_code": "CD3",
        "value_num": 92.5,
        "qualifier": None,
        "unit": "%",
        "evaluation": "pass",
        "tested_on": date(2026, 1, 2),
        "at": datetime(2026, 1, 2, tzinfo=UTC),
        "file_row": 12,
        "historical": True,
    }
    expected = _reference(values)
    monkeypatch.setattr(canonical, "_ENCODER", Refuse())
    assert canonical_json(values) == expected
