"""Where everything goes on one label: a backend-neutral layout in points (top-left origin).

The QR code sits on the left at full label height (less padding); the text fills the rest at the
largest size that fits, wrapping at word boundaries. Widths are measured with the Bitstream Vera
fonts that ship with reportlab, and the PNG renderer draws with the same font files, so PDF and
PNG agree. When the content cannot fit at the smallest legible size the label is refused
(``label-does-not-fit``) rather than clipped.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

from labels.content import Label, Line, Style
from labels.qr import qr_matrix
from mfg.errors import RuleViolation

FONT = "CTVera"
FONT_BOLD = "CTVeraBd"
MIN_SIZE = 5.0  # points: about 1.2 mm cap height, the smallest we print
MAX_SIZE = 11.0
LEADING = 1.18
ASCENT = 0.93  # Vera's ascender, in em
TITLE_SCALE = 1.3
COMPACT_BELOW = 1.5 * 72  # labels lower than this get the compact text
QR_QUIET = 2  # modules of white around the code, inside its square (plus the label padding)


def font_path(bold: bool = False) -> Path:
    import reportlab

    return Path(reportlab.__file__).parent / "fonts" / ("VeraBd.ttf" if bold else "Vera.ttf")


@functools.cache
def register_fonts() -> None:
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    pdfmetrics.registerFont(TTFont(FONT, str(font_path(False))))
    pdfmetrics.registerFont(TTFont(FONT_BOLD, str(font_path(True))))


@functools.lru_cache(maxsize=8192)
def _unit_width(text: str, bold: bool) -> float:
    """Width of ``text`` at 1 pt."""
    from reportlab.pdfbase.pdfmetrics import stringWidth

    register_fonts()
    return float(stringWidth(text, FONT_BOLD if bold else FONT, 1.0))


@dataclass(frozen=True)
class TextItem:
    x: float
    baseline: float  # from the top of the label
    text: str
    size: float
    bold: bool


@dataclass(frozen=True)
class QrItem:
    x: float
    y: float  # top
    side: float
    matrix: tuple[tuple[bool, ...], ...]

    @property
    def module(self) -> float:
        return self.side / (len(self.matrix) + 2 * QR_QUIET)


@dataclass(frozen=True)
class Layout:
    width: float
    height: float
    texts: tuple[TextItem, ...]
    qr: QrItem
    payload: str


def _bold(style: Style) -> bool:
    return style is not Style.TEXT


def _wrap(text: str, bold: bool, width_at_1pt: float) -> list[str]:
    """Greedy word wrap for a box ``width_at_1pt`` wide when the font is 1 pt."""
    words = text.split(" ")
    lines: list[str] = []
    current = ""
    for word in words:
        candidate = f"{current} {word}" if current else word
        if _unit_width(candidate, bold) <= width_at_1pt:
            current = candidate
            continue
        if current:
            lines.append(current)
        # a single word longer than the box: break it by characters
        while _unit_width(word, bold) > width_at_1pt and len(word) > 1:
            cut = len(word) - 1
            while cut > 1 and _unit_width(word[:cut], bold) > width_at_1pt:
                cut -= 1
            lines.append(word[:cut])
            word = word[cut:]
        current = word
    lines.append(current)
    return lines


def _fit(
    lines: list[Line], box_w: float, box_h: float, size: float, title_scale: float
) -> list[tuple[str, float, bool]] | None:
    """Wrapped lines (text, size, bold) at body size ``size``, or None if they overflow."""
    out: list[tuple[str, float, bool]] = []
    used = 0.0
    for line in lines:
        s = size * title_scale if line.style is Style.TITLE else size
        bold = _bold(line.style)
        for part in _wrap(line.text, bold, box_w / s):
            used += s * LEADING
            out.append((part, s, bold))
    return out if used <= box_h + 0.01 else None


def layout(label: Label, width: float, height: float, stock_name: str = "") -> Layout:
    """Place ``label`` on a ``width`` x ``height`` point label."""
    compact = height < COMPACT_BELOW
    pad = 3.0 if compact else max(3.0, min(width, height) * 0.06)
    matrix = qr_matrix(label.payload)
    side = min(height - 2 * pad, width * (0.36 if compact else 0.33))
    lines = label.lines(compact)
    title_scale = 1.15 if compact else TITLE_SCALE
    qr = QrItem(pad, (height - side) / 2, side, matrix)
    x0 = pad + side + pad * 0.5
    box_w, box_h = width - x0 - pad, height - 2 * pad
    lo, hi = MIN_SIZE, min(MAX_SIZE, height / 8)
    best = _fit(lines, box_w, box_h, lo, title_scale)
    if best is None:
        raise RuleViolation(
            "stock",
            "label-does-not-fit",
            f"a {label.kind} label does not fit the {stock_name or 'chosen'} stock at "
            f"{MIN_SIZE:g} pt; choose a larger stock (e.g. bag-4x2)",
        )
    for _ in range(6):  # bisect the largest body size that fits (to ~0.1 pt)
        mid = (lo + hi) / 2
        trial = _fit(lines, box_w, box_h, mid, title_scale)
        if trial is None:
            hi = mid
        else:
            lo, best = mid, trial
    texts: list[TextItem] = []
    y = pad
    for text, size, bold in best:
        texts.append(TextItem(x0, y + size * ASCENT, text, size, bold))
        y += size * LEADING
    return Layout(width, height, tuple(texts), qr, label.payload)
