"""Success-rate summaries, exact intervals and the de-identified lot table.

The only package that imports pandas (the CLI and TUI reach it lazily through
``mfg.services.reporting``, which checks the role). Its modules:

- ``definitions``: units, strata, the lot table's columns and the definition in words;
- ``query``: the SQL (Core): one row per lot for the tables, lots grouped by their outcome
  inputs for the success rate, histograms of days for the time summary;
- ``summary``: the success rate per lot from the grouped rows (one domain decision per group);
- ``frames``: pandas frames: the lot and subject tables, strata, failure reasons, times;
- ``export``: CSV / XLSX / Parquet of the lot table;
- ``pdf``: the one-page sponsor summary (reportlab imported inside).

Functions take the engine, a product loader and the site time zone, not the services.
"""

from mfg.reports.definitions import (
    COUNT_FIELDS,
    DEFINITION,
    LOT_COLUMNS,
    STRATA,
    UNITS,
    check_strata,
    check_unit,
)
from mfg.reports.export import export_frame, inert_frame, write_export
from mfg.reports.frames import (
    counts,
    failure_reasons,
    fetch_lots,
    lot_frame,
    report_data,
    strata_frame,
    subject_frame,
    success_rate,
    time_summary,
    unit_counts,
    units_frame,
)
from mfg.reports.pdf import render_success_rate_pdf
from mfg.reports.summary import lot_report

__all__ = [
    "COUNT_FIELDS",
    "DEFINITION",
    "LOT_COLUMNS",
    "STRATA",
    "UNITS",
    "check_strata",
    "check_unit",
    "counts",
    "export_frame",
    "failure_reasons",
    "fetch_lots",
    "inert_frame",
    "lot_frame",
    "lot_report",
    "render_success_rate_pdf",
    "report_data",
    "strata_frame",
    "subject_frame",
    "success_rate",
    "time_summary",
    "unit_counts",
    "units_frame",
    "write_export",
]
