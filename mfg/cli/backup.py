"""mfg backup FILE, mfg restore FILE."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mfg.cli import app
from mfg.cli._common import Cli, command, refuse

FileArg = Annotated[Path, typer.Argument(metavar="FILE", help="The backup file.")]


@command(app, "backup")
def backup_cmd(cli: Cli, file: FileArg) -> None:
    """Back up the database to FILE (+ FILE.manifest.json); admins only, never overwrites.

    SQLite: the online backup API (others may keep working). PostgreSQL: pg_dump (custom format)
    under one snapshot. The manifest holds the row count of every table and the audit head.

    Example: mfg backup /srv/backup/celltrail-2026-11-25.db --user admin
    """
    from mfg import backup

    actor = cli.actor()
    m = backup.backup(cli.database(), file, actor=actor, now=cli.now)
    data = {"file": str(file), "manifest": str(backup.manifest_path(file)), **m.__dict__}
    cli.emit(
        data,
        lambda: cli.out.print(
            f"backup written: {file} ({m.format}, {m.records} records, {m.audit_events} audit "
            f"events, sha256 {m.sha256[:16]}...)\nmanifest: {backup.manifest_path(file)}"
        ),
    )


@command(app, "restore")
def restore_cmd(cli: Cli, file: FileArg) -> None:
    """Restore FILE into an EMPTY database (--db / MFG_DATABASE_URL), then verify it.

    Checks the file against its manifest, restores atomically, verifies the audit chain, every
    record against the trail and the row counts. --user must be an admin in the restored data
    (password from MFG_PASSWORD or prompted); otherwise the restore is undone.

    Example: mfg restore /srv/backup/celltrail-2026-11-25.db --db sqlite:////srv/new/celltrail.db --user admin
    """
    from mfg import backup
    from mfg.errors import CellTrailError

    db = cli.database(check_schema=False)
    url = db.engine.url.render_as_string(hide_password=False)
    ring = db.audit_keyring()
    db.dispose()
    report = backup.restore(file, url, ring)
    try:
        actor = cli.actor()
        actor.require("backup")
    except CellTrailError:
        backup.undo_restore(url)
        raise
    if not report.ok:
        problem = report.problem or "; ".join(report.record_problems[:3])
        raise refuse(f"restored data do NOT verify: {problem}", "restore-verify-failed")
    backup.record_restore(cli.database(), actor, file, report, cli.now)
    records = sum(v for k, v in report.counts.items() if k != "alembic_version")
    data = {
        "file": str(file),
        "target": report.target,
        "verified": True,
        "audit_events": report.audit_events,
        "records": records,
        "counts": report.counts,
        "manifest_checked": report.manifest is not None,
    }
    cli.emit(
        data,
        lambda: cli.out.print(
            f"restored {file} into {report.target}: {records} records, audit trail intact "
            f"({report.audit_events} events), every record matches the trail"
            + (", row counts match the manifest" if report.manifest else " (no manifest)")
        ),
    )
