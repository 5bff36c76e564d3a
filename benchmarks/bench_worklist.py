"""Benchmark: Today's worklist (the screen a technician lands on) on a database of N lots.

    .venv/bin/python benchmarks/bench_worklist.py --home /tmp/tui10k     # built by bench_tui.py

Prints the median of ``--runs`` calls of ``worklist.worklist`` as a logged-in technician, with
the number of items, beside the board read of all active lots it builds on (same run).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--home", type=Path, required=True, help="MFG_HOME of a built database")
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    from benchmarks.synth import PASSWORD
    from mfg.config import load_settings
    from mfg.services import board, users, worklist
    from mfg.services.uow import Database

    db = Database.open(settings=load_settings(args.home))
    now = datetime.now(UTC)
    tech = users.login(db, "tech", PASSWORD, now=now)

    def timed(fn):  # type: ignore[no-untyped-def]
        out = []
        for _ in range(args.runs):
            t = time.perf_counter()
            fn()
            out.append(time.perf_counter() - t)
        return statistics.median(out)

    items = len(worklist.worklist(db=db, actor=tech, now=now).items)
    b = timed(lambda: board.board(db=db, actor=tech, now=now, active_only=True))
    w = timed(lambda: worklist.worklist(db=db, actor=tech, now=now))
    print(f"$ {' '.join(sys.argv)}")
    print(
        f"board, all active lots: {b * 1000:.0f} ms; Today's worklist: {w * 1000:.0f} ms "
        f"({items:,} items), median of {args.runs}"
    )
    db.dispose()


if __name__ == "__main__":
    main()
