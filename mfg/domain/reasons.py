"""The one rule every correction, termination, unlock and disposition shares: say why."""

from __future__ import annotations

import unicodedata

from mfg.domain.text import check_text
from mfg.errors import RuleViolation

# Characters Unicode counts as letters or symbols that print nothing: the Hangul fillers and the
# Braille blank. A reason of them (or of spaces, combining marks alone) looked blank and was
# accepted: a correction nobody can attribute a why to.
_BLANK_LOOKING = frozenset("\u115f\u1160\u3164\uffa0\u2800")


def says_something(text: str) -> bool:
    """Whether ``text`` holds a letter or a digit that shows (not a filler)."""
    return any(unicodedata.category(ch)[0] in "LN" and ch not in _BLANK_LOOKING for ch in text)


def require_reason(
    reason: str | None, message: str = "say why (the reason is audited)", field: str = "reason"
) -> str:
    """The reason without surrounding blanks; a RuleViolation ``reason-required`` if it is empty."""
    text = (reason or "").strip()
    if not text:
        raise RuleViolation(field, "reason-required", message)
    check_text(field, text)
    if not says_something(text):
        raise RuleViolation(
            field, "reason-blank", f"{message}: the reason shows no letter or digit"
        )
    return text
