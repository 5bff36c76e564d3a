"""Benchmark: the service write path against a bare single-row insert, on the same database.

    .venv/bin/python benchmarks/bench_write_path.py                  # SQLite (+ PostgreSQL if found)
    .venv/bin/python benchmarks/bench_write_path.py --n 300 --backend sqlite

Service path: ``counts.record_count`` by a logged-in technician -- the account re-check
(deactivated, locked or role changed ends the session), role check, load the lot, validate, insert the count,
append the hash-chained audit event, commit (one transaction, write-locked).
Baseline: one ``INSERT INTO cellcount`` of the same row through SQLAlchemy Core + commit, on the
same engine and file (SQLite: WAL, synchronous=FULL, as the app runs). The database is seeded with
``benchmarks/synth.py`` so the audit trail and tables are not empty. Prints per-call medians and
the ratio (goal: within 3x). PostgreSQL runs on a throwaway server (tests/support/pgserver.py)
when the server binaries are installed.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.synth import PASSWORD, fresh_database, populate  # noqa: E402


def timed(
    fn: Callable[[], object], n: int, warmup: int = 10, cpu: list[float] | None = None
) -> list[float]:
    """Wall time per call; the process's CPU time per call is appended to ``cpu`` (on a shared
    disk a commit's fsync wait varies with the neighbours, the CPU time does not)."""
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(n):
        t, c = time.perf_counter(), time.process_time()
        fn()
        out.append(time.perf_counter() - t)
        if cpu is not None:
            cpu.append(time.process_time() - c)
    return out


def run(url: str | None, home: Path, n: int, subjects: int) -> dict[str, float]:
    from sqlalchemy import insert

    from mfg.services import counts, users
    from mfg.store.tables import CellCount, Lot

    db, actors = fresh_database(home, url)
    summary = populate(db, subjects, actors=actors, seed=1)
    lot_number = summary.first("in_expansion")
    with db.read() as s:
        from sqlmodel import select

        lot = s.exec(select(Lot).where(Lot.lot_number == lot_number)).one()
    now = datetime.now(UTC)
    # Logged in, as every real caller is: each service call re-checks the account (issue 12).
    tech = users.login(db, "tech", PASSWORD, now=now)
    cmd = counts.RecordCount(lot_number, 1_200_000_000, 1_100_000_000, day=1, method="NC-200")

    def service() -> None:
        counts.record_count(cmd, db=db, actor=tech, now=now)

    row = {
        "lot_pk": lot.id,
        "expansion_day": 1,
        "measured_on": lot.day0,
        "total_cells": 1_200_000_000,
        "viable_cells": 1_100_000_000,
        "method": "NC-200",
        "recorded_by": "tech",
        "recorded_at": now,
    }
    stmt = insert(CellCount)

    def bare() -> None:
        with db.engine.begin() as conn:
            conn.execute(stmt, row)

    # interleave the two so that disk and CPU noise hit both alike
    s_times: list[float] = []
    b_times: list[float] = []
    s_cpu: list[float] = []
    b_cpu: list[float] = []
    rounds = 5
    for _ in range(rounds):
        b_times += timed(bare, n // rounds, warmup=3, cpu=b_cpu)
        s_times += timed(service, n // rounds, warmup=3, cpu=s_cpu)
    db.dispose()
    sm, bm = statistics.median(s_times), statistics.median(b_times)
    sc, bc = statistics.median(s_cpu), statistics.median(b_cpu)
    return {
        "service_ms": sm * 1000,
        "bare_ms": bm * 1000,
        "ratio": sm / bm,
        "service_cpu_ms": sc * 1000,
        "bare_cpu_ms": bc * 1000,
        "cpu_ratio": sc / bc,
        "n": len(s_times),
    }


def durable(server) -> None:  # type: ignore[no-untyped-def]
    """Restart the throwaway server with PostgreSQL's durable defaults (fsync, synchronous_commit,
    full_page_writes on): the test fixtures turn them off for speed, which no site would do."""
    import subprocess

    opts = f"-p {server.port} -k {server.root} -c listen_addresses=127.0.0.1"
    pg_ctl = str(server.bindir / "pg_ctl")
    data = str(server.root / "data")
    log = str(server.root / "log")
    cmd = [pg_ctl, "-D", data, "-o", opts, "-w", "-t", "60", "-l", log, "restart"]
    subprocess.run(server._cmd(cmd), check=True, capture_output=True)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=500, help="timed calls per path")
    ap.add_argument("--subjects", type=int, default=100, help="synthetic subjects seeded first")
    ap.add_argument("--backend", action="append", choices=["sqlite", "postgresql"])
    args = ap.parse_args()
    from benchmarks.machine import header

    started = header()  # the machine as the run begins
    backends = args.backend or ["sqlite", "postgresql"]
    rows = []
    with tempfile.TemporaryDirectory(prefix="celltrail-bench-") as tmp:
        if "sqlite" in backends:
            rows.append(("sqlite", run(None, Path(tmp) / "sqlite", args.n, args.subjects)))
        if "postgresql" in backends:
            from tests.support.pgserver import find_bindir, start_server

            if find_bindir() is None:
                print("postgresql: server binaries not found, skipped")
            else:
                server = start_server()
                try:
                    fast, safe = server.create_database("bench"), server.create_database("durable")
                    # as the test fixtures run it: fsync=off, synchronous_commit=off
                    pg = run(fast, Path(tmp) / "pg", args.n, args.subjects)
                    rows.append(("postgresql (fsync off)", pg))
                    durable(server)  # as a site runs it: every commit flushed to disk
                    pg = run(safe, Path(tmp) / "pg2", args.n, args.subjects)
                    rows.append(("postgresql (durable)", pg))
                finally:
                    server.stop()
    print(started)
    print(f"write path: record_count vs bare insert+commit, medians of {args.n} calls each")
    print(
        f"{'backend':<24}{'service':>12}{'bare insert':>14}{'ratio':>8}"
        f"{'CPU service':>13}{'CPU bare':>10}{'CPU ratio':>10}  goal: CPU <= 3x"
    )
    for name, r in rows:
        ok = "ok" if r["cpu_ratio"] <= 3 else "MISSED"  # CPU: the machine is shared
        print(
            f"{name:<24}{r['service_ms']:>9.2f} ms{r['bare_ms']:>11.2f} ms{r['ratio']:>7.2f}x"
            f"{r['service_cpu_ms']:>10.2f} ms{r['bare_cpu_ms']:>7.2f} ms{r['cpu_ratio']:>9.2f}x  {ok}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
