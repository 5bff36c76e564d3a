"""The OQ's ordered registry: every check module is placed in AREAS, the checks run in the order
the report has always had, and an unplaced module is caught rather than silently run last."""

from __future__ import annotations

import pytest

from mfg.validation import checks
from mfg.validation.registry import REGISTRY, Registered

ORDER = (
    "Installation", "Registration", "Counts", "Harvest", "Results", "Verification", "Release",
    "COA", "Labels", "Scan", "Custody", "Import", "OOS", "Export", "Report", "Audit trail",
    "Bad input", "Roles", "Accounts", "Concurrency", "Tamper evidence",
)  # fmt: skip


def test_the_checks_run_area_by_area_in_the_report_order():
    steps = list(dict.fromkeys(r.step for r in checks.in_order()))
    assert steps == list(ORDER)
    # 33 + 6 tamper-evidence (issue 11; the sixth: a QA hold deleted in SQL)
    # + label layouts approved by QA (issue 14)
    assert len(checks.in_order()) == len(REGISTRY) == 41


def test_a_check_module_missing_from_areas_is_refused(monkeypatch: pytest.MonkeyPatch):
    stray = Registered("X", "stray", "-", lambda oq: (True, ""))
    stray.fn.__module__ = "mfg.validation.checks.stray"
    monkeypatch.setattr("mfg.validation.registry.REGISTRY", [*REGISTRY, stray])
    monkeypatch.setattr(checks, "REGISTRY", [*REGISTRY, stray])
    with pytest.raises(RuntimeError, match=r"stray"):
        checks.in_order()
