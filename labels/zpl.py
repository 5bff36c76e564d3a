"""ZPL II for Zebra thermal printers: one ``^XA ... ^XZ`` format per label.

Text fields use the scalable font ``^A0`` (narrower than the Vera metrics the layout is computed
with, so nothing overflows), UTF-8 (``^CI28``) and ``^FH`` hex escapes; the QR code is a ``^BQN``
field, model 2, error correction M, automatic input mode (``^FDMA,<payload>``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from labels.content import Label
from labels.layout import ASCENT, QR_QUIET, layout
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
    qr = lay.qr
    n = len(qr.matrix)
    mag = max(1, min(10, math.floor(qr.side * k / (n + 2 * QR_QUIET))))
    qx = round((qr.x + QR_QUIET * qr.module) * k)
    qy = round((qr.y + QR_QUIET * qr.module) * k)
    out.append(f"^FO{qx},{qy}^BQN,2,{mag}^FDMA,{lay.payload}^FS")
    out += [f"^PQ{copies}", "^XZ"]
    return "\n".join(out) + "\n"


def render_zpl(labels: Sequence[Label], stock: Stock, dpi: int = DEFAULT_DPI) -> bytes:
    return "".join(label_zpl(label, stock, dpi) for label in labels).encode("utf-8")
