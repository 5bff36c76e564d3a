"""The Certificate of Analysis as a PDF (reportlab), and reading an issued one back.

``render(content)`` draws a COA from its *content*: a JSON-able dict built and frozen by
``mfg.services.coa_service`` when a revision is issued (this module knows nothing of tables).
The layout (title, subtitle, section order, footer text, logo) comes from the ``[coa]`` table of
the product's specification file, carried in ``content["layout"]``.

Every page shows the document id, the revision, the SHA-256 of the content, "Page x of y" and a
QR code that identifies lot and revision (``qr_payload``). The PDF metadata carries the same
facts (``/Keywords``) so ``read_pdf`` can identify an issued file without the database.
"""

from __future__ import annotations

import hashlib
import io
import re
import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mfg.domain.canonical import canonical_json
from mfg.errors import RuleViolation

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


# --------------------------------------------------------------------------------------------
# rendering


def _styles() -> dict[str, Any]:
    from reportlab.lib import colors
    from reportlab.lib.styles import ParagraphStyle

    base = ParagraphStyle("base", fontName="Helvetica", fontSize=8.5, leading=10.5)
    return {
        "base": base,
        "small": ParagraphStyle("small", parent=base, fontSize=7.5, leading=9),
        "cell": ParagraphStyle("cell", parent=base, fontSize=8, leading=9.6),
        "cellb": ParagraphStyle("cellb", parent=base, fontName="Helvetica-Bold", fontSize=8),
        "head": ParagraphStyle(
            "head", parent=base, fontName="Helvetica-Bold", fontSize=8, textColor=colors.white
        ),
        "h2": ParagraphStyle(
            "h2",
            parent=base,
            fontName="Helvetica-Bold",
            fontSize=10.5,
            leading=13,
            spaceBefore=9,
            spaceAfter=4,
            textColor=colors.HexColor("#1f3a5f"),
            keepWithNext=1,  # never a heading alone at the foot of a page
        ),
        "decision": ParagraphStyle(
            "decision",
            parent=base,
            fontName="Helvetica-Bold",
            fontSize=12,
            leading=15,
            keepWithNext=1,
        ),
        "note": ParagraphStyle("note", parent=base, fontSize=7.5, leading=9, spaceBefore=3),
        "alert": ParagraphStyle(
            "alert",
            parent=base,
            fontName="Helvetica-Bold",
            textColor=colors.HexColor("#a40000"),
            spaceBefore=4,
        ),
    }


def _esc(text: object) -> str:
    return (
        str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        if text is not None
        else "-"
    )


SECTION_TITLES = {
    "identity": "1. Identity",
    "product": "2. Product, harvest and formulation",
    "results": "3. Release test results",
    "disposition": "4. QA disposition",
    "signatures": "5. Electronic signatures",
    "revisions": "6. Revision history",
}


def _kv_table(rows: list[tuple[str, str]], st: dict[str, Any], width: float) -> Any:
    from reportlab.lib import colors
    from reportlab.platypus import Paragraph, Table, TableStyle

    # two key/value pairs per line
    cells = []
    for i in range(0, len(rows), 2):
        line: list[Any] = []
        for k, v in rows[i : i + 2]:
            line += [Paragraph(_esc(k), st["cellb"]), Paragraph(_esc(v), st["cell"])]
        while len(line) < 4:
            line.append("")
        cells.append(line)
    kw, vw = width * 0.17, width * 0.33
    t = Table(cells, colWidths=[kw, vw, kw, vw])
    t.setStyle(
        TableStyle(
            [
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("BACKGROUND", (0, 0), (0, -1), colors.HexColor("#eef2f7")),
                ("BACKGROUND", (2, 0), (2, -1), colors.HexColor("#eef2f7")),
                ("GRID", (0, 0), (-1, -1), 0.4, colors.HexColor("#9aa7b8")),
                ("TOPPADDING", (0, 0), (-1, -1), 2.5),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 2.5),
            ]
        )
    )
    return t


def _grid(
    header: list[str],
    rows: list[list[Any]],
    widths: list[float],
    st: dict[str, Any],
    extra: list[tuple[Any, ...]] | None = None,
) -> Any:
    from reportlab.lib import colors
    from reportlab.platypus import Paragraph, Table, TableStyle

    data: list[list[Any]] = [[Paragraph(_esc(h), st["head"]) for h in header]]
    for r in rows:
        data.append([c if not isinstance(c, str) else Paragraph(_esc(c), st["cell"]) for c in r])
    t = Table(data, colWidths=widths, repeatRows=1)
    style: list[tuple[Any, ...]] = [
        ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#1f3a5f")),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("GRID", (0, 0), (-1, -1), 0.4, colors.HexColor("#9aa7b8")),
        ("TOPPADDING", (0, 0), (-1, -1), 2.5),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 2.5),
        ("ROWBACKGROUNDS", (0, 1), (-1, -1), [colors.white, colors.HexColor("#f6f8fb")]),
    ]
    t.setStyle(TableStyle(style + (extra or [])))
    return t


def _identity(c: dict[str, Any], st: dict[str, Any], width: float) -> list[Any]:
    lot, prod, dose = c["lot"], c["product"], c["dose"]
    rows = [
        ("Product", f"{prod['name']} ({prod['code']})"),
        ("Specification", f"{prod['code']} version {prod['spec_version']}"),
        ("Lot number", lot["lot_number"]),
        (
            "Chain of identity (COI)",
            f"{lot['coi_eye_readable']} (check character {lot['coi_check']})",
        ),
        ("Subject ID", lot["subject_id"]),
        ("Protocol", prod["protocol"] or "-"),
        ("Dose level", f"{dose['level']}: {dose['per_kg']}"),
        ("Target dose", dose["target"]),
        ("Source material", lot["source"]),
        ("Manufacturer", c["site"]["name"]),
    ]
    return [_kv_table(rows, st, width)]


def _product(c: dict[str, Any], st: dict[str, Any], width: float) -> list[Any]:
    h, dose, prod = c["harvest"], c["dose"], c["product"]
    rows = [
        ("Harvest date", f"{h['harvested_on']} (day {h['harvest_day']})"),
        ("Cryopreservation date", h["cryopreserved_on"]),
        ("Expiry date", h["expires_on"]),
        ("Storage condition", prod["storage"] or "-"),
        ("Bags and volume", h["bags"]),
        ("Total viable cells", f"{h['total_viable']} (CAR+ {h['car_pct']})"),
        ("CAR+ viable T cells", dose["car_viable"]),
        ("CAR+ viable T cells/kg", dose["cells_per_kg"]),
    ]
    return [_kv_table(rows, st, width)]


def _results(c: dict[str, Any], st: dict[str, Any], width: float) -> list[Any]:
    from reportlab.lib import colors
    from reportlab.platypus import Paragraph

    rows: list[list[Any]] = []
    extra: list[tuple[Any, ...]] = []
    notes: list[str] = []
    for i, r in enumerate([*c["results"], c["dose_row"]], start=1):
        result = r["result"]
        if r.get("corrected"):
            notes.append(
                f"<b>{_esc(r['code'])}</b> changed since original entry: originally "
                f"{_esc(r['original'])}; reason: {_esc(r['reason'])}"
            )
            result = f"{result} *"
        conforms = r["conforms"]
        style = st["cellb"] if conforms != "Conforms" else st["cell"]
        rows.append(
            [
                Paragraph(f"<b>{_esc(r['name'])}</b>", st["cell"]),
                r["method"],
                r["acceptance"],
                result,
                r["status"],
                Paragraph(_esc(conforms), style),
            ]
        )
        if conforms == "Does not conform":
            extra.append(("BACKGROUND", (5, i), (5, i), colors.HexColor("#f7d4d4")))
        elif conforms == "Pending":
            extra.append(("BACKGROUND", (5, i), (5, i), colors.HexColor("#fbefc9")))
    w = width
    out: list[Any] = [
        _grid(
            ["Test", "Method", "Specification", "Result", "Status", "Conformity"],
            rows,
            [w * 0.2, w * 0.215, w * 0.165, w * 0.175, w * 0.12, w * 0.125],
            st,
            extra,
        )
    ]
    for n in notes:
        out.append(Paragraph("* " + n, st["note"]))
    return out


def _disposition(c: dict[str, Any], st: dict[str, Any], width: float) -> list[Any]:
    from reportlab.platypus import Paragraph

    d = c["disposition"]
    if d is None:
        return [Paragraph("No disposition yet.", st["base"])]
    out: list[Any] = [Paragraph(_esc(d["decision_text"]), st["decision"])]
    rows = [("Reason", d["reason"]), ("Decided", d["decided_at"])]
    if d["pending_tests"]:
        rows.append(("Pending at signing", d["pending_tests"]))
    if d["exception"]:
        rows.append(("Exception", "Released out of specification as an exception"))
        rows.append(("Deviations", d["deviations"]))
    out.append(_kv_table(rows, st, width))
    for alert in content_alerts(c):
        out.append(Paragraph(f"ALERT: {_esc(alert)}", st["alert"]))
    return out


def content_alerts(c: dict[str, Any]) -> list[str]:
    return list(c.get("alerts") or [])


def _signatures(c: dict[str, Any], st: dict[str, Any], width: float) -> list[Any]:
    from reportlab.lib import colors
    from reportlab.platypus import Paragraph

    if not c["signatures"]:
        return [Paragraph("Not signed.", st["base"])]
    rows = []
    extra: list[tuple[Any, ...]] = []
    for i, s in enumerate(c["signatures"], start=1):
        valid = "Valid" if s["valid"] else "BROKEN: signed records changed since"
        rows.append([s["name"], s["username"], s["meaning"], s["signed_at"], valid])
        if not s["valid"]:
            extra.append(("BACKGROUND", (4, i), (4, i), colors.HexColor("#f7d4d4")))
    w = width
    return [
        _grid(
            ["Printed name", "User", "Meaning", "Signed (UTC)", "Signature"],
            rows,
            [w * 0.24, w * 0.12, w * 0.2, w * 0.2, w * 0.24],
            st,
            extra,
        ),
        Paragraph(
            "Electronic signatures under 21 CFR Part 11: each was given with the signer's "
            "password and is bound to a SHA-256 of the lot's harvest and results at signing.",
            st["note"],
        ),
    ]


def _revisions(c: dict[str, Any], st: dict[str, Any], width: float) -> list[Any]:
    w = width
    rows = [[str(r["revision"]), r["created_at"], r["by"], r["reason"]] for r in c["revisions"]]
    return [
        _grid(
            ["Rev.", "Issued (UTC)", "By", "Reason"],
            rows,
            [w * 0.07, w * 0.2, w * 0.2, w * 0.53],
            st,
        )
    ]


SECTIONS = {
    "identity": _identity,
    "product": _product,
    "results": _results,
    "disposition": _disposition,
    "signatures": _signatures,
    "revisions": _revisions,
}


def _numbered_canvas(draw_page: Any) -> type:
    from reportlab.pdfgen.canvas import Canvas

    class NumberedCanvas(Canvas):
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


def render(content: dict[str, Any], sha256: str | None = None) -> bytes:
    """The COA PDF for ``content`` (``sha256`` defaults to ``content_sha256(content)``)."""
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.units import mm
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer

    sha = sha256 or content_sha256(content)
    layout, lot = content["layout"], content["lot"]
    doc_id, rev = content["document_id"], content["revision"]
    st = _styles()
    page_w, page_h = A4
    margin = 16 * mm
    header_h = 30 * mm
    footer_h = 20 * mm
    width = page_w - 2 * margin
    matrix = qr_matrix(qr_payload(doc_id, lot["lot_number"], rev, sha))
    qr_size = 24 * mm
    module = qr_size / (len(matrix) + 8)  # 4-module quiet zone on each side
    logo = layout.get("logo_path") or ""
    footer = Paragraph(_esc(layout.get("footer", "")), st["small"])
    decision = (content.get("disposition") or {}).get("decision_text", "")

    def draw_page(canvas: Any, page: int, total: int) -> None:
        canvas.saveState()
        top = page_h - margin
        x = margin
        if logo and Path(logo).is_file():
            try:
                canvas.drawImage(
                    logo,
                    x,
                    top - 14 * mm,
                    width=30 * mm,
                    height=14 * mm,
                    preserveAspectRatio=True,
                    anchor="sw",
                    mask="auto",
                )
                x += 33 * mm
            except OSError:
                pass
        canvas.setFillColor(colors.HexColor("#1f3a5f"))
        canvas.setFont("Helvetica-Bold", 8.5)
        canvas.drawString(x, top - 3 * mm, content["site"]["name"])
        canvas.setFont("Helvetica", 7.5)
        canvas.drawString(x, top - 6.5 * mm, content["site"]["address"] or "")
        canvas.setFont("Helvetica-Bold", 16)
        canvas.drawString(margin, top - 17 * mm, layout["title"])
        canvas.setFont("Helvetica", 8.5)
        canvas.setFillColor(colors.black)
        canvas.drawString(margin, top - 22 * mm, layout.get("subtitle", ""))
        canvas.setFont("Helvetica-Bold", 9)
        canvas.drawString(
            margin, top - 27 * mm, f"Lot {lot['lot_number']}    COI {lot['coi_eye_readable']}"
        )
        if decision:
            canvas.drawRightString(page_w - margin - qr_size - 3 * mm, top - 27 * mm, decision)
        canvas.setFont("Helvetica", 7.5)
        canvas.drawRightString(page_w - margin - qr_size - 3 * mm, top - 3 * mm, doc_id)
        canvas.drawRightString(
            page_w - margin - qr_size - 3 * mm, top - 6.5 * mm, f"Revision {rev}"
        )
        canvas.drawRightString(
            page_w - margin - qr_size - 3 * mm, top - 10 * mm, f"Issued {content['issued_at']}"
        )
        if not canvas.hasForm("celltrail-coa-qr"):  # drawn once, placed on every page
            canvas.beginForm("celltrail-coa-qr")
            _draw_qr(canvas, matrix, page_w - margin - qr_size, top + 1 * mm, module)
            canvas.endForm()
        canvas.doForm("celltrail-coa-qr")
        canvas.setStrokeColor(colors.HexColor("#1f3a5f"))
        canvas.setLineWidth(1)
        canvas.line(margin, top - header_h + 1 * mm, page_w - margin, top - header_h + 1 * mm)
        # footer
        canvas.setLineWidth(0.5)
        canvas.line(margin, margin + footer_h - 2 * mm, page_w - margin, margin + footer_h - 2 * mm)
        _, fh = footer.wrap(width, footer_h)
        footer.drawOn(canvas, margin, margin + footer_h - 3 * mm - fh)
        canvas.setFont("Helvetica", 6.8)
        canvas.drawString(margin, margin + 3.5 * mm, f"Document {doc_id}  Revision {rev}")
        canvas.drawString(margin, margin, f"Content SHA-256 {sha}")
        canvas.setFont("Helvetica-Bold", 8)
        canvas.drawRightString(page_w - margin, margin, f"Page {page} of {total}")
        canvas.restoreState()

    buf = io.BytesIO()
    doc = SimpleDocTemplate(
        buf,
        pagesize=A4,
        leftMargin=margin,
        rightMargin=margin,
        topMargin=margin + header_h,
        bottomMargin=margin + footer_h,
        title=f"{layout['title']} {lot['lot_number']} revision {rev}",
        author=content["site"]["name"],
        subject=doc_id,
        creator="CellTrail",
        keywords=f"celltrail-coa doc={doc_id} lot={lot['lot_number']} rev={rev} sha256={sha}",
        # the same content always renders to the same bytes (no clock, no random file id): a
        # revision's PDF can be rendered after its transaction, or again, and be the one issued
        invariant=1,
    )
    story: list[Any] = []
    for name in layout["sections"]:
        story.append(Paragraph(SECTION_TITLES[name], st["h2"]))
        story += SECTIONS[name](content, st, width)
    story.append(Spacer(1, 4 * mm))
    doc.build(story, canvasmaker=_numbered_canvas(draw_page))
    return buf.getvalue()


# --------------------------------------------------------------------------------------------
# reading an issued COA back


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
    except ImportError:  # optional: scans need the extra
        return None
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


def send_to_printer(command: str, pdf: bytes, timeout: float = 60.0) -> None:
    """Run the configured printer command (e.g. ``lp -d qa-printer``) with the PDF on stdin."""
    argv = shlex.split(command)
    if not argv:
        raise RuleViolation("coa_printer", "no-printer", "no COA printer is configured")
    try:
        done = subprocess.run(argv, input=pdf, capture_output=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise RuleViolation("coa_printer", "printer-failed", f"{argv[0]}: {e}") from None
    if done.returncode != 0:
        err = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise RuleViolation(
            "coa_printer",
            "printer-failed",
            f"{argv[0]} exited {done.returncode}" + (f": {err[-1]}" if err else ""),
        )
