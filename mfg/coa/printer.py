"""Sending a COA to the configured printer command."""

from __future__ import annotations

import shlex
import subprocess

from mfg.errors import RuleViolation


def send_to_printer(command: str, pdf: bytes, timeout: float = 60.0) -> None:
    """Run the configured printer command (e.g. ``lp -d qa-printer``) with the PDF on stdin."""
    argv = shlex.split(command)
    if not argv:
        raise RuleViolation("coa_printer", "no-printer", "no COA printer is configured")
    try:
        done = subprocess.run(argv, input=pdf, capture_output=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise RuleViolation("coa_printer", "printer-failed", f"{argv[0]}: {e}") from None
    if done.returncode != 0:
        err = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise RuleViolation(
            "coa_printer",
            "printer-failed",
            f"{argv[0]} exited {done.returncode}" + (f": {err[-1]}" if err else ""),
        )
