"""One entry point: labels + stock + format -> bytes."""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum

from labels.content import Label
from labels.stocks import Stock
from mfg.errors import RuleViolation


class OutputFormat(StrEnum):
    PDF = "pdf"
    PNG = "png"
    ZPL = "zpl"


def parse_format(text: str) -> OutputFormat:
    try:
        return OutputFormat(text.strip().lower().lstrip("."))
    except ValueError:
        raise RuleViolation(
            "output", "unknown-output-format", f"{text!r}: write .pdf, .png or .zpl"
        ) from None


def render(
    labels: Sequence[Label], stock: Stock, fmt: OutputFormat | str, *, dpi: int | None = None
) -> bytes:
    fmt = parse_format(str(fmt))
    if not labels:
        raise RuleViolation("labels", "no-labels", "there is nothing to print")
    if fmt is OutputFormat.PDF:
        from labels.pdf import render_pdf

        return render_pdf(labels, stock)
    if fmt is OutputFormat.PNG:
        from labels.png import render_png

        return render_png(labels, stock, dpi or 300)
    from labels.zpl import render_zpl

    return render_zpl(labels, stock, dpi or 203)
