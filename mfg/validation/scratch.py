"""Where the qualification runs: a scratch database of the configured kind (SQLite: a temporary
file; PostgreSQL: a database created on the configured server and dropped afterwards), what the
environment is, and a read-only fingerprint of the production database (before = after)."""

from __future__ import annotations

import platform
import shutil
import socket
import sys
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from mfg.config import Settings


def environment(db_url: str) -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    def v(pkg: str) -> str:
        try:
            return version(pkg)
        except PackageNotFoundError:
            return "-"

    from sqlalchemy.engine import make_url

    return {
        "CellTrail": v("celltrail"),
        "Python": sys.version.split()[0],
        "Platform": platform.platform(),
        "Host": socket.gethostname(),
        "SQLAlchemy / sqlmodel": f"{v('SQLAlchemy')} / {v('sqlmodel')}",
        "alembic": v("alembic"),
        "psycopg": v("psycopg"),
        "reportlab": v("reportlab"),
        "pandas": v("pandas"),
        "Configured database": make_url(db_url).render_as_string(hide_password=True),
    }


# -- the scratch database ------------------------------------------------------------------


@contextmanager
def scratch_database(settings: Settings, production_url: str) -> Iterator[tuple[str, Path]]:
    """A new, empty database of the configured kind, removed afterwards."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    home = Path(tempfile.mkdtemp(prefix="celltrail-oq-"))
    try:
        if production_url.startswith("sqlite"):
            yield f"sqlite:///{home / 'oq.db'}", home
            return
        url = make_url(production_url)
        if url.drivername == "postgresql":
            url = url.set(drivername="postgresql+psycopg")
        name = f"celltrail_oq_{uuid.uuid4().hex[:12]}"
        admin = create_engine(url, isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as c:
                c.execute(text(f'CREATE DATABASE "{name}"'))
        except Exception as e:
            admin.dispose()
            from mfg.errors import RuleViolation

            raise RuleViolation(
                "db",
                "oq-needs-createdb",
                f"cannot create the scratch database on the configured server ({e.__class__.__name__}): "
                "the database user needs the CREATEDB privilege",
            ) from None
        try:
            yield url.set(database=name).render_as_string(hide_password=False), home
        finally:
            with admin.connect() as c:
                c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()
    finally:
        shutil.rmtree(home, ignore_errors=True)


def production_fingerprint(url: str) -> str:
    """Audit events and head hash of the production database (read only), or why not."""
    from sqlalchemy import text

    from mfg.store import db as store_db

    engine = store_db.make_engine(url)
    try:
        with engine.connect() as c:
            n = c.execute(text("SELECT count(*) FROM auditevent")).scalar_one()
            head = c.execute(
                text("SELECT hash FROM auditevent ORDER BY seq DESC LIMIT 1")
            ).scalar_one_or_none()
        return f"{n} audit events, head {str(head)[:16]}"
    except Exception as e:
        return f"unreadable ({e.__class__.__name__})"
    finally:
        engine.dispose()
