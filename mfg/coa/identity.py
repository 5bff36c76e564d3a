"""How an issued COA identifies itself: the content hash, the QR payload and its parser."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

from mfg.domain.canonical import canonical_json

QR_PREFIX = "CELLTRAIL-COA"
_KEYWORDS_RE = re.compile(
    r"celltrail-coa doc=(?P<doc>\S+) lot=(?P<lot>\S+) rev=(?P<rev>\d+) sha256=(?P<sha>[0-9a-f]{64})"
)
# upper case, digits and "-./" only: the QR code's alphanumeric mode keeps the symbol small
_QR_RE = re.compile(
    QR_PREFIX + r"/(?P<doc>[A-Z0-9-]+)/(?P<lot>[A-Z0-9-]+)/R(?P<rev>[0-9]+)/(?P<sha>[0-9A-F]{64})$"
)


def content_sha256(content: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_json(content).encode("utf-8")).hexdigest()


def qr_payload(document_id: str, lot_number: str, revision: int, sha256: str) -> str:
    """``CELLTRAIL-COA/<document id>/<lot>/R<revision>/<content SHA-256, upper case>``."""
    return f"{QR_PREFIX}/{document_id}/{lot_number}/R{revision}/{sha256.upper()}"


@dataclass(frozen=True)
class CoaIdentity:
    """What an issued COA says about itself (metadata or QR code)."""

    document_id: str
    lot_number: str
    revision: int
    content_sha256: str
    found_in: str  # metadata | qr


def parse_qr(text: str) -> CoaIdentity | None:
    m = _QR_RE.match(text.strip())
    if not m:
        return None
    return CoaIdentity(m["doc"], m["lot"], int(m["rev"]), m["sha"].lower(), "qr")
