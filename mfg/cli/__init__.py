"""The ``mfg`` command line: everything the TUI can do, scriptable, ``--json`` everywhere.

Exit codes: 0 done, 1 refused by a rule (one line naming the rule), 2 usage error, 3 internal
error (details in $MFG_HOME/logs/errors.log, never a traceback on the terminal).

Start-up: the root group is a lazy group (Click's documented pattern, on Typer's group class:
``list_commands`` names every command without importing it, ``get_command`` imports the
module(s) that register the one asked for). ``mfg lot show`` imports only ``mfg.cli.lots`` and
``mfg.cli.release``; ``mfg --help`` asks for every command's short help, so it loads all.
"""

from __future__ import annotations

import importlib
from typing import Any

import typer
import typer.main
from typer.core import TyperGroup

# Each module registers its commands on `app` (or a sub-app it adds); one module per group.
COMMAND_MODULES = (
    "setup",
    "users",
    "subjects",
    "lots",
    "holds",
    "audit",
    "tui_cmd",
    "labels",
    "label_control",
    "coi",
    "backup",
    "release",
    "disposition",
    "reports",
    "validate",
    "session",
    "verify",
)

# The top-level names in the order `mfg --help` lists them, and the module(s) registering each.
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
    "hold": ("holds",),
    "audit": ("audit",),
    "tui": ("tui_cmd",),
    "labels": ("labels", "label_control"),
    "scan": ("labels",),
    "bag": ("labels",),
    "coi": ("coi",),
    "backup": ("backup",),
    "restore": ("backup",),
    "result": ("release",),
    "deviation": ("release",),
    "disposition": ("disposition",),
    "coa": ("release",),
    "report": ("reports",),
    "export": ("reports",),
    "import": ("reports",),
    "validate": ("validate",),
    "login": ("session",),
    "logout": ("session",),
    "whoami": ("session",),
    "verify": ("verify",),
}


def _load(modules: tuple[str, ...]) -> None:
    for name in modules:
        importlib.import_module(f"mfg.cli.{name}")


def _build(name: str) -> Any:
    """The click command Typer makes for the top-level ``name`` registered on ``app`` (only it:
    the other commands its modules register are built when they are asked for)."""
    short, markup = app.pretty_exceptions_short, app.rich_markup_mode
    for group in app.registered_groups:
        if group.name == name:
            return typer.main.get_group_from_info(
                group,
                pretty_exceptions_short=short,
                suggest_commands=app.suggest_commands,
                rich_markup_mode=markup,
            )
    for command in app.registered_commands:
        callback = command.callback
        if callback is not None and name == (
            command.name or typer.main.get_command_name(callback.__name__)
        ):
            return typer.main.get_command_from_info(
                command, pretty_exceptions_short=short, rich_markup_mode=markup
            )
    return None


class LazyGroup(TyperGroup):
    """The root ``mfg`` group: a command is imported and built when it is asked for.

    ``get_command`` imports the modules ``COMMAND_HOMES`` names for it (they register on ``app``)
    and has Typer build that one command or group from the registrations, so it is exactly what
    Typer would have made; what Typer put in ``commands`` up front is not trusted (a module
    imported earlier may have registered only part of a group).
    """

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        self._built: set[str] = set()

    def list_commands(self, ctx: Any) -> list[str]:
        return list(COMMAND_HOMES)

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if cmd_name not in COMMAND_HOMES:
            # Unknown: build everything, so that Typer's "did you mean" sees every name.
            for name in COMMAND_HOMES:
                self.get_command(ctx, name)
            return None
        if cmd_name not in self._built:
            _load(COMMAND_HOMES[cmd_name])
            command = _build(cmd_name)
            if command is not None:
                self.commands[cmd_name] = command
            self._built.add(cmd_name)
        return self.commands.get(cmd_name)


app = typer.Typer(
    name="mfg",
    cls=LazyGroup,
    help="CellTrail: GMP lot tracking for autologous CAR-T manufacturing.\n\n"
    "Example: mfg --help; mfg lot show BH002-26-0001 --user tech --json",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    pretty_exceptions_show_locals=False,
    add_completion=False,
    rich_markup_mode=None,
)


@app.callback()
def _root() -> None:
    # A callback keeps `mfg` a command group even when `mfg NAME` has loaded a module that
    # registers one command only (Typer would otherwise run that command as `mfg` itself).
    pass


def load_all() -> typer.Typer:
    """The app with every command registered (for code that walks ``app``'s registrations)."""
    _load(COMMAND_MODULES)
    return app


def __getattr__(name: str) -> Any:
    if name in COMMAND_MODULES:
        return importlib.import_module(f"mfg.cli.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def main() -> None:
    app()
