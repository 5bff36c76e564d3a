"""Reports and exports for sponsors and QA: the role check in front of ``mfg.reports``.

Sponsors may run reports (``report.read``) and the de-identified export (``export.read``) and
nothing else. pandas is imported only when one of these is called.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any

from mfg.errors import RuleViolation
from mfg.services.uow import Actor, Database

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

EXPORT_FORMATS = ("csv", "xlsx", "parquet")


@dataclass(frozen=True)
class SuccessRateReport:
    """Everything the table, JSON, CSV, XLSX and PDF renderings need."""

    unit: str
    by: tuple[str, ...]
    data: dict[str, Any]  # the JSON shape
    strata: pd.DataFrame
    reasons: pd.Series
    times: pd.DataFrame
    site_name: str
    load_lots: Callable[[], pd.DataFrame] = field(repr=False, compare=False)

    @cached_property
    def lots(self) -> pd.DataFrame:
        """The lot table behind the report, read when first asked for: the success rate per
        lot is counted in SQL and does not need one row per lot."""
        return self.load_lots()


def _lots(db: Database) -> pd.DataFrame:
    from mfg import reports

    return reports.lot_frame(db.engine, db.product, db.zone)


def lot_table(*, db: Database, actor: Actor) -> pd.DataFrame:
    """The de-identified lot-level DataFrame with outcomes, for a sponsor's own analysis."""
    actor.require("report.read")
    from mfg import reports

    return reports.export_frame(_lots(db))


def subject_table(*, db: Database, actor: Actor) -> pd.DataFrame:
    actor.require("report.read")
    from mfg import reports

    return reports.subject_frame(_lots(db))


def success_rate(
    *, db: Database, actor: Actor, unit: str = "lot", by: Sequence[str] = ()
) -> SuccessRateReport:
    """Counts, rate and exact interval overall and per stratum, failure reasons, times.

    Per lot, lots are grouped in SQL by their outcome inputs (``mfg.reports.summary``); per
    subject, the lot table is read (a subject's outcome depends on all its lots).
    """
    actor.require("report.read")
    from mfg import reports

    reports.check_unit(unit)
    keys = reports.check_strata(by)
    if unit == "lot":
        units, times = reports.lot_report(db.engine, db.product, db.zone, keys)
    else:
        lots = _lots(db)
        units, times = reports.subject_frame(lots), reports.time_summary(lots)
    strata = reports.strata_frame(units, keys)
    reasons = reports.failure_reasons(units)
    return SuccessRateReport(
        unit=unit,
        by=keys,
        data=reports.report_data(units, unit, strata, reasons),
        strata=strata,
        reasons=reasons,
        times=times,
        site_name=db.settings.site_name or "",
        load_lots=lambda: _lots(db),
    )


def export_lots(fmt: str, path: str, *, db: Database, actor: Actor) -> int:
    """Write the de-identified lot table (csv, xlsx or parquet); returns the number of lots."""
    actor.require("export.read")
    if fmt not in EXPORT_FORMATS:
        raise RuleViolation(
            "format", "unknown-format", f"{fmt!r} is not one of {', '.join(EXPORT_FORMATS)}"
        )
    from mfg import reports

    lots = _lots(db)
    reports.write_export(lots, fmt, path)
    return len(lots)


@dataclass(frozen=True)
class SuccessTable:
    """The success rate as rows of display strings (for the TUI reports screen)."""

    title: str
    rows: tuple[dict[str, str], ...]


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f} %"


def success_table(
    *,
    db: Database,
    actor: Actor,
    now: datetime | None = None,
    unit: str = "lot",
    by: Sequence[str] = ("dose_level",),
) -> SuccessTable:
    """Strata and the overall line, formatted; ``now`` is accepted for the screen's clock."""
    r = success_rate(db=db, actor=actor, unit=unit, by=by)
    keys = list(r.by)
    rows = []
    total = {k: ("all" if i == 0 else "") for i, k in enumerate(keys)}
    for s in [*r.data["strata"], {**total, **r.data["overall"]}]:
        ci = "-" if s["rate"] is None else f"{_pct(s['ci_low'])} - {_pct(s['ci_high'])}"
        rows.append(
            {
                **{k.replace("_", " "): str(s[k]) for k in keys},
                "success": str(s["successes"]),
                "failure": str(s["failures"]),
                "rate": _pct(s["rate"]),
                "95% CI": ci,
                "pending": str(s["pending"]),
                "in progress": str(s["in_progress"]),
                "not evaluable": str(s["not_evaluable"]),
            }
        )
    o = r.data["overall"]
    title = (
        f"Manufacturing success rate per {unit}: {_pct(o['rate'])} "
        f"({o['successes']}/{o['evaluable']} evaluable; exact 95% CI "
        f"{_pct(o['ci_low'])} - {_pct(o['ci_high'])})"
        if o["rate"] is not None
        else f"Manufacturing success rate per {unit}: nothing evaluable yet"
    )
    return SuccessTable(title=title, rows=tuple(rows))
