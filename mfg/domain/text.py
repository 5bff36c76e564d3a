"""Text that users type: refused at input when it carries control characters, shown inert at
every output edge (terminal, TUI, PDF, CSV/XLSX). The one module every edge uses.

Input: a free-text field (reason, note, method reference, name, description) may not contain
control characters (C0, DEL, C1: the terminal escape sequences), format characters (bidi
overrides, zero-width characters), line/paragraph separators, surrogates or private-use
characters. ``check_text`` refuses them with a message naming the field.

Output: text already stored (imported, written by an older version, or by SQL) is shown as
text on every edge: ``visible`` turns each such character into a visible escape (``\\x1b``),
``rich_inert`` also escapes Rich markup, ``pdf_inert`` escapes reportlab Paragraph markup,
``cell_inert`` neutralises spreadsheet formulas (OWASP CSV injection: a cell starting with
``= + - @``, tab or CR is prefixed with an apostrophe).

Pure functions: no I/O, no Rich or Textual import.
"""

from __future__ import annotations

import re
import unicodedata

from mfg.errors import RuleViolation

# Unicode general categories refused in typed text: Cc control, Cf format (bidi overrides,
# zero-width), Cs surrogate, Co private use, Zl/Zp line and paragraph separators.
_UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Zl", "Zp"})
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
# Rich markup: a tag is '[' then a letter, '#', '/' or '@', up to the next ']' (with any
# backslashes in front, which Rich reads as escapes).
_RICH_TAG = re.compile(r"(\\*)(\[[a-z#/@][^[]*?])", re.IGNORECASE)


def is_unsafe_char(ch: str, *, newline_ok: bool = False) -> bool:
    """True for a character that must not be typed into a free-text field."""
    if ch == "\n" and newline_ok:
        return False
    return unicodedata.category(ch) in _UNSAFE_CATEGORIES


def first_unsafe(text: str, *, newline_ok: bool = False) -> tuple[int, str] | None:
    """Position and character of the first unsafe character, or None."""
    for i, ch in enumerate(text):
        if is_unsafe_char(ch, newline_ok=newline_ok):
            return i, ch
    return None


def describe_char(ch: str) -> str:
    """``U+001B (ESCAPE)``: how a refused character is named in a message."""
    name = unicodedata.name(ch, "")
    if not name and ord(ch) < 0x20:
        name = f"control character {ord(ch)}"
    return f"U+{ord(ch):04X}" + (f" ({name})" if name else "")


def check_text(field: str, text: str | None, *, newline_ok: bool = False) -> str | None:
    """``text`` unchanged, or a RuleViolation ``control-characters`` naming the field.

    Use on every free-text input before anything is written (the services call it).
    """
    if text is None:
        return None
    bad = first_unsafe(text, newline_ok=newline_ok)
    if bad is not None:
        pos, ch = bad
        raise RuleViolation(
            field,
            "control-characters",
            f"contains {describe_char(ch)} at position {pos + 1}: control, escape and "
            "invisible formatting characters are not allowed in text",
        )
    return text


def check_texts(fields: dict[str, str | None], *, newline_ok: bool = False) -> None:
    """``check_text`` for several fields at once (the first bad one is named)."""
    for field, value in fields.items():
        check_text(field, value, newline_ok=newline_ok)


def _escape_char(ch: str) -> str:
    o = ord(ch)
    if o <= 0xFF:
        return f"\\x{o:02x}"
    if o <= 0xFFFF:
        return f"\\u{o:04x}"
    return f"\\U{o:08x}"


def visible(text: object, *, newline_ok: bool = False) -> str:
    """The text with every unsafe character written as a visible escape (``\\x1b[2K``)."""
    s = "" if text is None else str(text)
    if first_unsafe(s, newline_ok=newline_ok) is None:
        return s
    return "".join(
        _escape_char(ch) if is_unsafe_char(ch, newline_ok=newline_ok) else ch for ch in s
    )


def rich_inert(text: object) -> str:
    """For a Rich (or Textual) markup string: visible escapes and markup tags escaped, so the
    user's text prints exactly as typed inside our own markup."""
    s = visible(text)
    s = _RICH_TAG.sub(lambda m: f"{m.group(1)}{m.group(1)}\\{m.group(2)}", s)
    if s.endswith("\\") and not s.endswith("\\\\"):
        s += "\\"  # a lone trailing backslash would escape the tag that follows it
    return s


def pdf_inert(text: object) -> str:
    """For a reportlab Paragraph: visible escapes, then XML markup escaped (``&``, ``<``, ``>``)."""
    if text is None:
        return "-"
    s = visible(text)
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def cell_inert(value: object) -> object:
    """For a CSV/XLSX cell: text that a spreadsheet would run as a formula gets a leading
    apostrophe; control characters are made visible. Numbers and other values pass."""
    if not isinstance(value, str):
        return value
    s = visible(value)
    if s.startswith(FORMULA_PREFIXES) or value.startswith(FORMULA_PREFIXES):
        return "'" + s
    return s
