"""Migration 0003 on a CellTrail 0.1 database with a trail: the unkeyed chain is checked, then
keyed with the site key and the upgrade recorded; a broken 0.1 chain is refused, not laundered."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from mfg import audit
from mfg.errors import ConfigError
from mfg.services import audit_trail, users
from mfg.services.uow import Actor, Database
from mfg.store import db as store_db
from mfg.store.tables import AuditEvent
from tests.conftest import settings_for
from tests.support.constants import NOW, PASSWORD
from tests.support.databases import empty_database_url, engine_at


@pytest.fixture
def old_db(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Database]:
    """A schema-0001 database holding a 0.1 trail of five events (unkeyed SHA-256 chain)."""
    url = empty_database_url(backend, tmp_path / "old" / "celltrail.db", request)
    engine = engine_at(url, "0001")
    prev = audit.GENESIS
    rows = []
    for seq in range(1, 6):
        r = AuditEvent(
            seq=seq,
            at=NOW + timedelta(seconds=seq),
            username="admin",
            action="database.backed_up",
            entity="database",
            entity_id=f"b{seq}.db",
            lot_number=None,
            old_values="null",
            new_values=audit.canonical_json({"file": f"b{seq}.db", "n": seq}),
            reason="before the upgrade" if seq == 3 else None,
            prev_hash=prev,
            hash="",
        )
        r.hash = prev = audit.legacy_hash(r, prev)
        rows.append(r)
    cols = "seq, at, username, action, entity, entity_id, lot_number, old_values, new_values"
    with engine.begin() as c:
        for r in rows:
            c.execute(
                text(
                    f"INSERT INTO auditevent ({cols}, reason, prev_hash, hash) VALUES (:seq, :at, "
                    ":username, :action, :entity, :entity_id, :lot_number, :old_values, "
                    ":new_values, :reason, :prev_hash, :hash)"
                ),
                {**r.model_dump(exclude={"key_id"}), "at": _at(backend, r.at)},
            )
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    db = Database(engine=engine, settings=settings_for(home, url))
    yield db
    db.dispose()


def _at(backend: str, at):  # type: ignore[no-untyped-def]
    return audit.at_text(at) if backend == "sqlite" else at


def test_a_01_trail_is_keyed_and_the_upgrade_recorded(old_db):
    assert store_db.schema_revision(old_db.engine) == "0001"
    assert not old_db.settings.audit_key_path.exists()
    revision, created = users.init_database(
        old_db, admin="admin", full_name="Ada Admin", password=PASSWORD, now=NOW
    )
    assert revision == store_db.SCHEMA_HEAD and created
    ring = old_db.audit_keyring()
    with old_db.engine.connect() as c:
        rows = c.execute(
            text("SELECT seq, action, key_id, old_values FROM auditevent ORDER BY seq")
        ).all()
    assert [r[0] for r in rows] == list(range(1, len(rows) + 1)) and len(rows) >= 8
    assert {r[2] for r in rows} == {ring.current}
    keyed = rows[5]
    assert keyed[1] == "audit.chain_keyed" and '"events":5' in keyed[3]
    assert {"user.added", "database.initialised"} <= {r[1] for r in rows[6:]}
    qa = Actor("admin", "Ada Admin", "admin")  # type: ignore[arg-type]
    r = audit_trail.verify(db=old_db, actor=qa)
    assert r.ok, (r.problem, r.record_problems)
    assert f"event {len(rows)})" in r.checkpoint  # the upgrade and the admin's creation


def test_a_broken_01_trail_is_not_keyed(old_db):
    with old_db.engine.begin() as c:
        c.execute(text("UPDATE auditevent SET reason = 'edited' WHERE seq = 3"))
    with pytest.raises(ConfigError) as e:
        users.init_database(old_db, admin="admin", full_name="A", password=PASSWORD, now=NOW)
    assert e.value.rule == "audit-chain-broken"
    assert "event 3 was changed" in str(e.value) and "NOT keyed" in str(e.value)
    assert store_db.schema_revision(old_db.engine) == "0001"  # nothing of the upgrade stayed
    with old_db.engine.connect() as c:
        assert c.execute(text("SELECT count(*) FROM auditevent")).scalar() == 5
