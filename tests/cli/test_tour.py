"""The README tour, run as printed (in bash, from a fresh MFG_HOME), so that it cannot rot."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def tour() -> tuple[list[str], list[tuple[str, str]]]:
    """(bash lines, [(refused command, its stderr line)]) from README.md's tour section."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("<!-- tour:start -->")[1].split("<!-- tour:end -->")[0]
    # the lot number carries the year: BH002-26-0001 is the first lot of 2026
    yy = f"{datetime.now(UTC).year % 100:02d}"
    section = section.replace("BH002-26-", f"BH002-{yy}-")
    bash = section.split("```bash\n")[1].split("```")[0]
    lines = [ln for ln in bash.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    shown = section.split("```text\n")[1].split("```")[0].splitlines()
    refusals = [
        (shown[i][2:], shown[i + 1]) for i in range(len(shown) - 1) if shown[i].startswith("$ ")
    ]
    return lines, refusals


@pytest.mark.slow
def test_the_readme_tour_works_as_printed(tmp_path: Path):
    lines, refusals = tour()
    assert len(lines) >= 15 and len(refusals) >= 3
    bindir = str(Path(sys.executable).parent)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MFG_")}
    env["PATH"] = bindir + os.pathsep + env.get("PATH", "")
    outputs: dict[str, subprocess.CompletedProcess[str]] = {}
    for line in lines:
        command = line.split("  #")[0].strip()
        if command.startswith("export "):
            for assignment in shlex.split(command)[1:]:
                key, value = assignment.split("=", 1)
                env[key] = str(tmp_path / "home") if key == "MFG_HOME" else value
            continue
        r = subprocess.run(
            ["bash", "-c", command], env=env, cwd=tmp_path, capture_output=True, text=True
        )
        outputs[command] = r
        expect_refusal = "refused (exit 1)" in line
        assert r.returncode == (1 if expect_refusal else 0), (command, r.stdout, r.stderr)
        assert "Traceback" not in r.stderr
    assert env["MFG_HOME"].startswith(str(tmp_path)), "the tour must set MFG_HOME"
    yy = f"{datetime.now(UTC).year % 100:02d}"
    lot = f"BH002-{yy}-0001"
    registered = next(r for c, r in outputs.items() if c.startswith("mfg lot register"))
    assert f"lot {lot} registered" in registered.stdout
    shown = next(r for c, r in outputs.items() if c.startswith(f"mfg lot show {lot} --json"))
    data = json.loads(shown.stdout)
    assert data["state"] == "harvested" and data["harvest"]["dose_met"] is True
    growth = next(r for c, r in outputs.items() if c.startswith("mfg lot growth"))
    assert "corrected: count 4" in growth.stdout and "projection:" in growth.stdout
    verify = next(r for c, r in outputs.items() if c.endswith("mfg audit verify"))
    assert verify.stdout.startswith("audit trail intact")
    # the refusals printed below the tour, exactly as printed
    for command, line in refusals:
        r = outputs.get(command) or subprocess.run(
            ["bash", "-c", command], env=env, cwd=tmp_path, capture_output=True, text=True
        )
        assert (r.returncode, r.stderr) == (1, line + "\n"), command


def test_the_tour_marks_every_refused_line():
    lines, refusals = tour()
    marked = [ln.split("  #")[0].strip() for ln in lines if "refused (exit 1)" in ln]
    assert marked and all(any(m == c for c, _ in refusals) for m in marked)
    assert re.search(r"export MFG_HOME=\S+", "\n".join(lines))
