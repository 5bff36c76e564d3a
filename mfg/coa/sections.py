"""The sections of a COA (identity, product, results, disposition, signatures, revisions) as
reportlab flowables drawn from the frozen content; styles shared by them."""

from __future__ import annotations

from typing import Any


def _styles() -> dict[str, Any]:
    from reportlab.lib import colors
    from reportlab.lib.styles import ParagraphStyle

    base = ParagraphStyle("base", fontName="Helvetica", fontSize=8.5, leading=10.5)
    return {
        "base": base,
        "small": ParagraphStyle("small", parent=base, fontSize=7.5, leading=9),
        "cell": ParagraphStyle("cell", parent=base, fontSize=8, leading=9.6),
        "cellb": ParagraphStyle("cellb", parent=base, fontName="Helvetica-Bold", fontSize=8),
        "head": ParagraphStyle(
            "head", parent=base, fontName="Helvetica-Bold", fontSize=8, textColor=colors.white
        ),
        "h2": ParagraphStyle(
            "h2",
            parent=base,
            fontName="Helvetica-Bold",
            fontSize=10.5,
            leading=13,
            spaceBefore=9,
            spaceAfter=4,
            textColor=colors.HexColor("#1f3a5f"),
            keepWithNext=1,  # never a heading alone at the foot of a page
        ),
        "decision": ParagraphStyle(
            "decision",
            parent=base,
            fontName="Helvetica-Bold",
            fontSize=12,
            leading=15,
            keepWithNext=1,
        ),
        "note": ParagraphStyle("note", parent=base, fontSize=7.5, leading=9, spaceBefore=3),
        "holdtitle": ParagraphStyle(
            "holdtitle",
            parent=base,
            fontName="Helvetica-Bold",
            fontSize=11,
            leading=14,
            textColor=colors.HexColor("#a40000"),
        ),
        "alert": ParagraphStyle(
            "alert",
            parent=base,
            fontName="Helvetica-Bold",
            textColor=colors.HexColor("#a40000"),
            spaceBefore=4,
        ),
    }


def _esc(text: object) -> str:
    """User text for a Paragraph: shown as text (mfg.domain.text.pdf_inert)."""
    from mfg.domain.text import pdf_inert

    return pdf_inert(text)


def header_decision(c: dict[str, Any]) -> tuple[str, bool]:
    """What every page's header says of the decision, and whether it is a warning (red)."""
    decision = (c.get("disposition") or {}).get("decision_text", "")
    holds = c.get("holds")
    if not holds:
        return decision, False
    if holds["on_hold"]:
        return "ON HOLD - DO NOT ISSUE, THAW OR INFUSE", True
    if holds["oos_administrations"]:
        return "OOS - ADMINISTRATION BY EXCEPTION", True
    return decision, False


def _box(paragraphs: list[Any], width: float, colour: str) -> Any:
    from reportlab.lib import colors
    from reportlab.platypus import Table, TableStyle

    t = Table([[p] for p in paragraphs], colWidths=[width])
    t.setStyle(
        TableStyle(
            [
                ("BOX", (0, 0), (-1, -1), 2, colors.HexColor(colour)),
                ("BACKGROUND", (0, 0), (-1, -1), colors.HexColor("#fdecec")),
                ("TOPPADDING", (0, 0), (-1, -1), 2),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
            ]
        )
    )
    return t


def hold_notice(c: dict[str, Any], st: dict[str, Any], width: float) -> list[Any]:
    """Before section 1, whatever the template: the holds standing when the revision was issued
    (each with why, who and when) and every signed OOS administration decision."""
    from reportlab.platypus import Paragraph, Spacer

    holds = c.get("holds")
    if not holds:
        return []
    out: list[Any] = []
    if holds["on_hold"]:
        lines = [
            Paragraph("ON HOLD: DO NOT ISSUE, THAW OR INFUSE THIS PRODUCT", st["holdtitle"]),
            Paragraph(
                f"The lot was on hold when this revision was issued ({_esc(c['issued_at'])}). "
                "The decision below does not release the product while a hold stands; "
                "return its bags to QA.",
                st["cell"],
            ),
        ]
        for m in holds["manual"]:
            lines.append(
                Paragraph(
                    f"<b>QA hold</b> placed by {_esc(m['placed_name'])} ({_esc(m['placed_by'])}) "
                    f"at {_esc(m['placed_at'])}: {_esc(m['reason'])}",
                    st["cell"],
                )
            )
        for h in holds["active"]:
            lines.append(
                Paragraph(
                    f"<b>{_esc(h['code'])}</b> since {_esc(h['since'])}: {_esc(h['message'])}",
                    st["cell"],
                )
            )
        out += [_box(lines, width, "#a40000"), Spacer(1, 3)]
    for o in holds["oos_administrations"]:
        lines = [
            Paragraph(
                "OUT-OF-SPECIFICATION PRODUCT: ADMINISTRATION APPROVED BY QA AS AN EXCEPTION",
                st["holdtitle"],
            ),
            Paragraph(
                f"At the request of the treating physician {_esc(o['physician'])}. "
                f"Reason: {_esc(o['reason'])}",
                st["cell"],
            ),
            Paragraph(
                f"Approved (e-signed) by {_esc(o['printed_name'])} ({_esc(o['signed_by'])}) at "
                f"{_esc(o['signed_at'])}. Holds covered: "
                f"{_esc('; '.join(o['holds_covered']) or '-')}",
                st["cell"],
            ),
            Paragraph(
                "The product does not meet its specification; the lot remains a manufacturing "
                "failure.",
                st["cell"],
            ),
        ]
        out += [_box(lines, width, "#a40000"), Spacer(1, 3)]
    return out


SECTION_TITLES = {
    "identity": "1. Identity",
    "product": "2. Product, harvest and formulation",
    "results": "3. Release test results",
    "disposition": "4. QA disposition",
    "signatures": "5. Electronic signatures",
    "revisions": "6. Revision history",
}


def _kv_table(rows: list[tuple[str, str]], st: dict[str, Any], width: float) -> Any:
    from reportlab.lib import colors
    from reportlab.platypus import Paragraph, Table, TableStyle

    # two key/value pairs per line
    cells = []
    for i in range(0, len(rows), 2):
        line: list[Any] = []
        for k, v in rows[i : i + 2]:
            line += [Paragraph(_esc(k), st["cellb"]), Paragraph(_esc(v), st["cell"])]
        while len(line) < 4:
            line.append("")
        cells.append(line)
    kw, vw = width * 0.17, width * 0.33
    t = Table(cells, colWidths=[kw, vw, kw, vw])
    t.setStyle(
        TableStyle(
            [
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("BACKGROUND", (0, 0), (0, -1), colors.HexColor("#eef2f7")),
                ("BACKGROUND", (2, 0), (2, -1), colors.HexColor("#eef2f7")),
                ("GRID", (0, 0), (-1, -1), 0.4, colors.HexColor("#9aa7b8")),
                ("TOPPADDING", (0, 0), (-1, -1), 2.5),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 2.5),
            ]
        )
    )
    return t


def _grid(
    header: list[str],
    rows: list[list[Any]],
    widths: list[float],
    st: dict[str, Any],
    extra: list[tuple[Any, ...]] | None = None,
) -> Any:
    from reportlab.lib import colors
    from reportlab.platypus import Paragraph, Table, TableStyle

    data: list[list[Any]] = [[Paragraph(_esc(h), st["head"]) for h in header]]
    for r in rows:
        data.append([c if not isinstance(c, str) else Paragraph(_esc(c), st["cell"]) for c in r])
    t = Table(data, colWidths=widths, repeatRows=1)
    style: list[tuple[Any, ...]] = [
        ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#1f3a5f")),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("GRID", (0, 0), (-1, -1), 0.4, colors.HexColor("#9aa7b8")),
        ("TOPPADDING", (0, 0), (-1, -1), 2.5),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 2.5),
        ("ROWBACKGROUNDS", (0, 1), (-1, -1), [colors.white, colors.HexColor("#f6f8fb")]),
    ]
    t.setStyle(TableStyle(style + (extra or [])))
    return t


def _identity(c: dict[str, Any], st: dict[str, Any], width: float) -> list[Any]:
    lot, prod, dose = c["lot"], c["product"], c["dose"]
    rows = [
        ("Product", f"{prod['name']} ({prod['code']})"),
        ("Specification", f"{prod['code']} version {prod['spec_version']}"),
        ("Lot number", lot["lot_number"]),
        (
            "Chain of identity (COI)",
            f"{lot['coi_eye_readable']} (check character {lot['coi_check']})",
        ),
        ("Subject ID", lot["subject_id"]),
        ("Protocol", prod["protocol"] or "-"),
        ("Dose level", f"{dose['level']}: {dose['per_kg']}"),
        ("Target dose", dose["target"]),
        ("Source material", lot["source"]),
        ("Manufacturer", c["site"]["name"]),
    ]
    return [_kv_table(rows, st, width)]


def _product(c: dict[str, Any], st: dict[str, Any], width: float) -> list[Any]:
    h, dose, prod = c["harvest"], c["dose"], c["product"]
    rows = [
        ("Harvest date", f"{h['harvested_on']} (day {h['harvest_day']})"),
        ("Cryopreservation date", h["cryopreserved_on"]),
        ("Expiry date", h["expires_on"]),
        ("Storage condition", prod["storage"] or "-"),
        ("Bags and volume", h["bags"]),
        ("Total viable cells", f"{h['total_viable']} (CAR+ {h['car_pct']})"),
        ("CAR+ viable T cells", dose["car_viable"]),
        ("CAR+ viable T cells/kg", dose["cells_per_kg"]),
    ]
    return [_kv_table(rows, st, width)]


def _results(c: dict[str, Any], st: dict[str, Any], width: float) -> list[Any]:
    from reportlab.lib import colors
    from reportlab.platypus import Paragraph

    rows: list[list[Any]] = []
    extra: list[tuple[Any, ...]] = []
    notes: list[str] = []
    for i, r in enumerate([*c["results"], c["dose_row"]], start=1):
        result = r["result"]
        if r.get("corrected"):
            why = f"; reason: {_esc(r['reason'])}" if r.get("reason") else ""
            notes.append(
                f"<b>{_esc(r['code'])}</b> changed since original entry: originally "
                f"{_esc(r.get('original') or 'an earlier value')}{why}"
            )
            result = f"{result} *"
        conforms = r["conforms"]
        style = st["cellb"] if conforms != "Conforms" else st["cell"]
        rows.append(
            [
                Paragraph(f"<b>{_esc(r['name'])}</b>", st["cell"]),
                r["method"],
                r["acceptance"],
                result,
                r["status"],
                Paragraph(_esc(conforms), style),
            ]
        )
        if conforms == "Does not conform":
            extra.append(("BACKGROUND", (5, i), (5, i), colors.HexColor("#f7d4d4")))
        elif conforms == "Pending":
            extra.append(("BACKGROUND", (5, i), (5, i), colors.HexColor("#fbefc9")))
    w = width
    out: list[Any] = [
        _grid(
            ["Test", "Method", "Specification", "Result", "Status", "Conformity"],
            rows,
            [w * 0.2, w * 0.215, w * 0.165, w * 0.175, w * 0.12, w * 0.125],
            st,
            extra,
        )
    ]
    for n in notes:
        out.append(Paragraph("* " + n, st["note"]))
    return out


def _disposition(c: dict[str, Any], st: dict[str, Any], width: float) -> list[Any]:
    from reportlab.platypus import Paragraph

    d = c["disposition"]
    if d is None:
        return [Paragraph("No disposition yet.", st["base"])]
    out: list[Any] = [Paragraph(_esc(d["decision_text"]), st["decision"])]
    rows = [("Reason", d["reason"]), ("Decided", d["decided_at"])]
    if d["pending_tests"]:
        rows.append(("Pending at signing", d["pending_tests"]))
    if d["exception"]:
        rows.append(("Exception", "Released out of specification as an exception"))
        rows.append(("Deviations", d["deviations"]))
    out.append(_kv_table(rows, st, width))
    for alert in content_alerts(c):
        out.append(Paragraph(f"ALERT: {_esc(alert)}", st["alert"]))
    return out


def content_alerts(c: dict[str, Any]) -> list[str]:
    return list(c.get("alerts") or [])


def _signatures(c: dict[str, Any], st: dict[str, Any], width: float) -> list[Any]:
    from reportlab.lib import colors
    from reportlab.platypus import Paragraph

    if not c["signatures"]:
        return [Paragraph("Not signed.", st["base"])]
    rows = []
    extra: list[tuple[Any, ...]] = []
    for i, s in enumerate(c["signatures"], start=1):
        valid = "Valid" if s["valid"] else "BROKEN: signed records changed since"
        rows.append([s["name"], s["username"], s["meaning"], s["signed_at"], valid])
        if not s["valid"]:
            extra.append(("BACKGROUND", (4, i), (4, i), colors.HexColor("#f7d4d4")))
    w = width
    return [
        _grid(
            ["Printed name", "User", "Meaning", "Signed (UTC)", "Signature"],
            rows,
            [w * 0.24, w * 0.12, w * 0.2, w * 0.2, w * 0.24],
            st,
            extra,
        ),
        Paragraph(
            "Electronic signatures under 21 CFR Part 11: each was given with the signer's "
            "password and is bound to a SHA-256 of the lot's harvest and results at signing.",
            st["note"],
        ),
    ]


def _revisions(c: dict[str, Any], st: dict[str, Any], width: float) -> list[Any]:
    w = width
    rows = [[str(r["revision"]), r["created_at"], r["by"], r["reason"]] for r in c["revisions"]]
    return [
        _grid(
            ["Rev.", "Issued (UTC)", "By", "Reason"],
            rows,
            [w * 0.07, w * 0.2, w * 0.2, w * 0.53],
            st,
        )
    ]


SECTIONS = {
    "identity": _identity,
    "product": _product,
    "results": _results,
    "disposition": _disposition,
    "signatures": _signatures,
    "revisions": _revisions,
}
