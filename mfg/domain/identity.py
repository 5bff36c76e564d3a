"""THE canonical form of every identifier CellTrail compares: subject ids, lot numbers, COI codes,
user names. Every lookup and every comparison (scan, bedside check, search, import matching,
login) goes through these functions; nothing else upper-cases, strips or compares ids
(``tests/domain/test_identity_guard.py`` fails on a ``.upper()`` / ``.strip()`` of an id
elsewhere).

The rules, the same for all four:
- the text is Unicode NFC; it may not start or end with whitespace (refused, never stripped:
  ``'S-900\\n'`` is not ``S-900``), and may not contain a control, format or zero-width
  character anywhere (``Cc``, ``Cf``, ``Zl``, ``Zp``: NUL, newline, U+200B, U+FEFF, ...);
- it is refused above its length limit before any database sees it (PostgreSQL would fail on a
  too-long VARCHAR, SQLite would store it), so both databases refuse the same input the same way;
- one letter case: subject ids, lot numbers and COI codes are upper case, user names lower case;
- the pattern is matched against the WHOLE text (``fullmatch``; ``$`` also matches before a
  trailing newline).

Messages name the field and the rule and show the input escaped (``repr``) and shortened, never
raw: a control character cannot reach the terminal or the log through a refusal. They never show
anything but the identifier itself (no initials, no date of birth).

``lookalike_key`` folds what people confuse when reading or typing (O/0, I/L/1, separators): a new
subject whose key equals an existing subject's is refused naming the existing one.
"""

from __future__ import annotations

import re
import unicodedata

from mfg.errors import RuleViolation

SUBJECT_ID_MAX = 40
LOT_NUMBER_MAX = 24
COI_MAX = 14
USERNAME_MAX = 32

SUBJECT_ID_RE = re.compile(r"[A-Z0-9][A-Z0-9._-]{0,39}")
LOT_NUMBER_RE = re.compile(r"[A-Z0-9]{2,10}-[0-9]{2}-[0-9]{4,6}")
COI_RE = re.compile(r"[A-NP-Z1-9][0-9]{6}[0-9]{6}[0-9A-Z*]")
USERNAME_RE = re.compile(r"[a-z][a-z0-9._-]{1,31}")

_FORBIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"})
_LOOKALIKE = str.maketrans({"O": "0", "I": "1", "L": "1"})
_SEPARATORS_RE = re.compile(r"[._\-\s]")


def shown(text: str, limit: int = 48) -> str:
    """An input as it may appear in a message: escaped (``repr``) and shortened."""
    r = repr(text)
    return r if len(r) <= limit else r[: limit - 4] + "...'"


def check_text(text: str, field: str, max_len: int, what: str) -> str:
    """The common rules: NFC, no surrounding whitespace, no control/format characters, length."""
    if not isinstance(text, str):
        raise RuleViolation(field, f"{field.replace('_', '-')}-format", f"{what} must be text")
    t = unicodedata.normalize("NFC", text)
    if not t:
        raise RuleViolation(field, "id-required", f"{what} is required")
    if len(t) > max_len:
        raise RuleViolation(
            field, "id-too-long", f"{what} has {len(t)} characters; at most {max_len}"
        )
    bad = next((c for c in t if unicodedata.category(c) in _FORBIDDEN_CATEGORIES), None)
    if bad is not None:
        raise RuleViolation(
            field,
            "id-control-character",
            f"{what} {shown(t)} contains an invisible or control character "
            f"(U+{ord(bad):04X}); retype it",
        )
    if t != t.strip():
        raise RuleViolation(
            field,
            "id-surrounding-space",
            f"{what} {shown(t)} starts or ends with a space; retype it without",
        )
    return t


def subject_id(text: str, field: str = "subject_id") -> str:
    """The canonical subject id: 1-40 of A-Z, 0-9, '.', '_', '-' (letters upper-cased)."""
    t = check_text(text, field, SUBJECT_ID_MAX, "subject id").upper()
    if not SUBJECT_ID_RE.fullmatch(t):
        raise RuleViolation(
            field,
            "subject-id-format",
            f"{shown(text)}: a subject id is 1-40 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit",
        )
    return t


def lot_number(text: str, field: str = "lot") -> str:
    """The canonical lot number, e.g. ``BH002-26-0007`` (product, year, sequence)."""
    t = check_text(text, field, LOT_NUMBER_MAX, "lot number").upper()
    if not LOT_NUMBER_RE.fullmatch(t):
        raise RuleViolation(
            field,
            "lot-number-format",
            f"{shown(text)} is not a lot number (PRODUCT-YY-NNNN, e.g. BH002-26-0007)",
        )
    return t


def coi(text: str, field: str = "coi") -> str:
    """The canonical COI code: 14 characters, upper case; the eye-readable form's single
    spaces between groups (``W0001 26 000042 K``) are accepted and removed. The check
    character is verified by ``mfg.domain.ids.parse_coi``, which calls this first."""
    t = check_text(text, field, COI_MAX + 6, "COI code").upper()
    if "  " in t or any(c.isspace() and c != " " for c in t):
        raise RuleViolation(
            field, "coi-format", f"{shown(text)}: groups are separated by one space"
        )
    code = t.replace(" ", "")
    if len(code) != COI_MAX:
        raise RuleViolation(
            field, "coi-length", f"a COI code has {COI_MAX} characters, got {len(code)}"
        )
    if not COI_RE.fullmatch(code):
        raise RuleViolation(
            field, "coi-format", f"{shown(code)} is not FIN(5) + year(2) + sequence(6) + check"
        )
    return code


def username(text: str, field: str = "username") -> str:
    """The canonical user name: 2-32 characters, lower case letters, digits, '.', '_', '-'."""
    t = check_text(text, field, USERNAME_MAX, "user name").lower()
    if not USERNAME_RE.fullmatch(t):
        raise RuleViolation(
            field,
            "username-format",
            f"{shown(text)}: 2-32 characters, lower-case letters, digits, '.', '_' or '-', "
            "starting with a letter",
        )
    return t


def lookalike_key(canonical: str) -> str:
    """What two ids look like to a person: separators dropped, O->0, I/L->1. Two different
    canonical ids with one key are lookalikes."""
    return _SEPARATORS_RE.sub("", canonical.upper()).translate(_LOOKALIKE)


def same(a: str, b: str, kind: str) -> bool:
    """Whether two ids of ``kind`` (subject, lot, coi, user) are the same record."""
    fn = {"subject": subject_id, "lot": lot_number, "coi": coi, "user": username}[kind]
    return fn(a) == fn(b)


def search_term(text: str, field: str = "search") -> str:
    """A (partial) id typed into a search box, in the ids' canonical form: NFC, no control or
    format characters, upper case, surrounding spaces dropped (a search finds, it never writes)
    and inner whitespace removed (COI codes are printed in groups)."""
    t = unicodedata.normalize("NFC", text)
    if len(t) > 64:
        raise RuleViolation(
            field, "id-too-long", f"a search has at most 64 characters, got {len(t)}"
        )
    check_text(t.strip() or "-", field, 64, "search")
    return re.sub(r"\s+", "", t).upper()
