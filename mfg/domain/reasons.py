"""The one rule every correction, termination, unlock and disposition shares: say why."""

from __future__ import annotations

from mfg.domain.text import check_text
from mfg.errors import RuleViolation


def require_reason(
    reason: str | None, message: str = "say why (the reason is audited)", field: str = "reason"
) -> str:
    """The reason without surrounding blanks; a RuleViolation ``reason-required`` if it is empty."""
    text = (reason or "").strip()
    if not text:
        raise RuleViolation(field, "reason-required", message)
    check_text(field, text)
    return text
