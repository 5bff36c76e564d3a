"""The ``mfg`` command line: everything the TUI can do, scriptable, ``--json`` everywhere.

Exit codes: 0 done, 1 refused by a rule (one line naming the rule), 2 usage error, 3 internal
error (details in $MFG_HOME/logs/errors.log, never a traceback on the terminal).
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import typer

_app = typer.Typer(
    name="mfg",
    help="CellTrail: GMP lot tracking for autologous CAR-T manufacturing.\n\n"
    "Example: mfg --help; mfg lot show BH002-26-0001 --user tech --json",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    pretty_exceptions_show_locals=False,
    add_completion=False,
    rich_markup_mode=None,
)


@_app.callback()
def _root() -> None:
    # A callback keeps `mfg` a command group even when `mfg NAME` has loaded a module that
    # registers one command only (Typer would otherwise run that command as `mfg` itself).
    pass


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

# Start-up: `mfg NAME ...` imports only the module(s) that register the top-level command or
# group NAME (all of them for `mfg --help`, an unknown name, or `mfg.cli.app`).
# tests/cli/test_lazy_commands.py keeps this table equal to what the modules register.
COMMAND_HOMES: dict[str, tuple[str, ...]] = {
    "init": ("setup",),
    "config": ("setup",),
    "product": ("setup",),
    "user": ("users",),
    "subject": ("subjects",),
    "lot": ("lots", "release"),
    "count": ("lots",),
    "harvest": ("lots",),
    "audit": ("audit",),
    "tui": ("tui_cmd",),
    "labels": ("labels",),
    "scan": ("labels",),
    "bag": ("labels",),
    "backup": ("backup",),
    "restore": ("backup",),
    "result": ("release",),
    "deviation": ("release",),
    "disposition": ("release",),
    "coa": ("release",),
    "report": ("reports",),
    "export": ("reports",),
    "import": ("reports",),
    "validate": ("validate",),
}

_all_loaded = False
_partial = False  # main() is loading only the invoked command's modules


def _load(modules: tuple[str, ...]) -> None:
    for name in modules:
        importlib.import_module(f"mfg.cli.{name}")


def load_all() -> typer.Typer:
    """The app with every command registered (what `mfg --help` and the docs list)."""
    global _all_loaded
    if not _all_loaded:
        _all_loaded = True
        _load(COMMAND_MODULES)
    return _app


def _registering() -> bool:
    """True while a command module's top level runs (it is getting `app` to register on)."""
    homes = {f"mfg.cli.{m}" for m in COMMAND_MODULES}
    frame = sys._getframe(2)
    while frame is not None:
        if frame.f_code.co_name == "<module>" and frame.f_globals.get("__name__") in homes:
            return True
        frame = frame.f_back
    return False


def __getattr__(name: str) -> Any:
    if name == "app":
        return _app if (_partial or _all_loaded or _registering()) else load_all()
    if name in COMMAND_MODULES:
        return importlib.import_module(f"mfg.cli.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def main() -> None:
    global _partial
    first = sys.argv[1] if len(sys.argv) > 1 else ""
    homes = COMMAND_HOMES.get(first)
    if homes is None:
        load_all()
    else:
        _partial = True
        try:
            _load(homes)
        finally:
            _partial = False
    _app()
