"""Historical-lot CSV files and a report scenario built through the real services."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta
from pathlib import Path

from mfg.services import importer, lots
from mfg.services.uow import Actor, Database
from tests.support import world
from tests.support.constants import NOW, PASSWORD

TEST_CODES = (
    "APPEAR",
    "VIAB",
    "CD3",
    "CAR",
    "VCN",
    "POT",
    "ENDO",
    "GRAM",
    "MYCO",
    "STER",
    "RCL",
    "BEADS",
)
HEADER = (*importer.BASE_COLUMNS, *TEST_CODES)
# The columns of a count cell in the outcome report, in order (stated here, not read from mfg.reports).
C_KEYS = [
    "successes",
    "failures",
    "evaluable",
    "pending",
    "in_progress",
    "not_evaluable",
    "rate",
    "ci_low",
    "ci_high",
]
PASSING = {
    "APPEAR": "Conforms",
    "VIAB": "92.5",
    "CD3": "96.1 %",
    "CAR": "31.0",
    "VCN": "2.1",
    "POT": "410 pg/mL",
    "ENDO": "<0.5",
    "GRAM": "No organisms seen",
    "MYCO": "negative",
    "STER": "No growth",
    "RCL": "Not detected",
    "BEADS": "12",
}
DAY0 = date(2025, 3, 3)


def row(lot_id: str, subject_id: str = "H-001", **kw: str) -> dict[str, str]:
    """A released, successful lot: day 12, DL2 x 70 kg = 1.4e8 target, 2.0e8 CAR+ cells."""
    r = {
        "lot_id": lot_id,
        "subject_id": subject_id,
        "site": "BJ01",
        "indication": "SLE",
        "weight_kg": "70",
        "dose_level": "DL2",
        "source": "apheresis",
        "apheresis_date": DAY0.isoformat(),
        "thaw_date": "",
        "harvest_date": (DAY0 + timedelta(days=12)).isoformat(),
        "car_viable_cells": "2.0e8",
        "state": "released",
        "termination_cause": "",
        **PASSING,
    }
    r.update(kw)
    return r


def csv_text(rows: list[dict[str, str]], header: tuple[str, ...] = HEADER) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(header), lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow(r)
    return buf.getvalue()


def write_csv(path: Path, rows: list[dict[str, str]], header: tuple[str, ...] = HEADER) -> Path:
    path.write_text(csv_text(rows, header), encoding="utf-8")
    return path


def import_file(
    db: Database, actors: dict[str, Actor], path: Path, **kw: object
) -> importer.ImportResult:
    """Stage ``path`` as QA and approve it as a second QA person (qa2)."""
    staged = importer.import_lots(path, db=db, actor=actors["qa"], now=NOW, **kw)  # type: ignore[arg-type]
    progress = kw.get("progress")
    return importer.approve_import(
        staged.id,
        PASSWORD,
        db=db,
        actor=actors["qa2"],
        now=NOW,
        progress=progress,  # type: ignore[arg-type]
    )


def d(days: int) -> str:
    return (DAY0 + timedelta(days=days)).isoformat()


# The scenario: expected lot outcomes are in the comments.
HISTORY = [
    row("BH002-25-0001", "H-001"),  # success
    row("BH002-25-0002", "H-002", harvest_date=d(15)),  # failure: harvest_window
    row("BH002-25-0003", "H-002", apheresis_date=d(40), harvest_date=d(50)),  # re-manufactured
    row("BH002-25-0004", "H-003", car_viable_cells="1.39e8"),  # failure: insufficient_dose
    row("BH002-25-0005", "H-004", VIAB="61", state="released"),  # released by exception: OOS
    row("BH002-25-0006", "H-005", STER="pending", state="conditionally_released"),  # pending
    row("BH002-25-0007", "H-006", state="rejected"),  # failure: rejected
    row(
        "BH002-25-0008",
        "H-007",
        state="terminated",
        termination_cause="not_evaluable",
        harvest_date="",
        car_viable_cells="",
        **dict.fromkeys(TEST_CODES, ""),
    ),  # not evaluable
    row(
        "BH002-25-0009",
        "H-008",
        state="terminated",
        termination_cause="manufacturing",
        harvest_date="",
        car_viable_cells="",
        **dict.fromkeys(TEST_CODES, ""),
    ),  # failure: terminated
    row(
        "LAB 2025/10",  # not a lot number: a new one is allocated
        "H-009",
        source="cryo-pbmc",
        apheresis_date=d(-30),
        thaw_date=d(0),
        harvest_date=d(14),
        weight_kg="120",
        dose_level="DL3",
        car_viable_cells="3.0e8",  # weight capped at 100 kg: exactly the target
        indication="LN",
        site="SH02",
    ),  # success (day 14 after the thaw)
    row("BH002-25-0011", "H-010", ENDO="7.5", GRAM="Organisms seen", state="rejected"),
]
EXPECTED_LOTS = {
    "BH002-25-0001": ("success", ""),
    "BH002-25-0002": ("failure", "harvest_window"),
    "BH002-25-0003": ("success", ""),
    "BH002-25-0004": ("failure", "insufficient_dose"),
    "BH002-25-0005": ("failure", "out_of_spec:VIAB"),
    "BH002-25-0006": ("pending", ""),
    "BH002-25-0007": ("failure", "rejected"),
    "BH002-25-0008": ("not_evaluable", ""),
    "BH002-25-0009": ("failure", "terminated"),
    "BH002-25-0012": ("success", ""),
    "BH002-25-0011": ("failure", "out_of_spec:ENDO;out_of_spec:GRAM"),
}


def build(db: Database, actors: dict[str, Actor], tmp: Path) -> None:
    """History imported by QA, plus two live lots (one in progress) through the services."""
    path = write_csv(tmp / "history.csv", HISTORY)
    import_file(db, actors, path)
    # A live, harvested lot (in progress) and one terminated as not evaluable.
    world.harvested_lot(db, actors["tech"], "S-001", site="SH02", dose_level="DL1")
    world.subject(db, actors["tech"], "S-002", site="BJ01")
    v = world.lot(db, actors["tech"], "S-002")
    lots.terminate_lot(
        v.lot_number, "not_evaluable", "subject withdrew", db=db, actor=actors["qa"], now=NOW
    )
