"""`mfg audit rotate-key` interrupted at either step: the key file and the audit trail never
disagree in a way verification cannot follow. The event (chained with the key in force, naming
the new key) commits first, the key is appended after; each db test on SQLite and PostgreSQL."""

from __future__ import annotations

import json

import pytest

from mfg import auditkey
from mfg.errors import ConfigError
from mfg.services import audit_trail
from mfg.services.uow import Database, Tx
from tests.robustness.support import scalar
from tests.support import world
from tests.support.constants import NOW

ROTATED = "SELECT count(*) FROM auditevent WHERE action = 'audit.key_rotated'"
LAST_KEY = "SELECT key_id FROM auditevent ORDER BY seq DESC LIMIT 1"


def verifies(db: Database, actors) -> None:  # type: ignore[no-untyped-def]
    """Verified by this process and by a new one (which reads the key file afresh)."""
    for d in (db, Database(engine=db.engine, settings=db.settings)):
        r = audit_trail.verify(db=d, actor=actors["qa"])
        assert r.ok, (r.problem, r.record_problems)


def test_a_failure_before_the_event_commits_leaves_neither_event_nor_key(db, actors, monkeypatch):
    world.subject(db, actors["tech"], "S-081")
    ring = db.audit_keyring()
    before = ring.path.read_bytes()

    def crash(self: Tx) -> None:
        raise RuntimeError("power lost before the commit")

    with monkeypatch.context() as m:
        m.setattr(Tx, "commit", crash)
        with pytest.raises(RuntimeError):
            audit_trail.rotate_key(db=db, actor=actors["admin"], now=NOW)
    assert ring.path.read_bytes() == before
    assert scalar(db, ROTATED) == 0
    world.subject(db, actors["tech"], "S-082")
    assert scalar(db, LAST_KEY) == ring.current
    verifies(db, actors)


def test_a_failure_after_the_event_before_the_key_keeps_the_trail_verifying(
    db, actors, monkeypatch
):
    world.subject(db, actors["tech"], "S-083")
    ring = db.audit_keyring()
    before = ring.path.read_bytes()

    def disk_full(path: object, key: bytes, comment: str) -> None:
        raise OSError(28, "No space left on device")

    with monkeypatch.context() as m:
        m.setattr(auditkey, "_append_key", disk_full)
        with pytest.raises(ConfigError) as e:
            audit_trail.rotate_key(db=db, actor=actors["admin"], now=NOW)
    assert e.value.rule == "audit-key-not-written"
    assert "recorded in the audit trail" in str(e.value) and ring.current in str(e.value)
    assert ring.path.read_bytes() == before  # no key that no event announced
    assert scalar(db, ROTATED) == 1
    announced = json.loads(
        scalar(db, "SELECT new_values FROM auditevent WHERE action = 'audit.key_rotated'")
    )["key_id"]
    assert announced not in auditkey.load_keyring(ring.path).keys
    # events go on being chained with the key the file holds, in this process and a new one
    world.subject(db, actors["tech"], "S-084")
    assert scalar(db, LAST_KEY) == ring.current
    verifies(db, actors)
    # rotating again works: the new key is announced, appended and used
    again = audit_trail.rotate_key(db=db, actor=actors["admin"], now=NOW)
    assert again.current not in (ring.current, announced) and len(again.keys) == 2
    world.subject(db, actors["tech"], "S-085")
    assert scalar(db, LAST_KEY) == again.current
    verifies(db, actors)
