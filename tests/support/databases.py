"""Databases the migration and restore tests start from: an empty one on either backend, and
Alembic run up to a given revision (``"0001"`` is CellTrail 0.1's schema)."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import Engine, create_engine, text

from mfg.store import db as store_db


def empty_database_url(backend: str, sqlite_file: Path, request: pytest.FixtureRequest) -> str:
    """A database with no schema: the file ``sqlite_file`` on SQLite (made when first opened),
    a new database on the test session's PostgreSQL server (``pg_server``) otherwise."""
    if backend == "sqlite":
        return f"sqlite:///{sqlite_file}"
    server = request.getfixturevalue("pg_server")
    name = f"e_{uuid.uuid4().hex[:16]}"
    admin = create_engine(server.admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return str(server.url(name))


def migrate(engine: Engine, url: str, revision: str, **attributes: object) -> None:
    """Alembic up to ``revision`` on ``engine`` (one transaction); ``attributes`` are what the
    migrations read from the config (``audit_keyring``, ``now``)."""
    cfg = store_db.alembic_config(url)
    cfg.attributes.update(attributes)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def engine_at(url: str, revision: str) -> Engine:
    """An engine on ``url``, its schema brought to ``revision``."""
    engine = store_db.make_engine(url)
    migrate(engine, url, revision)
    return engine
