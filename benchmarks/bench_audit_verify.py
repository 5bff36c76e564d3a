"""How fast `mfg audit verify` is: the keyed chain alone, and the chain plus every record.

A database is filled through `mfg import lots` (one audited transaction: subjects, lots,
harvests, results, each with its audit event), so every event has the records it describes.
Printed beside a baseline from the same run: reading every audit row (all its columns) as
the verifier reads them (``audit.event_batches``), without hashing or comparing anything.
Goals (issue 15): >= 150,000 events/s for the chain alone and >= 50,000 events/s for the
chain + every record. On a trail of 50,000 events or more verify checks the chain in a helper
process while it folds the trail (``mfg.chaincheck``): its CPU is in the CPU column (this
process's and its children's), so CPU above wall means both cores worked.

    .venv/bin/python benchmarks/bench_audit_verify.py --lots 20000 [--backend postgresql]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _cpu() -> float:
    """CPU seconds of this process and of its finished children (verify's chain helper)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def _time(fn, repeat: int) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    walls, cpus = [], []
    for _ in range(repeat):
        t, c = time.perf_counter(), _cpu()
        fn()
        walls.append(time.perf_counter() - t)
        cpus.append(_cpu() - c)
    return statistics.median(walls), statistics.median(cpus)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lots", type=int, default=20_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    ap.add_argument(
        "--keep",
        type=Path,
        default=None,
        help="SQLite only: keep the database (and its audit key) in DIR and reuse it on the next "
        "run with the same --lots (the import of 20,000 lots takes a minute)",
    )
    args = ap.parse_args()
    from benchmarks.machine import header

    print(header(), flush=True)
    if args.keep is not None and args.backend != "sqlite":
        ap.error("--keep works with the SQLite backend only")

    from benchmarks.bench_reports import import_csv
    from benchmarks.synth import NOW, PASSWORD, fresh_database
    from mfg import audit
    from mfg.services import audit_trail, importer

    tmp = args.keep or Path(tempfile.mkdtemp(prefix="bench-verify-"))
    server = None
    url = None
    if args.backend == "postgresql":
        from tests.support.pgserver import start_server

        server = start_server()
        url = server.url("postgres")
    db, actors = fresh_database(tmp / "home", url)
    try:
        with db.engine.connect() as c:
            had = c.exec_driver_sql("SELECT count(*) FROM lot").scalar_one()
        if had == 0:
            csv_path = tmp / "history.csv"
            import_csv(csv_path, args.lots)
            # staged by one QA person, approved (e-signed) by another, as `mfg import lots` does
            staged = importer.import_lots(csv_path, db=db, actor=actors["qa"], now=NOW)
            importer.approve_import(staged.id, PASSWORD, db=db, actor=actors["qa2"], now=NOW)
        ring = db.audit_keyring()
        qa = actors["qa"]
        with db.engine.connect() as c:
            n = c.exec_driver_sql("SELECT count(*) FROM auditevent").scalar_one()
            lots = c.exec_driver_sql("SELECT count(*) FROM lot").scalar_one()
        if lots != args.lots:  # a staged import that was never approved measures nothing
            raise SystemExit(f"the import made {lots} lots, not {args.lots}")

        def baseline() -> None:  # the verifier's own read (audit.event_batches), nothing else
            with db.engine.connect() as c:
                for _rows in audit.event_batches(c):
                    pass

        def chain() -> None:
            with db.engine.connect() as c:
                r = audit.verify_chain(audit.chain_rows(c), ring)
                assert r.ok and r.events == n, r.problem

        from mfg import chaincheck

        believed: list[bool] = []
        report = chaincheck.Helper.report

        def counted(self):  # type: ignore[no-untyped-def]
            got = report(self)
            believed.append(got is not None)
            return got

        chaincheck.Helper.report = counted  # type: ignore[method-assign]

        def full() -> None:
            r = audit_trail.verify(db=db, actor=qa)
            assert r.ok, (r.problem, r.record_problems[:3])

        print(f"{args.backend}: {n:,} audit events from {args.lots:,} imported lots")
        for name, fn in (
            ("baseline: read every row", baseline),
            ("chain (keyed)", chain),
            ("chain + every record", full),
        ):
            wall, cpu = _time(fn, args.repeat)
            print(
                f"  {name:28s} {wall:6.2f} s wall {cpu:6.2f} s CPU  "
                f"{n / wall:>10,.0f} events/s (wall)  {n / cpu:>10,.0f} events/s (CPU)"
            )
        print(
            f"  the chain of 'chain + every record' checked by the helper process "
            f"(mfg.chaincheck) in {sum(believed)} of {args.repeat} runs"
        )
    finally:
        db.dispose()
        if server is not None:
            server.stop()


if __name__ == "__main__":
    main()
