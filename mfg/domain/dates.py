"""Dates as typed at the bench: ISO ``2026-11-25`` (also ``2026/11/25``), or ``today``."""

from __future__ import annotations

import re
from datetime import date, timedelta

from mfg.errors import RuleViolation

_DATE_RE = re.compile(r"^(\d{4})[-/](\d{1,2})[-/](\d{1,2})$")


def parse_date(text: str, field: str, today: date | None = None) -> date:
    s = text.strip().lower()
    if today is not None and s in ("today", "yesterday"):
        return today if s == "today" else today - timedelta(days=1)
    m = _DATE_RE.match(s)
    if not m:
        raise RuleViolation(field, "date-format", f"{text!r} is not a date (YYYY-MM-DD)")
    try:
        return date(int(m[1]), int(m[2]), int(m[3]))
    except ValueError as e:
        raise RuleViolation(
            field, "date-format", f"{text!r} is not a calendar date ({e})"
        ) from None
