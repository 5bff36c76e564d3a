"""What a release and a bag's issue stand on cannot be changed by one column in SQL.

Found by a hostile trial (2026-12-04): a failing result whose stored evaluation was set to
``pass`` made the review say "out of specification: none" and the lot was released; a rejected
lot whose state was set to ``released`` had its bags issued, thawed and infused, and putting the
state back left ``mfg audit verify`` with nothing to report. Now the stored evaluation must be
what the result's text gives against the pinned spec wherever results are read (the review,
the release, the COA), and a lot whose state says released without a signed disposition saying
so is on hold (``state-unsigned``): no issue, thaw or infusion. SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from mfg.errors import RuleViolation
from mfg.services import board, custody, holds, release, scanning
from mfg.services.release_read.signatures import record_hash, signed_record
from mfg.store.tables import Alert, AuditEvent, CustodyEvent, Lot
from tests.release.conftest import PASSING, enter, harvested, sign
from tests.robustness.support import bag_in_the_tank, sql
from tests.services.test_holds import LATER, count
from tests.support import world


def _refused(act, rule: str) -> str:  # type: ignore[no-untyped-def]
    with pytest.raises(RuleViolation) as e:
        act()
    assert e.value.rule == rule, e.value
    return e.value.message


def test_a_failing_result_stored_as_pass_is_no_release(db, actors) -> None:  # type: ignore[no-untyped-def]
    lot = harvested(db, actors)
    enter(db, actors, lot, {**PASSING, "VIAB": "69.96"})  # >= 70 %: out of specification
    sql(
        db,
        "UPDATE releaseresult SET evaluation = 'pass' WHERE test_code = 'VIAB' "
        "AND superseded_by_id IS NULL",
    )
    said = _refused(
        lambda: release.review(lot, db=db, actor=actors["qa"]), "stored-result-inconsistent"
    )
    assert "VIAB" in said and "'69.96'" in said and "gives fail" in said, said
    assert "mfg audit verify" in said
    before = count(db, AuditEvent)
    _refused(lambda: sign(db, actors, lot), "stored-result-inconsistent")
    assert count(db, AuditEvent) == before  # nothing signed, nothing written
    sql(db, "UPDATE releaseresult SET evaluation = 'fail' WHERE test_code = 'VIAB'")
    assert [r.test_code for r in release.review(lot, db=db, actor=actors["qa"]).oos] == ["VIAB"]


def test_a_rejected_lot_set_released_in_sql_is_held(db, actors) -> None:  # type: ignore[no-untyped-def]
    """The trial's case: rejected at its first disposition, its bags labelled and stored."""
    tech = actors["tech"]
    lot, bag = _rejected_bag_in_the_tank(db, actors)  # labelled in quarantine, then rejected
    _refused(lambda: custody.issue_bag(bag, db=db, actor=tech, now=LATER), "lot-not-released")
    sql(db, "UPDATE lot SET state = 'released' WHERE lot_number = :n", n=lot)
    status = holds.status(lot, db=db, actor=tech)
    assert [r.code for r in status.active] == ["state-unsigned"], status
    assert "its last signed disposition says rejected" in status.summary
    before = (count(db, CustodyEvent), count(db, AuditEvent))
    said = _refused(lambda: custody.issue_bag(bag, db=db, actor=tech, now=LATER), "lot-on-hold")
    assert "changed outside CellTrail" in said, said
    assert (count(db, CustodyEvent), count(db, AuditEvent)) == before


def test_a_lot_set_released_in_sql_without_any_disposition_is_held(db, actors) -> None:  # type: ignore[no-untyped-def]
    tech = actors["tech"]
    lot = harvested(db, actors)
    enter(db, actors, lot, PASSING)
    sql(db, "UPDATE lot SET state = 'released' WHERE lot_number = :n", n=lot)
    status = holds.status(lot, db=db, actor=tech)
    assert [r.code for r in status.active] == ["state-unsigned"], status
    assert "says nothing" in status.summary


def _rejected_bag_in_the_tank(db, actors) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    return bag_in_the_tank(db, actors, "reject", "endotoxin OOS found on review")


def _released_in_sql(db, lot: str) -> None:  # type: ignore[no-untyped-def]
    sql(db, "UPDATE lot SET state = 'released' WHERE lot_number = :n", n=lot)
    sql(db, "UPDATE disposition SET decision = 'released'")
    sql(db, "UPDATE signature SET meaning = 'released'")


def test_a_rejection_rewritten_as_a_release_in_three_columns_issues_nothing(db, actors) -> None:  # type: ignore[no-untyped-def]
    """The state, the disposition's decision and the signature's meaning set to released in
    SQL left no hold (the hold compared the state with the same edited table) and the bag was
    issued. The keyed trail's last disposition event says rejected: the scan says stop, and the
    issue is refused, writing nothing."""
    tech = actors["tech"]
    lot, bag = _rejected_bag_in_the_tank(db, actors)
    _released_in_sql(db, lot)
    status = holds.status(lot, db=db, actor=tech)  # what `mfg hold show` and the lot's screen say
    assert [r.code for r in status.active] == ["trail-mismatch"], status
    assert "last signed disposition of it says rejected" in status.summary
    rows = board.board(db=db, actor=tech, now=LATER, active_only=False).rows
    (row,) = [r for r in rows if r.lot_number == lot]  # the board flags it as the lot's screen
    assert "HOLD" in row.flags and "last signed disposition of it says rejected" in row.hold
    seen = scanning.scan(bag, db=db, actor=tech)
    assert seen.on_hold
    assert any("last signed disposition of it says rejected" in r for r in seen.hold_reasons)
    before = (count(db, CustodyEvent), count(db, AuditEvent))
    said = _refused(lambda: custody.issue_bag(bag, db=db, actor=tech, now=LATER), "lot-on-hold")
    assert "its audit trail's last signed disposition of it says rejected" in said, said
    assert "changed outside CellTrail" in said and "do not issue" in said
    assert (count(db, CustodyEvent), count(db, AuditEvent)) == before


def test_a_disposition_event_added_in_sql_fails_its_keyed_hash(db, actors) -> None:  # type: ignore[no-untyped-def]
    """A tamperer who also appends a 'lot.disposition' event saying released cannot give it the
    keyed hash (the key is outside the database): the step is refused."""
    tech = actors["tech"]
    lot, bag = _rejected_bag_in_the_tank(db, actors)
    _released_in_sql(db, lot)
    sql(
        db,
        "INSERT INTO auditevent (seq, at, username, action, entity, entity_id, lot_number, "
        "old_values, new_values, reason, prev_hash, hash, key_id) "
        "SELECT (SELECT max(seq) FROM auditevent) + 1, at, username, action, entity, entity_id, "
        'lot_number, old_values, \'{"decision":"released"}\', reason, '
        "(SELECT hash FROM auditevent ORDER BY seq DESC LIMIT 1), :fake, key_id FROM auditevent "
        "WHERE action = 'lot.disposition' AND lot_number = :n",
        n=lot,
        fake="f" * 64,
    )
    said = _refused(lambda: custody.issue_bag(bag, db=db, actor=tech, now=LATER), "lot-on-hold")
    assert "its audit trail's lot.disposition event" in said, said
    assert "fails its keyed hash" in said, said


def test_a_released_lot_issues_with_its_disposition_in_the_trail(db, actors) -> None:  # type: ignore[no-untyped-def]
    tech = actors["tech"]
    _, bag = bag_in_the_tank(db, actors, "release")
    assert not scanning.scan(bag, db=db, actor=tech).on_hold
    assert custody.issue_bag(bag, db=db, actor=tech, now=LATER).state == "issued"


def test_a_lot_pointed_at_another_subject_in_sql_is_infused_into_nobody(db, actors) -> None:  # type: ignore[no-untyped-def]
    """One column, ``lot.subject_pk``, pointed at another subject made S-001's bag pass the
    bedside check for S-002 (issued, thawed, infused). The lot's keyed registration event names
    S-001: the scan says stop, and every custody step is refused, writing nothing."""
    tech = actors["tech"]
    lot, bag = bag_in_the_tank(db, actors, "release")
    world.subject(db, tech, "S-002")
    sql(db, "UPDATE lot SET subject_pk = (SELECT id FROM subject WHERE subject_id = 'S-002')")
    seen = scanning.scan(bag, db=db, actor=tech)
    assert seen.subject_id == "S-002" and seen.on_hold
    stop = "the lot's row names subject S-002, but it was registered for subject S-001"
    assert any(stop in r for r in seen.hold_reasons), seen.hold_reasons
    status = holds.status(lot, db=db, actor=tech)
    assert [r.code for r in status.active] == ["trail-mismatch"] and stop in status.summary
    rows = board.board(db=db, actor=tech, now=LATER, active_only=False).rows
    (row,) = [r for r in rows if r.lot_number == lot]
    assert row.flags[0] == "HOLD" and stop in row.hold, row  # the board says it too
    before = (count(db, CustodyEvent), count(db, AuditEvent))
    for step in (
        lambda: custody.issue_bag(bag, db=db, actor=tech, now=LATER, subject_id="S-002"),
        lambda: custody.issue_bag(bag, db=db, actor=tech, now=LATER),
    ):
        assert stop in _refused(step, "lot-on-hold")
    assert (count(db, CustodyEvent), count(db, AuditEvent)) == before
    sql(db, "UPDATE lot SET subject_pk = (SELECT id FROM subject WHERE subject_id = 'S-001')")
    custody.issue_bag(bag, db=db, actor=tech, now=LATER, subject_id="S-001")
    custody.thaw_bag(bag, db=db, actor=tech, now=LATER)
    sql(db, "UPDATE lot SET subject_pk = (SELECT id FROM subject WHERE subject_id = 'S-002')")
    said = _refused(
        lambda: custody.infuse_bag(bag, "S-002", db=db, actor=tech, now=LATER), "lot-on-hold"
    )
    assert stop in said and "do not infuse" in said


def test_an_expiry_moved_in_sql_with_its_signature_hashed_again_issues_nothing(db, actors) -> None:  # type: ignore[no-untyped-def]
    """The signature's record hash is an unkeyed SHA-256 anyone can compute: an expired bag's
    ``expires_on`` moved years ahead, and the signature's ``record_hash`` computed again over
    the edited record, left no hold (the signature matched the record) and the bag was issued
    4,000 days later. The keyed disposition event recorded the hash that was signed."""
    tech = actors["tech"]
    lot, bag = bag_in_the_tank(db, actors, "release")
    sql(db, "UPDATE harvest SET expires_on = :d", d=(LATER + timedelta(days=5000)).date())
    assert "signature is broken" in holds.status(lot, db=db, actor=tech).summary
    with db.read() as s:
        row = s.exec(select(Lot)).one()
        rehashed = record_hash(signed_record(s, row, frozenset()))
    sql(db, "UPDATE signature SET record_hash = :h", h=rehashed)
    status = holds.status(lot, db=db, actor=tech)
    assert [r.code for r in status.active] == ["trail-mismatch"], status
    assert "carries a record hash no signed disposition in its audit trail recorded" in (
        status.summary
    )
    assert scanning.scan(bag, db=db, actor=tech).on_hold
    before = (count(db, CustodyEvent), count(db, AuditEvent))
    later = LATER + timedelta(days=4000)  # long after the expiry the harvest recorded
    said = _refused(lambda: custody.issue_bag(bag, db=db, actor=tech, now=later), "lot-on-hold")
    assert "signature" in said and "do not issue" in said
    assert (count(db, CustodyEvent), count(db, AuditEvent)) == before


def test_a_discarded_bag_set_back_to_stored_in_sql_is_not_issued(db, actors) -> None:  # type: ignore[no-untyped-def]
    """A bag discarded as cracked, its state set back to ``stored`` in SQL, was issued: the
    custody steps read the bag's own row. Its last keyed custody event says discarded: the
    scan says stop and the issue is refused, writing nothing (an untampered bag still issues:
    ``test_a_released_lot_issues_with_its_disposition_in_the_trail``)."""
    tech = actors["tech"]
    lot, bag = bag_in_the_tank(db, actors, "release")
    custody.discard_bag(bag, "bag cracked in the dry shipper", db=db, actor=tech, now=LATER)
    sql(db, "UPDATE dosebag SET state = 'stored', location = 'LN2-01/R1/B1/A1' WHERE bag_no = 1")
    stop = f"bag {lot}/B1 is stored, but its audit trail's last custody event leaves it discarded"
    seen = scanning.scan(bag, db=db, actor=tech)
    assert seen.on_hold and any(stop in r for r in seen.hold_reasons), seen.hold_reasons
    before = (count(db, CustodyEvent), count(db, AuditEvent))
    said = _refused(
        lambda: custody.issue_bag(bag, db=db, actor=tech, now=LATER), "bag-not-in-trail"
    )
    assert said.startswith("STOP: do not issue this bag") and stop in said, said
    assert (count(db, CustodyEvent), count(db, AuditEvent)) == before


def test_a_time_of_thaw_moved_in_sql_does_not_hide_an_overrun(db, actors) -> None:  # type: ignore[no-untyped-def]
    """A bag thawed 40 minutes before its infusion, its ``thawed_at`` moved to a minute before
    in SQL, was infused as within the 30-minute limit, with no overrun alert: the infusion read
    the bag's own column. Its keyed thaw event holds the time: the scan says stop, and the
    infusion is refused, writing nothing. Put back, the infusion goes ahead as the overrun it
    is (alert raised)."""
    tech = actors["tech"]
    lot, bag = bag_in_the_tank(db, actors, "release")
    custody.issue_bag(bag, db=db, actor=tech, now=LATER, subject_id="S-001")
    custody.thaw_bag(bag, db=db, actor=tech, now=LATER)
    infused_at = LATER + timedelta(minutes=40)
    moved = (infused_at - timedelta(minutes=1)).replace(tzinfo=None).isoformat(sep=" ")
    sql(db, "UPDATE dosebag SET thawed_at = :t WHERE bag_no = 1", t=moved)
    utc = "%Y-%m-%d %H:%M:%S UTC"
    stop = (
        f"bag {lot}/B1 was thawed at {(infused_at - timedelta(minutes=1)).strftime(utc)}, "
        f"but its audit trail says it was thawed at {LATER.strftime(utc)}"
    )
    seen = scanning.scan(bag, db=db, actor=tech)
    assert seen.on_hold and any(stop in r for r in seen.hold_reasons), seen.hold_reasons
    before = (count(db, CustodyEvent), count(db, AuditEvent))
    said = _refused(
        lambda: custody.infuse_bag(bag, "S-001", db=db, actor=tech, now=infused_at),
        "bag-not-in-trail",
    )
    assert said.startswith("STOP: do not infuse this bag") and stop in said, said
    assert (count(db, CustodyEvent), count(db, AuditEvent)) == before
    put_back = LATER.replace(tzinfo=None).isoformat(sep=" ")
    sql(db, "UPDATE dosebag SET thawed_at = :t WHERE bag_no = 1", t=put_back)
    assert not scanning.scan(bag, db=db, actor=tech).on_hold
    view = custody.infuse_bag(bag, "S-001", db=db, actor=tech, now=infused_at)
    assert view.state == "infused"
    with db.read() as s:
        kinds = [a.kind for a in s.exec(select(Alert)).all()]
    assert "infusion-overrun" in kinds, kinds
