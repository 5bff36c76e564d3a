"""Benchmark: what log-ins and e-signatures cost the site's other writers.

    .venv/bin/python benchmarks/bench_login_lock.py                     # SQLite, 2 + 2, 15 s
    .venv/bin/python benchmarks/bench_login_lock.py --backend postgresql --signers 4

Every log-in and every e-signature checks a password with argon2id at the production
parameters (20-30 ms of CPU here). ``--writers`` processes record cell counts as in
``load.py`` (the real service: role check, write lock, audit event, commit) for ``--seconds``,
first alone, then while ``--signers`` other processes re-authenticate in a loop as QA signing
releases would (``users.reauthenticate``: the same log-in, its lockout counting under the write
lock). Prints the writers' writes/s, p50 and p99 in both runs, their ratio, and the signers'
password checks a second: a password checked while the write lock is held stalls every writer
for as long.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import shutil
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks import load  # noqa: E402
from benchmarks.machine import header  # noqa: E402


def signer(url: str, home: str, k: int, seconds: float, start: Any, out: Any) -> None:
    """Re-authenticate (an e-signature's password check) until the time is up."""
    from mfg.services import users

    db = load._db(url, home)
    tech = users.login(db, "tech", load.PASSWORD, now=datetime.now(UTC))

    def sign(_i: int) -> None:
        users.reauthenticate(db, tech, load.PASSWORD, now=datetime.now(UTC))

    lat, errors, cpu = load._timed_writes(start, seconds, sign, f"signer {k}")
    db.dispose()
    out.put((k, lat, errors, cpu))


def run(backend: str, writers: int, signers: int, seconds: float) -> dict[str, float]:
    home, url, server = load.scratch_database(backend, "celltrail-login-lock-")
    try:
        load.prepare(url, home, writers, datetime.now(UTC))
        ctx = mp.get_context("spawn")
        start = ctx.Barrier(writers + signers + 1)
        out, signed = ctx.Queue(), ctx.Queue()
        procs = [
            ctx.Process(
                target=load.writer,
                args=(url, home, w, seconds, start, out, True, 1, True),  # counts only
            )
            for w in range(writers)
        ] + [
            ctx.Process(target=signer, args=(url, home, k, seconds, start, signed))
            for k in range(signers)
        ]
        for p in procs:
            p.start()
        load._started(start, procs)
        t0 = time.perf_counter()
        wrote = [out.get(timeout=seconds + 300) for _ in range(writers)]
        checks = [signed.get(timeout=seconds + 300) for _ in range(signers)]
        wall = time.perf_counter() - t0
        for p in procs:
            p.join(60)
        lat = sorted(x for _, ls, _, _ in wrote for x in ls)
        n = len(lat)
        return {
            "writes_per_s": n / wall,
            "p50_ms": 1000 * statistics.median(lat),
            "p99_ms": 1000 * lat[min(n - 1, int(0.99 * n))],
            "errors": sum(e for _, _, e, _ in wrote) + sum(e for _, _, e, _ in checks),
            "checks_per_s": sum(len(ls) for _, ls, _, _ in checks) / wall,
        }
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(home, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    ap.add_argument("--writers", type=int, default=2)
    ap.add_argument("--signers", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=15.0)
    a = ap.parse_args()
    print(header())
    alone = run(a.backend, a.writers, 0, a.seconds)
    signing = run(a.backend, a.writers, a.signers, a.seconds)
    for name, r in (("writers alone", alone), (f"+ {a.signers} signing", signing)):
        print(
            f"{a.backend} {name:<14} {a.writers} writers: {r['writes_per_s']:7.1f} writes/s, "
            f"p50 {r['p50_ms']:6.1f} ms, p99 {r['p99_ms']:6.1f} ms, errors {r['errors']:.0f}"
            + (f"; {r['checks_per_s']:.1f} password checks/s" if r is signing else "")
        )
    print(
        f"while signing / alone: writes/s {signing['writes_per_s'] / alone['writes_per_s']:.2f}x, "
        f"p99 {signing['p99_ms'] / alone['p99_ms']:.2f}x"
    )


if __name__ == "__main__":
    main()
