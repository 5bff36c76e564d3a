"""The Alembic migration matches the models on both backends; `mfg init` is idempotent; an
un-initialised or outdated database is refused with the command that fixes it."""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text
from sqlmodel import SQLModel
from typer.testing import CliRunner

import mfg.store.tables
from mfg.services.uow import Database
from mfg.store import db as store_db
from tests.support.constants import PASSWORD


def test_migration_matches_the_models(db: Database):
    """`alembic revision --autogenerate` against a migrated database would produce nothing."""
    with db.engine.connect() as conn:
        ctx = MigrationContext.configure(
            conn, opts={"compare_type": True, "render_as_batch": db.dialect == "sqlite"}
        )
        diff = compare_metadata(ctx, SQLModel.metadata)
    assert diff == [], (
        "the models and mfg/store/migrations differ: add a migration (docs/DEVELOPING.md: one "
        f"per schema change, never edit a released one):\n{diff}"
    )
    assert store_db.schema_revision(db.engine) == store_db.head_revision(str(db.engine.url))


def test_a_partial_index_declared_after_postgresql_was_used_gets_its_predicate():
    """``for_postgresql`` may run before the table models are imported (an engine made first):
    the indexes declared later in that process carry their PostgreSQL predicate too."""
    import subprocess
    import sys

    code = (
        "from mfg.store import partial\n"
        "partial.for_postgresql()\n"
        "from mfg.store import tables\n"
        "ix = next(i for i in tables.ReleaseResult.__table__.indexes"
        " if i.name == 'ix_releaseresult_unverified')\n"
        "print(ix.dialect_options['postgresql']['where'])\n"
    )
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "superseded_by_id IS NULL AND verified_by IS NULL"


def test_the_partial_indexes_of_the_models_and_of_the_database_agree(db: Database):
    """Alembic's comparison leaves an index's predicate out: the models' partial indexes, as
    created for the database's own dialect, carry the predicate the migrated database has (on
    PostgreSQL set when the engine is made, ``partial.for_postgresql``)."""
    from sqlalchemy.schema import CreateIndex

    from mfg.store import partial

    named = {ix.name for ix, _ in partial.DECLARED}
    partial = {
        ix.name: ix
        for table in SQLModel.metadata.tables.values()
        for ix in table.indexes
        if ix.name in named
    }
    assert set(partial) == {
        "ix_cellcount_current",
        "ix_auditevent_user",
        "ix_alert_open",
        "ix_dosebag_thawed",
        "ix_releaseresult_unverified",
    }
    with db.engine.connect() as conn:
        for name, ix in partial.items():
            ddl = str(CreateIndex(ix).compile(dialect=conn.dialect))
            if db.dialect == "postgresql":
                found = conn.execute(
                    text("SELECT indexdef FROM pg_indexes WHERE indexname = :n"), {"n": name}
                ).scalar_one()
            else:
                found = conn.execute(
                    text("SELECT sql FROM sqlite_master WHERE name = :n"), {"n": name}
                ).scalar_one()
            model_where = ddl.split(" WHERE ", 1)[1]
            assert " WHERE " in found, (name, found)
            normal = found.split(" WHERE ", 1)[1].replace("(", "").replace(")", "")
            assert normal.replace("::text", "") == model_where, (name, found, ddl)


def test_upgrade_twice_changes_nothing(db: Database):
    before = store_db.schema_revision(db.engine)
    assert store_db.upgrade(db.engine) == before == store_db.upgrade(db.engine)


def test_migration_0010_goes_down_and_up_again(db: Database):
    """0010 only adds ``ix_releaseresult_unverified``: its downgrade drops it, the upgrade makes
    it again, on both back-ends (a downgrade no test runs is a downgrade nobody knows works)."""
    from alembic import command
    from sqlalchemy import inspect

    def indexes() -> set[str]:
        return {ix["name"] for ix in inspect(db.engine).get_indexes("releaseresult")}

    assert "ix_releaseresult_unverified" in indexes()
    cfg = store_db.alembic_config(db.engine.url.render_as_string(hide_password=False))
    with db.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0009")
    assert store_db.schema_revision(db.engine) == "0009"
    assert "ix_releaseresult_unverified" not in indexes()
    assert "ix_releaseresult_open" in indexes()  # the others stay
    assert store_db.upgrade(db.engine) == store_db.SCHEMA_HEAD
    assert "ix_releaseresult_unverified" in indexes()


def mfg(home: Path, *args: str, user: str | None = None) -> object:
    from mfg.cli import app

    env = {
        "MFG_HOME": str(home),
        "MFG_PASSWORD": PASSWORD,
        "MFG_USER": user,
        "MFG_DATABASE_URL": None,
    }
    return CliRunner().invoke(app, list(args), env=env)


def test_mfg_init_twice_is_idempotent(tmp_path: Path):
    home = tmp_path / "home"
    first = mfg(home, "init", "--admin", "admin", "--json")
    assert first.exit_code == 0, first.stderr  # type: ignore[attr-defined]
    config = (home / "config.toml").read_text()
    edited = re.sub(r'(?m)^site_name = ".*?"', 'site_name = "Edited by the site"', config)
    assert edited != config
    (home / "config.toml").write_text(edited)
    with sqlite3.connect(home / "celltrail.db") as c:
        events = c.execute("SELECT count(*) FROM auditevent").fetchone()[0]
    second = mfg(home, "init", "--admin", "admin", "--json")
    assert second.exit_code == 0, second.stderr  # type: ignore[attr-defined]
    a, b = json.loads(first.stdout), json.loads(second.stdout)  # type: ignore[attr-defined]
    assert (a["admin_created"], b["admin_created"]) == (True, False)
    assert a["schema_revision"] == b["schema_revision"]
    assert "Edited by the site" in (home / "config.toml").read_text()  # never overwritten
    with sqlite3.connect(home / "celltrail.db") as c:
        assert c.execute("SELECT count(*) FROM auditevent").fetchone()[0] == events
        assert c.execute("SELECT count(*) FROM app_user").fetchone()[0] == 1
    third = mfg(home, "init")  # upgrade only, no admin
    assert third.exit_code == 0, third.stderr  # type: ignore[attr-defined]


@pytest.mark.postgres
def test_mfg_init_twice_on_postgresql(pg_server, tmp_path: Path):  # type: ignore[no-untyped-def]
    from tests.conftest import new_pg_database

    url = new_pg_database(pg_server)  # a migrated copy of the template; init must keep it
    for created in (True, False):
        r = mfg(tmp_path, "init", "--admin", "admin", "--db", url, "--json")
        assert r.exit_code == 0, r.stderr  # type: ignore[attr-defined]
        assert json.loads(r.stdout)["admin_created"] is created  # type: ignore[attr-defined]
    r = mfg(tmp_path, "user", "list", "--db", url, "--json", user="admin")
    assert [u["username"] for u in json.loads(r.stdout)] == ["admin"]  # type: ignore[attr-defined]


def test_a_command_on_an_uninitialised_database_says_to_run_mfg_init(tmp_path: Path):
    home = tmp_path / "empty"
    r = mfg(home, "lot", "list", user="admin")
    assert r.exit_code == 1  # type: ignore[attr-defined]
    err = r.stderr  # type: ignore[attr-defined]
    assert err.startswith("refused: no CellTrail database at ")
    assert err.endswith(": run `mfg init --admin NAME` [bad-configuration]\n")


def test_an_outdated_schema_says_to_run_mfg_init(tmp_path: Path):
    home = tmp_path / "home"
    assert mfg(home, "init", "--admin", "admin").exit_code == 0  # type: ignore[attr-defined]
    with sqlite3.connect(home / "celltrail.db") as c:
        c.execute("UPDATE alembic_version SET version_num = '0000'")
    r = mfg(home, "lot", "list", user="admin")
    head = store_db.head_revision("sqlite://")
    assert r.exit_code == 1  # type: ignore[attr-defined]
    assert r.stderr == (  # type: ignore[attr-defined]
        f"refused: database schema is at 0000, this CellTrail expects {head}: run `mfg init` "
        "[bad-configuration]\n"
    )


def test_schema_head_constant_is_the_migration_head():
    """`check_schema` compares against SCHEMA_HEAD without loading Alembic; keep them equal."""
    assert store_db.head_revision("sqlite://") == store_db.SCHEMA_HEAD
