"""PDF output (reportlab): one label a page on roll stocks, a grid on sheet stocks."""

from __future__ import annotations

import io
from collections.abc import Sequence

from labels.content import Label
from labels.layout import FONT, FONT_BOLD, QR_QUIET, Layout, layout, register_fonts
from labels.qr import runs
from labels.stocks import Stock


def draw_layout(canvas, lay: Layout, x: float, y_top: float, page_h: float) -> None:  # type: ignore[no-untyped-def]
    """Draw ``lay`` with its top-left corner at (x, y_top) from the page's top-left."""
    canvas.setFillGray(0)
    for t in lay.texts:
        canvas.setFont(FONT_BOLD if t.bold else FONT, t.size)
        canvas.drawString(x + t.x, page_h - (y_top + t.baseline), t.text)
    qr = lay.qr
    m = qr.module
    ox = x + qr.x + QR_QUIET * m
    top = page_h - (y_top + qr.y + QR_QUIET * m)
    # One filled path of integer rectangles in module units under a transform (row r, column
    # c at c, -r-1): a few short operators a run instead of float formatting per module.
    ops = [f"q {m:.4f} 0 0 {m:.4f} {ox:.3f} {top:.3f} cm"]
    for r, row in enumerate(qr.matrix):
        y = -r - 1
        ops.extend(f"{start} {y} {length} 1 re" for start, length in runs(row))
    ops.append("f Q")
    canvas.addLiteral("\n".join(ops))


def render_pdf(labels: Sequence[Label], stock: Stock, title: str = "CellTrail labels") -> bytes:
    """All ``labels`` on ``stock``; the same input always gives the same bytes."""
    from reportlab.pdfgen.canvas import Canvas

    register_fonts()
    buf = io.BytesIO()
    c = Canvas(buf, pagesize=(stock.page_w, stock.page_h), invariant=True, pageCompression=1)
    c.setTitle(title)
    c.setCreator("CellTrail")
    for i, label in enumerate(labels):
        if i and i % stock.per_page == 0:
            c.showPage()
        x, y = stock.slot(i)
        draw_layout(c, layout(label, stock.label_w, stock.label_h, stock.name), x, y, stock.page_h)
    c.showPage()
    c.save()
    return buf.getvalue()
