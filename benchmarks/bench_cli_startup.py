"""Benchmark: wall time of a read command, ``mfg lot show LOT --json``, as a user runs it.

    .venv/bin/python benchmarks/bench_cli_startup.py             # 15 runs each
    .venv/bin/python benchmarks/bench_cli_startup.py --runs 30 --subjects 500

Each run is a fresh process (``.venv/bin/mfg``) on a SQLite MFG_HOME seeded by
``benchmarks/synth.py`` with production argon2 parameters (the login verifies the password, as
it does for a user). Also timed: ``python -c pass`` (the interpreter floor), ``mfg --help``
(import + command tree, no database) and, for scale, ``python -c "import textual"`` /
``"import pandas"`` -- what the command would cost if it imported them. Prints medians; goal:
``mfg lot show`` well under 0.5 s.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.synth import PASSWORD, fresh_database, populate  # noqa: E402


def wall(cmd: list[str], env: dict[str, str], runs: int) -> tuple[float, float, float]:
    """Median and min wall time, and median CPU time (user + sys of the child: steadier than
    wall time on a shared machine)."""
    import resource

    subprocess.run(cmd, env=env, capture_output=True, check=True)  # warm the page cache
    times, cpu = [], []
    for _ in range(runs):
        r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t = time.perf_counter()
        subprocess.run(cmd, env=env, capture_output=True, check=True)
        times.append(time.perf_counter() - t)
        r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append(r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime)
    return statistics.median(times), min(times), statistics.median(cpu)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--subjects", type=int, default=200)
    args = ap.parse_args()
    py = str(Path(sys.executable))
    mfg = str(Path(sys.executable).parent / "mfg")
    with tempfile.TemporaryDirectory(prefix="celltrail-bench-") as tmp:
        home = Path(tmp) / "home"
        os.environ.pop("CELLTRAIL_FAST_HASH", None)
        db, actors = fresh_database(home, fast_hash=False)
        summary = populate(db, args.subjects, actors=actors, seed=2)
        db.dispose()
        lot = summary.first("harvested")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("MFG_", "CELLTRAIL_"))}
        env.update(MFG_HOME=str(home), MFG_USER="tech", MFG_PASSWORD=PASSWORD)
        cases = [
            ("python -c pass", [py, "-c", "pass"]),
            ("mfg --help", [mfg, "--help"]),
            (f"mfg lot show {lot} --json", [mfg, "lot", "show", lot, "--json"]),
            ("import the services (sqlmodel)", [py, "-c", "import mfg.services.harvest"]),
            (
                "... + alembic (schema check)",
                [
                    py,
                    "-c",
                    "import mfg.services.harvest, alembic.script, alembic.runtime.migration",
                ],
            ),
            ("python -c 'import textual'", [py, "-c", "import textual.app"]),
            ("python -c 'import pandas'", [py, "-c", "import pandas"]),
        ]
        print(
            f"CLI start-up: a fresh process, wall median (min) and CPU median of {args.runs} runs;"
        )
        print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
        print(f"SQLite with {summary.lots} synthetic lots, production argon2 login")
        results = {}
        for name, cmd in cases:
            med, best, cpu = wall(cmd, env, args.runs)
            results[name] = med
            print(
                f"  {name:<40}{med * 1000:>8.0f} ms  ({best * 1000:.0f} ms)  cpu {cpu * 1000:.0f} ms"
            )
        from mfg.auth import _hasher

        h = _hasher(False)  # what mfg.auth uses outside the test suite
        stored = h.hash(PASSWORD)
        t_verify, c_verify = [], []
        for _ in range(args.runs):
            t, c = time.perf_counter(), time.process_time()
            h.verify(stored, PASSWORD)
            t_verify.append(time.perf_counter() - t)
            c_verify.append(time.process_time() - c)
        print(
            f"  {'argon2id verify (login), in-process':<40}"
            f"{statistics.median(t_verify) * 1000:>8.0f} ms  ({min(t_verify) * 1000:.0f} ms)"
            f"  cpu {statistics.median(c_verify) * 1000:.0f} ms"
        )
        show = results[f"mfg lot show {lot} --json"]
        print(
            f"lot show minus interpreter start: {(show - results['python -c pass']) * 1000:.0f} ms;"
            f" goal well under 500 ms: {'ok' if show < 0.5 else 'MISSED'}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
