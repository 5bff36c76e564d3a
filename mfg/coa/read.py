"""Reading an issued COA back: its identity (PDF metadata, else the QR code of a rendered page)
and its text."""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from typing import Any

from mfg.coa.identity import _KEYWORDS_RE, CoaIdentity, parse_qr
from mfg.errors import RuleViolation


@dataclass(frozen=True)
class PdfFacts:
    identity: CoaIdentity | None
    sha256: str  # of the file bytes
    text: tuple[str, ...]  # extracted text per page


def read_pdf(data: bytes) -> PdfFacts:
    """Identity (from metadata, else from a QR code on a rendered page) and text of a PDF."""
    import logging

    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    # pypdf logs its own complaints about a damaged file; the refusal below says it once.
    logging.getLogger("pypdf").setLevel(logging.ERROR)

    file_sha = hashlib.sha256(data).hexdigest()
    try:
        reader = PdfReader(io.BytesIO(data))
        meta: Any = reader.metadata or {}
        keywords = str(meta.get("/Keywords", "") or "")
        text = tuple(p.extract_text() or "" for p in reader.pages)
    except (PdfReadError, ValueError, KeyError, OSError) as e:
        raise RuleViolation("file", "not-a-pdf", f"not a readable PDF ({e})") from None
    m = _KEYWORDS_RE.search(keywords)
    identity = CoaIdentity(m["doc"], m["lot"], int(m["rev"]), m["sha"], "metadata") if m else None
    if identity is None:
        identity = decode_qr_from_pdf(data)
    return PdfFacts(identity, file_sha, text)


def decode_qr_from_pdf(
    data: bytes, scales: tuple[float, ...] = (2.0, 3.0, 4.0)
) -> CoaIdentity | None:
    """Render each page (pypdfium2) and look for a CellTrail COA QR code (zxing-cpp); a scan is
    tried at several resolutions, since one module must cover a few pixels to decode."""
    try:
        import pypdfium2 as pdfium
        import zxingcpp
    except ImportError as e:  # installed with CellTrail; say so rather than answer "NO"
        raise RuleViolation(
            "file",
            "qr-reader-missing",
            f"this PDF has no CellTrail metadata (a scan?) and its QR code cannot be read: "
            f"{e.name} is not installed (pip install zxing-cpp pypdfium2, or reinstall CellTrail)",
        ) from None
    pdf = pdfium.PdfDocument(data)
    try:
        for page in pdf:
            for scale in scales:
                image = page.render(scale=scale, grayscale=True).to_pil()
                for r in zxingcpp.read_barcodes(image):
                    found = parse_qr(r.text)
                    if found is not None:
                        return found
    finally:
        pdf.close()
    return None
