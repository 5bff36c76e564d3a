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

``lookalike_key`` folds what people confuse when reading or typing (O/0, I/L/1, S/5, B/8, Z/2,
a number's leading zeros, separators): a new subject, user or site whose key equals an existing
one's is refused naming the existing one.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

from mfg.errors import RuleViolation

SUBJECT_ID_MAX = 40
LOT_NUMBER_MAX = 24
COI_MAX = 15  # ISBT 128 Chain of Identity Identifier (040): the data content CH+FIN+yy+nnnnnn
LEGACY_COI_LEN = 14  # a CellTrail 0.1 lot COI code: FIN + yy + 6 digits + check character
USERNAME_MAX = 32

SUBJECT_ID_RE = re.compile(r"[A-Z0-9][A-Z0-9._-]{0,39}")
LOT_NUMBER_RE = re.compile(r"[A-Z0-9]{2,10}-[0-9]{2}-[0-9]{4,6}")
COI_DI = "&/"  # ISBT 128 data identifier of structure 040
# data content of 040: CH, FIN (a letter A-N/P-Z or digit 1-9; 2 alphanumerics; 2 digits), yy, 6
COI_RE = re.compile(r"CH[A-NP-Z1-9][A-NP-Z0-9]{2}[0-9]{2}[0-9]{2}[A-Z0-9]{6}")
LEGACY_COI_RE = re.compile(r"[A-NP-Z1-9][0-9]{4}[0-9]{2}[0-9]{6}[0-9A-Z*]")
MOD37_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ*"
USERNAME_RE = re.compile(r"[a-z][a-z0-9._-]{1,31}")

_FORBIDDEN = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"})
_LOOKALIKE = str.maketrans({"O": "0", "I": "1", "L": "1"})
# letters read as digits once the numbers are folded: 5-001 for S-001, 8 for B, 2 for Z
_LOOKALIKE_LETTERS = str.maketrans({"S": "5", "B": "8", "Z": "2"})
_SEPARATORS_RE = re.compile(r"[._\-\s]")
_LEADING_ZEROS_RE = re.compile(r"(?<![0-9])0+(?=[0-9])")  # S-01 and S-001 are one number
SITE_MAX = 40
SITE_RE = re.compile(r"[A-Z0-9][A-Z0-9 ._-]{0,39}")


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
    # printable ASCII has none of those categories (in ASCII only the controls, Cc, are): checked
    # in C, the per-character lookup only for the rest (an import checks 50,000 ids this way)
    clean = t.isascii() and t.isprintable()
    bad = None if clean else next((c for c in t if unicodedata.category(c) in _FORBIDDEN), None)
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


def mod37_2_check(body: str) -> str:
    """ISO/IEC 7064 MOD 37-2 check character of ``body`` (digits and capital letters): the
    keyboard entry check character K of a CoI, the check character of a 0.1 COI code."""
    p = 0
    for ch in body:
        v = MOD37_ALPHABET.find(ch)
        if v < 0 or v == 36:
            raise RuleViolation("coi", "coi-charset", f"{ch!r} is not a digit or capital letter")
        p = ((p + v) * 2) % 37
    return MOD37_ALPHABET[(38 - p) % 37]


def _coi_compact(text: str, field: str) -> str:
    t = check_text(text, field, COI_MAX + 12, "CoI").upper()
    if "  " in t or any(c.isspace() and c != " " for c in t):
        raise RuleViolation(
            field, "coi-format", f"{shown(text)}: groups are separated by one space"
        )
    return t.replace(" ", "").replace("|", "")  # the eye-readable K is set apart by bars: |K|


def _legacy_coi(code: str, field: str) -> str:
    if not LEGACY_COI_RE.fullmatch(code):
        raise RuleViolation(
            field, "coi-format", f"{shown(code)} is not FIN(5) + year(2) + sequence(6) + check"
        )
    if code[13] != mod37_2_check(code[:13]):
        raise RuleViolation(
            field, "coi-check-character", f"check character of {code[:13]} is not {code[13]}"
        )
    return code


def _isbt_coi(code: str, field: str) -> str:
    scanned = code.startswith(COI_DI)  # a bar code: data identifier + content, no K
    content = code[len(COI_DI) :] if scanned else code[:COI_MAX]
    n = len(code) - len(COI_DI) if scanned else len(code)
    if n != COI_MAX and (scanned or n != COI_MAX + 1):
        raise RuleViolation(
            field,
            "coi-length",
            f"a CoI has {COI_MAX} characters (CH + FIN + year + sequence), then its check "
            f"character K when typed; got {n}",
        )
    if not COI_RE.fullmatch(content):
        raise RuleViolation(
            field,
            "coi-format",
            f"{shown(content)} is not CH + FIN(5) + year(2) + sequence(6 of A-Z, 0-9)",
        )
    k = code[COI_MAX:] if not scanned else ""
    if k and k != mod37_2_check(content):
        grouped = f"CH {content[2:7]} {content[7:9]} {content[9:]}"
        raise RuleViolation(
            field,
            "coi-check-character",
            f"keyboard check character of {grouped} is {mod37_2_check(content)}, not {k}: "
            "a character was typed wrong",
        )
    return content


def coi(text: str, field: str = "coi") -> str:
    """The canonical chain-of-identity code: the 15-character data content of the ISBT 128 CoI
    (``CHA999026000042``), or a CellTrail 0.1 lot COI code (14 characters, its check character
    verified). Accepted forms: the bar code's ``&/CHA999026000042``, the content, the content
    with its keyboard check character K (``CH A9990 26 000042 K``, as typed from a label; K is
    verified), upper or lower case, single spaces between groups, K between bars (``|K|``)."""
    code = _coi_compact(text, field)
    if len(code) == LEGACY_COI_LEN and not code.startswith("CH"):
        return _legacy_coi(code, field)
    return _isbt_coi(code, field)


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
    """What two ids look like to a person: O->0, I/L->1, a number's leading zeros dropped
    (S-01, S-001), separators dropped, then S->5, B->8, Z->2. Two different canonical ids with
    one key are lookalikes."""
    folded = _LEADING_ZEROS_RE.sub("", canonical.upper().translate(_LOOKALIKE))
    return _SEPARATORS_RE.sub("", folded).translate(_LOOKALIKE_LETTERS)


def site(text: str, field: str = "site") -> str:
    """The canonical clinical site code: upper case, surrounding spaces dropped, inner runs of
    spaces as one (``bj01`` is ``BJ01``); 1-40 letters, digits, spaces, '.', '_' or '-'."""
    raw = text.strip() if isinstance(text, str) else text
    t = " ".join(check_text(raw, field, SITE_MAX, "site").split()).upper()
    if not SITE_RE.fullmatch(t):
        raise RuleViolation(
            field,
            "site-format",
            f"{shown(text)}: a site is 1-40 letters, digits, spaces, '.', '_' or '-', "
            "starting with a letter or digit",
        )
    return t


def lookalike_of(canonical: str, existing: Iterable[str]) -> str | None:
    """The first of ``existing`` that is ``canonical`` or looks like it (one ``lookalike_key``),
    None if none does: what a new id must not clash with."""
    key = lookalike_key(canonical)
    return next((e for e in existing if lookalike_key(e) == key), None)


def same(a: str, b: str, kind: str) -> bool:
    """Whether two ids of ``kind`` (subject, lot, coi, user) are the same record."""
    fn = {"subject": subject_id, "lot": lot_number, "coi": coi, "user": username}[kind]
    return fn(a) == fn(b)


def search_term(text: str, field: str = "search") -> str:
    """A (partial) id typed into a search box, in the ids' canonical form: NFC, no control or
    format characters, upper case, surrounding spaces dropped (a search finds, it never writes)
    and inner whitespace removed (CoIs are printed in groups)."""
    t = unicodedata.normalize("NFC", text)
    if len(t) > 64:
        raise RuleViolation(
            field, "id-too-long", f"a search has at most 64 characters, got {len(t)}"
        )
    check_text(t.strip() or "-", field, 64, "search")
    return re.sub(r"\s+", "", t).upper()
