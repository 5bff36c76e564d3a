"""What a COA says, apart from its revision bookkeeping: a new revision is issued only when
this changes (``services.coa_service``), and the record check recomputes it (``results_hash``)."""

from __future__ import annotations

import hashlib
from typing import Any

from mfg.domain.canonical import canonical_json

PER_REVISION = (
    "document_id",
    "revision",
    "issued_at",
    "issued_by",
    "revisions",
    "audit_checkpoint",  # the trail's head when issued (issue 11): not what the COA says
)


def body_hash(content: dict[str, Any]) -> str:
    """The SHA-256 of the certificate's content without ``PER_REVISION``'s keys."""
    body = {k: v for k, v in content.items() if k not in PER_REVISION}
    return hashlib.sha256(canonical_json(body).encode("utf-8")).hexdigest()
