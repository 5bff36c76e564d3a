"""mfg tui [--demo]: the terminal UI (Textual is imported only here, inside the command)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from mfg.cli import app
from mfg.cli._common import Cli, command

if TYPE_CHECKING:
    from pathlib import Path


@command(app, "tui")
def tui(
    cli: Cli,
    demo: Annotated[
        bool,
        typer.Option(
            "--demo",
            help="On an empty MFG_HOME, first create a demo database (users tech, tech2, qa, "
            "sponsor, admin; password demo-password) with about 20 lots at every stage.",
        ),
    ] = False,
) -> None:
    """Start the terminal UI: log in, then the lot board, lot detail, forms, QA queue, reports.

    Example: MFG_HOME=./.celltrail-demo mfg tui --demo
    """
    import logging
    import sys

    settings = cli.settings
    log_dir = settings.home / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(
        filename=str(log_dir / "tui.log"),
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if demo and not settings.database_url and _no_database(settings.home / "celltrail.db"):
        from mfg.config import write_default_config
        from mfg.demo import seed_demo
        from mfg.services.uow import Database

        sys.stderr.write(f"creating a demo database in {settings.home} ...\n")
        partial = settings.home / "celltrail.db.partial"
        partial.unlink(missing_ok=True)
        db = Database.open(f"sqlite:///{partial}", settings)
        try:
            seed_demo(db, now=cli.now)
        finally:
            db.dispose()
        for stale in ("celltrail.db-wal", "celltrail.db-shm"):  # of an empty file, if any
            (settings.home / stale).unlink(missing_ok=True)
        partial.replace(settings.home / "celltrail.db")  # only a complete demo is ever used
        # the partial file's queues' lock files (store.db.write_turn) are of no use now
        for queue in ("write", "login"):
            settings.home.joinpath(f"celltrail.db.partial-{queue}lock").unlink(missing_ok=True)
        write_default_config(settings)
    elif demo and settings.database_url:
        sys.stderr.write("--demo is ignored: MFG_DATABASE_URL points at a real database\n")
    url = cli._db_url

    def open_db():  # type: ignore[no-untyped-def]
        from mfg.services.uow import Database
        from mfg.store.db import check_schema

        db = Database.open(url, settings)
        check_schema(db.engine)
        return db

    from rich.console import Console

    from tui.app import CellTrailApp

    tui_app = CellTrailApp(db_factory=open_db, demo=demo)
    crash_log = log_dir / "tui-errors.log"
    with crash_log.open("a", encoding="utf-8") as errors:
        # a bug stops the app (nothing unfinished is saved): its traceback goes to the log
        tui_app.error_console = Console(file=errors, width=120, markup=False, highlight=False)
        tui_app.run()
    if tui_app.return_code:
        sys.stderr.write(
            "mfg tui stopped on an internal error (a bug); nothing unfinished was saved. "
            f"Details: {crash_log}\n"
        )
        raise typer.Exit(1)


def _no_database(path: Path) -> bool:
    """True when there is no CellTrail database at ``path`` (missing, or an empty SQLite file
    left by an earlier ``mfg tui`` without ``--demo``): a demo may be created there."""
    if not path.exists():
        return True
    import sqlite3

    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        tables: int = con.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
    finally:
        con.close()
    return tables == 0
