"""Every event's JSON is decoded with orjson (``canonical.decode_json``, the fold's and the
audit log's decoder): the same values as
``json.loads`` for everything CellTrail writes, and json decides what orjson refuses."""

from __future__ import annotations

import json
import math
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from mfg.audit import decode as audit_decode
from mfg.domain.canonical import NotJSON, canonical_json
from mfg.trailfold import decode

SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


def same(a: Any, b: Any) -> bool:
    """Equal, and of the same types all the way down (1 and 1.0 and True differ)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b) or (isinstance(a, float) and math.isnan(a) and math.isnan(b))


@settings(max_examples=300, deadline=None)
@given(VALUES)
def test_what_celltrail_writes_decodes_to_the_same_values(value: Any) -> None:
    text = canonical_json(value)
    assert same(decode(text), json.loads(text))


def test_what_orjson_refuses_is_decided_by_json() -> None:
    for text in ("NaN", '{"a": Infinity}', '"\\ud800"', "[" * 2000 + "]" * 2000):
        try:
            want: Any = json.loads(text)
        except RecursionError:
            want = f"(not JSON: {len(text):,} characters)"
        got = decode(text)
        assert same(got, want) or (isinstance(got, NotJSON) and got == want), text[:20]
    assert math.isnan(decode("NaN"))


def test_what_no_decoder_reads_is_a_note_not_an_error() -> None:
    """Only an edit outside CellTrail stores such text; verify names that event (its chain
    check), so the decoder must not crash the verify that would report it."""
    for text in ("{not json", "", "[" * 100_000 + "]" * 100_000, '{"a": 1} trailing'):
        got = decode(text)
        assert isinstance(got, NotJSON) and got == f"(not JSON: {len(text):,} characters)"


def test_an_integer_beyond_64_bits_compares_as_the_record_check_compares_numbers() -> None:
    from mfg.recordrows import _same

    big = 123456789012345678901234567890
    assert _same(big, decode(str(big)))  # stored int, recorded number: compared as floats


def test_the_audit_log_and_the_fold_decode_with_one_function() -> None:
    """What `mfg audit log` shows is what `mfg audit verify` compared."""
    assert audit_decode is decode
