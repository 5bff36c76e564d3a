"""Benchmark: wall time of a read command, ``mfg lot show LOT --json``, as a user runs it.

    .venv/bin/python benchmarks/bench_cli_startup.py             # 15 runs each
    .venv/bin/python benchmarks/bench_cli_startup.py --runs 30 --subjects 500

Each run is a fresh process (``.venv/bin/mfg``) on a SQLite MFG_HOME seeded by
``benchmarks/synth.py`` with production argon2 parameters (the login verifies the password, as
it does for a user). Also timed: ``python -c pass`` (the interpreter floor), ``mfg --help``
(import + command tree, no database) and, for scale, ``python -c "import textual"`` /
``"import pandas"`` -- what the command would cost if it imported them; and the floor of any
command on SQLModel's table models: the stack, Typer, the CLI's common module and the 25 table
models imported, nothing run. Prints medians and the
issue-15 ratio: ``mfg lot show`` against ``python -c "import sqlmodel, sqlalchemy.dialects.sqlite"``
in the same run (goal <= 1.3x). ``--before DIR`` also runs the command from another source tree
(e.g. ``git worktree add /tmp/before <commit>``) through ``PYTHONPATH``, interleaved run by run.
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

from benchmarks.machine import header  # noqa: E402
from benchmarks.synth import PASSWORD, fresh_database, populate  # noqa: E402

FLOOR = "... + typer, the CLI, the 25 table models"
FLOOR_IMPORTS = (
    "import sqlmodel, sqlalchemy.dialects.sqlite, typer.main, mfg.cli._common, mfg.store.tables"
)


def interleaved(
    cases: list[tuple[str, list[str], dict[str, str]]], runs: int
) -> dict[str, tuple[float, float, float]]:
    """Median and min wall time and median CPU time (user + sys of the child: steadier than wall
    time on a shared machine) of each command, run round-robin so that drift hits all alike."""
    import resource

    for _, cmd, env in cases:  # warm the page cache
        subprocess.run(cmd, env=env, capture_output=True, check=True)
    times: dict[str, list[float]] = {name: [] for name, _, _ in cases}
    cpu: dict[str, list[float]] = {name: [] for name, _, _ in cases}
    for _ in range(runs):
        for name, cmd, env in cases:
            r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
            t = time.perf_counter()
            subprocess.run(cmd, env=env, capture_output=True, check=True)
            times[name].append(time.perf_counter() - t)
            r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu[name].append(r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime)
    return {
        n: (statistics.median(times[n]), min(times[n]), statistics.median(cpu[n])) for n in times
    }


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--subjects", type=int, default=200)
    ap.add_argument("--before", type=Path, default=None, help="an older source tree to compare")
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
        # -P: not the working directory first on sys.path (run from a checkout, it would import
        # that checkout's mfg ahead of --before's PYTHONPATH)
        show = [py, "-P", "-c", "import sys; from mfg.cli import main; main()"]
        cases = [
            ("python -c pass", [py, "-c", "pass"]),
            (
                "import sqlmodel, sqlalchemy.dialects.sqlite",
                [py, "-c", "import sqlmodel, sqlalchemy.dialects.sqlite"],
            ),
            ("mfg --help", [mfg, "--help"]),
            (f"mfg lot show {lot} --json", [mfg, "lot", "show", lot, "--json"]),
            (FLOOR, [py, "-P", "-c", FLOOR_IMPORTS]),
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
        runs = [(name, cmd, env) for name, cmd in cases]
        # the way people work: `mfg login` once (argon2 verify), then commands on the session
        # (a token's SHA-256 looked up, its last-command time moved forward)
        session_env = {k: v for k, v in env.items() if k != "MFG_PASSWORD"}
        subprocess.run(
            [mfg, "login", "--user", "tech", "--password-stdin"],
            env=session_env,
            input=PASSWORD,
            text=True,
            capture_output=True,
            check=True,
        )
        session_env.pop("MFG_USER")
        runs.append(
            (
                f"mfg lot show {lot} --json (session)",
                [mfg, "lot", "show", lot, "--json"],
                session_env,
            )
        )
        if args.before is not None:
            old_env = {**env, "PYTHONPATH": str(args.before)}
            runs.append(
                (
                    f"before ({args.before}): lot show",
                    [*show, "lot", "show", lot, "--json"],
                    old_env,
                )
            )
        print(header())
        print(
            f"CLI start-up: a fresh process, wall median (min) and CPU median of {args.runs} runs"
        )
        print(f"SQLite with {summary.lots} synthetic lots, production argon2 login")
        results = {}
        for name, (med, best, cpu) in interleaved(runs, args.runs).items():
            results[name] = med
            print(
                f"  {name:<40}{med * 1000:>8.0f} ms  ({best * 1000:.0f} ms)  cpu {cpu * 1000:.0f} ms"
            )
        from argon2 import PasswordHasher

        from mfg.auth import hasher

        h: PasswordHasher = hasher()  # the product's parameters
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
        stack = results["import sqlmodel, sqlalchemy.dialects.sqlite"]
        for how, key in (
            ("MFG_PASSWORD (argon2 per command)", f"mfg lot show {lot} --json"),
            ("a session (mfg login)", f"mfg lot show {lot} --json (session)"),
        ):
            ratio = results[key] / stack
            print(
                f"lot show with {how} / import of the stack: {ratio:.2f}x "
                f"(goal <= 1.3x: {'ok' if ratio <= 1.3 else 'MISSED'})"
            )
        print(
            f"the stack + the CLI + SQLModel's table models, nothing run / import of the stack: "
            f"{results[FLOOR] / stack:.2f}x (what every command on the ORM models pays)"
        )
        for name, value in results.items():
            if name.startswith("before"):
                print(f"{name} / import of the stack: {value / stack:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
