"""The one-page sponsor summary of the success rate (reportlab, imported only in here).

Text users typed (site name, strata values) goes into the PDF as text, never as markup.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mfg.domain.outcome import reason_text
from mfg.reports.definitions import DEFINITION

PDF_MAX_STRATA = 16


def _text(value: str | None) -> str:
    """Typed text inside a Paragraph (which reads markup): shown as the characters typed
    (mfg.domain.text.pdf_inert: markup escaped, control characters made visible)."""
    from mfg.domain.text import pdf_inert

    return pdf_inert(value or "")


def _fmt_pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f} %"


def _fmt_ci(c: dict[str, Any]) -> str:
    if c.get("rate") is None:
        return "-"
    return f"{100 * c['ci_low']:.1f} - {100 * c['ci_high']:.1f} %"


def _chart(
    strata: list[dict[str, Any]], keys: Sequence[str], overall: dict[str, Any], width: float
) -> Any:
    """Horizontal bars of the rates with their exact 95% intervals as whiskers."""
    from reportlab.graphics.shapes import Drawing, Line, Rect, String
    from reportlab.lib import colors

    items = [(" / ".join(str(s[k]) for k in keys), s) for s in strata]
    items.append(("all", overall))
    longest = max(len(label) for label, _ in items)
    bar_h, gap, top, bottom = 10.0, 4.0, 6.0, 22.0
    label_w = min(max(40.0, 4.2 * longest + 10), width / 3)
    plot_w = width - label_w - 80
    height = top + bottom + len(items) * (bar_h + gap)
    d = Drawing(width, height)
    x0 = label_w
    for pct in range(0, 101, 20):
        x = x0 + plot_w * pct / 100
        d.add(
            Line(
                x,
                bottom - 3,
                x,
                height - top,
                strokeColor=colors.HexColor("#dddddd"),
                strokeWidth=0.4,
            )
        )
        d.add(
            String(
                x,
                bottom - 12,
                f"{pct} %",
                fontSize=6.5,
                textAnchor="middle",
                fillColor=colors.HexColor("#555555"),
            )
        )
    for i, (label, c) in enumerate(items):
        y = height - top - (i + 1) * (bar_h + gap) + gap / 2
        is_all = label == "all"
        d.add(
            String(
                x0 - 5,
                y + 2,
                label,
                fontSize=7,
                textAnchor="end",
                fontName="Helvetica-Bold" if is_all else "Helvetica",
            )
        )
        if c.get("rate") is None:
            d.add(String(x0 + 3, y + 2, "nothing evaluable", fontSize=6.5, fillColor=colors.grey))
            continue
        fill = colors.HexColor("#1f4e79") if is_all else colors.HexColor("#5b9bd5")
        d.add(Rect(x0, y, plot_w * c["rate"], bar_h, fillColor=fill, strokeColor=None))
        lo, hi = x0 + plot_w * c["ci_low"], x0 + plot_w * c["ci_high"]
        mid = y + bar_h / 2
        ink = colors.HexColor("#222222")
        d.add(Line(lo, mid, hi, mid, strokeColor=ink, strokeWidth=0.8))
        d.add(Line(lo, mid - 3, lo, mid + 3, strokeColor=ink, strokeWidth=0.8))
        d.add(Line(hi, mid - 3, hi, mid + 3, strokeColor=ink, strokeWidth=0.8))
        d.add(
            String(
                x0 + plot_w + 4,
                y + 2,
                f"{100 * c['rate']:.1f} % (n={c['evaluable']})",
                fontSize=6.5,
            )
        )
    d.add(Line(x0, bottom - 3, x0, height - top, strokeColor=colors.black, strokeWidth=0.6))
    return d


def _styles() -> dict[str, Any]:
    from reportlab.lib import colors
    from reportlab.lib.enums import TA_LEFT
    from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet

    base = getSampleStyleSheet()
    body = ParagraphStyle(
        "body", parent=base["BodyText"], fontSize=7.5, leading=9.5, alignment=TA_LEFT
    )
    return {
        "h1": ParagraphStyle("h1", parent=base["Heading1"], fontSize=14, spaceAfter=2, leading=17),
        "h2": ParagraphStyle(
            "h2", parent=base["Heading2"], fontSize=9.5, spaceBefore=6, spaceAfter=3, leading=12
        ),
        "body": body,
        "small": ParagraphStyle(
            "small", parent=body, fontSize=6.5, leading=8, textColor=colors.HexColor("#555555")
        ),
        "big": ParagraphStyle("big", parent=body, fontSize=12, leading=15),
    }


def _grid(rows: list[list[str]], extra: list[Any]) -> Any:
    """A small table: 7-point Helvetica, bold header ruled below, tight padding."""
    from reportlab.lib import colors
    from reportlab.platypus import Table, TableStyle

    table = Table(rows, repeatRows=1, hAlign="LEFT")
    table.setStyle(
        TableStyle(
            [
                ("FONT", (0, 0), (-1, -1), "Helvetica", 7),
                ("FONT", (0, 0), (-1, 0), "Helvetica-Bold", 7),
                ("LINEBELOW", (0, 0), (-1, 0), 0.6, colors.black),
                ("TOPPADDING", (0, 0), (-1, -1), 1.2),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 1.2),
                *extra,
            ]
        )
    )
    return table


def _headline(report: Any, st: dict[str, Any], now: str, checkpoint: str = "") -> list[Any]:
    from reportlab.platypus import Paragraph, Spacer

    overall, unit = report.data["overall"], report.unit
    if overall["rate"] is None:
        headline = "No evaluable " + unit + "s yet."
    else:
        headline = (
            f"<b>{_fmt_pct(overall['rate'])}</b> of evaluable {unit}s succeeded "
            f"({overall['successes']} of {overall['evaluable']}); exact 95% CI "
            f"<b>{_fmt_ci(overall)}</b>"
        )
    return [
        Paragraph("Manufacturing success rate (secondary outcome, NCT06350110)", st["h1"]),
        Paragraph(
            f"{_text(report.site_name)} &middot; unit: {unit} &middot; generated {now} by "
            "CellTrail" + (f" &middot; {_text(checkpoint)}" if checkpoint else ""),
            st["small"],
        ),
        Spacer(1, 5),
        Paragraph(headline, st["big"]),
        Paragraph(
            f"Pending {overall['pending']} &middot; in progress {overall['in_progress']} "
            f"&middot; not evaluable {overall['not_evaluable']} (outside the denominator)",
            st["body"],
        ),
    ]


def _strata_rows(shown: list[dict[str, Any]], keys: list[str], overall: dict[str, Any]) -> Any:
    from reportlab.lib import colors

    header = [k.replace("_", " ") for k in keys]
    header += ["success", "failure", "rate", "95% CI", "pending", "in progr.", "not eval."]
    rows = [header]
    total_label = {k: ("all" if i == 0 else "") for i, k in enumerate(keys)}
    for s in [*shown, {**total_label, **overall}]:
        rows.append(
            [str(s[k]) for k in keys]
            + [
                str(s["successes"]),
                str(s["failures"]),
                _fmt_pct(s["rate"]),
                _fmt_ci(s),
                str(s["pending"]),
                str(s["in_progress"]),
                str(s["not_evaluable"]),
            ]
        )
    shade = [colors.white, colors.HexColor("#f2f6fa")]
    return _grid(
        rows,
        [
            ("FONT", (0, -1), (-1, -1), "Helvetica-Bold", 7),
            ("LINEABOVE", (0, -1), (-1, -1), 0.6, colors.black),
            ("ALIGN", (len(keys), 0), (-1, -1), "RIGHT"),
            ("ROWBACKGROUNDS", (0, 1), (-1, -2), shade),
        ],
    )


def _strata_section(report: Any, st: dict[str, Any], width: float) -> list[Any]:
    from reportlab.platypus import Paragraph, Spacer

    keys, strata = list(report.by), report.data["strata"]
    shown = strata[:PDF_MAX_STRATA]
    by_text = " x ".join(k.replace("_", " ") for k in keys) or "overall"
    out: list[Any] = [
        Paragraph(f"Success rate by {by_text}", st["h2"]),
        _chart(shown, keys, report.data["overall"], width),
        Spacer(1, 4),
        _strata_rows(shown, keys, report.data["overall"]),
    ]
    if len(strata) > len(shown):
        more = f"{len(strata) - len(shown)} more strata in the CSV / XLSX formats."
        out.append(Paragraph(more, st["small"]))
    return out


def _reasons_block(report: Any, st: dict[str, Any]) -> list[Any]:
    from reportlab.platypus import Paragraph

    unit, reasons = report.unit, report.data["failure_reasons"]
    out: list[Any] = [Paragraph(f"Failure reasons (each {unit} once per reason)", st["h2"])]
    if not reasons:
        return [*out, Paragraph("No failures.", st["body"])]
    rows = [["reason", f"{unit}s"]] + [[reason_text(k), str(v)] for k, v in reasons.items()]
    return [*out, _grid(rows, [("ALIGN", (1, 0), (1, -1), "RIGHT")])]


def _times_block(report: Any, st: dict[str, Any]) -> list[Any]:
    from reportlab.platypus import Paragraph

    rows = [["interval", "n", "median", "IQR", "range"]]
    for rec in report.times.to_dict(orient="records"):
        if not rec["n"]:
            rows.append([rec["interval"], "0", "-", "-", "-"])
            continue
        rows.append(
            [
                rec["interval"],
                str(int(rec["n"])),
                f"{rec['median']:g}",
                f"{rec['q1']:g} - {rec['q3']:g}",
                f"{rec['min']:g} - {rec['max']:g}",
            ]
        )
    title = Paragraph("Days from day 0 (all lots)", st["h2"])
    return [title, _grid(rows, [("ALIGN", (1, 0), (-1, -1), "RIGHT")])]


def _side_by_side(left: list[Any], right: list[Any], width: float) -> Any:
    from reportlab.platypus import KeepInFrame, Table, TableStyle

    half = width / 2 - 4
    two = Table(
        [
            [
                KeepInFrame(half, 400, left, mode="shrink"),
                KeepInFrame(half, 400, right, mode="shrink"),
            ]
        ],
        colWidths=[half + 4, half + 4],
        hAlign="LEFT",
    )
    two.setStyle(
        TableStyle(
            [
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("LEFTPADDING", (0, 0), (-1, -1), 0),
                ("RIGHTPADDING", (0, 0), (-1, -1), 0),
            ]
        )
    )
    return two


def render_success_rate_pdf(report: Any, now: str = "", checkpoint: str = "") -> bytes:
    """One page for the sponsor: overall rate, strata, chart with intervals, failure reasons,
    days from day 0 to harvest and to disposition, and the definition in words.

    ``report`` is a ``mfg.services.reporting.SuccessRateReport``.
    """
    from io import BytesIO

    from reportlab.lib.pagesizes import A4
    from reportlab.lib.units import mm
    from reportlab.platypus import KeepInFrame, Paragraph, SimpleDocTemplate

    buf = BytesIO()
    page_w, page_h = A4
    margin = 14 * mm
    doc = SimpleDocTemplate(
        buf,
        pagesize=A4,
        leftMargin=margin,
        rightMargin=margin,
        topMargin=margin,
        bottomMargin=margin,
        title="Manufacturing success rate",
        author=report.site_name or "CellTrail",
    )
    width = page_w - 2 * margin
    st = _styles()
    story = [
        *_headline(report, st, str(now), checkpoint),
        *_strata_section(report, st, width),
        _side_by_side(_reasons_block(report, st), _times_block(report, st), width),
        Paragraph("Definition", st["h2"]),
        Paragraph(DEFINITION, st["body"]),
    ]
    doc.build([KeepInFrame(width, page_h - 2 * margin - 2, story, mode="shrink")])
    return buf.getvalue()
