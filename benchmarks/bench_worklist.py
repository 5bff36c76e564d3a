"""Benchmark: Today's worklist (the screen a technician lands on) on a database of N lots.

    .venv/bin/python benchmarks/bench_worklist.py --home /tmp/tui10k     # built by bench_tui.py
    .venv/bin/python benchmarks/bench_worklist.py --postgres 100000     # a throwaway server
    .venv/bin/python benchmarks/bench_worklist.py --postgres 100000 --results  # and results

Prints the median of ``--runs`` calls of ``worklist.worklist`` as a logged-in technician and as
QA, with the number of items, beside the board read of all active lots (what the worklist was
built on before it read only the lots of the reader's work) and the QA queue's read of the lots
awaiting disposition (``board.awaiting_disposition``) beside the board's rows of the same lots,
what the queue read before (same run).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    where = ap.add_mutually_exclusive_group(required=True)
    where.add_argument("--home", type=Path, help="MFG_HOME of a built database (SQLite)")
    where.add_argument(
        "--postgres",
        type=int,
        metavar="LOTS",
        help="build LOTS lots (as bench_tui.py does) on a throwaway PostgreSQL server",
    )
    ap.add_argument(
        "--results",
        action="store_true",
        help="with --postgres: add release results to the harvested lots (add_results.py)",
    )
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    from benchmarks.machine import header

    print(header(), flush=True)  # the machine as the run begins
    if args.results and args.home is not None:
        ap.error("--results is for --postgres (add_results.py adds them to a home)")
    if args.home is not None:
        from benchmarks.synth import built_home

        _timings(args, built_home(args.home))
        return
    from tests.support.pgserver import start_server

    server = start_server()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            url = server.create_database("worklist")
            _timings(args, _built(Path(tmp), url, args.postgres, args.results))
    finally:
        server.stop()


def _built(home: Path, url: str, lots: int, results: bool) -> Any:
    """A database of ``lots`` lots at ``url``, built as ``bench_tui.build`` builds SQLite's
    (with ``results``, the release results ``add_results.py`` adds)."""
    from benchmarks.add_results import add_results
    from benchmarks.synth import fresh_database, populate

    os.environ.pop("CELLTRAIL_FAST_HASH", None)
    db, actors = fresh_database(home, url, fast_hash=False)
    t = time.perf_counter()
    built = populate(db, lots, actors=actors, via="bulk")
    added = add_results(db) if results else 0
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM ANALYZE")  # as autovacuum would have, in time
    took = time.perf_counter() - t
    print(f"built {built.lots:,} lots, {added:,} results on PostgreSQL ({took:.1f} s)")
    return db


def _timings(args: argparse.Namespace, db: Any) -> None:
    from benchmarks.synth import PASSWORD
    from mfg.services import board, users, worklist

    now = datetime.now(UTC)
    tech = users.login(db, "tech", PASSWORD, now=now)
    qa = users.login(db, "qa", PASSWORD, now=now)

    def timed(fn):  # type: ignore[no-untyped-def]
        out = []
        for _ in range(args.runs):
            t = time.perf_counter()
            fn()
            out.append(time.perf_counter() - t)
        return statistics.median(out)

    items = worklist.worklist(db=db, actor=tech, now=now).total
    qa_items = worklist.worklist(db=db, actor=qa, now=now).total
    b = timed(lambda: board.board(db=db, actor=tech, now=now, active_only=True))
    w = timed(lambda: worklist.worklist(db=db, actor=tech, now=now))
    wq = timed(lambda: worklist.worklist(db=db, actor=qa, now=now))
    # every item built and listed, as Today did before it listed the most urgent (``a``)
    wa = timed(lambda: worklist.worklist(db=db, actor=tech, now=now, limit=None))
    wqa = timed(lambda: worklist.worklist(db=db, actor=qa, now=now, limit=None))
    n_awaiting = len(board.awaiting_disposition(db=db, actor=qa, now=now))
    q = timed(lambda: board.awaiting_disposition(db=db, actor=qa, now=now))
    # what the QA queue reads before its first paint, then once that is on screen
    q50 = timed(lambda: board.awaiting_page(db=db, actor=qa, now=now, limit=50))
    q500 = timed(lambda: board.awaiting_page(db=db, actor=qa, now=now, limit=500))
    # the board's first page and the rest up to its limit, as the board screen reads them
    b50 = timed(lambda: board.board(db=db, actor=tech, now=now, limit=50))
    b500 = timed(lambda: board.board(db=db, actor=tech, now=now, limit=500))
    # what the QA queue read before (the board's rows of those lots, counts included)
    qb = timed(lambda: board.board(db=db, actor=qa, now=now, states=board.TESTING_STATES))
    print(f"backend: {db.dialect}")
    print(
        f"board, all active lots: {b * 1000:.0f} ms; Today's worklist, the {worklist.LIMIT} "
        f"most urgent listed: technician {w * 1000:.0f} ms (of {items:,} items), QA "
        f"{wq * 1000:.0f} ms (of {qa_items:,}); every item listed ('a'): technician "
        f"{wa * 1000:.0f} ms, QA {wqa * 1000:.0f} ms; QA queue's lots awaiting disposition "
        f"({n_awaiting:,}): {q * 1000:.0f} ms, against the board's rows of those lots (counts "
        f"included, as the queue read them before): {qb * 1000:.0f} ms; median of {args.runs}"
    )
    print(
        f"screens' first reads: the QA queue's newest 50 lots awaiting disposition "
        f"{q50 * 1000:.0f} ms, then up to 500 {q500 * 1000:.0f} ms; the board's first 50 rows "
        f"{b50 * 1000:.0f} ms, then up to 500 {b500 * 1000:.0f} ms"
    )
    db.dispose()


if __name__ == "__main__":
    main()
