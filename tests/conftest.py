"""Shared fixtures: databases on SQLite and a throwaway PostgreSQL, users of every role, a clock.

``db`` is parametrized over both backends. PostgreSQL tests skip only when the server binaries
are missing AND CELLTRAIL_REQUIRE_POSTGRES is not set; CI sets it, so there they fail instead.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from mfg.config import Settings
from mfg.services import users
from mfg.services.uow import Actor, Database
from mfg.store import db as store_db
from tests.support.constants import CLI_NOW, FULL_NAMES, NOW, PASSWORD, ROLES, TODAY


@pytest.fixture(scope="session", autouse=True)
def fast_password_hashes() -> Iterator[None]:
    """Cheap argon2 parameters for the whole suite, injected into mfg.auth (no product switch)."""
    from mfg import auth
    from tests.support.fast_hash import install

    previous = install()
    yield
    auth._HASHER = previous


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--backend",
        action="append",
        default=None,
        help="run db-parametrized tests only on these backends (sqlite, postgresql)",
    )


# ---------------------------------------------------------------------------------------------
# PostgreSQL: one throwaway server per test session (per xdist worker), a template database
# migrated once, and a fresh database cloned from it for each test.


@pytest.fixture(scope="session")
def pg_server() -> Iterator[object]:
    from tests.support.pgserver import find_bindir, start_server

    if find_bindir() is None:
        msg = "PostgreSQL server binaries not found (apt-get install postgresql)"
        if os.environ.get("CELLTRAIL_REQUIRE_POSTGRES") == "1":
            pytest.fail(msg + " and CELLTRAIL_REQUIRE_POSTGRES=1")
        pytest.skip(msg)
    server = start_server()
    engine = create_engine(server.admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as c:
        c.execute(text("CREATE DATABASE celltrail_template"))
    engine.dispose()
    tmpl = store_db.make_engine(server.url("celltrail_template"))
    store_db.upgrade(tmpl)
    tmpl.dispose()
    yield server
    server.stop()


def new_pg_database(server) -> str:  # type: ignore[no-untyped-def]
    name = f"t_{uuid.uuid4().hex[:16]}"
    engine = create_engine(server.admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}" TEMPLATE celltrail_template'))
    engine.dispose()
    return server.url(name)


# ---------------------------------------------------------------------------------------------
# SQLite: a migrated template file copied per test.


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("tmpl") / "template.db"
    engine = store_db.make_engine(f"sqlite:///{path}")
    store_db.upgrade(engine)
    with engine.connect() as c:
        c.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    return path


def settings_for(home: Path, url: str = "") -> Settings:
    return Settings(
        home=home,
        facility_id="A9990",
        site_timezone="Asia/Shanghai",
        database_url=url,
        site_name="Test GMP Facility",
    )


def _backends(config: pytest.Config) -> list[str]:
    chosen = config.getoption("--backend")
    return chosen or ["sqlite", "postgresql"]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" in metafunc.fixturenames:
        chosen = _backends(metafunc.config)
        if metafunc.definition.get_closest_marker("sqlite_only"):
            chosen = [b for b in chosen if b == "sqlite"]
        params = [
            pytest.param(b, marks=pytest.mark.postgres) if b == "postgresql" else b for b in chosen
        ]
        metafunc.parametrize("backend", params, scope="function")


def make_database(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Database:
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    if backend == "sqlite":
        path = home / "celltrail.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        url = f"sqlite:///{path}"
    else:
        url = new_pg_database(request.getfixturevalue("pg_server"))
    return Database(engine=store_db.make_engine(url), settings=settings_for(home, url))


@pytest.fixture
def db(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Database]:
    """An empty, migrated database on each backend (no users)."""
    database = make_database(backend, tmp_path, request)
    yield database
    database.dispose()


@pytest.fixture
def pg_db(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Database]:
    """An empty, migrated PostgreSQL database, for a test of what only PostgreSQL does (mark
    it ``postgres``)."""
    database = make_database("postgresql", tmp_path, request)
    yield database
    database.dispose()


@pytest.fixture
def sqlite_db(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Database]:
    database = make_database("sqlite", tmp_path, request)
    yield database
    database.dispose()


def add_users(database: Database, now: datetime = NOW) -> dict[str, Actor]:
    users.init_database(
        database, admin="admin", full_name=FULL_NAMES["admin"], password=PASSWORD, now=now
    )
    admin = Actor("admin", FULL_NAMES["admin"], ROLES["admin"])
    actors = {"admin": admin}
    for name, role in ROLES.items():
        if name == "admin":
            continue
        users.add_user(
            database,
            actor=admin,
            username=name,
            full_name=FULL_NAMES[name],
            role=role.value,
            password=PASSWORD,
            now=now,
        )
        actors[name] = Actor(name, FULL_NAMES[name], role)
    return actors


@pytest.fixture
def cli_clock(monkeypatch: pytest.MonkeyPatch) -> datetime:
    """The CLI's clock fixed at CLI_NOW (NOW + 7 days), for a test that runs ``mfg`` on data
    made at NOW: on the real clock it would break once the users' passwords, set at NOW, expire
    (90 days on), or, run before NOW, see the data in its future."""
    from mfg.cli import _common

    monkeypatch.setattr(_common, "utc_now", lambda: CLI_NOW)
    return CLI_NOW


@pytest.fixture
def actors(db: Database) -> dict[str, Actor]:
    """Users tech, tech2, qa, qa2, sponsor and admin (password PASSWORD) on ``db``."""
    return add_users(db)


@pytest.fixture
def now() -> datetime:
    return NOW


def days_ago(n: int) -> date:
    return TODAY - timedelta(days=n)
