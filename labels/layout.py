"""Where everything goes on one label: a backend-neutral layout in points (top-left origin).

A column on the left holds the CellTrail QR code and, below it, the ISBT 128 Data Matrix symbol
(X dimension kept within ST-001's 0.25-1 mm); on stocks at least 2 inches high a strip along the
bottom holds the Code 128 symbols of the CoI (040) and the product code (003) at an X dimension
of 0.25 mm or less, never below 0.17 mm, with quiet zones of 10 X and a height of at least 5 mm
or 15 % of the symbol's length (ST-001 section 6.1.3; a stock without room for them gets none).
The text fills the rest at the largest size that fits, wrapping at word boundaries; the CoI line
is set in DejaVu Sans Mono Bold (slashed zero, I and 1 distinct) and never wrapped, its
keyboard check character K in a box after it. Widths are measured with the Bitstream Vera
fonts that ship with reportlab, and the PNG renderer draws with the same font files, so PDF and
PNG agree. When the content cannot fit at the smallest legible size the label is refused
(``label-does-not-fit``) rather than clipped.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

from labels.content import Label, Line, Style
from labels.qr import Matrix, qr_matrix
from mfg.errors import RuleViolation

FONT = "CTVera"
FONT_BOLD = "CTVeraBd"
FONT_MONO = "CTMonoBd"
MM = 72 / 25.4
DM_X_MIN, DM_X_MAX = 0.25 * MM, 1.0 * MM  # Data Matrix X dimension (ST-001 6.2.3)
DM_QUIET = 1  # modules of quiet zone (at least X)
C128_X_TARGET, C128_X_MIN = 0.25 * MM, 0.17 * MM  # Code 128 on container labels (6.1.3)
C128_QUIET = 10  # modules each side
C128_MIN_H = 5 * MM
BOX_PAD = 0.22  # em of space inside the K box on each side
BOX_GAP = 0.45  # em between the CoI text and its K box
MIN_SIZE = 5.0  # points: about 1.2 mm cap height, the smallest we print
MAX_SIZE = 11.0
LEADING = 1.18
ASCENT = 0.93  # Vera's ascender, in em
TITLE_SCALE = 1.3
COMPACT_BELOW = 1.5 * 72  # labels lower than this get the compact text
QR_QUIET = 2  # modules of white around the code, inside its square (plus the label padding)


def font_path(bold: bool = False, mono: bool = False) -> Path:
    if mono:
        return Path(__file__).parent / "fonts" / "DejaVuSansMono-Bold.ttf"
    import reportlab

    return Path(reportlab.__file__).parent / "fonts" / ("VeraBd.ttf" if bold else "Vera.ttf")


@functools.cache
def register_fonts() -> None:
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    pdfmetrics.registerFont(TTFont(FONT, str(font_path(False))))
    pdfmetrics.registerFont(TTFont(FONT_BOLD, str(font_path(True))))
    pdfmetrics.registerFont(TTFont(FONT_MONO, str(font_path(mono=True))))


def font_name(bold: bool, mono: bool = False) -> str:
    return FONT_MONO if mono else FONT_BOLD if bold else FONT


@functools.lru_cache(maxsize=8192)
def _unit_width(text: str, bold: bool, mono: bool = False) -> float:
    """Width of ``text`` at 1 pt."""
    from reportlab.pdfbase.pdfmetrics import stringWidth

    register_fonts()
    return float(stringWidth(text, font_name(bold, mono), 1.0))


def coi_unit_width(text: str, check: str) -> float:
    """Width at 1 pt of the CoI text, the gap and the K box."""
    return _unit_width(text, True, True) + BOX_GAP + _unit_width(check, True, True) + 2 * BOX_PAD


@dataclass(frozen=True)
class TextItem:
    x: float
    baseline: float  # from the top of the label
    text: str
    size: float
    bold: bool
    mono: bool = False
    box: str = ""  # a character drawn in a box after the text (the CoI's K)

    @property
    def font(self) -> str:
        return font_name(self.bold, self.mono)

    def box_rect(self) -> tuple[float, float, float, float]:
        """(x, top, width, height) of the K box, points from the label's top-left."""
        s = self.size
        x = self.x + _unit_width(self.text, True, True) * s + BOX_GAP * s
        w = (_unit_width(self.box, True, True) + 2 * BOX_PAD) * s
        return x, self.baseline - 0.92 * s, w, 1.16 * s

    @property
    def box_x(self) -> float:
        """Where the K itself starts."""
        return self.box_rect()[0] + BOX_PAD * self.size


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
class SymbolItem:
    """A Data Matrix symbol: ``module`` points a module, top-left of the symbol proper."""

    x: float
    y: float
    module: float
    matrix: Matrix
    data: str


@dataclass(frozen=True)
class LinearItem:
    """A Code 128 symbol: bars from (x, y), ``module`` points wide each, ``height`` high."""

    x: float
    y: float
    module: float
    height: float
    modules: tuple[bool, ...]
    data: str


@dataclass(frozen=True)
class Layout:
    width: float
    height: float
    texts: tuple[TextItem, ...]
    qr: QrItem
    payload: str
    datamatrix: SymbolItem | None = None
    linears: tuple[LinearItem, ...] = ()


def _bold(style: Style) -> bool:
    return style is not Style.TEXT


Fitted = tuple[str, float, bool, Style]


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
    lines: list[Line], box_w: float, box_h: float, size: float, title_scale: float, check: str
) -> list[Fitted] | None:
    """Wrapped lines (text, size, bold, style) at body size ``size``, or None if they overflow."""
    out: list[Fitted] = []
    used = 0.0
    for line in lines:
        s = size * title_scale if line.style is Style.TITLE else size
        bold = _bold(line.style)
        if line.style is Style.COI:  # never wrapped: all of it fits on one line, or a smaller size
            if coi_unit_width(line.text, check) * s > box_w:
                return None
            parts = [line.text]
        else:
            parts = _wrap(line.text, bold, box_w / s)
        for part in parts:
            used += s * LEADING
            out.append((part, s, bold, line.style))
    return out if used <= box_h + 0.01 else None


def _linears(label: Label, x0: float, width: float, bottom: float) -> tuple[LinearItem, ...]:
    """Code 128 symbols of the CoI and the product code side by side along ``bottom``."""
    from labels.barcodes import code128

    datas = [d for d in (label.coi_value.structure, label.isbt_product) if d]
    if not label.isbt128 or not datas:
        return ()
    symbols = [code128(d) for d in datas]
    gap = 4.0
    quiet = 2 * C128_QUIET * len(symbols)
    x = min(C128_X_TARGET, (width - gap * (len(symbols) - 1)) / (sum(map(len, symbols)) + quiet))
    if x < C128_X_MIN:
        return ()
    height = max(C128_MIN_H, 0.15 * max(len(m) for m in symbols) * x)
    out, cx = [], x0
    for data, modules in zip(datas, symbols, strict=True):
        cx += C128_QUIET * x
        out.append(LinearItem(cx, bottom - height, x, height, modules, data))
        cx += (len(modules) + C128_QUIET) * x + gap
    return tuple(out)


def _datamatrix(data: str, x: float, y: float, side: float) -> SymbolItem | None:
    """The Data Matrix symbol centred in a ``side`` square at (x, y), X within 0.25-1 mm."""
    if not data:
        return None
    from labels.barcodes import datamatrix

    m = datamatrix(data)
    n = max(len(m), len(m[0])) + 2 * DM_QUIET
    module = min(DM_X_MAX, side / n)
    if module < DM_X_MIN:
        raise RuleViolation(
            "stock",
            "label-does-not-fit",
            "the ISBT 128 Data Matrix symbol would be below 0.25 mm a module on this stock",
        )
    w, h = len(m[0]) * module, len(m) * module
    return SymbolItem(x + (side - w) / 2, y + (side - h) / 2, module, m, data)


def layout(label: Label, width: float, height: float, stock_name: str = "") -> Layout:
    """Place ``label`` on a ``width`` x ``height`` point label."""
    compact = height < COMPACT_BELOW
    pad = 3.0 if compact else max(3.0, min(width, height) * 0.06)
    matrix = qr_matrix(label.payload)
    linears = () if compact else _linears(label, pad, width - 2 * pad, height - pad)
    body_h = height - 2 * pad - (height - pad - linears[0].y + pad * 0.5 if linears else 0)
    gap = pad * 0.5
    if label.isbt128:  # QR above, Data Matrix below, in a column on the left
        side = min((body_h - gap) / 2, width * 0.3)
        qr = QrItem(pad, pad, side, matrix)
        dm = _datamatrix(label.isbt128, pad, pad + side + gap, side)
    else:
        side = min(body_h, width * (0.36 if compact else 0.33))
        qr, dm = QrItem(pad, (height - side) / 2, side, matrix), None
    lines = label.lines(compact)
    check = label.coi_value.check
    title_scale = 1.15 if compact else TITLE_SCALE
    x0 = pad + side + gap
    box_w, box_h = width - x0 - pad, body_h
    lo, hi = MIN_SIZE, min(MAX_SIZE, height / 8)
    best = _fit(lines, box_w, box_h, lo, title_scale, check)
    if best is None:
        raise RuleViolation(
            "stock",
            "label-does-not-fit",
            f"a {label.kind} label does not fit the {stock_name or 'chosen'} stock at "
            f"{MIN_SIZE:g} pt; choose a larger stock (e.g. bag-4x2)",
        )
    for _ in range(6):  # bisect the largest body size that fits (to ~0.1 pt)
        mid = (lo + hi) / 2
        trial = _fit(lines, box_w, box_h, mid, title_scale, check)
        if trial is None:
            hi = mid
        else:
            lo, best = mid, trial
    texts: list[TextItem] = []
    y = pad
    for text, size, bold, style in best:
        coi = style is Style.COI
        texts.append(TextItem(x0, y + size * ASCENT, text, size, bold, coi, check if coi else ""))
        y += size * LEADING
    return Layout(width, height, tuple(texts), qr, label.payload, dm, linears)
