"""Backup and restore (EU GMP Annex 11 section 7.2; 21 CFR 11.10(c): records protected and
retrievable throughout their retention period).

- SQLite: the online backup API copies a consistent snapshot while others keep working.
- PostgreSQL: ``pg_dump --format=custom`` under a snapshot exported by a REPEATABLE READ
  transaction, so the row counts in the manifest are exactly those of the dump.

Every backup writes ``FILE`` and ``FILE.manifest.json`` (format, schema revision, row count per
table, audit head hash, SHA-256 of the file) and appends a ``database.backed_up`` audit event to
the live database. A restore goes only into an EMPTY database (no tables, or no SQLite file),
checks the file against its manifest, restores atomically (temp file + rename; pg_restore in one
transaction), then checks the audit chain, every record against the trail (``mfg.integrity``) and
the row counts; the restoring admin must log in on the restored data, else the restore is undone.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import tempfile
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import inspect as sa_inspect
from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine, make_url
from sqlmodel import SQLModel

from mfg import audit
from mfg.auditkey import Keyring
from mfg.errors import RuleViolation
from mfg.outfile import check_target, write_file
from mfg.services.uow import Actor, Database
from mfg.store import db as store_db

SQLITE_MAGIC = b"SQLite format 3\x00"
PGDUMP_MAGIC = b"PGDMP"


@dataclass(frozen=True)
class Manifest:
    format: str  # sqlite | pg_dump
    created_at: str
    created_by: str
    schema_revision: str | None
    counts: dict[str, int]
    audit_events: int
    audit_head: str
    sha256: str = ""
    celltrail_version: str = ""

    @property
    def records(self) -> int:
        return sum(v for k, v in self.counts.items() if k != "alembic_version")


@dataclass(frozen=True)
class RestoreReport:
    target: str
    manifest: Manifest | None
    counts: dict[str, int]
    audit_ok: bool
    audit_events: int
    record_problems: tuple[str, ...] = field(default_factory=tuple)
    problem: str = ""

    @property
    def ok(self) -> bool:
        return self.audit_ok and not self.record_problems and not self.problem


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("celltrail")
    except Exception:
        return "unknown"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def manifest_path(path: Path) -> Path:
    return path.with_name(path.name + ".manifest.json")


def _table_names() -> list[str]:
    import mfg.store.tables  # noqa: F401  (registers the tables)

    return sorted(t.name for t in SQLModel.metadata.sorted_tables)


def _counts(conn: Connection | sqlite3.Connection) -> tuple[dict[str, int], int, str]:
    """Row count per CellTrail table, the number of audit events and the audit head hash."""
    out: dict[str, int] = {}
    for name in _table_names():
        q = f'SELECT count(*) FROM "{name}"'
        if isinstance(conn, sqlite3.Connection):
            out[name] = int(conn.execute(q).fetchone()[0])
        else:
            out[name] = int(conn.execute(text(q)).scalar_one())
    q = "SELECT hash FROM auditevent ORDER BY seq DESC LIMIT 1"
    if isinstance(conn, sqlite3.Connection):
        row = conn.execute(q).fetchone()
    else:
        row = conn.execute(text(q)).fetchone()
    return out, out.get("auditevent", 0), (row[0] if row else audit.GENESIS)


def _sqlite_path(engine: Engine) -> Path:
    path = engine.url.database
    if not path or path == ":memory:":
        raise RuleViolation("db", "backup-needs-file", "an in-memory database cannot be backed up")
    return Path(path)


def pg_bindirs() -> list[Path]:
    """Where PostgreSQL's programs may be: pg_config's bindir first, then the newest installed."""
    candidates: list[Path] = []
    if shutil.which("pg_config"):
        try:
            out = subprocess.run(
                ["pg_config", "--bindir"], capture_output=True, text=True, check=True
            ).stdout.strip()
            candidates.append(Path(out))
        except (subprocess.CalledProcessError, OSError):
            pass
    candidates += [Path(p) for p in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)]
    return candidates


def find_pg_tool(name: str) -> str | None:
    """pg_dump / pg_restore: the server's bindir first (pg_config), then the newest installed."""
    for c in pg_bindirs():
        if (c / name).exists():
            return str(c / name)
    return shutil.which(name)


def _libpq(engine: Engine) -> tuple[str, dict[str, str]]:
    """A libpq connection URI without the password (which goes in PGPASSWORD)."""
    url = engine.url
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    plain = url.set(drivername="postgresql", password=None)
    return plain.render_as_string(hide_password=False), env


def _write_manifest(path: Path, m: Manifest) -> None:
    write_file(manifest_path(path), (json.dumps(asdict(m), indent=2) + "\n").encode(), field="file")


def backup(db: Database, dest: Path, *, actor: Actor, now: datetime) -> Manifest:
    """Write a consistent backup of ``db`` to ``dest`` (refusing to overwrite a file)."""
    actor.require("backup")
    dest = Path(dest)
    if dest.exists() or manifest_path(dest).exists():
        raise RuleViolation(
            "file", "backup-exists", f"{dest} exists; backups are never overwritten"
        )
    if not dest.parent.is_dir():
        raise RuleViolation("file", "backup-dir-missing", f"directory {dest.parent} does not exist")
    check_target(dest, field="file")  # not a link, a device or a folder we cannot write in
    revision = store_db.schema_revision(db.engine)
    tmp = Path(tempfile.mkstemp(prefix=".celltrail-backup-", dir=dest.parent)[1])
    try:
        if db.dialect == "sqlite":
            src = sqlite3.connect(str(_sqlite_path(db.engine)), timeout=30)
            tgt = sqlite3.connect(str(tmp))
            try:
                src.backup(tgt)
                tgt.execute("PRAGMA journal_mode = DELETE")
                ok = tgt.execute("PRAGMA integrity_check").fetchone()[0]
                if ok != "ok":
                    raise RuleViolation("db", "backup-integrity", f"integrity_check: {ok}")
                counts, n_events, head = _counts(tgt)
            finally:
                tgt.close()
                src.close()
            fmt = "sqlite"
        elif db.dialect == "postgresql":
            counts, n_events, head = _pg_dump(db.engine, tmp)
            fmt = "pg_dump"
        else:  # pragma: no cover - make_engine refuses other URLs
            raise RuleViolation("db", "backup-unsupported", f"cannot back up {db.dialect}")
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    m = Manifest(
        format=fmt,
        created_at=audit.iso_utc(now),
        created_by=actor.username,
        schema_revision=revision,
        counts=counts,
        audit_events=n_events,
        audit_head=head,
        sha256=sha256_file(dest),
        celltrail_version=_version(),
    )
    _write_manifest(dest, m)
    with db.write(actor, now) as tx:
        tx.audit(
            "database.backed_up",
            "database",
            dest.name,
            new={
                "file": dest.name,
                "format": fmt,
                "sha256": m.sha256,
                "audit_events": n_events,
                "records": m.records,
            },
        )
        tx.commit()
    return m


def _pg_dump(engine: Engine, out: Path) -> tuple[dict[str, int], int, str]:
    tool = find_pg_tool("pg_dump")
    if tool is None:
        raise RuleViolation(
            "db",
            "pg-dump-missing",
            "pg_dump is not installed (apt-get install postgresql-client)",
        )
    uri, env = _libpq(engine)
    conn = engine.connect().execution_options(isolation_level="REPEATABLE READ")
    with conn, conn.begin():
        snapshot = conn.execute(text("SELECT pg_export_snapshot()")).scalar_one()
        counts, n_events, head = _counts(conn)
        r = subprocess.run(
            [
                tool,
                "--format=custom",
                "--no-owner",
                "--no-privileges",
                f"--snapshot={snapshot}",
                f"--file={out}",
                f"--dbname={uri}",
            ],
            capture_output=True,
            text=True,
            env=env,
        )
        if r.returncode != 0:
            raise RuleViolation("db", "pg-dump-failed", r.stderr.strip()[:500])
    return counts, n_events, head


def read_manifest(path: Path) -> Manifest | None:
    mp = manifest_path(path)
    if not mp.exists():
        return None
    try:
        data: dict[str, Any] = json.loads(mp.read_text(encoding="utf-8"))
        return Manifest(**data)
    except (ValueError, TypeError) as e:
        raise RuleViolation("file", "manifest-unreadable", f"{mp}: {e}") from None


def _detect(path: Path) -> str:
    with path.open("rb") as f:
        head = f.read(16)
    if head.startswith(SQLITE_MAGIC):
        return "sqlite"
    if head.startswith(PGDUMP_MAGIC):
        return "pg_dump"
    raise RuleViolation("file", "not-a-backup", f"{path} is not a CellTrail backup")


def is_empty(engine: Engine) -> bool:
    """No tables at all (a new SQLite file or a freshly created PostgreSQL database)."""
    if engine.dialect.name == "sqlite":
        p = _sqlite_path(engine)
        if not p.exists() or p.stat().st_size == 0:
            return True
    return not sa_inspect(engine).get_table_names()


def _check_source(source: Path) -> None:
    """A backup to restore is an existing, non-empty regular file: say what it is otherwise."""
    if not source.exists() and not source.is_symlink():
        raise RuleViolation("file", "backup-missing", f"{source} does not exist")
    if source.is_dir():
        raise RuleViolation(
            "file", "backup-not-a-file", f"{source} is a directory, not a backup file"
        )
    if not source.is_file():
        what = "a broken link" if not source.exists() else "not a regular file (a device?)"
        raise RuleViolation("file", "backup-not-a-file", f"{source} is {what}, not a backup file")
    if source.stat().st_size == 0:
        raise RuleViolation("file", "backup-empty", f"{source} is empty, not a backup file")


def restore(source: Path, target_url: str, ring: Keyring) -> RestoreReport:
    """Restore ``source`` into the EMPTY database at ``target_url`` and verify it with the
    site's audit key ``ring`` (the key is not in the backup: it is restored from its own)."""
    source = Path(source)
    _check_source(source)
    fmt = _detect(source)
    manifest = read_manifest(source)
    if manifest is not None:
        if manifest.format != fmt:
            raise RuleViolation("file", "manifest-mismatch", "the manifest is for another file")
        if manifest.sha256 and sha256_file(source) != manifest.sha256:
            raise RuleViolation(
                "file",
                "backup-corrupted",
                f"{source} does not match the SHA-256 in its manifest: the file changed",
            )
    engine = store_db.make_engine(target_url)
    try:
        kind = engine.dialect.name
        if (fmt == "sqlite") != (kind == "sqlite"):
            raise RuleViolation(
                "db",
                "restore-backend-mismatch",
                f"a {fmt} backup restores into {'SQLite' if fmt == 'sqlite' else 'PostgreSQL'} only",
            )
        if not is_empty(engine):
            raise RuleViolation(
                "db",
                "restore-target-not-empty",
                f"{engine.url.render_as_string(hide_password=True)} already holds tables; "
                "restore only into an empty database",
            )
        if kind == "sqlite":
            _restore_sqlite(source, _sqlite_path(engine))
        else:
            _restore_pg(source, engine)
        engine.dispose()
        return check_restored(target_url, manifest, ring)
    finally:
        engine.dispose()


def _restore_sqlite(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm", "-journal"):  # an existing file holds no tables
        Path(str(target) + suffix).unlink(missing_ok=True)
    tmp = Path(tempfile.mkstemp(prefix=".celltrail-restore-", dir=target.parent)[1])
    try:
        src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
        tgt = sqlite3.connect(str(tmp))
        try:
            ok = src.execute("PRAGMA integrity_check").fetchone()[0]
            if ok != "ok":
                raise RuleViolation("file", "backup-corrupted", f"integrity_check: {ok}")
            src.backup(tgt)
        finally:
            tgt.close()
            src.close()
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def _restore_pg(source: Path, engine: Engine) -> None:
    tool = find_pg_tool("pg_restore")
    if tool is None:
        raise RuleViolation("db", "pg-restore-missing", "pg_restore is not installed")
    uri, env = _libpq(engine)
    r = subprocess.run(
        [
            tool,
            "--no-owner",
            "--no-privileges",
            "--single-transaction",
            "--exit-on-error",
            f"--dbname={uri}",
            str(source),
        ],
        capture_output=True,
        text=True,
        env=env,
    )
    if r.returncode != 0:
        raise RuleViolation("file", "pg-restore-failed", r.stderr.strip()[:500])


def check_restored(url: str, manifest: Manifest | None, ring: Keyring) -> RestoreReport:
    """The keyed audit chain, every record against the trail, and the manifest's row counts."""
    from mfg import integrity

    engine = store_db.make_engine(url)
    try:
        with engine.connect() as conn:
            counts, _n, _head = _counts(conn)
        from sqlmodel import Session

        with Session(engine) as s:
            chain = audit.verify_chain(audit.chain_rows(s.connection()), ring)
            problems, _checked = integrity.check_records(s)
    finally:
        engine.dispose()
    problem = (
        "" if chain.ok else f"audit chain broken at event {chain.first_bad_seq}: {chain.problem}"
    )
    if manifest is not None and not problem:
        diff = {
            k: (manifest.counts.get(k), counts.get(k))
            for k in set(manifest.counts) | set(counts)
            if manifest.counts.get(k, 0) != counts.get(k, 0)
        }
        if diff:
            problem = f"row counts differ from the manifest (backup, restored): {diff}"
        elif chain.head_hash != manifest.audit_head:
            problem = "the restored audit head differs from the manifest"
    return RestoreReport(
        target=make_url(url).render_as_string(hide_password=True),
        manifest=manifest,
        counts=counts,
        audit_ok=chain.ok,
        audit_events=chain.events,
        record_problems=tuple(str(p) for p in problems),
        problem=problem,
    )


def undo_restore(url: str) -> None:
    """Empty the target again (the restoring user could not log in on the restored data)."""
    engine = store_db.make_engine(url)
    try:
        if engine.dialect.name == "sqlite":
            p = _sqlite_path(engine)
            engine.dispose()
            for suffix in ("", "-wal", "-shm"):
                Path(str(p) + suffix).unlink(missing_ok=True)
        else:
            with engine.begin() as c:
                c.execute(text("DROP SCHEMA public CASCADE"))
                c.execute(text("CREATE SCHEMA public"))
    finally:
        engine.dispose()


def record_restore(
    db: Database, actor: Actor, source: Path, report: RestoreReport, now: datetime
) -> None:
    """Audit the restore on the restored database (by an admin who logged in on it)."""
    actor.require("backup")
    with db.write(actor, now) as tx:
        tx.audit(
            "database.restored",
            "database",
            source.name,
            new={
                "file": source.name,
                "sha256": sha256_file(source),
                "audit_events": report.audit_events,
                "records": sum(v for k, v in report.counts.items() if k != "alembic_version"),
            },
        )
        tx.commit()
