"""Add release results to a synthetic benchmark home (the bulk path of ``synth.py`` enters none).

    .venv/bin/python benchmarks/add_results.py --home /tmp/tui100k-results

(``bench_worklist.py --postgres LOTS --results`` adds the same to its PostgreSQL database.)

Every harvested lot gets one current result per test of BH002 spec 1 (the synthetic data's one
spec), entered by ``tech`` and verified by ``tech2``, except: lot id % 7 == 0 fails its first
test, % 11 == 0 has its second pending (pending results are never verified), % 13 == 0 has
its third unverified, and % 17 == 0 has no fourth. At 100,000 lots:
475,873 results, 26,960 lots ready for disposition. For timing QA's Today and queue only: the
rows are inserted by SQL, without audit events (``mfg audit verify`` names every one), so use
a copy of a home, never a site's database.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--home", type=Path, required=True, help="MFG_HOME of a built database")
    args = ap.parse_args()
    from benchmarks.synth import built_home

    db = built_home(args.home)
    try:
        n = add_results(db)
    except ValueError as e:
        sys.exit(f"{args.home}: {e}")
    finally:
        db.dispose()
    print(f"{n:,} release results added in {args.home}")


def add_results(db: Any) -> int:
    """The results above, added to ``db`` (SQLite or PostgreSQL) in one statement; their count."""
    from sqlalchemy import text

    from benchmarks.synth import NOW

    codes = [t.code for t in db.product("BH002", "1").tests]
    tests = ",".join(f"('{code}', {i})" for i, code in enumerate(codes))
    pending = "l.id % 11 = 0 AND t.i = 1"
    unverified = f"({pending}) OR (l.id % 13 = 0 AND t.i = 2)"
    # as each database stores a time: SQLite as text, PostgreSQL a timestamptz
    at = NOW.astimezone(UTC)
    stamp = at.strftime("%Y-%m-%d %H:%M:%S.%f") if db.dialect == "sqlite" else at
    with db.engine.begin() as conn:
        if conn.execute(text("SELECT count(*) FROM releaseresult")).scalar_one():
            raise ValueError("the database has release results already")
        conn.execute(
            text(f"""
            WITH t(code, i) AS (VALUES {tests})
            INSERT INTO releaseresult (lot_pk, test_code, value_text, qualifier, unit,
                evaluation, entered_by, entered_at, verified_by, verified_at,
                after_disposition, row_version)
            SELECT l.id, t.code, 'x', '', '',
                CASE WHEN l.id % 7 = 0 AND t.i = 0 THEN 'fail'
                     WHEN {pending} THEN 'pending' ELSE 'pass' END,
                'tech', :at, CASE WHEN {unverified} THEN NULL ELSE 'tech2' END,
                CASE WHEN {unverified} THEN NULL ELSE :at END, false, 1
            FROM lot l, t
            WHERE l.state = 'harvested' AND NOT (l.id % 17 = 0 AND t.i = 3)"""),
            {"at": stamp},
        )
        return int(conn.execute(text("SELECT count(*) FROM releaseresult")).scalar_one())


if __name__ == "__main__":
    main()
