"""PDF output (reportlab): one label a page on roll stocks, a grid on sheet stocks."""

from __future__ import annotations

import io
from collections.abc import Sequence

from labels.content import Label
from labels.layout import QR_QUIET, Layout, layout, register_fonts
from labels.qr import Matrix, runs
from labels.stocks import Stock


def draw_layout(canvas, lay: Layout, x: float, y_top: float, page_h: float) -> None:  # type: ignore[no-untyped-def]
    """Draw ``lay`` with its top-left corner at (x, y_top) from the page's top-left."""
    canvas.setFillGray(0)
    for t in lay.texts:
        canvas.setFont(t.font, t.size)
        canvas.drawString(x + t.x, page_h - (y_top + t.baseline), t.text)
        if t.box:
            bx, by, bw, bh = t.box_rect()
            canvas.drawString(x + t.box_x, page_h - (y_top + t.baseline), t.box)
            canvas.setLineWidth(max(0.5, t.size * 0.08))
            canvas.rect(x + bx, page_h - (y_top + by + bh), bw, bh, stroke=1, fill=0)
    qr = lay.qr
    m = qr.module
    _matrix(canvas, qr.matrix, m, x + qr.x + QR_QUIET * m, page_h - (y_top + qr.y + QR_QUIET * m))
    dm = lay.datamatrix
    if dm is not None:
        _matrix(canvas, dm.matrix, dm.module, x + dm.x, page_h - (y_top + dm.y))
    for lin in lay.linears:
        bottom = page_h - (y_top + lin.y + lin.height)
        for start, length in runs(lin.modules):
            canvas.rect(
                x + lin.x + start * lin.module,
                bottom,
                length * lin.module,
                lin.height,
                stroke=0,
                fill=1,
            )


def _matrix(canvas, matrix: Matrix, m: float, ox: float, top: float) -> None:  # type: ignore[no-untyped-def]
    # One filled path of integer rectangles in module units under a transform (row r, column
    # c at c, -r-1): a few short operators a run instead of float formatting per module.
    ops = [f"q {m:.4f} 0 0 {m:.4f} {ox:.3f} {top:.3f} cm"]
    for r, row in enumerate(matrix):
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
