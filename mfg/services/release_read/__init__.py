"""Read models of the release area: results, deviations, the dose row, signatures and the review
by exception, as frozen views built from a session.

This package depends only on ``mfg.store`` and ``mfg.domain`` (import-linter contract "release
read models depend only on store and domain"): the writers of the release area (``results``,
``deviations``, ``disposition``) and the COA (``coa_service``) read through it, so none of them
needs another to read and the release services form no import cycle:

    disposition -> results -> deviations -> coa_service -> release_read -> store, domain
"""

from __future__ import annotations

from mfg.services.release_read.deviations import DeviationView, deviation_view, lot_deviations
from mfg.services.release_read.results import (
    ResultVersion,
    ResultView,
    current_harvest,
    current_in,
    current_row,
    display_of,
    result_rows,
    result_views,
)
from mfg.services.release_read.review import (
    CorrectionView,
    LateEntry,
    ReviewView,
    build_review,
)
from mfg.services.release_read.signatures import (
    DoseView,
    SignatureView,
    dose_view,
    record_hash,
    reviewed_hash,
    signature_valid,
    signature_views,
    signed_record,
    split_list,
)

__all__ = [
    "CorrectionView",
    "DeviationView",
    "DoseView",
    "LateEntry",
    "ResultVersion",
    "ResultView",
    "ReviewView",
    "SignatureView",
    "build_review",
    "current_harvest",
    "current_in",
    "current_row",
    "deviation_view",
    "display_of",
    "dose_view",
    "lot_deviations",
    "record_hash",
    "result_rows",
    "result_views",
    "reviewed_hash",
    "signature_valid",
    "signature_views",
    "signed_record",
    "split_list",
]
