"""PNG preview (Pillow) at a given resolution; several labels are stacked top to bottom."""

from __future__ import annotations

import functools
import io
from collections.abc import Sequence

from labels.content import Label
from labels.layout import QR_QUIET, Layout, font_path, layout
from labels.qr import Matrix, runs
from labels.stocks import Stock

GAP_PX = 12


@functools.lru_cache(maxsize=64)
def _font(px: int, bold: bool, mono: bool = False):  # type: ignore[no-untyped-def]
    from PIL import ImageFont

    return ImageFont.truetype(str(font_path(bold, mono)), px)


def _matrix(d, matrix: Matrix, m: float, ox: float, oy: float) -> None:  # type: ignore[no-untyped-def]
    for r, row in enumerate(matrix):
        y0, y1 = round(oy + r * m), round(oy + (r + 1) * m) - 1
        for start, length in runs(row):
            d.rectangle(
                (round(ox + start * m), y0, round(ox + (start + length) * m) - 1, y1), fill=0
            )


def draw_layout(img, lay: Layout, dpi: int, y_offset: int = 0) -> None:  # type: ignore[no-untyped-def]
    from PIL import ImageDraw

    k = dpi / 72.0
    d = ImageDraw.Draw(img)
    for t in lay.texts:
        font = _font(max(1, round(t.size * k)), t.bold, t.mono)
        d.text((t.x * k, y_offset + t.baseline * k), t.text, fill=0, font=font, anchor="ls")
        if t.box:
            bx, by, bw, bh = t.box_rect()
            d.text((t.box_x * k, y_offset + t.baseline * k), t.box, fill=0, font=font, anchor="ls")
            top = y_offset + by * k
            d.rectangle(
                (bx * k, top, (bx + bw) * k, top + bh * k),
                outline=0,
                width=max(1, round(t.size * 0.08 * k)),
            )
    qr = lay.qr
    m = qr.module * k
    ox, oy = (qr.x + QR_QUIET * qr.module) * k, y_offset + (qr.y + QR_QUIET * qr.module) * k
    _matrix(d, qr.matrix, m, ox, oy)
    dm = lay.datamatrix
    if dm is not None:
        _matrix(d, dm.matrix, dm.module * k, dm.x * k, y_offset + dm.y * k)
    for lin in lay.linears:
        top, bottom = y_offset + lin.y * k, y_offset + (lin.y + lin.height) * k
        for start, length in runs(lin.modules):
            x0 = round((lin.x + start * lin.module) * k)
            x1 = round((lin.x + (start + length) * lin.module) * k) - 1
            d.rectangle((x0, round(top), x1, round(bottom) - 1), fill=0)


def render_png(labels: Sequence[Label], stock: Stock, dpi: int = 300) -> bytes:
    """Grey-scale PNG of the labels at real size for ``dpi``, separated by a grey band."""
    from PIL import Image

    k = dpi / 72.0
    w, h = round(stock.label_w * k), round(stock.label_h * k)
    n = max(1, len(labels))
    img = Image.new("L", (w, n * h + (n - 1) * GAP_PX), 160)
    for i, label in enumerate(labels):
        top = i * (h + GAP_PX)
        img.paste(255, (0, top, w, top + h))
        draw_layout(img, layout(label, stock.label_w, stock.label_h, stock.name), dpi, top)
    buf = io.BytesIO()
    img.save(buf, format="PNG", dpi=(dpi, dpi), optimize=False)
    return buf.getvalue()
