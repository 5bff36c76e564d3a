"""The qualification report (reportlab): version, environment, each check with expected and
observed values and its result, who ran it and when, and a box for QA's approval."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape
from zoneinfo import ZoneInfo

from mfg.validation.model import FAIL, NOT_AVAILABLE, PASS, Qualification


class _Page:
    """Styles and the paragraph helper of one report (reportlab imported on first use)."""

    def __init__(self, q: Qualification) -> None:
        from reportlab.lib.styles import getSampleStyleSheet

        self.q = q
        self.styles = getSampleStyleSheet()
        self.small = self.styles["BodyText"].clone("small", fontSize=7.5, leading=9)

    def p(self, text: str, style: Any = None) -> Any:
        from reportlab.platypus import Paragraph

        return Paragraph(escape(text), style or self.small)

    def when(self, at: datetime | None) -> str:
        if at is None:
            return "-"
        local = at.astimezone(ZoneInfo(self.q.site_zone))
        return f"{at.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC ({local:%Y-%m-%d %H:%M %Z})"


def _verdict(q: Qualification) -> str:
    return "PASSED" if q.passed else "FAILED"


def _heading(pg: _Page) -> list[Any]:
    from reportlab.lib.units import mm
    from reportlab.platypus import Paragraph, Spacer

    q, st, n = pg.q, pg.styles, pg.q.counts
    return [
        Paragraph(f"CellTrail {escape(q.version)}: operational qualification (OQ)", st["Title"]),
        Paragraph(
            f"Result: <b>{_verdict(q)}</b>: {n[PASS]} passed, {n[FAIL]} failed, "
            f"{n[NOT_AVAILABLE]} not available, of {len(q.checks)} checks.",
            st["Heading3"],
        ),
        Paragraph(
            escape(
                f"Run by {q.run_by_name} ({q.run_by}, role {q.run_by_role}); started "
                f"{pg.when(q.started_at)}, finished {pg.when(q.finished_at)}. Database kind: "
                f"{q.database_kind}. All checks ran on a scratch database created for this run "
                "and removed afterwards; the production database was only read."
            ),
            st["BodyText"],
        ),
        Spacer(1, 4 * mm),
    ]


def _environment(pg: _Page) -> list[Any]:
    from reportlab.lib import colors
    from reportlab.lib.units import mm
    from reportlab.platypus import Paragraph, Spacer, Table, TableStyle

    rows = [[pg.p(k), pg.p(v)] for k, v in pg.q.environment.items()]
    env = Table(rows, colWidths=[55 * mm, 200 * mm])
    env.setStyle(
        TableStyle(
            [("GRID", (0, 0), (-1, -1), 0.25, colors.grey), ("VALIGN", (0, 0), (-1, -1), "TOP")]
        )
    )
    return [Paragraph("Environment", pg.styles["Heading3"]), env, Spacer(1, 4 * mm)]


def _checks(pg: _Page) -> list[Any]:
    from reportlab.lib import colors
    from reportlab.lib.units import mm
    from reportlab.platypus import Paragraph, Spacer, Table, TableStyle

    p = pg.p
    rows = [[p(h) for h in ("#", "step", "check", "expected", "observed", "result", "time")]]
    colour = {
        PASS: colors.HexColor("#d9f2d9"),
        FAIL: colors.HexColor("#f8d0d0"),
        NOT_AVAILABLE: colors.HexColor("#eeeeee"),
    }
    style: list[Any] = [
        ("GRID", (0, 0), (-1, -1), 0.25, colors.grey),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#dde4ee")),
        ("REPEATROWS", (0, 0), (-1, 0)),
    ]
    for i, c in enumerate(pg.q.checks, start=1):
        rows.append(
            [
                p(c.number),
                p(c.step),
                p(c.title),
                p(c.expected),
                p(c.observed),
                p(c.status.upper()),
                p(f"{c.seconds * 1000:.0f} ms"),
            ]
        )
        style.append(("BACKGROUND", (5, i), (5, i), colour.get(c.status, colors.white)))
    t = Table(
        rows,
        colWidths=[10 * mm, 22 * mm, 48 * mm, 55 * mm, 100 * mm, 20 * mm, 15 * mm],
        repeatRows=1,
    )
    t.setStyle(TableStyle(style))
    return [Paragraph("Checks", pg.styles["Heading3"]), t, Spacer(1, 8 * mm)]


def _signatures(pg: _Page) -> Any:
    from reportlab.lib import colors
    from reportlab.lib.units import mm
    from reportlab.platypus import Table, TableStyle

    p, q = pg.p, pg.q
    sign = Table(
        [
            [p("Executed by"), p(f"{q.run_by_name} ({q.run_by})"), p("Reviewed and approved by (QA)"), p("")],
            [p("Signature / date"), p(""), p("Signature / date"), p("")],
        ],
        colWidths=[35 * mm, 90 * mm, 50 * mm, 95 * mm],
        rowHeights=[9 * mm, 12 * mm],
    )  # fmt: skip
    sign.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.25, colors.grey)]))
    return sign


def write_pdf(q: Qualification, path: Path) -> Path:
    """The qualification report (reportlab): version, environment, each check, who and when."""
    from reportlab.lib.pagesizes import A4, landscape
    from reportlab.lib.units import mm
    from reportlab.platypus import SimpleDocTemplate

    pg = _Page(q)
    doc = SimpleDocTemplate(
        str(path),
        pagesize=landscape(A4),
        leftMargin=12 * mm,
        rightMargin=12 * mm,
        topMargin=12 * mm,
        bottomMargin=14 * mm,
        title=f"CellTrail operational qualification {q.version}",
        author=q.run_by_name,
    )
    story = [*_heading(pg), *_environment(pg), *_checks(pg), _signatures(pg)]

    def footer(canvas: Any, d: Any) -> None:
        canvas.saveState()
        canvas.setFont("Helvetica", 7)
        canvas.drawString(
            12 * mm,
            7 * mm,
            f"CellTrail {q.version} OQ report, {_verdict(q)}, run "
            f"{q.started_at.astimezone(UTC):%Y-%m-%d %H:%M} UTC by {q.run_by}",
        )
        canvas.drawRightString(landscape(A4)[0] - 12 * mm, 7 * mm, f"page {d.page}")
        canvas.restoreState()

    path.parent.mkdir(parents=True, exist_ok=True)
    doc.build(story, onFirstPage=footer, onLaterPages=footer)
    return path
