"""PostgreSQL: the two roles of the README (owner for `mfg init`, an application role owning no
table), set up with the README's own SQL: the application role writes and verifies, but cannot
edit or delete audit events, nor drop the triggers; `mfg init` says when it runs as the owner."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from mfg.services import audit_trail, users
from mfg.services.uow import Actor, Database
from mfg.store import db as store_db
from tests.conftest import settings_for
from tests.support.constants import NOW, PASSWORD

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_grants(dbname: str, app: str) -> list[str]:
    """The GRANT/REVOKE statements of the README's roles block, for these names."""
    text_ = README.read_text(encoding="utf-8")
    block = text_[text_.index("CREATE ROLE celltrail_owner") :]
    block = block[: block.index("```")]
    out = []
    for line in block.splitlines():
        stmt = line.split("--", 1)[0].strip()
        if re.match(r"^(GRANT|REVOKE) ", stmt):
            stmt = stmt.replace("celltrail_app", app)
            out.append(re.sub(r"\bcelltrail\b", f'"{dbname}"', stmt).rstrip(";"))
    assert len(out) >= 4, block
    return out


@pytest.mark.postgres
def test_application_role_cannot_touch_the_trail(pg_server, tmp_path):  # type: ignore[no-untyped-def]
    tag = uuid.uuid4().hex[:8]
    name, owner, app = f"roles_{tag}", f"owner_{tag}", f"app_{tag}"
    admin = create_engine(pg_server.admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE ROLE "{owner}" LOGIN'))
        c.execute(text(f'CREATE ROLE "{app}" LOGIN'))
        c.execute(text(f'CREATE DATABASE "{name}" OWNER "{owner}"'))
    admin.dispose()
    owner_url = pg_server.url(name).replace("postgres@", f"{owner}@")
    app_url = pg_server.url(name).replace("postgres@", f"{app}@")
    home = tmp_path / "home"
    home.mkdir()
    as_owner = Database(
        engine=store_db.make_engine(owner_url), settings=settings_for(home, owner_url)
    )
    users.init_database(as_owner, admin="admin", full_name="Ada Admin", password=PASSWORD, now=NOW)
    assert store_db.owner_role(as_owner.engine) == (owner, owner)
    with as_owner.engine.begin() as c:
        for stmt in readme_grants(name, app):
            c.execute(text(stmt))
    as_owner.dispose()

    db = Database(engine=store_db.make_engine(app_url), settings=settings_for(home, app_url))
    try:
        assert store_db.owner_role(db.engine) == (app, owner)
        boss = Actor("admin", "Ada Admin", "admin")  # type: ignore[arg-type]
        users.add_user(
            db, actor=boss, username="qa", full_name="Quinn", role="qa", password=PASSWORD, now=NOW
        )
        assert audit_trail.verify(db=db, actor=boss).ok
        for statement, refusal in (
            ("UPDATE auditevent SET reason = 'x' WHERE seq = 1", "permission denied"),
            ("DELETE FROM auditevent WHERE seq = 1", "permission denied"),
            ("TRUNCATE auditevent", "permission denied"),
            ("DROP TRIGGER auditevent_append_only ON auditevent", "must be owner"),
            ("ALTER TABLE auditevent DISABLE TRIGGER ALL", "must be owner"),
        ):
            with pytest.raises(Exception, match=refusal), db.engine.begin() as c:
                c.execute(text(statement))
        assert audit_trail.verify(db=db, actor=boss).ok
    finally:
        db.dispose()

    from mfg.cli import app as cli

    env = {"MFG_HOME": str(home), "MFG_PASSWORD": PASSWORD}
    said = CliRunner().invoke(cli, ["init", "--db", owner_url], env=env)
    assert said.exit_code == 0, said.output
    assert f"note: connected as {owner}, the owner of the tables" in said.stdout
    quiet = CliRunner().invoke(cli, ["init", "--db", app_url], env=env)
    assert quiet.exit_code == 0, quiet.output
    assert "note: connected as" not in quiet.stdout
