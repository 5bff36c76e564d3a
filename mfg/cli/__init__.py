"""The ``mfg`` command line: everything the TUI can do, scriptable, ``--json`` everywhere.

Exit codes: 0 done, 1 refused by a rule (one line naming the rule), 2 usage error, 3 internal
error (details in $MFG_HOME/logs/errors.log, never a traceback on the terminal).
"""

from __future__ import annotations

import importlib

import typer

app = typer.Typer(
    name="mfg",
    help="CellTrail: GMP lot tracking for autologous CAR-T manufacturing.\n\n"
    "Example: mfg --help; mfg lot show BH002-26-0001 --user tech --json",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    pretty_exceptions_show_locals=False,
    add_completion=False,
    rich_markup_mode=None,
)

# Each module registers its commands on `app` (or a sub-app it adds); one module per group.
COMMAND_MODULES = (
    "setup",
    "users",
    "subjects",
    "lots",
    "audit",
    "tui_cmd",
    "labels",
    "backup",
    "release",
    "reports",
    "validate",
)
for _name in COMMAND_MODULES:
    importlib.import_module(f"mfg.cli.{_name}")


def main() -> None:
    app()
