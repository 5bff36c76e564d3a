"""The audit trail on SQLite and PostgreSQL: every write appends, the chain detects tampering."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from mfg import audit
from mfg.errors import NotPermitted
from mfg.services import audit_trail, counts
from tests.robustness.support import attack
from tests.support import world
from tests.support.constants import NOW
from tests.support.refusals import assert_refused


@pytest.fixture
def trail(db, actors):  # type: ignore[no-untyped-def]
    world.harvested_lot(db, actors["tech"], verify=False)  # the harvest is the last event
    return audit_trail.audit_log(db=db, actor=actors["qa"])


def verify(db, actors):  # type: ignore[no-untyped-def]
    return audit_trail.verify(db=db, actor=actors["qa"])


def test_chain_is_whole_and_contiguous(db, actors, trail):
    assert [e.seq for e in trail] == list(range(1, len(trail) + 1))
    r = verify(db, actors)
    assert r.ok and r.events == len(trail) and r.first_bad_seq is None
    assert all(e.at == NOW for e in trail)
    assert trail[0].action == "user.added" and trail[0].username == "admin"


def test_log_filters(db, actors, trail):
    lot = trail[-1].lot_number
    by_lot = audit_trail.audit_log(db=db, actor=actors["admin"], lot_number=lot.lower())
    assert by_lot and all(e.lot_number == lot for e in by_lot)
    assert [
        e.action for e in audit_trail.audit_log(db=db, actor=actors["qa"], action="harvest")
    ] == ["harvest.recorded"]
    last2 = audit_trail.audit_log(db=db, actor=actors["qa"], limit=2)
    assert [e.seq for e in last2] == [trail[-2].seq, trail[-1].seq]
    assert audit_trail.lot_trail(lot, db=db, actor=actors["tech"]) == by_lot


@pytest.mark.parametrize("who", ["tech", "sponsor"])
def test_who_reads_and_verifies(db, actors, trail, who):
    with pytest.raises(NotPermitted):
        audit_trail.audit_log(db=db, actor=actors[who])
    with pytest.raises(NotPermitted):
        audit_trail.verify(db=db, actor=actors[who])


def test_the_write_and_its_event_share_one_transaction(db, actors, trail):
    # a refused write leaves no event; the next write continues the chain without a gap
    lot = trail[-1].lot_number
    assert_refused(
        db,
        lambda: counts.record_count(
            counts.RecordCount(lot, 10, 20, day=1), db=db, actor=actors["tech"], now=NOW
        ),
        "count-after-harvest",
    )
    world.subject(db, actors["tech"], "S-002")
    after = audit_trail.audit_log(db=db, actor=actors["qa"], limit=1)
    assert after[0].seq == trail[-1].seq + 1 and verify(db, actors).ok


def sql(db, statement: str) -> None:  # type: ignore[no-untyped-def]
    attack(db, statement)  # drops the append-only triggers first, as a tamperer would


def test_a_changed_row_is_named(db, actors, trail):
    sql(
        db,
        "UPDATE auditevent SET new_values = replace(new_values, '30.0', '35.0') WHERE action = 'harvest.recorded'",
    )
    seq = next(e.seq for e in trail if e.action == "harvest.recorded")
    r = verify(db, actors)
    assert (r.ok, r.first_bad_seq) == (False, seq)
    assert r.problem.startswith(f"event {seq} was changed after it was written")


@pytest.mark.parametrize("column", ["username", "reason", "at", "action"])
def test_any_column_counts(db, actors, trail, column):
    value = {"username": "'mallory'", "reason": "'x'", "action": "'user.removed'", "at": "at"}[
        column
    ]
    if column == "at":
        sql(
            db,
            "UPDATE auditevent SET at = (SELECT at FROM auditevent WHERE seq = 1) + interval '1 second' WHERE seq = 3"
            if db.dialect == "postgresql"
            else "UPDATE auditevent SET at = '2026-01-01 00:00:00.000000' WHERE seq = 3",
        )
    else:
        sql(db, f"UPDATE auditevent SET {column} = {value} WHERE seq = 3")
    assert verify(db, actors).first_bad_seq == 3


def test_a_deleted_row_is_named(db, actors, trail):
    sql(db, "DELETE FROM auditevent WHERE seq = 4")
    r = verify(db, actors)
    assert (r.ok, r.first_bad_seq) == (False, 4)
    assert "event 4 is missing" in r.problem


def test_a_deleted_last_row_is_found_by_the_checkpoint(db, actors, trail):
    # The chain alone cannot see its newest event cut off; the keyed checkpoint written beside
    # the key at that event's commit can (and the record check sees the harvest row it created).
    sql(db, f"DELETE FROM auditevent WHERE seq = {trail[-1].seq}")
    r = verify(db, actors)
    assert r.first_bad_seq == trail[-1].seq and r.events == len(trail) - 1
    assert "were removed (truncated)" in r.problem
    assert any(p.startswith("harvest ") for p in r.record_problems)


def test_two_swapped_rows_are_named(db, actors, trail):
    sql(db, "UPDATE auditevent SET seq = -5 WHERE seq = 5")
    sql(db, "UPDATE auditevent SET seq = 5 WHERE seq = 6")
    sql(db, "UPDATE auditevent SET seq = 6 WHERE seq = -5")
    r = verify(db, actors)
    assert (r.ok, r.first_bad_seq) == (False, 5)


def _forge(db, seq: int, ring) -> str:  # type: ignore[no-untyped-def]
    """The hash a tamperer computes for event ``seq`` as it now stands, with ``ring``'s key."""
    with db.engine.connect() as c:
        _s, prev, _h, key_id, _m = next(audit.chain_rows(c, seq - 1))
        msg = c.execute(
            text(f"SELECT {audit.message_sql(db.dialect)} FROM auditevent WHERE seq = :s"),
            {"s": seq},
        ).scalar_one()
    return audit.keyed_hash(ring.mac(key_id) or ring.current_mac, prev, msg)


def test_recomputing_one_hash_without_the_key_is_named(db, actors, trail, tmp_path):
    from mfg.auditkey import create_keyring

    sql(db, "UPDATE auditevent SET reason = 'edited' WHERE seq = 2")
    forged = _forge(db, 2, create_keyring(tmp_path / "mallory.key", NOW))
    sql(db, f"UPDATE auditevent SET hash = '{forged}' WHERE seq = 2")
    r = verify(db, actors)
    assert r.first_bad_seq == 2 and "changed after it was written" in r.problem


def test_recomputing_one_hash_with_the_key_still_breaks_the_next_link(db, actors, trail):
    sql(db, "UPDATE auditevent SET reason = 'edited' WHERE seq = 2")
    sql(db, f"UPDATE auditevent SET hash = '{_forge(db, 2, db.audit_keyring())}' WHERE seq = 2")
    r = verify(db, actors)
    assert (r.first_bad_seq, r.problem) == (3, "event 3 does not link to event 2")


def test_a_write_during_verify_is_not_a_truncated_trail(db, actors, trail, monkeypatch):
    """Someone writes while verify reads: the write's event is past verify's snapshot, and its
    checkpoint is appended beside the key. Verify compared its head with that newer checkpoint
    and said the trail was cut short; it now compares with the newest one before its snapshot."""
    from mfg import chaincheck

    batches = chaincheck.batches
    wrote: list[int] = []

    def and_a_write(conn, upto):  # type: ignore[no-untyped-def]
        world.subject(db, actors["tech"], f"S-{900 + len(wrote)}")  # another connection
        wrote.append(upto)
        return batches(conn, upto)

    monkeypatch.setattr(chaincheck, "batches", and_a_write)
    r = verify(db, actors)
    assert wrote == [len(trail)] and r.ok, (r.problem, r.record_problems)
    assert r.head_seq == len(trail)  # the snapshot's head; the new event is the next verify's
    monkeypatch.undo()
    after = verify(db, actors)
    assert after.ok and after.head_seq == len(trail) + 1


def test_a_chainers_rows_hash_the_message_of_their_fields():
    """The bulk writer's message (its repeated parts kept) is ``audit.message`` of the row."""
    from datetime import UTC, datetime, timedelta
    from pathlib import Path

    from mfg.auditkey import Keyring, key_id_of

    key = b"k" * 32
    ring = Keyring(Path("unused"), {key_id_of(key): key}, key_id_of(key))
    chain = audit.Chainer(ring, 41, "f" * 64)
    twin = audit.Chainer(ring, 41, "f" * 64)
    t0 = datetime(2026, 12, 6, 4, 5, 6, 789, tzinfo=UTC)
    prev = "f" * 64
    fields = [
        ("qa", "lot.imported", "lot", "BH002-26-0001", "BH002-26-0001", "null", '{"a":1}', "r"),
        ("qa", "lot.imported", "lot", "BH002-26-0002", "BH002-26-0002", "null", '{"a":2}', "r"),
        ("qa", "result.imported", "release_result", "7", None, "null", "{}", None),
        ("qa2", "x", "", "", "", '{"old":"é"}', "null", ""),
    ]
    for i, (user, action, entity, eid, lot, old, new, reason) in enumerate(fields):
        at = t0 + timedelta(seconds=i // 2)
        row = chain.row(
            at=at,
            username=user,
            action=action,
            entity=entity,
            entity_id=eid,
            lot_number=lot,
            old_values=old,
            new_values=new,
            reason=reason,
        )
        msg = audit.message(
            42 + i,
            audit.at_text(at),
            user,
            action,
            entity,
            eid,
            lot,
            old,
            new,
            reason,
            ring.current,
        )
        assert row["seq"] == 42 + i and row["prev_hash"] == prev
        assert row["hash"] == audit.keyed_hash(ring.current_mac, prev, msg)
        # the bulk writer's way: time and user once (``fixed``), then ``link``
        linked = twin.link(twin.fixed(at, user), action, entity, eid, lot, old, new, reason)
        assert (twin.seq, linked) == (row["seq"], row["hash"])
        prev = row["hash"]
