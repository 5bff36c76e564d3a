"""Operational qualification (GAMP 5, EU GMP Annex 11 section 4): ``mfg validate -o FILE.pdf``.

Runs the installed CellTrail end to end on a SCRATCH database of the configured kind (SQLite: a
temporary file; PostgreSQL: a database created on the configured server and dropped afterwards)
with scratch accounts and a one-time password: registration -> counts -> harvest -> results ->
verification -> release -> COA -> labels -> scan -> report -> audit verify, then refusals of bad
input and wrong roles, lockout, optimistic locking and tamper detection. Each check records what
was expected, what was observed, pass / fail / not available (what it needs was not produced by
an earlier check) and its duration. The production database is only read, before and after, to
show that the run did not change it.

The package: ``model`` (Check, Qualification), ``registry`` (the ordered registry and
``@oq_check``), ``context`` (what a check works with), ``checks/`` (the checks, one module per
area), ``scratch`` (the scratch database, environment, production fingerprint), ``runner``
(``run``) and ``report`` (``write_pdf``).
"""

from __future__ import annotations

from mfg.validation.context import CONFORMING_RESULTS, GROWTH
from mfg.validation.model import FAIL, NOT_AVAILABLE, PASS, Check, Qualification
from mfg.validation.report import write_pdf
from mfg.validation.runner import run

__all__ = [
    "CONFORMING_RESULTS",
    "FAIL",
    "GROWTH",
    "NOT_AVAILABLE",
    "PASS",
    "Check",
    "Qualification",
    "run",
    "write_pdf",
]
