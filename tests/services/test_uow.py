"""The unit of work: a write transaction keeps nothing unless committed (leaving the block without
commit, or on an error, rolls back rows and audit events alike); work registered with
``after_commit`` runs only after a commit, once the write lock is released."""

from __future__ import annotations

import pytest

from mfg.services.uow import Database, Tx
from mfg.store.tables import Alert, AuditEvent
from tests.support import world
from tests.support.constants import NOW
from tests.support.refusals import snapshot


def _write_an_alert(tx: Tx, lot_pk: int) -> None:
    tx.session.add(Alert(lot_pk=lot_pk, kind="test", message="m", raised_at=NOW, raised_by="t"))
    tx.session.flush()
    tx.audit("alert.raised", "alert", 1, new={"kind": "test"})


@pytest.fixture
def lot_pk(db: Database, actors) -> int:  # type: ignore[no-untyped-def]
    world.subject(db, actors["tech"])
    lot = world.lot(db, actors["tech"])
    from mfg.services.lots import get_lot_row

    with db.read() as s:
        return get_lot_row(s, lot.lot_number).id or 0


def test_leaving_without_commit_rolls_back_rows_and_audit_events(db, actors, lot_pk):
    before = snapshot(db)
    ran: list[str] = []
    with db.write(actors["tech"], NOW) as tx:
        _write_an_alert(tx, lot_pk)
        tx.after_commit(lambda: ran.append("after"))
        with db.read() as s:  # not visible to another session before commit
            assert s.get(Alert, 1) is None
    assert snapshot(db) == before
    assert ran == []


def test_an_error_inside_rolls_back_and_propagates(db, actors, lot_pk):
    before = snapshot(db)
    ran: list[str] = []
    with pytest.raises(ZeroDivisionError), db.write(actors["tech"], NOW) as tx:
        _write_an_alert(tx, lot_pk)
        tx.after_commit(lambda: ran.append("after"))
        _ = 1 / 0
    assert snapshot(db) == before
    assert ran == []


def test_commit_keeps_both_and_after_commit_runs_outside_the_lock(db, actors, lot_pk):
    audit_before = _count(db, AuditEvent)
    order: list[str] = []

    def follow_up() -> None:
        # a second writer gets the lock at once: the first transaction released it
        with db.write(actors["tech"], NOW) as tx2:
            order.append("second writer inside")
            tx2.commit()

    with db.write(actors["tech"], NOW) as tx:
        _write_an_alert(tx, lot_pk)
        tx.after_commit(follow_up)
        tx.commit()
        order.append("committed")
    assert order == ["committed", "second writer inside"]
    assert _count(db, Alert) == 1 and _count(db, AuditEvent) == audit_before + 1


def _count(db: Database, table: type) -> int:
    from sqlmodel import func, select

    with db.read() as s:
        return int(s.exec(select(func.count()).select_from(table)).one())
