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

    app = mfg.cli.load_all()
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
        "cmd = typer.main.get_command(mfg.cli.app)\n"
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


def test_the_root_group_lists_every_name_without_importing_a_command_module():
    """Click's lazy-group pattern: `list_commands` comes from COMMAND_HOMES, no import."""
    code = (
        "import sys, json, typer.main, mfg.cli\n"
        "g = typer.main.get_command(mfg.cli.app)\n"
        "names = g.list_commands(None)\n"
        "print(json.dumps([names, sorted(m for m in sys.modules if m.startswith('mfg.cli.'))]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    names, loaded = json.loads(out.stdout.strip().splitlines()[-1])
    import mfg.cli

    assert names == list(mfg.cli.COMMAND_HOMES)
    assert loaded == []


def test_a_group_loaded_in_parts_is_rebuilt_whole():
    """`mfg count` loads only mfg.cli.lots; asking for `lot` afterwards still gives `lot review`
    (registered by mfg.cli.release), not the half of the group built first."""
    code = (
        "import json, typer.main, mfg.cli\n"
        "g = typer.main.get_command(mfg.cli.app)\n"
        "g.get_command(None, 'count')\n"
        "print(json.dumps(sorted(g.get_command(None, 'lot').commands)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert "review" in json.loads(out.stdout.strip().splitlines()[-1])
