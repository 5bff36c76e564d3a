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


def test_a_write_on_core_statements_builds_no_orm_session(db, actors, lot_pk, monkeypatch):
    """A count after the lot's first (its lot read, its row and its event on Core statements)
    never builds an ORM session: its set-up and commit were a sixth of the write's CPU. One asked
    for later in a write joins the write's transaction: it sees what Core wrote, an ORM change
    left unflushed goes in before the next event, and both commit, or roll back, together."""
    from sqlalchemy import insert
    from sqlmodel import select

    from mfg.services import counts, uow
    from mfg.store.tables import Lot

    made: list[object] = []
    real = uow.Session

    def counted(*args, **kwargs):  # type: ignore[no-untyped-def]
        if "bind" in kwargs:  # a write's (a read's session takes its engine by position)
            made.append(kwargs["bind"])
        return real(*args, **kwargs)

    with db.read() as s:
        lot_number = s.get(Lot, lot_pk).lot_number  # type: ignore[union-attr]
    monkeypatch.setattr(uow, "Session", counted)
    record = counts.RecordCount(lot_number, 110_000_000, 100_000_000, day=0)
    counts.record_count(record, db=db, actor=actors["tech"], now=NOW)  # moves the lot (ORM)
    assert len(made) == 1
    made.clear()
    counts.record_count(record, db=db, actor=actors["tech"], now=NOW)
    assert made == []
    alerts, events = _count(db, Alert), _count(db, AuditEvent)
    for commit in (False, True):
        with db.write(actors["tech"], NOW) as tx:
            tx.conn.execute(
                insert(Alert).values(
                    lot_pk=lot_pk, kind="core", message="m", raised_at=NOW, raised_by="t"
                )
            )
            kinds = tx.session.exec(select(Alert.kind).where(Alert.lot_pk == lot_pk)).all()
            assert "core" in kinds and made == [tx.conn]
            tx.session.add(
                Alert(lot_pk=lot_pk, kind="orm", message="m", raised_at=NOW, raised_by="t")
            )
            tx.audit("alert.raised", "alert", 1, new={"kind": "orm"})  # flushes the add first
            assert not tx.session.new
            if commit:
                tx.commit()
        made.clear()
        added = 2 if commit else 0
        assert (_count(db, Alert), _count(db, AuditEvent)) == (alerts + added, events + added // 2)
