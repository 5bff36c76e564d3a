"""Every benchmark prints the machine it ran on and its command before its figures (issue 15:
figures from two guests of the same size differed by 1.2-1.5x, and some logs named neither)."""

from __future__ import annotations

import ast
import os
import platform
import sqlite3
from datetime import datetime
from pathlib import Path

from benchmarks import machine

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def test_the_cpu_model_is_read_from_cpuinfo(tmp_path: Path) -> None:
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 7B13\n")
    assert machine.cpu_model(info) == "AMD EPYC 7B13"


def test_without_cpuinfo_the_architecture_is_named(tmp_path: Path) -> None:
    named = machine.cpu_model(tmp_path / "absent")
    assert named and named == (platform.processor() or platform.machine())


def test_the_header_names_the_machine_and_the_command() -> None:
    first, second = machine.header(["benchmarks/load.py", "--writers", "8"]).split("\n")
    assert first.startswith("# ") and f"({platform.machine()})" in first
    assert f"{os.cpu_count()} CPUs" in first
    assert f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}" in first
    assert "load average " in first
    assert second == "$ benchmarks/load.py --writers 8"


def test_the_time_is_utc() -> None:
    from zoneinfo import ZoneInfo

    at = datetime(2026, 12, 7, 8, 15, tzinfo=ZoneInfo("Asia/Shanghai"))
    assert "2026-12-07 00:15 UTC" in machine.machine(at)


def _calls_header(path: Path) -> bool:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return any(
        isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "header"
        for node in ast.walk(tree)
    )


def test_every_benchmark_prints_the_header() -> None:
    scripts = sorted([*BENCHMARKS.glob("bench_*.py"), BENCHMARKS / "load.py"])
    assert len(scripts) >= 10
    missing = [p.name for p in scripts if not _calls_header(p)]
    assert missing == []
