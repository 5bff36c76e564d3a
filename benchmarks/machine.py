"""The first two lines every benchmark prints: the machine it ran on and the command.

Figures from different guests are not comparable (the same commands ran 1.2-1.5x apart on an
Intel Xeon and an AMD EPYC guest of the same size), so the CPU model is named, not only the
architecture; the load average says how quiet the machine was when the run began.

    # AMD EPYC (x86_64), 2 CPUs, Python 3.11.7, SQLite 3.40.1, 2026-12-07 07:15 UTC, load average 0.4
    $ benchmarks/load.py --writers 8 --seconds 20 --backend sqlite --baseline
"""

from __future__ import annotations

import os
import platform
import sqlite3
import sys
from datetime import UTC, datetime
from pathlib import Path


def cpu_model(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    """The CPU's model name (Linux), else the processor or architecture Python reports."""
    try:
        for line in cpuinfo.read_text(encoding="utf-8", errors="replace").splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and value.strip():
                return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def load_average() -> str:
    try:
        return f"{os.getloadavg()[0]:.1f}"
    except OSError:  # not on every system
        return "unknown"


def machine(now: datetime | None = None) -> str:
    """One line: CPU model and architecture, CPUs, Python, SQLite, the time (UTC), the load."""
    at = (now or datetime.now(UTC)).astimezone(UTC)
    return (
        f"{cpu_model()} ({platform.machine()}), {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}, "
        f"{at:%Y-%m-%d %H:%M} UTC, load average {load_average()}"
    )


def command(argv: list[str] | None = None) -> str:
    return " ".join(sys.argv if argv is None else argv)


def header(argv: list[str] | None = None) -> str:
    """``# <machine>`` and ``$ <command>``: what every benchmark prints first."""
    return f"# {machine()}\n$ {command(argv)}"
