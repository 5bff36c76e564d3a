"""The QR payload: compact, versioned, checked, optionally keyed.

Format (version 2), one line of QR *alphanumeric-mode* characters only (``0-9 A-Z $%*+-./:``,
5.5 bits a character, so a payload fits a version 3 QR code at error correction M)::

    CT2:<kind>:<lot number>:<CoI>:<item>:<mode><check>
    CT2:D:BH002-26-0001:CHA999026000001:2/3:K7QGZ4M2A

- ``kind``: one letter, ``A`` apheresis bag, ``V`` PBMC cryovial, ``C`` culture vessel,
  ``Q`` QC sample tube, ``D`` dose bag.
- ``lot number`` and ``CoI``: the 15-character data content of the ISBT 128 Chain of Identity
  Identifier (structure 040) of the lot's therapy event. Version 1 (CellTrail 0.1 labels) had
  the lot's 14-character COI code there (with its MOD 37-2 check character); it is still read.
- ``item``: ``n/m`` (bag n of m) on dose bags, empty on the other kinds.
- ``mode``: ``H`` when the site has no ``label_key`` (the check is a SHA-256 of the text before
  it), ``K`` when it has one (the check is an HMAC-SHA256 with the key).
- ``check``: the first 40 bits of that digest, 8 characters of RFC 4648 base32.

A misread or hand-edited payload fails the check; a payload made without this site's key fails
the MAC (a site that has a key refuses ``H`` payloads, one without a key refuses ``K`` ones).
Everything is case-sensitive: a scanner sending lower case (Caps Lock) is refused with a hint.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass
from enum import StrEnum

from mfg.domain.ids import LOT_NUMBER_RE, coi_from_content, parse_legacy_coi
from mfg.errors import RuleViolation

PREFIX = "CT"
VERSION = 2
READ_VERSIONS = (1, 2)
CHECK_CHARS = 8  # 40 bits
MAX_ITEMS = 99
# QR alphanumeric mode: anything else forces byte mode and a larger code.
ALNUM_RE = re.compile(r"^[0-9A-Z $%*+\-./:]*$")


class LabelKind(StrEnum):
    APHERESIS_BAG = "apheresis-bag"
    PBMC_VIAL = "pbmc-vial"
    CULTURE = "culture"
    QC_SAMPLE = "qc-sample"
    DOSE_BAG = "dose-bag"


KIND_CODES: dict[LabelKind, str] = {
    LabelKind.APHERESIS_BAG: "A",
    LabelKind.PBMC_VIAL: "V",
    LabelKind.CULTURE: "C",
    LabelKind.QC_SAMPLE: "Q",
    LabelKind.DOSE_BAG: "D",
}
KINDS_BY_CODE = {v: k for k, v in KIND_CODES.items()}


def parse_kind(text: str) -> LabelKind:
    try:
        return LabelKind(text.strip().lower())
    except ValueError:
        raise RuleViolation(
            "kind",
            "unknown-label-kind",
            f"{text!r} is not a label kind; use one of {', '.join(k.value for k in LabelKind)}",
        ) from None


@dataclass(frozen=True)
class LabelRef:
    """What a label identifies: the object a payload names."""

    kind: LabelKind
    lot_number: str
    coi: str  # CoI data content; a 0.1 COI code when ``version`` is 1
    item_no: int | None = None
    item_count: int | None = None
    version: int = VERSION

    @property
    def item(self) -> str:
        return f"{self.item_no}/{self.item_count}" if self.item_no is not None else ""

    @property
    def object_ref(self) -> str:
        """Lot number, or ``LOT/B2`` for bag 2 of a lot."""
        return f"{self.lot_number}/B{self.item_no}" if self.item_no is not None else self.lot_number


def _digest(body: str, key: str | None) -> str:
    data = body.encode("ascii")
    if key:
        raw = hmac.new(key.encode("utf-8"), data, hashlib.sha256).digest()
    else:
        raw = hashlib.sha256(data).digest()
    return base64.b32encode(raw[:5]).decode("ascii")  # 40 bits -> exactly 8 characters


def _check_fields(ref: LabelRef) -> None:
    if not LOT_NUMBER_RE.fullmatch(ref.lot_number):
        raise RuleViolation("payload", "payload-format", f"{ref.lot_number!r} is not a lot number")
    if ref.version == 1:
        parse_legacy_coi(ref.coi)  # RuleViolation on a wrong check character
        if len(ref.coi) != 14:
            raise RuleViolation("payload", "payload-format", f"{ref.coi!r} is not a COI code")
    else:
        coi_from_content(ref.coi)
    if ref.kind is LabelKind.DOSE_BAG:
        n, m = ref.item_no, ref.item_count
        if n is None or m is None or not 1 <= n <= m <= MAX_ITEMS:
            raise RuleViolation(
                "payload", "payload-format", f"a dose bag needs bag n of m (1-{MAX_ITEMS})"
            )
    elif ref.item_no is not None or ref.item_count is not None:
        raise RuleViolation("payload", "payload-format", f"a {ref.kind} label has no item number")


def encode(ref: LabelRef, key: str | None = None) -> str:
    """The payload text of ``ref``; ``key`` is the site's ``label_key`` (or None)."""
    _check_fields(ref)
    mode = "K" if key else "H"
    body = (
        f"{PREFIX}{ref.version}:{KIND_CODES[ref.kind]}:{ref.lot_number}:{ref.coi}:{ref.item}:{mode}"
    )
    payload = body + _digest(body, key)
    assert ALNUM_RE.match(payload), payload
    return payload


def _damaged(message: str) -> RuleViolation:
    return RuleViolation("payload", "payload-damaged", message)


def decode(text: str, key: str | None = None) -> LabelRef:
    """Parse and verify a scanned payload; refuse anything damaged, altered or forged.

    Surrounding white space (the Enter a keyboard-wedge scanner sends) is ignored; nothing else
    is forgiven.
    """
    payload = text.strip()
    if not payload:
        raise RuleViolation("payload", "payload-empty", "nothing was scanned")
    if not payload.isascii() or not ALNUM_RE.match(payload):
        hint = ""
        if payload.isascii() and ALNUM_RE.match(payload.upper()):
            hint = " (lower case: is Caps Lock on, or the scanner set to lower case?)"
        raise _damaged(f"{payload[:60]!r} has characters no CellTrail label carries{hint}")
    if not payload.startswith(PREFIX):
        raise RuleViolation(
            "payload", "payload-unknown", f"{payload[:60]!r} is not a CellTrail label code"
        )
    version, _, rest = payload[len(PREFIX) :].partition(":")
    if version not in {str(v) for v in READ_VERSIONS}:
        raise RuleViolation(
            "payload",
            "payload-version",
            f"label format version {version!r} is not known (this CellTrail reads "
            f"{', '.join(map(str, READ_VERSIONS))})",
        )
    parts = rest.split(":")
    if len(parts) != 5 or len(parts[4]) != 1 + CHECK_CHARS:
        raise _damaged("the code is truncated or has extra parts: scan it again")
    kind_code, lot, coi, item, tail = parts
    mode, check = tail[0], tail[1:]
    body = payload[: len(payload) - CHECK_CHARS]
    if mode == "H" and key:
        raise RuleViolation(
            "payload",
            "payload-unkeyed",
            "this label carries no site MAC: it was not printed by this site's CellTrail "
            "(forged, or made elsewhere); do not use the container until QA has checked it",
        )
    if mode == "K" and not key:
        raise RuleViolation(
            "payload",
            "payload-key-missing",
            "this label carries a site MAC but no label_key is configured here "
            "(set MFG_LABEL_KEY to verify it)",
        )
    if mode not in ("H", "K") or not hmac.compare_digest(check, _digest(body, key)):
        if mode == "K":
            raise RuleViolation(
                "payload",
                "payload-mac-mismatch",
                "the site MAC does not match: the code was misread, altered, or made outside "
                "this site's CellTrail; scan again, and if it still fails, quarantine the container",
            )
        raise _damaged("the check does not match: misread or altered; scan it again")
    kind = KINDS_BY_CODE.get(kind_code)
    if kind is None:
        raise RuleViolation("payload", "payload-format", f"unknown label kind {kind_code!r}")
    n = m = None
    if item:
        n_text, sep, m_text = item.partition("/")
        if not (sep and n_text.isdigit() and m_text.isdigit()):
            raise RuleViolation("payload", "payload-format", f"item {item!r} is not n/m")
        n, m = int(n_text), int(m_text)
    ref = LabelRef(kind, lot, coi, n, m, int(version))
    try:
        _check_fields(ref)
    except RuleViolation as e:
        raise RuleViolation("payload", "payload-format", e.message) from None
    return ref
