"""``benchmarks/load.py`` still runs against today's code: its writers log in, write and are
verified, on CellTrail's write queue, on the baseline that takes the queue away and on the
``--streak`` experiment (their stand-ins for ``write_turn`` once lagged a change of that
function's signature, and the benchmark then waited for ever for writers that had died). Two
writers for a second each: a smoke test of the harness, not a measurement."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from benchmarks import load


@pytest.mark.parametrize(
    ("queue", "streak"),
    [(True, 1), (False, 1), (True, 3)],
    ids=["write-queue", "busy-handler-only", "turns-of-3"],
)
def test_the_sqlite_load_runs_and_verifies(queue: bool, streak: int) -> None:
    out = load.run("sqlite", writers=2, seconds=1.0, queue=queue, streak=streak)
    assert out["writes"] > 0 and out["errors"] == 0 and out["lost"] == 0, out
    assert str(out["verification"]).startswith("OK: chain intact"), out


class _Gone:
    exitcode = 1

    def kill(self) -> None:
        pass


def test_writers_dead_before_the_start_end_the_run_with_a_message() -> None:
    start: Any = threading.Barrier(2)  # the parent and one writer that never comes
    with pytest.raises(SystemExit, match="1 of 1 writers died before the start"):
        load._started(start, [_Gone()], within_s=0.05)
