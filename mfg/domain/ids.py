"""Lot numbers and chain-of-identity (COI) codes.

The COI code is an ISBT 128-style identifier of 13 characters -- the 5-character facility
identification number (FIN), the 2-digit year and a 6-digit sequence -- followed by its ISO/IEC
7064 MOD 37-2 check character, 14 characters in all (ISBT 128 ST-001; the eye-readable check
character of a DIN is computed the same way).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mfg.domain import identity
from mfg.errors import RuleViolation

MOD37_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ*"
COI_BODY_RE = re.compile(r"[A-NP-Z1-9][0-9]{4}[0-9]{2}[0-9]{6}")
LOT_NUMBER_RE = identity.LOT_NUMBER_RE  # use with fullmatch (identity.lot_number)


def mod37_2_check(body: str) -> str:
    """ISO/IEC 7064 MOD 37-2 check character of ``body`` (digits and capital letters)."""
    p = 0
    for ch in body:
        v = MOD37_ALPHABET.find(ch)
        if v < 0 or v == 36:
            raise RuleViolation("coi", "coi-charset", f"{ch!r} is not a digit or capital letter")
        p = ((p + v) * 2) % 37
    return MOD37_ALPHABET[(38 - p) % 37]


def coi_code(facility_id: str, year: int, sequence: int) -> str:
    if not 0 < sequence <= 999_999:
        raise RuleViolation("coi", "coi-sequence-range", "COI sequence must be 1 to 999999")
    body = f"{facility_id}{year % 100:02d}{sequence:06d}"
    if not COI_BODY_RE.fullmatch(body):
        raise RuleViolation("coi", "coi-format", f"{body!r} is not FIN(5) + year(2) + sequence(6)")
    return body + mod37_2_check(body)


@dataclass(frozen=True)
class Coi:
    facility_id: str
    year: int
    sequence: int
    check: str

    @property
    def code(self) -> str:
        return f"{self.facility_id}{self.year:02d}{self.sequence:06d}{self.check}"

    @property
    def eye_readable(self) -> str:
        """As printed on labels: ``W0001 26 000042 K``."""
        return f"{self.facility_id} {self.year:02d} {self.sequence:06d} {self.check}"


def parse_coi(text: str) -> Coi:
    """Parse a COI code as scanned or typed (single spaces between groups allowed; canonical
    form from ``identity.coi``); the check character must match."""
    code = identity.coi(text)
    body, check = code[:13], code[13]
    if not COI_BODY_RE.fullmatch(body):
        raise RuleViolation("coi", "coi-format", f"{code!r} is not FIN(5) + year(2) + sequence(6)")
    expected = mod37_2_check(body)
    if check != expected:
        raise RuleViolation(
            "coi", "coi-check-character", f"check character of {body} is not {check}"
        )
    return Coi(body[:5], int(body[5:7]), int(body[7:13]), check)


def lot_number(product_code: str, year: int, sequence: int) -> str:
    """Lot number ``BH002-26-0007``: product, 2-digit year, yearly sequence."""
    return f"{product_code}-{year % 100:02d}-{sequence:04d}"
