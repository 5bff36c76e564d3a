"""Reads sent with the write lock and rows inserted with the COMMIT (``mfg.store.ahead``): the
same rows and ids on both backends as the statements run one by one, a failure reported and
nothing written."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from mfg.errors import NotFound
from mfg.services import audit_trail, counts
from mfg.store import ahead
from mfg.store.tables import AuditEvent, CellCount, Lot
from tests.robustness.support import n_rows
from tests.support import world
from tests.support.constants import NOW

_lots = Lot.__table__  # type: ignore[attr-defined]
_counts = CellCount.__table__  # type: ignore[attr-defined]
# the lot's number and its registration time (a column whose values SQLAlchemy processes)
_LOT = select(_lots.c.lot_number, _lots.c.registered_at).where(
    _lots.c.lot_number == select(func.max(_lots.c.lot_number)).scalar_subquery()
)
_N_LOTS = select(func.count()).select_from(_lots)


def test_reads_ahead_give_what_the_statements_give_one_by_one(db, actors):  # type: ignore[no-untyped-def]
    world.subject(db, actors["tech"])
    lot = world.lot(db, actors["tech"]).lot_number
    with db.read_connection() as c:
        expected = [tuple(r) for r in c.execute(_LOT)], c.execute(_N_LOTS).scalar_one()
    with db.write(
        None, NOW, ahead=lambda c: (ahead.Ahead(c, _LOT, {}), ahead.Ahead(c, _N_LOTS, {}))
    ) as tx:  # no account to check: nothing rides with the reads, they are sent when asked for
        by_lot, n = tx.ahead
        if db.dialect == "postgresql":  # a processed column's read is left to SQLAlchemy
            assert by_lot._queued is None and n._queued is not None
        assert (by_lot.rows(), n.first()[0]) == expected
        assert by_lot.rows()[0][0] == lot and by_lot.rows()[0][1] == NOW  # a UTC time, aware


def test_a_row_inserted_with_its_id_taken_ahead_is_the_same_row(db, actors):  # type: ignore[no-untyped-def]
    """On PostgreSQL the id comes from the table's sequence ahead and the row waits for the
    COMMIT; on SQLite the insert gives the id. Either way the row reads back as given (its
    time made UTC by its type, as SQLAlchemy binds it)."""
    world.subject(db, actors["tech"])
    lot = world.lot(db, actors["tech"]).lot_number
    with db.read_connection() as c:
        lot_pk = c.execute(select(_lots.c.id).where(_lots.c.lot_number == lot)).scalar_one()
    values = {
        "lot_pk": lot_pk, "expansion_day": 1, "measured_on": NOW.date(),
        "total_cells": 2_000_000, "viable_cells": 1_000_000, "volume_ml": 12.5,
        "method": "NC-200", "recorded_by": "tech", "recorded_at": NOW,
    }  # fmt: skip
    with db.write(None, NOW, ahead=lambda c: ahead.next_id(c, _counts)) as tx:
        new_id = tx.ahead
        assert (new_id is None) == (db.dialect == "sqlite")
        count_id = ahead.insert_row(tx.session.connection(), _counts, values, new_id)
        tx.commit()
    with db.read_connection() as c:
        row = c.execute(select(_counts).where(_counts.c.id == count_id)).one()._asdict()
    assert {k: row[k] for k in values} == values


@pytest.mark.postgres
def test_a_queued_row_whose_id_is_taken_fails_the_commit_and_nothing_is_written(pg_db):  # type: ignore[no-untyped-def]
    from tests.conftest import add_users

    db, actors = pg_db, add_users(pg_db)
    world.subject(db, actors["tech"])
    world.lot(db, actors["tech"])
    lot = world.lot(db, actors["tech"]).lot_number
    counts.record_count(
        counts.RecordCount(lot, 2_000_000, 1_000_000, day=1), db=db, actor=actors["tech"], now=NOW
    )
    before = n_rows(db, CellCount), n_rows(db, AuditEvent)
    with db.read_connection() as c:
        taken, lot_pk = c.execute(select(_counts.c.id, _counts.c.lot_pk)).one()
    values = {
        "lot_pk": lot_pk, "expansion_day": 2, "measured_on": NOW.date(), "total_cells": 3,
        "viable_cells": 2, "volume_ml": None, "method": None, "recorded_by": "tech",
        "recorded_at": NOW,
    }  # fmt: skip

    class Taken:  # an id the sequence would never give: one a row already has
        def first(self) -> tuple[int]:
            return (taken,)

    with pytest.raises(IntegrityError), db.write(actors["tech"], NOW) as tx:
        ahead.insert_row(tx.session.connection(), _counts, values, Taken())  # type: ignore[arg-type]
        tx.audit("count.recorded", "count", taken, lot_number=lot, new={"day": 2})
        tx.commit()
    assert (n_rows(db, CellCount), n_rows(db, AuditEvent)) == before
    report = audit_trail.verify(db=db, actor=actors["qa"])
    assert report.ok and not report.record_problems, (report.problem, report.record_problems)


@pytest.mark.postgres
def test_a_write_failing_before_its_first_statement_leaves_nothing_queued(pg_db):  # type: ignore[no-untyped-def]
    """The lock and a read are queued, then the write fails before anything sent them: the
    pooled connection's next transaction sends its own statements only."""
    from sqlalchemy import literal

    from tests.services.test_sessions import _statements_of

    db = pg_db
    stale = select(literal(1).label("stale_read"))

    def boom(conn):  # type: ignore[no-untyped-def]
        ahead.Ahead(conn, stale, {})
        raise RuntimeError("refused while the write opened")

    with pytest.raises(RuntimeError), db.write(None, NOW, ahead=boom):
        pass  # pragma: no cover - not reached

    def next_write() -> None:
        with db.write(None, NOW) as tx:
            tx.session.connection().execute(_N_LOTS)
            tx.commit()

    sent = [s for s, _ in _statements_of(db, next_write)]
    assert not [s for s in sent if "stale_read" in s], sent
    assert len([s for s in sent if "pg_advisory_xact_lock" in s]) == 1, sent


def test_what_the_driver_cannot_take_as_compiled_is_left_to_sqlalchemy(db, actors):  # type: ignore[no-untyped-def]
    """An IN list (its SQL finished at run time) is run by SQLAlchemy, with the same rows; a
    parameter not given is refused, never sent as NULL."""
    from sqlalchemy import bindparam

    world.subject(db, actors["tech"])
    lot = world.lot(db, actors["tech"]).lot_number
    listed = select(_lots.c.lot_number).where(_lots.c.lot_number.in_([lot, "BH002-26-9999"]))
    by_number = select(_lots.c.id).where(_lots.c.lot_number == bindparam("n"))
    with db.write(None, NOW, ahead=lambda c: ahead.Ahead(c, listed, {})) as tx:
        assert tx.ahead._queued is None and tx.ahead.rows() == [(lot,)]
        conn = tx.session.connection()
        if db.dialect == "postgresql":
            with pytest.raises(ValueError, match="bind parameter"):
                ahead.Ahead(conn, by_number, {})
        assert ahead.Ahead(conn, by_number, {"n": lot}).first() is not None


@pytest.mark.parametrize("weight", [72.5, 70.0, 0.1 + 0.2, 149.99999999999997])
def test_a_subjects_facts_read_ahead_are_its_orm_rows(db, actors, weight):  # type: ignore[no-untyped-def]
    """A registration reads its subject's facts ahead (on PostgreSQL with the lock): the
    same values as the subject's ORM row, the weight the same float to the last bit."""
    from mfg.services import subjects
    from mfg.store.tables import Subject

    world.subject(db, actors["tech"], "S-1")
    with db.write(None, NOW) as tx:  # a weight no form would take, as a float has it
        table = Subject.__table__  # type: ignore[attr-defined]
        tx.session.execute(
            update(table).where(table.c.subject_id == "S-1").values(weight_kg=weight)
        )
        tx.commit()
    with db.write(
        None, NOW, ahead=lambda c: ahead.Ahead(c, subjects.SUBJECT_FACTS, {"subject_id": "S-1"})
    ) as tx:
        if db.dialect == "postgresql":
            assert tx.ahead._queued is not None  # sent ahead, not left to SQLAlchemy
        facts = subjects.subject_facts(tx.ahead.first(), "S-1")
        orm = subjects.get_subject_row(tx.session, "S-1")
        read = (orm.id, orm.subject_id, orm.site, orm.indication, orm.weight_kg, orm.dose_level)
    assert type(facts.weight_kg) is float and facts.weight_kg == weight
    assert facts == read
    with (
        db.write(
            None, NOW, ahead=lambda c: ahead.Ahead(c, subjects.SUBJECT_FACTS, {"subject_id": "S-9"})
        ) as tx,
        pytest.raises(NotFound),
    ):
        subjects.subject_facts(tx.ahead.first(), "S-9")
