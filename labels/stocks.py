"""Label stocks: the size of one label and how labels sit on a page (points, 72 to the inch)."""

from __future__ import annotations

from dataclasses import dataclass

from labels.payload import LabelKind
from mfg.errors import RuleViolation

INCH = 72.0
MM = INCH / 25.4


@dataclass(frozen=True)
class Stock:
    name: str
    description: str
    label_w: float
    label_h: float
    page_w: float
    page_h: float
    cols: int = 1
    rows: int = 1
    margin_left: float = 0.0
    margin_top: float = 0.0
    gap_x: float = 0.0
    gap_y: float = 0.0

    @property
    def per_page(self) -> int:
        return self.cols * self.rows

    @property
    def is_sheet(self) -> bool:
        return self.per_page > 1

    def slot(self, index: int) -> tuple[float, float]:
        """Top-left corner of label ``index`` (0-based) on its page, from the page's top-left."""
        i = index % self.per_page
        row, col = divmod(i, self.cols)
        return (
            self.margin_left + col * (self.label_w + self.gap_x),
            self.margin_top + row * (self.label_h + self.gap_y),
        )


def _single(name: str, description: str, w_in: float, h_in: float) -> Stock:
    w, h = w_in * INCH, h_in * INCH
    return Stock(name, description, w, h, w, h)


def _sheet(
    name: str,
    description: str,
    page: tuple[float, float],
    label: tuple[float, float],
    cols: int,
    rows: int,
    gap: tuple[float, float],
) -> Stock:
    (pw, ph), (lw, lh), (gx, gy) = page, label, gap
    used_w, used_h = cols * lw + (cols - 1) * gx, rows * lh + (rows - 1) * gy
    return Stock(
        name, description, lw, lh, pw, ph, cols, rows, (pw - used_w) / 2, (ph - used_h) / 2, gx, gy
    )


A4 = (210 * MM, 297 * MM)
LETTER = (8.5 * INCH, 11 * INCH)

STOCKS: dict[str, Stock] = {
    s.name: s
    for s in (
        _single("cryovial-2x1", "one 2 x 1 inch cryovial / tube label (thermal roll)", 2, 1),
        _single("bag-4x2", "one 4 x 2 inch bag label (thermal roll)", 4, 2),
        _sheet(
            "a4",
            "A4 sheet, 3 x 10 labels of 2 x 1 inch",
            A4,
            (2 * INCH, 1 * INCH),
            3,
            10,
            (0.25 * INCH, 0.1 * INCH),
        ),
        _sheet(
            "letter",
            "US Letter sheet, 3 x 10 labels of 2 x 1 inch",
            LETTER,
            (2 * INCH, 1 * INCH),
            3,
            10,
            (0.3 * INCH, 0.0),
        ),
        _sheet(
            "letter-bag",
            "US Letter sheet, 2 x 5 labels of 4 x 2 inch",
            LETTER,
            (4 * INCH, 2 * INCH),
            2,
            5,
            (0.19 * INCH, 0.0),
        ),
    )
}

# What a kind is printed on unless --stock says otherwise.
DEFAULT_STOCK: dict[LabelKind, str] = {
    LabelKind.APHERESIS_BAG: "bag-4x2",
    LabelKind.PBMC_VIAL: "cryovial-2x1",
    LabelKind.CULTURE: "bag-4x2",
    LabelKind.QC_SAMPLE: "cryovial-2x1",
    LabelKind.DOSE_BAG: "bag-4x2",
}


def get_stock(name: str) -> Stock:
    stock = STOCKS.get(name.strip().lower())
    if stock is None:
        raise RuleViolation(
            "stock",
            "unknown-stock",
            f"{name!r} is not a label stock; use one of {', '.join(STOCKS)}",
        )
    return stock
