"""Migration 0005 on a database at 0003 made from a CellTrail 0.1 database with data and its
trail: one therapy event per subject, the CoI made from the subject's first lot's 0.1 code, lot
codes kept, old labels still scanning; the upgrade records the events and links in the keyed
trail, so the record check compares them (``mfg audit verify`` stays clean)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import bindparam, text

from labels.payload import LabelKind, LabelRef, encode
from mfg import audit
from mfg.domain.ids import mod37_2_check
from mfg.errors import ConfigError
from mfg.services import audit_trail, therapy
from mfg.services import labels as label_svc
from mfg.services.uow import Database
from mfg.store import db as store_db
from mfg.store.types import UTCDateTime
from tests.conftest import add_users, settings_for
from tests.support.constants import NOW
from tests.support.databases import empty_database_url, migrate


def _old(body: str) -> str:
    return body + mod37_2_check(body)


OLD = {  # lot -> (subject, 0.1 COI code)
    "BH002-26-0001": ("S-001", _old("W000126000001")),
    "BH002-26-0002": ("S-002", _old("W000126000002")),
    "BH002-26-0003": ("S-001", _old("W000126000003")),  # S-001's re-manufacture
}
PAYLOAD = encode(LabelRef(LabelKind.CULTURE, "BH002-26-0001", OLD["BH002-26-0001"][1], version=1))


def _sql(statement: str) -> Any:
    return text(statement).bindparams(bindparam("ts", type_=UTCDateTime(timezone=True)))


def _seed_rows(conn: Any) -> None:
    for pk, sid in ((1, "S-001"), (2, "S-002")):
        conn.execute(
            _sql(
                "INSERT INTO subject (id, subject_id, site, indication, weight_kg, weight_on, "
                "dose_level, created_at, row_version) VALUES (:pk, :sid, 'BJ01', 'SLE', 60, "
                "'2026-11-01', 'DL1', :ts, 1)"
            ),
            {"pk": pk, "sid": sid, "ts": NOW},
        )
    # registered: the trail below has no count or state change (0.1 audited every state
    # change, as today; a lot 'in_expansion' with no event saying so now fails verify)
    for i, (lot, (sid, code)) in enumerate(OLD.items(), 1):
        conn.execute(
            _sql(
                "INSERT INTO lot (id, lot_number, coi, subject_pk, product_code, spec_version, "
                "source, apheresis_on, day0, state, registered_at, registered_by, "
                "state_changed_at, row_version) VALUES (:i, :lot, :coi, :s, 'BH002', '1', "
                "'apheresis', '2026-11-14', '2026-11-14', 'registered', :ts, 'tech', :ts, 1)"
            ),
            {"i": i, "lot": lot, "coi": code, "s": 1 if sid == "S-001" else 2, "ts": NOW},
        )
    conn.execute(
        _sql(
            "INSERT INTO labelprint (id, lot_pk, kind, object_ref, payload, output_format, stock, "
            "copies, printed_by, printed_at) VALUES (1, 1, 'culture', 'BH002-26-0001', :p, "
            "'pdf', 'bag-4x2', 1, 'tech', :ts)"
        ),
        {"p": PAYLOAD, "ts": NOW},
    )


def _events() -> list[tuple[str, str, str, str | None, dict[str, Any]]]:
    """What CellTrail 0.1 wrote for those rows: (action, entity, entity id, lot, new)."""
    out: list[tuple[str, str, str, str | None, dict[str, Any]]] = []
    for sid in ("S-001", "S-002"):
        new = {"subject_id": sid, "site": "BJ01", "indication": "SLE", "weight_kg": 60.0}
        new |= {"weight_on": "2026-11-01", "dose_level": "DL1", "initials": None, "dob": None}
        out.append(("subject.added", "subject", sid, None, new))
    for lot, (sid, code) in OLD.items():
        new = {"lot_number": lot, "coi": code, "subject_id": sid, "source": "apheresis"}
        new |= {"apheresis_on": "2026-11-14", "thaw_on": None, "day0": "2026-11-14"}
        out.append(("lot.registered", "lot", lot, lot, new | {"spec_version": "1"}))
    new = {"kind": "culture", "object": "BH002-26-0001", "payload": PAYLOAD, "format": "pdf"}
    out.append(("label.printed", "labelprint", "1", "BH002-26-0001", new | {"copies": 1}))
    return out


def _seed_trail(conn: Any) -> None:
    """The 0.1 trail: unkeyed SHA-256 chain (migration 0003 keys it)."""
    from mfg.store.tables import AuditEvent

    prev = audit.GENESIS
    for seq, (action, entity, entity_id, lot, new) in enumerate(_events(), 1):
        r = AuditEvent(
            seq=seq,
            at=NOW,
            username="tech",
            action=action,
            entity=entity,
            entity_id=entity_id,
            lot_number=lot,
            old_values="null",
            new_values=audit.canonical_json(new),
            reason=None,
            prev_hash=prev,
            hash="",
        )
        r.hash = prev = audit.legacy_hash(r, prev)
        conn.execute(
            _sql(
                "INSERT INTO auditevent (seq, at, username, action, entity, entity_id, "
                "lot_number, old_values, new_values, reason, prev_hash, hash) VALUES (:seq, :ts, "
                ":username, :action, :entity, :entity_id, :lot_number, :old_values, "
                ":new_values, :reason, :prev_hash, :hash)"
            ),
            {**r.model_dump(exclude={"key_id", "at"}), "ts": NOW},
        )


@pytest.fixture
def db_at_0003(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Database]:
    """A 0.1 database (schema 0001, rows and trail) upgraded to 0003 (main before issue 14)."""
    url = empty_database_url(backend, tmp_path / "old.db", request)
    engine = store_db.make_engine(url)
    home = tmp_path / "home"
    home.mkdir()
    db = Database(engine=engine, settings=settings_for(home, url))
    migrate(engine, url, "0001")
    with engine.begin() as conn:
        _seed_rows(conn)
        _seed_trail(conn)
    migrate(engine, url, "0003", audit_keyring=db.audit_keyring(create=True), now=NOW)
    assert store_db.schema_revision(engine) == "0003"
    yield db
    db.dispose()


def test_a_0_1_database_at_0003_upgrades_with_its_identities_intact(db_at_0003):
    engine = db_at_0003.engine
    actors = add_users(db_at_0003)  # mfg init: upgrades to the head with the site's audit key
    assert store_db.schema_revision(engine) == store_db.SCHEMA_HEAD
    with engine.connect() as conn:
        events = conn.execute(
            text("SELECT subject_pk, coi, started_by FROM therapy_event ORDER BY id")
        ).all()
        lots = conn.execute(
            text(
                "SELECT l.lot_number, l.coi, e.coi FROM lot l "
                "JOIN therapy_event e ON e.id = l.therapy_event_pk ORDER BY l.id"
            )
        ).all()
        trail = conn.execute(
            text(
                "SELECT action, entity_id, username, new_values FROM auditevent "
                "WHERE action IN ('therapy_event.migrated', 'lot.therapy_event_linked') "
                "ORDER BY seq"
            )
        ).all()
        subjects = conn.execute(text("SELECT count(*) FROM subject")).scalar_one()
        prints = conn.execute(text("SELECT payload FROM labelprint")).scalars().all()
    assert [tuple(e) for e in events] == [
        (1, "CHW000126000001", "system"),
        (2, "CHW000126000002", "system"),
    ]
    assert [tuple(r) for r in lots] == [
        ("BH002-26-0001", OLD["BH002-26-0001"][1], "CHW000126000001"),
        ("BH002-26-0002", OLD["BH002-26-0002"][1], "CHW000126000002"),
        ("BH002-26-0003", OLD["BH002-26-0003"][1], "CHW000126000001"),  # one per subject
    ]
    assert subjects == 2 and prints == [PAYLOAD]  # the data is intact
    assert [(a, e, u) for a, e, u, _ in trail] == [
        ("therapy_event.migrated", "CHW000126000001", "system"),
        ("lot.therapy_event_linked", "BH002-26-0001", "system"),
        ("therapy_event.migrated", "CHW000126000002", "system"),
        ("lot.therapy_event_linked", "BH002-26-0002", "system"),
        ("lot.therapy_event_linked", "BH002-26-0003", "system"),
    ]
    assert '"therapy_event_coi":"CHW000126000001"' in trail[4][3]
    # the keyed chain holds, and the record check finds every row as the trail says
    report = audit_trail.verify(db=db_at_0003, actor=actors["qa"])
    assert report.ok, (report.problem, report.record_problems)
    # the culture label printed by 0.1 still scans, and shows the event's CoI
    v = label_svc.scan(PAYLOAD, db=db_at_0003, actor=actors["tech"])
    assert (v.lot_number, v.coi) == ("BH002-26-0001", "CHW000126000001")
    # a new treatment of S-001 continues the sequence after the migrated CoIs (same FIN/year)
    ev = therapy.start_event("S-001", "retreatment", db=db_at_0003, actor=actors["qa"], now=NOW)
    assert ev.coi.startswith("CHA999026") and ev.coi != "CHW000126000001"


def test_without_the_audit_key_the_upgrade_stops_and_changes_nothing(db_at_0003):
    with pytest.raises(ConfigError) as e:
        store_db.upgrade(db_at_0003.engine)  # not through `mfg init`: no key for the trail
    assert e.value.rule == "audit-key-needed"
    assert store_db.schema_revision(db_at_0003.engine) == "0003"
    with db_at_0003.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM lot")).scalar_one() == 3
