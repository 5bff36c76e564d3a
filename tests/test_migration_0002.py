"""Migration 0002 from a 0.1 (0001) database: data intact, identifiers canonical, and two rows
that become the same id are not merged: the later one is renamed and every lot of both subjects
is held for QA (issue 10). On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime

import sqlalchemy as sa
from sqlmodel import select

from mfg.domain.ids import mod37_2_check
from mfg.domain.permissions import Role
from mfg.services import holds
from mfg.services.uow import Actor, Database
from mfg.store import db as store_db
from mfg.store.tables import Lot, LotHold, Subject, User
from mfg.store.types import UTCDateTime
from tests.conftest import settings_for
from tests.support.databases import empty_database_url, engine_at

AT = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)


def t(name: str, *cols: sa.ColumnClause) -> sa.TableClause:  # type: ignore[type-arg]
    return sa.table(name, *cols)


SUBJ = t(
    "subject", *(sa.column(c) for c in ("subject_id", "site", "indication", "weight_kg",
    "weight_on", "dose_level", "row_version")), sa.column("created_at", UTCDateTime()),
)  # fmt: skip
LOT = t(
    "lot", *(sa.column(c) for c in ("lot_number", "coi", "subject_pk", "product_code",
    "spec_version", "source", "apheresis_on", "day0", "state", "registered_by", "row_version")),
    sa.column("registered_at", UTCDateTime()), sa.column("state_changed_at", UTCDateTime()),
)  # fmt: skip
USER = t(
    "app_user", *(sa.column(c) for c in ("username", "full_name", "role", "password_hash",
    "failed_logins", "locked", "active", "row_version")), sa.column("created_at", UTCDateTime()),
    sa.column("password_changed_at", UTCDateTime()),
)  # fmt: skip


def seed_0001(engine: sa.Engine) -> None:
    subjects = ["S-003", "s-003", "S-900\n", "S-777"]
    with engine.begin() as c:
        for sid in subjects:
            c.execute(sa.insert(SUBJ).values(
                subject_id=sid, site="BJ01", indication="SLE", weight_kg=60.0,
                weight_on=date(2026, 11, 1), dose_level="DL1", row_version=1, created_at=AT,
            ))  # fmt: skip
        pks = dict(c.execute(sa.text("SELECT subject_id, id FROM subject")).all())
        for n, sid in enumerate(subjects, start=1):
            body = f"W000126{n:06d}"
            c.execute(sa.insert(LOT).values(
                lot_number=f"BH002-26-{n:04d}", coi=body + mod37_2_check(body),
                subject_pk=pks[sid], product_code="BH002", spec_version="1", source="apheresis",
                apheresis_on=date(2026, 11, 1), day0=date(2026, 11, 1), state="in_expansion",
                registered_by="tech", row_version=1, registered_at=AT, state_changed_at=AT,
            ))  # fmt: skip
        for name in ("qa", "qa\n"):
            c.execute(sa.insert(USER).values(
                username=name, full_name="Quinn A", role="qa", password_hash="x",
                failed_logins=0, locked=False, active=True, row_version=1, created_at=AT,
                password_changed_at=AT,
            ))  # fmt: skip


def test_0002_canonicalises_ids_and_holds_collisions(backend, tmp_path, request):
    url = empty_database_url(backend, tmp_path / "old.db", request)
    engine = engine_at(url, "0001")
    seed_0001(engine)
    db = Database(engine=engine, settings=settings_for(tmp_path, url))
    # 0002 records its renames and holds in the trail, which 0003 then keys with the site key;
    # 0005 records the therapy events it makes with the key in force (as `mfg init` passes them)
    keyring = {
        "audit_keyring": db.audit_keyring(create=True),
        "audit_keys": lambda first: db.audit_keyring(create=first),
    }
    assert store_db.upgrade(engine, keyring) == store_db.SCHEMA_HEAD
    with db.read() as s:
        by_pk = {x.id: x.subject_id for x in s.exec(select(Subject)).all()}
        lots = {lot.lot_number: by_pk[lot.subject_pk] for lot in s.exec(select(Lot)).all()}
        held = {h.lot_pk for h in s.exec(select(LotHold)).all()}
        lot_pk = {lot.lot_number: lot.id for lot in s.exec(select(Lot)).all()}
        users = {u.username: u.active for u in s.exec(select(User)).all()}
    assert lots == {
        "BH002-26-0001": "S-003",
        "BH002-26-0002": "S-003.DUP2",
        "BH002-26-0003": "S-900",
        "BH002-26-0004": "S-777",
    }
    assert held == {lot_pk["BH002-26-0001"], lot_pk["BH002-26-0002"]}
    assert users == {"qa": True, "qa.dup2": False}
    qa = Actor("qa", "Quinn A", Role.QA)
    st = holds.status("BH002-26-0001", db=db, actor=qa)
    assert st.on_hold and "s-003" in st.summary and "S-003.DUP2" in st.summary
    # no collision hold; this seed writes no 0.1 trail, so its lots have no registration event
    # to hold their rows to (trail_anchor): no bag of such a lot is issued
    codes = [r.code for r in holds.status("BH002-26-0004", db=db, actor=qa).active]
    assert codes == ["trail-mismatch"], codes
    engine.dispose()
