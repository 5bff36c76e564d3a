"""Lot numbers and chain-of-identity (CoI) identifiers.

The CoI is ISBT 128 data structure 040 (ST-001 v6.2.2 section 2.4.40): data identifier ``&/``
and 15 characters of data content, ``CH`` + the 5-character Facility Identification Number (FIN)
of the issuing organisation + the 2-digit nominal year of issue + a 6-character sequence
(A-Z, 0-9). One CoI names one patient therapy event: every lot (collection, re-manufacture) of
that event carries it. When printed as text it is followed by the keyboard entry check character
K (ISO/IEC 7064 MOD 37-2 over the 15-character data content, ST-001 section 7.5), in a box.

CellTrail 0.1 gave each lot a 14-character code shaped like a DIN (FIN + year + 6 digits + MOD
37-2 check character); ``parse_legacy_coi`` still reads those (on labels printed before 0.2 and
in the lots registered then).
"""

from __future__ import annotations

from dataclasses import dataclass

from mfg.domain import identity
from mfg.errors import RuleViolation

MOD37_ALPHABET = identity.MOD37_ALPHABET
mod37_2_check = identity.mod37_2_check  # ISO/IEC 7064 MOD 37-2 (K; a 0.1 code's check character)
COI_DI = identity.COI_DI
COI_CONTENT_RE = identity.COI_RE  # use with fullmatch
LOT_NUMBER_RE = identity.LOT_NUMBER_RE  # use with fullmatch (identity.lot_number)
VALIDATION_FINS = frozenset(f"A999{d}" for d in range(10))  # ICCBBA: for validation and tests


@dataclass(frozen=True)
class Coi:
    """A Chain of Identity Identifier (structure 040)."""

    fin: str
    year: int
    sequence: str  # 6 characters

    @property
    def content(self) -> str:
        """The 15-character data content, as stored and encoded: ``CHA999026000001``."""
        return f"CH{self.fin}{self.year:02d}{self.sequence}"

    @property
    def structure(self) -> str:
        """Data identifier + content, as in a bar code: ``&/CHA999026000001``."""
        return COI_DI + self.content

    @property
    def check(self) -> str:
        """Keyboard entry check character K."""
        return mod37_2_check(self.content)

    @property
    def text(self) -> str:
        """The data content grouped for the eye: ``CH A9990 26 000001`` (K printed apart)."""
        return f"CH {self.fin} {self.year:02d} {self.sequence}"

    @property
    def eye_readable(self) -> str:
        """Plain-text form with K set apart by bars (terminal, TUI, CSV): ``CH A9990 26 000001 |K|``."""
        return f"{self.text} |{self.check}|"

    # kept for callers of the 0.1 API
    @property
    def code(self) -> str:
        return self.content

    @property
    def facility_id(self) -> str:
        return self.fin


@dataclass(frozen=True)
class LegacyCoi:
    """A CellTrail 0.1 lot COI code (``W000126000001`` + check character)."""

    fin: str
    year: int
    sequence: int
    check: str

    @property
    def code(self) -> str:
        return f"{self.fin}{self.year:02d}{self.sequence:06d}{self.check}"

    @property
    def eye_readable(self) -> str:
        return f"{self.fin} {self.year:02d} {self.sequence:06d} |{self.check}|"

    @property
    def facility_id(self) -> str:
        return self.fin


def coi(fin: str, year: int, sequence: int | str) -> Coi:
    """A new CoI; ``sequence`` is a number (zero-padded) or 6 characters."""
    if isinstance(sequence, int):
        if not 0 < sequence <= 999_999:
            raise RuleViolation("coi", "coi-sequence-range", "CoI sequence must be 1 to 999999")
        sequence = f"{sequence:06d}"
    value = Coi(fin, year % 100, sequence)
    if not COI_CONTENT_RE.fullmatch(value.content):
        raise RuleViolation(
            "coi",
            "coi-format",
            f"{value.content!r} is not CH + FIN(5) + year(2) + sequence(6 of A-Z, 0-9)",
        )
    return value


def coi_from_content(content: str) -> Coi:
    """The CoI of a stored or decoded 15-character data content (no K)."""
    if len(content) != identity.COI_MAX:
        raise RuleViolation(
            "coi", "coi-length", f"CoI data content has 15 characters, got {len(content)}"
        )
    if not COI_CONTENT_RE.fullmatch(content):
        raise RuleViolation(
            "coi",
            "coi-format",
            f"{content!r} is not CH + FIN(5) + year(2) + sequence(6 of A-Z, 0-9)",
        )
    return Coi(content[2:7], int(content[7:9]), content[9:15])


def _legacy(code: str) -> LegacyCoi:
    return LegacyCoi(code[:5], int(code[5:7]), int(code[7:13]), code[13])


def parse_coi(text: str) -> Coi:
    """A CoI as scanned or typed: ``&/CHA999026000001``, ``CHA999026000001`` or the eye-readable
    text with its check character (``CH A9990 26 000001 K``; single spaces, K between bars
    allowed): the canonical form from ``identity.coi``, which verifies K."""
    code = identity.coi(text)
    if len(code) != identity.COI_MAX:
        raise RuleViolation(
            "coi",
            "coi-length",
            f"{code} is a CellTrail 0.1 COI code, not an ISBT 128 CoI (15 characters)",
        )
    return coi_from_content(code)


def parse_legacy_coi(text: str) -> LegacyCoi:
    """A CellTrail 0.1 COI code (14 characters, single spaces allowed); the check character
    must match (``identity.coi`` verifies it)."""
    code = identity.coi(text)
    if len(code) != identity.LEGACY_COI_LEN:
        raise RuleViolation(
            "coi", "coi-length", f"a 0.1 COI code has 14 characters, got {len(code)}"
        )
    return _legacy(code)


def migrated_coi(legacy_code: str) -> Coi:
    """The CoI that migration 0005 gives the therapy event of a 0.1 lot: ``CH`` + the old code's
    13 characters without its check character (same FIN, year and sequence)."""
    old = parse_legacy_coi(legacy_code)
    return coi(old.fin, old.year, old.sequence)


def lot_number(product_code: str, year: int, sequence: int) -> str:
    """Lot number ``BH002-26-0007``: product, 2-digit year, yearly sequence."""
    return f"{product_code}-{year % 100:02d}-{sequence:04d}"
