"""Run ``mfg import lots ...`` (the real CLI entry point) in this process and stop it inside the
import's transaction: after its ``n``-th INSERT counted from the first INSERT INTO subject (the
first rows the import writes), on a connection inside a transaction, print ``inside`` on stdout
and wait to be killed.

Used by tests/robustness/test_crash_import.py: the parent kills the process only after reading
``inside``, so the kill provably lands inside the transaction. The hook lives here, in the test
tree: production code reads no test switches.

    python -m tests.robustness.die_inside_import N mfg-args...
"""

from __future__ import annotations

import sys
import threading
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine


def main() -> None:
    after = int(sys.argv[1])
    seen = {"n": 0}

    @event.listens_for(Engine, "after_cursor_execute")
    def inside(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        sql = statement.lstrip().upper()
        if not sql.startswith("INSERT INTO SUBJECT") and not (
            seen["n"] and sql.startswith("INSERT")
        ):
            return
        seen["n"] += 1
        if seen["n"] == after and conn.in_transaction():
            sys.stdout.write("inside\n")
            sys.stdout.flush()
            threading.Event().wait()  # until the parent's SIGKILL

    from mfg.cli import main as mfg_main

    sys.argv = ["mfg", *sys.argv[2:]]
    mfg_main()


if __name__ == "__main__":
    main()
