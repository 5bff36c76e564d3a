"""Benchmark: the success-rate report over 100,000 (or 1,000,000) synthetic lots, and importing
10,000 lots.

Run on demand (never in the test suite):

    .venv/bin/python benchmarks/bench_reports.py                 # SQLite, 100,000 lots
    .venv/bin/python benchmarks/bench_reports.py --lots 1000000 --keep /tmp/r1m --import-lots 0
    .venv/bin/python benchmarks/bench_reports.py --lots 20000 --import-lots 2000 --repeat 3
    .venv/bin/python benchmarks/bench_reports.py --postgres      # a throwaway PostgreSQL server

``--keep DIR`` keeps the SQLite database in DIR and reuses it on the next run with the same
``--lots`` (building a million lots takes minutes). Each report is also run once in a fresh
child process, whose peak resident memory (``ru_maxrss``, imports included) is printed.
The baseline, timed in the same run, is the report counted from the lot table (one row per lot
brought into pandas), which is how the report was computed before it was grouped in SQL.

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
from datetime import date, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.synth_report import INDICATIONS, NOW, SITES, TESTS, report_lots  # noqa: E402

build_synthetic = report_lots  # the name tests/reports use


def import_csv(path: Path, n: int, seed: int = 11) -> None:
    from mfg.services.importer import BASE_COLUMNS

    rng = random.Random(seed)
    cols = [*BASE_COLUMNS, *TESTS]  # exactly the columns `mfg import lots` reads
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(cols)
        day0 = date(2023, 1, 1)
        for i in range(n):
            if i % 2 == 0:
                day0 = date(2023, 1, 1) + timedelta(days=rng.randrange(0, 600))
            else:  # the subject's re-manufacture starts weeks later (same day 0 = a duplicate)
                day0 += timedelta(days=rng.randrange(21, 90))
            source = "apheresis" if rng.random() < 0.7 else "cryo-pbmc"
            state = rng.choice(("released",) * 8 + ("rejected", "conditionally_released"))
            values = []
            for code, (good, fail) in TESTS.items():
                v = _measured(rng, code, good)
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


# What a lab's conforming numeric results look like: one or no decimal, a spread within the
# specification (the categorical ones are a few words, repeated). 10,000 lots give each test a
# few hundred distinct texts, as a lab's history would (the importer parses each text once).
_SPREAD = {
    "VIAB": lambda r: f"{r.uniform(75, 99):.1f}",
    "CD3": lambda r: f"{r.uniform(82, 99.5):.1f}",
    "CAR": lambda r: f"{r.uniform(12, 60):.1f}",
    "VCN": lambda r: f"{r.uniform(0.5, 4.9):.1f}",
    "POT": lambda r: str(r.randrange(60, 1500)),
    "ENDO": lambda r: "<0.5" if r.random() < 0.6 else f"{r.uniform(0.5, 4.9):.1f}",
    "BEADS": lambda r: str(r.randrange(0, 99)),
}


def _measured(rng: random.Random, code: str, good: str) -> str:
    spread = _SPREAD.get(code)
    return spread(rng) if spread else good


def _median(xs: list[float]) -> float:
    return statistics.median(xs)


def _steps(db, settings, by) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    from mfg import reports
    from mfg.domain.permissions import Role
    from mfg.services import reporting
    from mfg.services.uow import Actor

    sponsor = Actor("sponsor", "Sam Sponsor", Role.SPONSOR)

    def baseline() -> Any:
        lots = reports.lot_frame(db.engine, db.product, settings.zone)
        return reports.success_rate(lots, "lot", by), reports.time_summary(lots)

    return {
        "baseline: per lot from the lot table (a row per lot)": baseline,
        "report per lot by 3 strata (service, grouped in SQL)": lambda: reporting.success_rate(
            db=db, actor=sponsor, unit="lot", by=by
        ),
        "report per subject by 3 strata (service, lot table)": lambda: reporting.success_rate(
            db=db, actor=sponsor, unit="subject", by=by
        ),
    }


def _database(args: argparse.Namespace, home: Path) -> tuple[Any, Any, Any]:
    from mfg.config import Settings
    from mfg.services.uow import Database
    from mfg.store import db as store_db

    server = None
    url = f"sqlite:///{home / f'bench-{args.lots}.db'}"
    if args.postgres:
        from tests.support.pgserver import start_server

        server = start_server()
        url = server.create_database("bench_reports")
    settings = Settings(home=home, site_timezone="Asia/Shanghai", database_url=url)
    fresh = args.postgres or not (home / f"bench-{args.lots}.db").exists()
    db = Database(engine=store_db.make_engine(url), settings=settings)
    store_db.upgrade(db.engine)  # a kept database built by an older tree is brought up to date
    if fresh:
        t = time.perf_counter()
        build_synthetic(db, args.lots)
        print(
            f"built {args.lots:,} synthetic lots in {time.perf_counter() - t:.1f} s ({db.dialect})"
        )
    return db, settings, server


def _child(args: argparse.Namespace) -> None:
    """One report in this (fresh) process; prints wall, CPU and peak RSS as JSON."""
    import json
    import resource

    from mfg.config import Settings
    from mfg.services.uow import Database
    from mfg.store import db as store_db

    settings = Settings(home=Path(args.home), site_timezone="Asia/Shanghai", database_url=args.url)
    db = Database(engine=store_db.make_engine(args.url), settings=settings)
    step = _steps(db, settings, ("dose_level", "source", "site"))[args.child]
    t, c = time.perf_counter(), time.process_time()
    step()
    wall, cpu = time.perf_counter() - t, time.process_time() - c
    # VmHWM: the peak of this process's own memory since exec (ru_maxrss would also count the
    # parent's size at fork, inherited across exec on Linux)
    status = Path("/proc/self/status")
    hwm = [ln for ln in status.read_text().splitlines() if ln.startswith("VmHWM:")]
    if hwm:
        rss = int(hwm[0].split()[1]) * 1024
    else:  # not Linux
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"wall": wall, "cpu": cpu, "rss": rss}))


def _peak(name: str, url: str, home: Path) -> dict[str, float]:
    import json
    import subprocess

    cmd = [sys.executable, __file__, "--child", name, "--url", url, "--home", str(home)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def _time_reports(args: argparse.Namespace, db: Any, settings: Any, home: Path) -> None:
    by = ("dose_level", "source", "site")
    steps = _steps(db, settings, by)
    if args.only_grouped:
        steps = {k: v for k, v in steps.items() if "grouped" in k}
    wall: dict[str, list[float]] = {k: [] for k in steps}
    cpu: dict[str, list[float]] = {k: [] for k in steps}
    result = None
    for _ in range(args.repeat):
        for name, fn in steps.items():
            if args.lots > 200_000 and name.startswith("baseline") and wall[name]:
                continue  # once is enough for the slow path at a million lots
            t, c = time.perf_counter(), time.process_time()
            out = fn()
            wall[name].append(time.perf_counter() - t)
            cpu[name].append(time.process_time() - c)
            if name.startswith("report per lot"):
                result = out
    assert result is not None
    o = result.data["overall"]
    print(
        f"{args.lots:,} lots ({db.dialect}), {len(result.data['strata'])} strata; overall "
        f"{o['successes']}/{o['evaluable']} = {o['rate']:.4f} "
        f"[{o['ci_low']:.4f}, {o['ci_high']:.4f}]"
    )
    base = _median(wall[next(iter(steps))])
    print(f"  {'step':54s} {'wall median':>11s} {'CPU':>8s} {'vs base':>8s} {'peak RSS':>9s}")
    for name in steps:
        w = _median(wall[name])
        line = f"  {name:54s} {w:9.3f} s {_median(cpu[name]):6.3f} s {w / base:7.2f}x "
        if args.lots <= 200_000 or "grouped" in name:  # at a million: the report's own only
            peak = _peak(name, str(db.engine.url.render_as_string(False)), home)
            line += f"{peak['rss'] / 2**20:6.0f} MiB  (child: {peak['wall']:.3f} s)"
        print(line)


def _time_import(args: argparse.Namespace, home: Path) -> None:
    """`mfg import lots` as a site runs it: one QA person stages the file (parsed and checked,
    nothing written to the lot tables), a second approves it with an e-signature (the rows and
    one audit event per record written in one transaction). Both steps are timed."""
    from benchmarks.synth import PASSWORD, fresh_database
    from mfg.services import importer

    db2, actors = fresh_database(home / "import-home")
    path = home / "history.csv"
    import_csv(path, args.import_lots)
    t, c = time.perf_counter(), time.process_time()
    staged = importer.import_lots(path, db=db2, actor=actors["qa"], now=NOW)
    st, sc = time.perf_counter() - t, time.process_time() - c
    t, c = time.perf_counter(), time.process_time()
    res = importer.approve_import(staged.id, PASSWORD, db=db2, actor=actors["qa2"], now=NOW)
    at, ac = time.perf_counter() - t, time.process_time() - c
    with db2.engine.connect() as conn:
        events = conn.exec_driver_sql("SELECT count(*) FROM auditevent").scalar_one()
    print(
        f"import of {res.lots:,} lots ({res.subjects_created:,} new subjects, {res.results:,} "
        f"results, {events:,} audit events in the trail): stage {st:.2f} s wall / {sc:.2f} s CPU, "
        f"approve {at:.2f} s wall / {ac:.2f} s CPU, total {st + at:.2f} s "
        f"({res.lots / (st + at):,.0f} lots/s; goal for 10,000 lots: < 3 s)"
    )
    db2.dispose()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lots", type=int, default=100_000)
    ap.add_argument("--import-lots", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--keep", type=Path, default=None, help="keep/reuse the SQLite file here")
    ap.add_argument(
        "--postgres",
        action="store_true",
        help="use a throwaway PostgreSQL server (tests/support/pgserver.py) instead of SQLite",
    )
    ap.add_argument(
        "--only-grouped",
        action="store_true",
        help="time the grouped report alone (the lot-table paths take minutes at a million lots)",
    )
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--url", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--home", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        _child(args)
        return
    from benchmarks.machine import header

    os.environ.setdefault("CELLTRAIL_FAST_HASH", "1")
    print(header())
    with tempfile.TemporaryDirectory() as tmp:
        home = args.keep or Path(tmp)
        home.mkdir(parents=True, exist_ok=True)
        db, settings, server = _database(args, home)
        _time_reports(args, db, settings, home)
        if args.import_lots:
            _time_import(args, Path(tmp))
        db.dispose()
        if server is not None:
            server.stop()


if __name__ == "__main__":
    main()
