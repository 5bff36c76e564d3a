"""``mfg audit verify`` on a long trail checks the keyed chain in a helper process
(``mfg.chaincheck``) while it folds the trail: the same verdicts as checking it in-process, and
a helper that fails or read other rows is never believed."""

from __future__ import annotations

import json
from typing import Any

import pytest

from mfg import audit, chaincheck
from mfg.services import audit_trail
from tests.robustness.support import attack
from tests.support import world
from tests.support.constants import NOW

CHAIN = ("ok", "events", "first_bad_seq", "problem", "head_hash", "head_seq", "trail")


@pytest.fixture
def trail(db, actors):  # type: ignore[no-untyped-def]
    world.harvested_lot(db, actors["tech"], verify=False)
    return audit_trail.audit_log(db=db, actor=actors["qa"])


@pytest.fixture
def helped(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every trail gets the helper; each report it gave is listed (None: not believed)."""
    monkeypatch.setattr(chaincheck, "HELPER_FROM_EVENTS", 0)
    reports: list[Any] = []
    report = chaincheck.Helper.report

    def spy(self: chaincheck.Helper) -> audit.ChainReport | None:
        got = report(self)
        reports.append(got)
        return got

    monkeypatch.setattr(chaincheck.Helper, "report", spy)
    return reports


def chain(r: audit.ChainReport) -> tuple[Any, ...]:
    return tuple(getattr(r, f) for f in CHAIN)


def verify(db, actors, **kw):  # type: ignore[no-untyped-def]
    return audit_trail.verify(db=db, actor=actors["qa"], **kw)


def in_process(db, actors, monkeypatch, **kw):  # type: ignore[no-untyped-def]
    """The verdict with the chain checked in this process (no helper), the helper back after."""
    monkeypatch.setattr(chaincheck, "HELPER_FROM_EVENTS", 10**9)
    try:
        return verify(db, actors, **kw)
    finally:
        monkeypatch.setattr(chaincheck, "HELPER_FROM_EVENTS", 0)


def test_the_helpers_verdict_on_an_intact_trail_is_the_in_process_one(
    db, actors, trail, helped, monkeypatch
):
    here = in_process(db, actors, monkeypatch)
    assert here.ok and here.events == len(trail) and helped == []
    got = verify(db, actors)
    assert [chain(r) for r in helped] == [chain(here)]  # the helper's own report was used
    assert chain(got) == chain(here) and got.records_checked == here.records_checked


@pytest.mark.parametrize(
    "edit",
    [
        "UPDATE auditevent SET reason = 'x' WHERE seq = 3",
        "DELETE FROM auditevent WHERE seq = 4",
        "UPDATE auditevent SET new_values = replace(new_values, '30.0', '35.0') "
        "WHERE action = 'harvest.recorded'",
    ],
)
def test_the_helper_names_the_first_changed_event_as_this_process_would(
    db, actors, trail, helped, edit, monkeypatch
):
    attack(db, edit)
    got = verify(db, actors)
    assert len(helped) == 1 and helped[0] is not None  # the helper's verdict
    assert not got.ok and got.first_bad_seq is not None
    assert chain(helped[0]) == chain(got)
    assert chain(in_process(db, actors, monkeypatch)) == chain(got)  # checked here: the same


def test_the_helper_starts_after_the_newest_checkpoint(db, actors, trail, helped):
    assert verify(db, actors, now=NOW).ok  # a verified checkpoint at the head
    world.subject(db, actors["tech"], "S-009")
    r = verify(db, actors, since_checkpoint=True)
    assert r.ok and r.started_after == len(trail) and r.events >= 1
    assert len(helped) == 2 and all(h is not None for h in helped)
    new = len(trail) + 1  # the first event after the checkpoint
    attack(db, f"UPDATE auditevent SET reason = 'x' WHERE seq = {new}")
    bad = verify(db, actors, since_checkpoint=True)
    assert (bad.ok, bad.first_bad_seq) == (False, new) and helped[-1] is not None


def test_a_helper_that_fails_leaves_the_chain_to_this_process(
    db, actors, trail, helped, monkeypatch
):
    monkeypatch.setattr(chaincheck, "HELPER", ("-c", "raise SystemExit(3)"))
    assert verify(db, actors).ok
    attack(db, "UPDATE auditevent SET username = 'mallory' WHERE seq = 3")
    r = verify(db, actors)
    assert (r.ok, r.first_bad_seq) == (False, 3)
    assert helped == [None, None]  # neither helper was believed


def test_a_helper_that_read_other_rows_is_not_believed(db, actors, trail, helped, monkeypatch):
    """The trail edited between this process's read and the helper's: the helper says intact
    about rows this process did not fold. Its digest differs, so the chain is checked here."""
    attack(db, "UPDATE auditevent SET reason = 'x' WHERE seq = 3")
    liar = {
        "report": {f: getattr(audit.ChainReport(True, len(trail)), f) for f in CHAIN},
        "digest": "0" * 64,
        "rows": len(trail),
    }
    monkeypatch.setattr(chaincheck, "HELPER", ("-c", f"print({json.dumps(liar)!r})"))
    r = verify(db, actors)
    assert (r.ok, r.first_bad_seq) == (False, 3) and helped == [None]


def test_a_helper_whose_read_differs_is_not_believed(db, actors, trail, helped, monkeypatch):
    """A real helper that read one event fewer than this process (as if the trail changed
    between the two reads): its own report is sound for what it read, yet it does not count."""
    attack(db, f"UPDATE auditevent SET reason = 'x' WHERE seq = {len(trail)}")
    start = chaincheck.start

    def one_short(conn, url, ring, *, after, prev, upto):  # type: ignore[no-untyped-def]
        return start(conn, url, ring, after=after, prev=prev, upto=upto - 1)

    monkeypatch.setattr(chaincheck, "start", one_short)
    r = verify(db, actors)
    assert (r.ok, r.first_bad_seq) == (False, len(trail)) and helped == [None]


def test_batches_are_read_and_digested_alike_on_both_sides(db, actors, trail, helped, monkeypatch):
    monkeypatch.setattr(chaincheck, "BATCH", 4)  # the trail in many batches, sent in the job
    assert verify(db, actors).ok and helped[0] is not None and helped[0].events == len(trail)
    attack(db, "UPDATE auditevent SET username = 'mallory' WHERE seq = 9")
    r = verify(db, actors)
    assert (r.ok, r.first_bad_seq) == (False, 9) and helped[1] is not None


def test_a_helper_that_takes_too_long_is_stopped(db, actors, trail, helped, monkeypatch):
    monkeypatch.setattr(chaincheck, "HELPER", ("-c", "import time; time.sleep(600)"))
    monkeypatch.setattr(chaincheck, "WAIT_S", 0.2)
    attack(db, "UPDATE auditevent SET reason = 'x' WHERE seq = 5")
    r = verify(db, actors)
    assert (r.ok, r.first_bad_seq) == (False, 5) and helped == [None]


def test_without_the_helper_the_checkpoint_start_holds(db, actors, trail, helped, monkeypatch):
    """The helper fails on a --since-checkpoint run: the chain checked here starts after the
    checkpoint too."""
    assert verify(db, actors, now=NOW).ok
    world.subject(db, actors["tech"], "S-009")
    monkeypatch.setattr(chaincheck, "HELPER", ("-c", "raise SystemExit(3)"))
    r = verify(db, actors, since_checkpoint=True)
    assert r.ok and (r.started_after, r.events) == (len(trail), 1)
    attack(db, f"UPDATE auditevent SET reason = 'x' WHERE seq = {len(trail) + 1}")
    bad = verify(db, actors, since_checkpoint=True)
    assert (bad.ok, bad.first_bad_seq) == (False, len(trail) + 1)
    assert helped[1:] == [None, None]


def test_the_digest_covers_every_stored_column() -> None:
    row = (1, "2026-11-25 09:30:00.000000", "qa", "a", "lot", "1", None, "{}", "{}", None, "k")
    base = chaincheck.Digest()
    base.add([(*row, "p", "h")])
    for i in range(13):
        other = chaincheck.Digest()
        changed = [*row, "p", "h"]
        changed[i] = "x" if changed[i] != "x" else "y"
        other.add([tuple(changed)])
        assert other.hexdigest() != base.hexdigest(), i
    # batches are framed: the same rows cut otherwise are another read
    a, b = chaincheck.Digest(), chaincheck.Digest()
    a.add([(*row, "p", "h"), (*row, "p", "h")])
    b.add([(*row, "p", "h")])
    b.add([(*row, "p", "h")])
    assert a.hexdigest() != b.hexdigest() and a.rows == b.rows == 2
    odd = chaincheck.Digest()
    odd.add([(1, b"bytes", float("nan"), "\udc80")])  # what orjson refuses: repr, no crash
    assert odd.rows == 1 and odd.hexdigest() != chaincheck.Digest().hexdigest()
    # values orjson writes alike (infinity and NaN as null, a time as its text) stay apart
    from datetime import datetime

    seen = set()
    for value in (None, float("inf"), float("-inf"), float("nan"), "2026-11-25T09:30:00",
                  datetime(2026, 11, 25, 9, 30), 1, 1.0, True, "1"):  # fmt: skip
        d = chaincheck.Digest()
        d.add([(1, value)])
        seen.add(d.hexdigest())
    assert len(seen) == 10


def test_an_in_memory_database_is_checked_here() -> None:
    assert not chaincheck._shareable("sqlite://")
    assert not chaincheck._shareable("sqlite:///:memory:")
    assert not chaincheck._shareable("sqlite:///file:x?mode=memory&uri=true")
    assert chaincheck._shareable("sqlite:////var/lib/celltrail/celltrail.db")
    assert chaincheck._shareable("postgresql+psycopg://u:p@h/db")


def test_the_helper_is_not_started_for_a_short_trail(db, actors, trail, monkeypatch):
    started: list[Any] = []
    monkeypatch.setattr(chaincheck.subprocess, "Popen", lambda *a, **k: started.append(a))
    assert verify(db, actors).ok and started == []


@pytest.mark.postgres
def test_a_helper_queued_behind_a_table_lock_gives_up(tmp_path, request, monkeypatch):
    """PostgreSQL: someone asks for the trail's table exclusively (a migration, DROP TRIGGER)
    while verify reads it. The request queues behind verify's read, the helper's read behind
    the request; verify waiting for the helper would wait for ever, and every writer behind
    them. The helper gives up after its lock timeout and the chain is checked here."""
    import threading

    from sqlalchemy import text

    from tests.conftest import add_users, make_database

    db = make_database("postgresql", tmp_path, request)
    try:
        actors = add_users(db)
        world.harvested_lot(db, actors["tech"], verify=False)
        monkeypatch.setattr(chaincheck, "HELPER_FROM_EVENTS", 0)
        monkeypatch.setattr(chaincheck, "LOCK_TIMEOUT", "200ms")
        reports: list[Any] = []
        report = chaincheck.Helper.report
        monkeypatch.setattr(
            chaincheck.Helper, "report", lambda self: reports.append(report(self)) or reports[-1]
        )
        locked = threading.Event()

        def exclusive() -> None:
            with db.engine.connect() as c, c.begin():
                c.execute(text("LOCK TABLE auditevent IN ACCESS EXCLUSIVE MODE"))
                locked.set()

        start = chaincheck.start
        waiter = threading.Thread(target=exclusive)

        def after_the_request(conn, url, ring, **kw):  # type: ignore[no-untyped-def]
            waiter.start()  # queued behind verify's read, which holds ACCESS SHARE
            with db.engine.connect() as c:
                for _ in range(10_000):  # wait until the request is queued (a condition)
                    q = "SELECT count(*) FROM pg_locks WHERE mode = 'AccessExclusiveLock' AND NOT granted"
                    if c.execute(text(q)).scalar():
                        break
                    c.rollback()
            return start(conn, url, ring, **kw)

        monkeypatch.setattr(chaincheck, "start", after_the_request)
        r = audit_trail.verify(db=db, actor=actors["qa"])
        assert r.ok and reports == [None]  # the helper gave up; checked here
        waiter.join(timeout=60)
        assert locked.is_set()  # the request got its lock once verify's read ended
    finally:
        db.dispose()
