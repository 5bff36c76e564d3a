"""A 0.1 database whose ids migration 0002 rewrites (canonical form, collisions renamed, lots
held) verifies clean after the upgrade: 0002 records each rename and each hold in the trail, and
the record check follows them; changing what 0002 did is still found. SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import text

from mfg import audit
from mfg.domain.ids import mod37_2_check
from mfg.domain.permissions import Role
from mfg.services import audit_trail, holds, users
from mfg.services.uow import Actor, Database
from mfg.store.types import UTCDateTime
from tests.conftest import settings_for
from tests.support.constants import NOW, PASSWORD
from tests.support.databases import empty_database_url, engine_at
from tests.test_migration_0002 import AT, LOT, SUBJ, USER

EVENT = sa.table(
    "auditevent",
    *(sa.column(c) for c in ("seq", "username", "action", "entity", "entity_id", "lot_number")),
    *(sa.column(c) for c in ("old_values", "new_values", "reason", "prev_hash", "hash")),
    sa.column("at", UTCDateTime()),
)
SUBJECTS = ["S-003", "s-003", " s-004"]
USERS = [("admin", "Ada Admin", "admin"), ("qa", "Quinn A", "qa"), ("qa\n", "Quinn B", "qa")]


class Trail01:
    """Writes events the way CellTrail 0.1 did (unkeyed SHA-256 chain)."""

    def __init__(self, conn: sa.Connection) -> None:
        self.conn, self.seq, self.prev = conn, 0, audit.GENESIS

    def add(self, by: str, action: str, entity: str, eid: str, new: dict[str, Any]) -> None:
        self.seq += 1
        lot = eid if entity == "lot" else None
        row = SimpleNamespace(
            seq=self.seq, at=AT, username=by, action=action, entity=entity, entity_id=eid,
            lot_number=lot, old_values="null", new_values=audit.canonical_json(new), reason=None,
        )  # fmt: skip
        digest = audit.legacy_hash(row, self.prev)
        self.conn.execute(sa.insert(EVENT).values(**vars(row), prev_hash=self.prev, hash=digest))
        self.prev = digest


def seed_01(engine: sa.Engine) -> None:
    """Users, subjects and lots with the events 0.1 wrote for them (ids as 0.1 let them in)."""
    with engine.begin() as c:
        trail = Trail01(c)
        for name, full, role in USERS:
            c.execute(sa.insert(USER).values(
                username=name, full_name=full, role=role, password_hash="x", failed_logins=0,
                locked=False, active=True, row_version=1, created_at=AT, password_changed_at=AT,
            ))  # fmt: skip
            new = {"username": name, "full_name": full, "role": role}
            trail.add("admin", "user.added", "user", name, new)
        for sid in SUBJECTS:
            s = {"subject_id": sid, "site": "BJ01", "indication": "SLE", "weight_kg": 60.0,
                 "weight_on": date(2026, 11, 1), "dose_level": "DL1"}  # fmt: skip
            c.execute(sa.insert(SUBJ).values(**s, row_version=1, created_at=AT))
            trail.add("tech", "subject.added", "subject", sid, {**s, "initials": None, "dob": None})
        pks = dict(c.execute(text("SELECT subject_id, id FROM subject")).all())
        for n, sid in enumerate(SUBJECTS, start=1):
            body = f"W000126{n:06d}"
            lot = {"lot_number": f"BH002-26-{n:04d}", "coi": body + mod37_2_check(body),
                   "spec_version": "1", "source": "apheresis", "apheresis_on": date(2026, 11, 1),
                   "day0": date(2026, 11, 1), "state": "registered"}  # fmt: skip
            c.execute(sa.insert(LOT).values(
                **lot, subject_pk=pks[sid], product_code="BH002", registered_by="tech",
                row_version=1, registered_at=AT, state_changed_at=AT,
            ))  # fmt: skip
            new = {**lot, "subject_id": sid, "product": "BH002", "thaw_on": None}
            trail.add("tech", "lot.registered", "lot", lot["lot_number"], new)


@pytest.fixture
def upgraded_db(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Database]:
    """A 0.1 database (``seed_01``) upgraded to the head as ``mfg init`` does."""
    url = empty_database_url(backend, tmp_path / "old.db", request)
    engine = engine_at(url, "0001")
    seed_01(engine)
    db = Database(engine=engine, settings=settings_for(tmp_path, url))
    users.init_database(db, admin=None, full_name="", password=PASSWORD, now=NOW)
    yield db
    db.dispose()


QA = Actor("qa", "Quinn A", Role.QA)


def test_an_upgraded_01_database_with_renamed_ids_verifies(upgraded_db):
    with upgraded_db.engine.connect() as c:
        ids = [r[0] for r in c.execute(text("SELECT subject_id FROM subject ORDER BY id"))]
        names = [r[0] for r in c.execute(text("SELECT username FROM app_user ORDER BY id"))]
        events = c.execute(
            text(
                "SELECT username, action, entity, entity_id, old_values, reason FROM auditevent "
                "WHERE action IN ('identity.canonicalised', 'lot.hold_placed') ORDER BY seq"
            )
        ).all()
    assert ids == ["S-003", "S-003.DUP2", "S-004"] and names == ["admin", "qa", "qa.dup2"]
    assert {e[0] for e in events} == {"system"}
    renames = {(e[2], e[3]): e[4] for e in events if e[1] == "identity.canonicalised"}
    assert renames == {
        ("subject", "S-003.DUP2"): '{"subject_id":"s-003"}',
        ("subject", "S-004"): '{"subject_id":" s-004"}',
        ("user", "qa.dup2"): '{"username":"qa\\n"}',
    }
    why = {e[3]: e[5] for e in events if e[1] == "identity.canonicalised"}
    assert why["S-004"] == "migration 0002: subject_id in its canonical form"
    assert why["S-003.DUP2"].startswith("migration 0002: renamed, its canonical form was")
    assert why["qa.dup2"].endswith("; deactivated")
    assert [e[2] for e in events if e[1] == "lot.hold_placed"] == ["lothold", "lothold"]
    assert holds.status("BH002-26-0002", db=upgraded_db, actor=QA).on_hold
    # registered for 's-003' and ' s-004' as 0.1 let them in: the renames 0002 recorded are
    # followed, so only the collision's hold stands (no trail-mismatch)
    assert [r.code for r in holds.status("BH002-26-0002", db=upgraded_db, actor=QA).active] == [
        "manual"
    ]
    assert not holds.status("BH002-26-0003", db=upgraded_db, actor=QA).on_hold
    r = audit_trail.verify(db=upgraded_db, actor=QA)
    assert r.ok, (r.problem, r.record_problems)
    # users, subjects, lots, holds, zone, and 0005's therapy event of each lot
    assert r.records_checked == 3 + 3 + 3 + 2 + 1 + 3


def test_what_0002_did_cannot_be_undone_unseen(upgraded_db):
    with upgraded_db.engine.begin() as c:
        c.execute(text("DELETE FROM lothold WHERE lot_pk = 2"))
        c.execute(text("UPDATE subject SET subject_id = 's-004' WHERE subject_id = 'S-004'"))
    r = audit_trail.verify(db=upgraded_db, actor=QA)
    problems = "\n".join(r.record_problems)
    assert not r.ok and "hold 2: the audit trail created it" in problems, problems
    assert "subject s-004: exists but no audit event created it" in problems
