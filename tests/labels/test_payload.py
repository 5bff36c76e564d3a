"""The QR payload codec: round trip, checks, keyed MAC, and every single-character change refused."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labels.payload import LabelKind, LabelRef, decode, encode
from mfg.domain.ids import coi, mod37_2_check
from mfg.errors import RuleViolation


def coi_code(fin: str, year: int, seq: int) -> str:
    return coi(fin, year, seq).content


COI = coi_code("A9990", 26, 1)
REF = LabelRef(LabelKind.DOSE_BAG, "BH002-26-0001", COI, 2, 3)

refs = st.builds(
    lambda kind, product, yy, seq, fin, year, coi_seq, item: LabelRef(
        kind,
        f"{product}-{yy:02d}-{seq:04d}",
        coi_code(fin, year, coi_seq),
        *(item if kind is LabelKind.DOSE_BAG else (None, None)),
    ),
    st.sampled_from(list(LabelKind)),
    st.from_regex(r"[A-Z][A-Z0-9]{1,9}", fullmatch=True),
    st.integers(0, 99),
    st.integers(1, 9999),
    st.from_regex(r"[A-NP-Z1-9][0-9]{4}", fullmatch=True),
    st.integers(0, 99),
    st.integers(1, 999_999),
    st.integers(1, 99).flatmap(lambda m: st.tuples(st.integers(1, m), st.just(m))),
)
keys = st.one_of(st.none(), st.text(min_size=1, max_size=40))


def test_format_is_short_and_alphanumeric_mode():
    p = encode(REF)
    assert p.startswith("CT2:D:BH002-26-0001:" + COI + ":2/3:H") and len(p) == 49
    assert decode(p) == REF
    assert encode(REF, "k").split(":")[-1].startswith("K")


@settings(max_examples=300, deadline=None)
@given(refs, keys)
def test_encode_then_decode_is_the_identity(ref, key):
    payload = encode(ref, key)
    assert decode(payload, key) == ref
    assert decode(f"  {payload}\r\n", key) == ref  # the Enter a scanner sends


PRINTABLE = [chr(c) for c in range(32, 127)]


@settings(max_examples=400, deadline=None)
@given(refs, keys, st.data())
def test_any_single_character_change_is_refused(ref, key, data):
    payload = encode(ref, key)
    i = data.draw(st.integers(0, len(payload) - 1), label="position")
    c = data.draw(st.sampled_from([c for c in PRINTABLE if c != payload[i]]), label="char")
    changed = payload[:i] + c + payload[i + 1 :]
    with pytest.raises(RuleViolation) as e:
        decode(changed, key)
    assert e.value.field == "payload"


@settings(max_examples=200, deadline=None)
@given(refs, keys, st.data())
def test_truncated_or_extended_payloads_are_refused(ref, key, data):
    payload = encode(ref, key)
    cut = data.draw(st.integers(1, len(payload) - 1))
    with pytest.raises(RuleViolation):
        decode(payload[:cut], key)
    with pytest.raises(RuleViolation):
        decode(payload + data.draw(st.sampled_from("0A:/")), key)


def test_refusals_name_the_rule():
    plain, keyed = encode(REF), encode(REF, "site-secret")
    cases = [
        ("", None, "payload-empty"),
        ("HELLO", None, "payload-unknown"),
        ("CT9:D:X", None, "payload-version"),
        (plain.lower(), None, "payload-damaged"),
        (plain.replace("2/3", "3/3"), None, "payload-damaged"),
        (plain, "site-secret", "payload-unkeyed"),
        (keyed, None, "payload-key-missing"),
        (keyed, "another-site", "payload-mac-mismatch"),
        (keyed.replace("2/3", "1/3"), "site-secret", "payload-mac-mismatch"),
    ]
    for text, key, rule in cases:
        with pytest.raises(RuleViolation) as e:
            decode(text, key)
        assert e.value.rule == rule, (text, key)
    with pytest.raises(RuleViolation) as e:
        decode(plain.lower())
    assert "Caps Lock" in e.value.message


def test_a_hand_made_payload_with_a_valid_check_but_bad_coi_is_refused():
    import base64
    import hashlib

    body = "CT1:D:BH002-26-0001:W000126000001A:1/3:H"  # wrong COI check character
    payload = body + base64.b32encode(hashlib.sha256(body.encode()).digest()[:5]).decode()
    with pytest.raises(RuleViolation) as e:
        decode(payload)
    assert e.value.rule == "payload-format"


def _hand_made(body: str) -> str:
    import base64
    import hashlib

    return body + base64.b32encode(hashlib.sha256(body.encode()).digest()[:5]).decode()


def test_version_1_labels_of_cellTrail_0_1_still_decode_with_their_old_code():
    old = "W000126000001" + mod37_2_check("W000126000001")
    ref = decode(_hand_made(f"CT1:D:BH002-26-0001:{old}:1/3:H"))
    assert (ref.version, ref.coi, ref.item_no) == (1, old, 1)
    with pytest.raises(RuleViolation) as e:  # a CoI where a version 1 label has its old code
        decode(_hand_made(f"CT1:D:BH002-26-0001:{COI}:1/3:H"))
    assert e.value.rule == "payload-format"


def test_a_version_2_payload_with_a_malformed_coi_is_refused():
    with pytest.raises(RuleViolation) as e:
        decode(_hand_made("CT2:D:BH002-26-0001:CHO999026000001:1/3:H"))  # O is not a FIN letter
    assert e.value.rule == "payload-format"


def test_encode_refuses_what_it_cannot_carry():
    with pytest.raises(RuleViolation):
        encode(LabelRef(LabelKind.DOSE_BAG, "BH002-26-0001", COI))  # no bag n of m
    with pytest.raises(RuleViolation):
        encode(LabelRef(LabelKind.CULTURE, "BH002-26-0001", COI, 1, 2))
    with pytest.raises(RuleViolation):
        encode(LabelRef(LabelKind.CULTURE, "bh002-26-1", COI))
