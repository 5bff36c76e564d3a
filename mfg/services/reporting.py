"""Reports and exports for sponsors and QA: the role check in front of ``mfg.reports``.

Sponsors may run reports (``report.read``) and the de-identified export (``export.read``) and
nothing else. pandas is imported only when one of these is called.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
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
    lots: pd.DataFrame
    site_name: str


def _lots(db: Database) -> pd.DataFrame:
    from mfg import reports

    return reports.lot_frame(db.engine, db.product, db.settings.zone)


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
    actor.require("report.read")
    from mfg import reports

    reports.check_unit(unit)
    keys = reports.check_strata(by)
    lots = _lots(db)
    units = reports.units_frame(lots, unit)
    strata = reports.strata_frame(units, keys)
    reasons = reports.failure_reasons(units)
    return SuccessRateReport(
        unit=unit,
        by=keys,
        data=reports.report_data(units, unit, strata, reasons),
        strata=strata,
        reasons=reasons,
        times=reports.time_summary(lots),
        lots=lots,
        site_name=db.settings.site_name or "",
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
