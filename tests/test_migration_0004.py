"""Migration 0004 (sessions, password history) upgrades a version-0.1 database with its data."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import inspect, text

from mfg.errors import AuthenticationFailed
from mfg.services import users
from mfg.store import db as store_db
from tests.conftest import settings_for
from tests.support.constants import NOW, PASSWORD
from tests.support.databases import engine_at


def test_a_0001_database_upgrades_with_its_users_and_trail_intact(tmp_path: Path):
    from mfg.services.uow import Database

    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = engine_at(url, "0001")
    assert store_db.schema_revision(engine) == "0001"
    assert "user_session" not in inspect(engine).get_table_names()
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO app_user (username, full_name, role, password_hash, failed_logins, "
                "locked, active, created_at, password_changed_at, row_version) VALUES "
                "('old', 'Old Timer', 'qa', :h, 0, 0, 1, :t, :t, 1)"
            ),
            {"h": __import__("mfg.auth", fromlist=["x"]).hash_password(PASSWORD), "t": NOW},
        )
    assert store_db.upgrade(engine) == store_db.SCHEMA_HEAD
    names = set(inspect(engine).get_table_names())
    assert {"user_session", "password_history", "app_user"} <= names
    with engine.connect() as conn:
        row = conn.execute(text("SELECT full_name, role, active FROM app_user")).one()
    assert tuple(row) == ("Old Timer", "qa", 1)
    db = Database(engine=engine, settings=settings_for(tmp_path, url))
    # inserted here in SQL, with no event (0.1's add-user wrote one): not logged in (0008 on)
    with pytest.raises(AuthenticationFailed) as e:
        users.login(db, "old", PASSWORD, now=NOW)
    assert e.value.rule == "account-not-in-trail"
    engine.dispose()
