"""Release testing, QA disposition and the COA: the one import for the edges (CLI, TUI, reports).

The work is split by concern: ``results`` (entry, verification, correction), ``deviations``
(OOS and manual deviations), ``disposition`` (review by exception, e-signature, rules) and
``coa_service`` (COA revisions, printing, verification of an issued file).
"""

from __future__ import annotations

from mfg.services.coa_service import (
    CoaCheck,
    CoaIssue,
    CoaRevisionView,
    content_of,
    issue_coa,
    revisions,
    verify_pdf,
)
from mfg.services.deviations import (
    DeviationView,
    acknowledge_alerts,
    close_deviation,
    list_deviations,
    open_deviation,
)
from mfg.services.disposition import (
    DECISIONS,
    Dispose,
    DoseView,
    ReviewView,
    SignatureView,
    dispose,
    review,
    signature_valid,
    signatures,
)
from mfg.services.results import (
    AddResult,
    ResultVersion,
    ResultView,
    add_result,
    correct_result,
    list_results,
    verify_result,
)

__all__ = [
    "DECISIONS",
    "AddResult",
    "CoaCheck",
    "CoaIssue",
    "CoaRevisionView",
    "DeviationView",
    "Dispose",
    "DoseView",
    "ResultVersion",
    "ResultView",
    "ReviewView",
    "SignatureView",
    "acknowledge_alerts",
    "add_result",
    "close_deviation",
    "content_of",
    "correct_result",
    "dispose",
    "issue_coa",
    "list_deviations",
    "list_results",
    "open_deviation",
    "review",
    "revisions",
    "signature_valid",
    "signatures",
    "verify_pdf",
    "verify_result",
]
