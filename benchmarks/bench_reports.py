"""Benchmark: the success-rate report over 100,000 synthetic lots, and importing 10,000 lots.

Run on demand (never in the test suite):

    .venv/bin/python benchmarks/bench_reports.py                 # SQLite, 100,000 lots
    .venv/bin/python benchmarks/bench_reports.py --lots 20000 --import-lots 2000 --repeat 3
    .venv/bin/python benchmarks/bench_reports.py --postgres      # a throwaway PostgreSQL server

The report data are bulk-inserted straight into the tables (seeded, reproducible: subjects,
lots in every state, current and superseded harvests, 12 release results per tested lot,
dispositions with their signatures); that is a fixture for timing, not a way to enter data. The
import benchmark goes through the real service (validation, one transaction, audit trail).
Prints medians of ``--repeat`` runs, wall-clock and CPU time (the CPU time of this process is the
fairer figure on a shared machine): start-up (imports), the query + outcomes, whole reports.
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SITES = ("BJ01", "SH02", "GZ03", "CD04", "WH05", "XA06")
INDICATIONS = ("SLE", "LN", "SSc", "SjS", "AAV", "IIM")
LEVELS = ("DL1", "DL2", "DL3")
TESTS = {
    "APPEAR": ("Conforms", "Does not conform"),
    "VIAB": ("92.5", "61.0"),
    "CD3": ("96.1", "72.0"),
    "CAR": ("31.0", "6.0"),
    "VCN": ("2.1", "6.3"),
    "POT": ("410", "22"),
    "ENDO": ("<0.5", "7.5"),
    "GRAM": ("No organisms seen", "Organisms seen"),
    "MYCO": ("Negative", "Positive"),
    "STER": ("No growth", "Growth"),
    "RCL": ("Not detected", "Detected"),
    "BEADS": ("12", "140"),
}
NOW = datetime(2026, 11, 25, 9, 30, tzinfo=UTC)


def _pick_state(rng: random.Random) -> str:
    x = rng.random()
    if x < 0.72:
        return "released"
    if x < 0.78:
        return "conditionally_released"
    if x < 0.83:
        return "rejected"
    if x < 0.88:
        return "terminated"
    return rng.choice(("registered", "in_expansion", "harvested", "in_release_testing"))


def build_synthetic(db, n_lots: int, seed: int = 7) -> None:  # type: ignore[no-untyped-def]
    """Bulk-insert ``n_lots`` lots (about 1.2 per subject) with harvests, results, dispositions."""
    from sqlalchemy import insert

    from mfg.domain import ids
    from mfg.store.tables import (
        Disposition,
        Harvest,
        Lot,
        ReleaseResult,
        Signature,
        Subject,
    )

    rng = random.Random(seed)
    n_subjects = max(1, int(n_lots / 1.2))
    subjects = []
    for i in range(n_subjects):
        subjects.append(
            {
                "id": i + 1,
                "subject_id": f"S-{i + 1:06d}",
                "site": rng.choice(SITES),
                "indication": rng.choice(INDICATIONS),
                "weight_kg": round(rng.uniform(45, 125), 1),
                "weight_on": date(2024, 1, 1),
                "dose_level": rng.choice(LEVELS),
                "created_at": NOW,
                "row_version": 1,
            }
        )
    lots, harvests, results, signatures, dispositions = [], [], [], [], []
    for i in range(n_lots):
        lot_id = i + 1
        subject = subjects[i % n_subjects]
        source = "apheresis" if rng.random() < 0.7 else "cryo-pbmc"
        day0 = date(2024, 1, 1) + timedelta(days=rng.randrange(0, 1000))
        state = _pick_state(rng)
        cause = None
        if state == "terminated":
            cause = "manufacturing" if rng.random() < 0.6 else "not_evaluable"
        lots.append(
            {
                "id": lot_id,
                "lot_number": ids.lot_number("BH002", day0.year, i + 1),
                "coi": ids.coi_code("W0001", day0.year, i + 1),
                "subject_pk": subject["id"],
                "product_code": "BH002",
                "spec_version": "1",
                "source": source,
                "apheresis_on": day0 if source == "apheresis" else day0 - timedelta(days=40),
                "thaw_on": None if source == "apheresis" else day0,
                "day0": day0,
                "state": state,
                "termination_cause": cause,
                "termination_reason": "synthetic" if cause else None,
                "registered_at": NOW,
                "registered_by": "bench",
                "state_changed_at": NOW,
                "row_version": 1,
            }
        )
        if state in ("registered", "in_expansion") or (
            state == "terminated" and rng.random() < 0.7
        ):
            continue
        day = rng.choice((9, 10, 11, 12, 12, 13, 13, 14, 15)) if rng.random() < 0.1 else 12
        total = int(rng.uniform(0.5e9, 6e9))
        harvests.append(
            {
                "lot_pk": lot_id,
                "harvested_on": day0 + timedelta(days=day),
                "harvest_day": day,
                "total_viable_cells": total,
                "car_pct": round(rng.uniform(12, 45), 1),
                "bag_count": 2,
                "bag_volume_ml": 50.0,
                "recorded_by": "bench",
                "recorded_at": NOW,
            }
        )
        if state == "harvested":
            continue
        bad = rng.random() < 0.04
        for code, (good, fail) in TESTS.items():
            value, evaluation = good, "pass"
            if bad and code == rng.choice(("VIAB", "CD3", "ENDO", "STER")):
                value, evaluation = fail, "fail"
            if state == "conditionally_released" and code == "STER":
                value, evaluation = "pending", "pending"
            results.append(
                {
                    "lot_pk": lot_id,
                    "test_code": code,
                    "value_text": value,
                    "qualifier": "",
                    "unit": "",
                    "evaluation": evaluation,
                    "entered_by": "bench",
                    "entered_at": NOW,
                    "after_disposition": False,
                    "row_version": 1,
                }
            )
        if state in ("released", "conditionally_released", "rejected"):
            signatures.append(
                {
                    "id": len(signatures) + 1,
                    "lot_pk": lot_id,
                    "username": "qa",
                    "printed_name": "Quinn Quality",
                    "meaning": "released",
                    "signed_at": NOW,
                    "record_hash": "0" * 64,
                }
            )
            decided = datetime.combine(day0, datetime.min.time(), UTC) + timedelta(
                days=day + rng.randrange(3, 15)
            )
            dispositions.append(
                {
                    "lot_pk": lot_id,
                    "decision": state,
                    "reason": "synthetic",
                    "exception": bad and state == "released",
                    "deviation_numbers": "",
                    "pending_tests": "STER" if state == "conditionally_released" else "",
                    "signature_pk": len(signatures),
                    "decided_at": decided,
                }
            )
    with db.engine.begin() as conn:
        for table, rows in (
            (Subject, subjects),
            (Lot, lots),
            (Harvest, harvests),
            (ReleaseResult, results),
            (Signature, signatures),
            (Disposition, dispositions),
        ):
            for k in range(0, len(rows), 20_000):
                conn.execute(insert(table.__table__), rows[k : k + 20_000])  # type: ignore[attr-defined]
        if db.dialect == "postgresql":
            for t in ("subject", "lot", "signature"):
                conn.exec_driver_sql(
                    f"SELECT setval(pg_get_serial_sequence('{t}', 'id'), (SELECT max(id) FROM {t}))"
                )


def import_csv(path: Path, n: int, seed: int = 11) -> None:
    from mfg.services.importer import BASE_COLUMNS

    rng = random.Random(seed)
    cols = [*BASE_COLUMNS, *TESTS]  # exactly the columns `mfg import lots` reads
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(cols)
        for i in range(n):
            day0 = date(2023, 1, 1) + timedelta(days=rng.randrange(0, 600))
            source = "apheresis" if rng.random() < 0.7 else "cryo-pbmc"
            state = rng.choice(("released",) * 8 + ("rejected", "conditionally_released"))
            values = []
            for code, (good, fail) in TESTS.items():
                v = good
                if state == "rejected" and code == "VIAB":
                    v = fail
                if state == "conditionally_released" and code == "STER":
                    v = "pending"
                values.append(v)
            w.writerow(
                [
                    f"HX-{day0.year % 100:02d}-{i + 1:05d}",
                    f"H-{i // 2 + 1:05d}",  # two lots per subject (re-manufacture)
                    SITES[(i // 2) % len(SITES)],
                    INDICATIONS[(i // 2) % len(INDICATIONS)],
                    "70.5",
                    "DL2",
                    source,
                    day0.isoformat()
                    if source == "apheresis"
                    else (day0 - timedelta(days=30)).isoformat(),
                    "" if source == "apheresis" else day0.isoformat(),
                    (day0 + timedelta(days=12)).isoformat(),
                    f"{rng.uniform(1.5, 9):.2f}e8",
                    state,
                    "",
                    *values,
                ]
            )


def _median(xs: list[float]) -> float:
    return statistics.median(xs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lots", type=int, default=100_000)
    ap.add_argument("--import-lots", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument(
        "--postgres",
        action="store_true",
        help="use a throwaway PostgreSQL server (tests/support/pgserver.py) instead of SQLite",
    )
    args = ap.parse_args()

    t0 = time.perf_counter()
    import pandas  # noqa: F401

    from mfg import reports
    from mfg.config import Settings
    from mfg.domain.permissions import Role
    from mfg.services import importer, reporting, users
    from mfg.services.uow import Actor, Database
    from mfg.store import db as store_db

    startup = time.perf_counter() - t0
    os.environ.setdefault("CELLTRAIL_FAST_HASH", "1")
    server = None
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        url, url2 = f"sqlite:///{home / 'bench.db'}", f"sqlite:///{home / 'import.db'}"
        if args.postgres:
            from sqlalchemy import create_engine, text

            from tests.support.pgserver import start_server

            server = start_server()
            admin = create_engine(server.admin_url, isolation_level="AUTOCOMMIT")
            with admin.connect() as c:
                c.execute(text("CREATE DATABASE bench_reports"))
                c.execute(text("CREATE DATABASE bench_import"))
            admin.dispose()
            url, url2 = server.url("bench_reports"), server.url("bench_import")
        settings = Settings(home=home, site_timezone="Asia/Shanghai", database_url=url)
        db = Database(engine=store_db.make_engine(url), settings=settings)
        store_db.upgrade(db.engine)
        t = time.perf_counter()
        build_synthetic(db, args.lots)
        print(
            f"built {args.lots:,} synthetic lots in {time.perf_counter() - t:.1f} s ({db.dialect})"
        )
        sponsor = Actor("sponsor", "Sam Sponsor", Role.SPONSOR)

        by = ("dose_level", "source", "site")
        steps = {
            "query + outcomes (mfg.reports.lot_frame)": lambda: reports.lot_frame(
                db.engine, db.product, settings.zone
            ),
            "report per lot by 3 strata (service, total)": lambda: reporting.success_rate(
                db=db, actor=sponsor, unit="lot", by=by
            ),
            "report per subject by 3 strata (service, total)": lambda: reporting.success_rate(
                db=db, actor=sponsor, unit="subject", by=by
            ),
        }
        wall: dict[str, list[float]] = {k: [] for k in steps}
        cpu: dict[str, list[float]] = {k: [] for k in steps}
        result = None
        for _ in range(args.repeat):
            for name, fn in steps.items():
                t, c = time.perf_counter(), time.process_time()
                out = fn()
                wall[name].append(time.perf_counter() - t)
                cpu[name].append(time.process_time() - c)
                if name.startswith("report per lot"):
                    result = out
        assert result is not None
        o = result.data["overall"]
        print(f"start-up (imports of pandas, mfg.reports, services): {startup:.2f} s")
        print(
            f"{args.lots:,} lots, {len(result.data['strata'])} strata; overall "
            f"{o['successes']}/{o['evaluable']} = {o['rate']:.4f} "
            f"[{o['ci_low']:.4f}, {o['ci_high']:.4f}]"
        )
        print(f"  {'step':52s} {'wall median':>12s} {'CPU median':>11s}  (n={args.repeat})")
        for name in steps:
            print(f"  {name:52s} {_median(wall[name]):10.3f} s {_median(cpu[name]):9.3f} s")

        # Import of historical lots through the service, into a fresh database.
        db2 = Database(engine=store_db.make_engine(url2), settings=settings)
        store_db.upgrade(db2.engine)
        users.init_database(db2, admin="admin", full_name="Ada Admin", password="x" * 12, now=NOW)
        qa = Actor("qa", "Quinn Quality", Role.QA)
        path = home / "history.csv"
        import_csv(path, args.import_lots)
        t, c = time.perf_counter(), time.process_time()
        res = importer.import_lots(path, db=db2, actor=qa, now=NOW)
        dt, dc = time.perf_counter() - t, time.process_time() - c
        print(
            f"import of {res.lots:,} lots ({res.subjects_created:,} new subjects, "
            f"{res.results:,} results, one transaction): {dt:.1f} s wall, {dc:.1f} s CPU "
            f"({res.lots / dt:,.0f} lots/s)"
        )
        db.dispose()
        db2.dispose()
        if server is not None:
            server.stop()


if __name__ == "__main__":
    main()
