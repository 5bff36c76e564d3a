"""What an operational qualification run records: one ``Check`` per registered check (expected,
observed, pass / fail / not available, duration) in a ``Qualification``."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

PASS, FAIL, NOT_AVAILABLE = "pass", "fail", "not available"


class NotAvailable(Exception):
    """What the check needs was not produced by an earlier check (e.g. no label was printed)."""


@dataclass
class Check:
    number: str
    step: str
    title: str
    expected: str
    observed: str = ""
    status: str = NOT_AVAILABLE
    seconds: float = 0.0


@dataclass
class Qualification:
    version: str
    environment: dict[str, str]
    database_kind: str
    run_by: str
    run_by_name: str
    run_by_role: str
    started_at: datetime
    finished_at: datetime | None = None
    checks: list[Check] = field(default_factory=list)
    site_zone: str = "UTC"

    @property
    def counts(self) -> dict[str, int]:
        out = {PASS: 0, FAIL: 0, NOT_AVAILABLE: 0}
        for c in self.checks:
            out[c.status] = out.get(c.status, 0) + 1
        return out

    @property
    def passed(self) -> bool:
        return self.counts[FAIL] == 0
