"""Rendering a COA PDF from its content: the page frame (header, QR code, footer, "Page x of
y") around the sections. The same content always gives the same bytes (reportlab's invariant
mode: no clock, no random file id)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from mfg.coa.identity import content_sha256, qr_payload
from mfg.coa.sections import (
    SECTION_TITLES,
    SECTIONS,
    _esc,
    _styles,
    header_decision,
    hold_notice,
)


def _numbered_canvas(draw_page: Any) -> type:
    from reportlab.pdfgen.canvas import Canvas

    class NumberedCanvas(Canvas):  # type: ignore[misc]  # reportlab ships no types
        """Defers each page so "Page x of y" knows y (one pass, no re-layout)."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._pages: list[dict[str, Any]] = []

        def showPage(self) -> None:
            self._pages.append(dict(self.__dict__))
            self._startPage()

        def save(self) -> None:
            total = len(self._pages)
            for state in self._pages:
                self.__dict__.update(state)
                draw_page(self, self._pageNumber, total)
                super().showPage()
            super().save()

    return NumberedCanvas


def qr_matrix(payload: str) -> list[list[bool]]:
    """The QR symbol (error correction M, the mask the standard's penalty rule picks), no border."""
    import qrcode
    from qrcode.constants import ERROR_CORRECT_M

    code = qrcode.QRCode(error_correction=ERROR_CORRECT_M, border=0)
    code.add_data(payload)
    code.make(fit=True)
    return [[bool(m) for m in row] for row in code.modules]


def _draw_qr(canvas: Any, matrix: list[list[bool]], x: float, top: float, module: float) -> None:
    """One filled path of a rectangle per dark run, below ``top`` with a 4-module quiet zone."""
    from labels.qr import runs  # imported here: it loads numpy

    path = canvas.beginPath()
    for r, row in enumerate(matrix):
        y = top - (r + 5) * module
        for start, length in runs(row):
            path.rect(x + (start + 4) * module, y, length * module, module)
    canvas.setFillColorRGB(0, 0, 0)
    canvas.drawPath(path, stroke=0, fill=1)


class _Frame:
    """What every page carries around the sections: header (site, title, lot, decision, document
    id, revision, issue time, the QR code) and footer (text, document id, content hash, page x of
    y). Called once per page by the numbered canvas."""

    def __init__(self, content: dict[str, Any], sha: str, st: dict[str, Any]) -> None:
        from reportlab.lib.pagesizes import A4
        from reportlab.lib.units import mm
        from reportlab.platypus import Paragraph

        self.content, self.sha = content, sha
        self.layout, self.lot = content["layout"], content["lot"]
        self.doc_id, self.rev = content["document_id"], content["revision"]
        self.page_w, self.page_h = A4
        self.margin, self.header_h, self.footer_h = 16 * mm, 30 * mm, 20 * mm
        self.width = self.page_w - 2 * self.margin
        self.matrix = qr_matrix(qr_payload(self.doc_id, self.lot["lot_number"], self.rev, sha))
        self.qr_size = 24 * mm
        self.module = self.qr_size / (len(self.matrix) + 8)  # 4-module quiet zone each side
        self.logo = self.layout.get("logo_path") or ""
        self.footer = Paragraph(_esc(self.layout.get("footer", "")), st["small"])
        self.decision, self.warning = header_decision(content)

    def __call__(self, canvas: Any, page: int, total: int) -> None:
        canvas.saveState()
        self._header(canvas)
        self._footer(canvas, page, total)
        canvas.restoreState()

    def _logo(self, canvas: Any, x: float, top: float) -> float:
        from reportlab.lib.units import mm

        if not self.logo or not Path(self.logo).is_file():
            return x
        try:
            canvas.drawImage(
                self.logo,
                x,
                top - 14 * mm,
                width=30 * mm,
                height=14 * mm,
                preserveAspectRatio=True,
                anchor="sw",
                mask="auto",
            )
        except OSError:
            return x
        return float(x + 33 * mm)

    def _header(self, canvas: Any) -> None:
        from reportlab.lib import colors
        from reportlab.lib.units import mm

        margin, top = self.margin, self.page_h - self.margin
        x = self._logo(canvas, margin, top)
        site = self.content["site"]
        canvas.setFillColor(colors.HexColor("#1f3a5f"))
        canvas.setFont("Helvetica-Bold", 8.5)
        canvas.drawString(x, top - 3 * mm, site["name"])
        canvas.setFont("Helvetica", 7.5)
        canvas.drawString(x, top - 6.5 * mm, site["address"] or "")
        canvas.setFont("Helvetica-Bold", 16)
        canvas.drawString(margin, top - 17 * mm, self.layout["title"])
        canvas.setFont("Helvetica", 8.5)
        canvas.setFillColor(colors.black)
        canvas.drawString(margin, top - 22 * mm, self.layout.get("subtitle", ""))
        canvas.setFont("Helvetica-Bold", 9)
        lot = self.lot
        ident = f"Lot {lot['lot_number']}    COI {lot['coi_eye_readable']}"
        canvas.drawString(margin, top - 27 * mm, ident)
        right = self.page_w - margin - self.qr_size - 3 * mm
        if self.decision:
            if self.warning:
                canvas.setFillColor(colors.HexColor("#a40000"))
            room = right - margin - canvas.stringWidth(ident, "Helvetica-Bold", 9) - 4 * mm
            size = 9.0
            while size > 5 and canvas.stringWidth(self.decision, "Helvetica-Bold", size) > room:
                size -= 0.5  # never over the lot and COI: a long decision is set smaller
            if size != 9.0:
                canvas.setFont("Helvetica-Bold", size)
            canvas.drawRightString(right, top - 27 * mm, self.decision)
            canvas.setFillColor(colors.black)
        canvas.setFont("Helvetica", 7.5)
        canvas.drawRightString(right, top - 3 * mm, self.doc_id)
        canvas.drawRightString(right, top - 6.5 * mm, f"Revision {self.rev}")
        canvas.drawRightString(right, top - 10 * mm, f"Issued {self.content['issued_at']}")
        if not canvas.hasForm("celltrail-coa-qr"):  # drawn once, placed on every page
            canvas.beginForm("celltrail-coa-qr")
            _draw_qr(
                canvas, self.matrix, self.page_w - margin - self.qr_size, top + 1 * mm, self.module
            )
            canvas.endForm()
        canvas.doForm("celltrail-coa-qr")
        canvas.setStrokeColor(colors.HexColor("#1f3a5f"))
        canvas.setLineWidth(1)
        rule_y = top - self.header_h + 1 * mm
        canvas.line(margin, rule_y, self.page_w - margin, rule_y)

    def _footer(self, canvas: Any, page: int, total: int) -> None:
        from reportlab.lib.units import mm

        margin, footer_h = self.margin, self.footer_h
        canvas.setLineWidth(0.5)
        canvas.line(
            margin, margin + footer_h - 2 * mm, self.page_w - margin, margin + footer_h - 2 * mm
        )
        _, fh = self.footer.wrap(self.width, footer_h)
        self.footer.drawOn(canvas, margin, margin + footer_h - 3 * mm - fh)
        canvas.setFont("Helvetica", 6.8)
        canvas.drawString(margin, margin + 3.5 * mm, f"Document {self.doc_id}  Revision {self.rev}")
        canvas.drawString(margin, margin, f"Content SHA-256 {self.sha}")
        checkpoint = str(self.content.get("audit_checkpoint", ""))  # issue 11: the trail's head
        canvas.drawRightString(self.page_w - margin, margin + 3.5 * mm, checkpoint)
        canvas.setFont("Helvetica-Bold", 8)
        canvas.drawRightString(self.page_w - margin, margin, f"Page {page} of {total}")


def render(content: dict[str, Any], sha256: str | None = None) -> bytes:
    """The COA PDF for ``content`` (``sha256`` defaults to ``content_sha256(content)``)."""
    from reportlab.lib.pagesizes import A4
    from reportlab.platypus import Paragraph, SimpleDocTemplate

    sha = sha256 or content_sha256(content)
    st = _styles()
    frame = _Frame(content, sha, st)
    doc_id, rev, lot_number = frame.doc_id, frame.rev, frame.lot["lot_number"]
    buf = io.BytesIO()
    doc = SimpleDocTemplate(
        buf,
        pagesize=A4,
        leftMargin=frame.margin,
        rightMargin=frame.margin,
        topMargin=frame.margin + frame.header_h,
        bottomMargin=frame.margin + frame.footer_h,
        title=f"{frame.layout['title']} {lot_number} revision {rev}",
        author=content["site"]["name"],
        subject=doc_id,
        creator="CellTrail",
        keywords=f"celltrail-coa doc={doc_id} lot={lot_number} rev={rev} sha256={sha}",
        # the same content always renders to the same bytes (no clock, no random file id): a
        # revision's PDF can be rendered after its transaction, or again, and be the one issued
        invariant=1,
    )
    story: list[Any] = hold_notice(content, st, frame.width)
    for name in frame.layout["sections"]:
        story.append(Paragraph(SECTION_TITLES[name], st["h2"]))
        story += SECTIONS[name](content, st, frame.width)
    doc.build(story, canvasmaker=_numbered_canvas(frame))
    return buf.getvalue()
