"""The de-identified lot-level export: CSV, XLSX or Parquet (no initials, no dates of birth)."""

from __future__ import annotations

import pandas as pd

from mfg.errors import RuleViolation
from mfg.reports.definitions import LOT_COLUMNS


def export_frame(lots: pd.DataFrame) -> pd.DataFrame:
    """The de-identified lot-level export (no initials, no dates of birth)."""
    out = lots.loc[:, list(LOT_COLUMNS)].sort_values("lot_number", kind="stable")
    for col in ("day0", "harvested_on", "disposition_on"):
        out[col] = out[col].dt.date
    return out.reset_index(drop=True)


def inert_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy whose text cells cannot run as spreadsheet formulas (mfg.domain.text.cell_inert)."""
    from mfg.domain.text import cell_inert

    out = frame.copy()
    for name in out.columns:
        if pd.api.types.is_object_dtype(out[name]) or pd.api.types.is_string_dtype(out[name]):
            out[name] = out[name].map(cell_inert)
    out.columns = [cell_inert(c) if isinstance(c, str) else c for c in out.columns]
    return out


def write_export(lots: pd.DataFrame, fmt: str, path: str) -> None:
    df = export_frame(lots)
    if fmt == "csv":
        inert_frame(df).to_csv(path, index=False)
    elif fmt == "xlsx":
        inert_frame(df).to_excel(path, index=False, sheet_name="lots", engine="openpyxl")
    elif fmt == "parquet":
        df.to_parquet(path, index=False)
    else:
        raise RuleViolation("format", "unknown-format", f"{fmt!r} is not csv, xlsx or parquet")
