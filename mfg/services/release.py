"""Release testing, QA disposition and the COA: the one import for the edges (CLI, TUI, reports).

The work is split by concern: ``results`` (entry, verification, correction), ``deviations``
(OOS and manual deviations), ``disposition`` (review by exception, e-signature), ``coa_service``
(COA revisions, printing, verification of an issued file) and ``release_read`` (the read models
all of them share; it depends only on the store and the domain). The rules of a disposition are
``mfg.domain.release``. Imports point one way: disposition -> results -> deviations ->
coa_service -> release_read.
"""

from __future__ import annotations

from mfg.domain.release import DECISIONS
from mfg.services.coa_service import (
    CoaCheck,
    CoaIssue,
    CoaRevisionView,
    content_of,
    issue_coa,
    reissue_if_changed,
    revisions,
    verify_pdf,
)
from mfg.services.deviations import (
    acknowledge_alerts,
    close_deviation,
    list_deviations,
    open_deviation,
)
from mfg.services.disposition import Dispose, dispose, review, signatures
from mfg.services.release_read import (
    DeviationView,
    DoseView,
    ResultVersion,
    ResultView,
    ReviewView,
    SignatureView,
    signature_valid,
)
from mfg.services.results import (
    AddResult,
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
    "reissue_if_changed",
    "review",
    "revisions",
    "signature_valid",
    "signatures",
    "verify_pdf",
    "verify_result",
]
