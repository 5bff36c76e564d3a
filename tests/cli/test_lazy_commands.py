"""`mfg NAME` loads only the modules of NAME: the table saying which they are must stay true."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def _modules_of(typer_app: Any, acc: set[str]) -> set[str]:
    for c in typer_app.registered_commands:
        acc.add(c.callback.__module__.removeprefix("mfg.cli."))
    for g in typer_app.registered_groups:
        _modules_of(g.typer_instance, acc)
    return acc


def test_command_homes_name_every_module_that_registers_under_a_name():
    import mfg.cli
    from mfg.cli import app

    registered: dict[str, set[str]] = {}
    for c in app.registered_commands:
        registered.setdefault(c.name, set()).add(c.callback.__module__.removeprefix("mfg.cli."))
    for g in app.registered_groups:
        registered.setdefault(g.name, set()).update(_modules_of(g.typer_instance, set()))
    homes = {name: set(mods) for name, mods in mfg.cli.COMMAND_HOMES.items()}
    assert homes == registered, (
        "a new command or group: add it to mfg/cli/__init__.py:COMMAND_HOMES (its module(s))"
    )


def _tree(statement: str) -> dict[str, list[str]]:
    """Top-level names and, for groups, their commands, in a fresh interpreter."""
    code = (
        "import json, sys\n"
        "import typer.main\n"
        f"{statement}\n"
        "cmd = typer.main.get_command(mfg.cli._app)\n"
        "print(json.dumps({n: sorted(getattr(c, 'commands', {})) "
        "for n, c in cmd.commands.items()}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def test_loading_only_the_home_of_lot_gives_the_whole_lot_group():
    full = _tree("import mfg.cli; mfg.cli.load_all()")
    lazy = _tree("import mfg.cli; mfg.cli._load(mfg.cli.COMMAND_HOMES['lot'])")
    assert lazy["lot"] == full["lot"]
    assert "review" in lazy["lot"]  # registered by mfg.cli.release on the lot group
    assert set(lazy) < set(full)  # and the other groups were not loaded


def test_the_entry_point_runs_a_subcommand_and_lists_everything_on_help():
    mfg = Path(sys.executable).parent / "mfg"
    out = subprocess.run([str(mfg), "lot", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "review" in out.stdout and "register" in out.stdout
    out = subprocess.run([str(mfg), "--help"], capture_output=True, text=True)
    assert out.returncode == 0
    for name in ("init", "lot", "report", "validate", "bag", "coa"):
        assert name in out.stdout
    out = subprocess.run([str(mfg), "lots"], capture_output=True, text=True)
    assert out.returncode == 2 and "No such command" in out.stderr


def test_every_top_level_name_runs_as_itself_when_loaded_alone():
    """`mfg tui`, `mfg validate`, ... load one module each: each must still be `mfg NAME`."""
    import mfg.cli

    code = (
        "import sys\nfrom mfg.cli import main\nsys.argv = ['mfg', sys.argv[1], '--help']\nmain()\n"
    )
    for name in mfg.cli.COMMAND_HOMES:
        out = subprocess.run(
            [sys.executable, "-c", code, name], cwd=ROOT, capture_output=True, text=True
        )
        assert out.returncode == 0, (name, out.stdout, out.stderr)
        assert f"Usage: mfg {name}" in out.stdout, (name, out.stdout)
