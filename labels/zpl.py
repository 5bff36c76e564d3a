"""ZPL II for Zebra thermal printers: one ``^XA ... ^XZ`` format per label.

Text fields use the scalable font ``^A0`` (narrower than the Vera metrics the layout is computed
with, so nothing overflows), UTF-8 (``^CI28``) and ``^FH`` hex escapes; the QR code is a ``^BQN``
field, model 2, error correction M, automatic input mode (``^FDMA,<payload>``). The ISBT 128
compound message is a ``^BX`` Data Matrix field at quality 200 (ECC 200), the Code 128 symbols
``^BC`` fields in automatic mode (the printer switches to subset C for digit runs) without
interpretation line; the module sizes are the layout's rounded to whole dots. The CoI's
keyboard check character K gets a ``^GB`` box. The CoI line uses the printer's font 0 like the
rest of the text: the distinct 0/O and 1/I of the PDF's DejaVu Sans Mono are not guaranteed on
the printer.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from labels.content import Label
from labels.layout import ASCENT, QR_QUIET, Layout, layout
from labels.stocks import Stock

DEFAULT_DPI = 203  # 8 dots/mm; 300 dpi heads are 12 dots/mm


def _escape(text: str) -> str:
    """Field data under ``^FH_``: the characters ZPL treats as commands become hex."""
    return text.replace("_", "_5F").replace("^", "_5E").replace("~", "_7E")


def label_zpl(label: Label, stock: Stock, dpi: int = DEFAULT_DPI, copies: int = 1) -> str:
    lay = layout(label, stock.label_w, stock.label_h, stock.name)
    k = dpi / 72.0
    out = [
        "^XA",
        "^CI28",
        f"^PW{round(lay.width * k)}",
        f"^LL{round(lay.height * k)}",
        "^LH0,0",
    ]
    for t in lay.texts:
        h = max(10, round(t.size * k))
        top = round((t.baseline - t.size * ASCENT) * k)
        font = f"^A0N,{h},{h}"
        out.append(f"^FO{round(t.x * k)},{top}{font}^FH_^FD{_escape(t.text)}^FS")
        if t.box:
            bx, by, bw, bh = (round(v * k) for v in t.box_rect())
            out.append(f"^FO{round(t.box_x * k)},{top}{font}^FH_^FD{_escape(t.box)}^FS")
            out.append(f"^FO{bx},{by}^GB{bw},{bh},{max(1, round(t.size * 0.08 * k))}^FS")
    out += _isbt_fields(lay, k)
    qr = lay.qr
    n = len(qr.matrix)
    mag = max(1, min(10, math.floor(qr.side * k / (n + 2 * QR_QUIET))))
    qx = round((qr.x + QR_QUIET * qr.module) * k)
    qy = round((qr.y + QR_QUIET * qr.module) * k)
    out.append(f"^FO{qx},{qy}^BQN,2,{mag}^FDMA,{lay.payload}^FS")
    out += [f"^PQ{copies}", "^XZ"]
    return "\n".join(out) + "\n"


def _isbt_fields(lay: Layout, k: float) -> list[str]:
    out = []
    dm = lay.datamatrix
    if dm is not None:
        dots = max(1, round(dm.module * k))
        out.append(f"^FO{round(dm.x * k)},{round(dm.y * k)}^BXN,{dots},200^FD{dm.data}^FS")
    for lin in lay.linears:
        w = max(1, round(lin.module * k))
        at = f"^FO{round(lin.x * k)},{round(lin.y * k)}"
        out.append(f"{at}^BY{w}^BCN,{round(lin.height * k)},N,N,N,A^FD{lin.data}^FS")
    return out


def render_zpl(labels: Sequence[Label], stock: Stock, dpi: int = DEFAULT_DPI) -> bytes:
    return "".join(label_zpl(label, stock, dpi) for label in labels).encode("utf-8")
