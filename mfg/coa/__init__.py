"""The Certificate of Analysis as a PDF (reportlab), and reading an issued one back.

``render(content)`` draws a COA from its *content*: a JSON-able dict built and frozen by
``mfg.services.coa_service`` when a revision is issued (this module knows nothing of tables).
The layout (title, subtitle, section order, footer text, logo) comes from the ``[coa]`` table of
the product's specification file, carried in ``content["layout"]``.

Every page shows the document id, the revision, the SHA-256 of the content, "Page x of y" and a
QR code that identifies lot and revision (``qr_payload``). The PDF metadata carries the same
facts (``/Keywords``) so ``read_pdf`` can identify an issued file without the database.

The package: ``identity`` (content hash, QR payload), ``sections`` (what each section draws),
``render`` (the page frame and ``render``), ``read`` (``read_pdf``) and ``printer``.
"""

from __future__ import annotations

from mfg.coa.identity import QR_PREFIX, CoaIdentity, content_sha256, parse_qr, qr_payload
from mfg.coa.printer import send_to_printer
from mfg.coa.read import PdfFacts, decode_qr_from_pdf, read_pdf
from mfg.coa.render import qr_matrix, render
from mfg.coa.sections import SECTION_TITLES, SECTIONS, content_alerts

__all__ = [
    "QR_PREFIX",
    "SECTIONS",
    "SECTION_TITLES",
    "CoaIdentity",
    "PdfFacts",
    "content_alerts",
    "content_sha256",
    "decode_qr_from_pdf",
    "parse_qr",
    "qr_matrix",
    "qr_payload",
    "read_pdf",
    "render",
    "send_to_printer",
]
