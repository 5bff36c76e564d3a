"""Issue 12 (21 CFR 11.300): a session ends when its account changes, after the idle time, or on
log-out; passwords expire and are not reused; failed log-ins are reported to admins."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import event as sa_event
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from mfg.domain.permissions import Role
from mfg.errors import AuthenticationFailed, NotPermitted, RuleViolation, SessionEnded
from mfg.services import accounts, audit_trail, counts, users
from mfg.services.uow import Actor
from mfg.store import pgpool
from mfg.store.tables import AuditEvent, CellCount, UserSession
from tests.robustness.support import n_rows
from tests.support import world
from tests.support.constants import NOW, PASSWORD

NEW = ["new-passphrase-number-1", "new-passphrase-number-2", "new-passphrase-number-3"]


def _count(lot: str) -> counts.RecordCount:
    return counts.RecordCount(lot, 110_000_000, 100_000_000, day=0)


@pytest.mark.parametrize(
    "change,rule",
    [
        (
            lambda db, a: users.set_active(
                db, actor=a, username="tech", active=False, reason="left", now=NOW
            ),
            "account-deactivated",
        ),
        (
            lambda db, a: users.set_role(
                db, actor=a, username="tech", role="sponsor", reason="moved", now=NOW
            ),
            "role-changed",
        ),
    ],
)
def test_a_changed_account_is_logged_out_at_its_next_action(db, actors, change, rule):
    tech = users.login(db, "tech", PASSWORD, now=NOW)  # a live session, as the TUI and CLI hold
    world.subject(db, actors["tech"])
    lot = world.lot(db, actors["tech"]).lot_number
    change(db, actors["admin"])
    before = (n_rows(db, CellCount), n_rows(db, AuditEvent))
    with pytest.raises(SessionEnded) as e:
        counts.record_count(_count(lot), db=db, actor=tech, now=NOW)
    assert e.value.rule == rule
    assert (n_rows(db, CellCount), n_rows(db, AuditEvent)) == before
    with pytest.raises(SessionEnded):  # reads too
        audit_trail.lot_trail(lot, db=db, actor=tech)


def test_a_locked_account_is_logged_out_at_its_next_action(db, actors):
    tech = users.login(db, "tech", PASSWORD, now=NOW)
    for _ in range(5):
        with pytest.raises(AuthenticationFailed):
            users.login(db, "tech", "wrong-password-here", now=NOW)
    with pytest.raises(SessionEnded) as e:
        audit_trail.lot_trail("BH002-26-0001", db=db, actor=tech)
    assert e.value.rule == "account-locked"


def test_session_token_is_stored_only_as_a_hash_and_ends_when_idle(db, actors):
    tech = users.login(db, "tech", PASSWORD, now=NOW)
    token = accounts.open_session(db, tech, kind="cli", host="bench-1", now=NOW)
    with db.engine.connect() as c:
        stored = c.execute(text("SELECT token_sha256 FROM user_session")).scalars().all()
    assert stored == [accounts.token_hash(token)] and token not in stored
    idle = db.settings.idle_timeout
    assert idle == timedelta(minutes=15)  # the default
    again = accounts.resume_session(db, token, host="bench-1", now=NOW + idle)  # just in time
    assert again.username == "tech" and again.session_check is not None
    with pytest.raises(SessionEnded):
        accounts.resume_session(db, token, host="bench-2", now=NOW + idle)
    with pytest.raises(SessionEnded) as e:
        accounts.resume_session(
            db, token, host="bench-1", now=NOW + 2 * idle + timedelta(seconds=1)
        )
    assert "15 minutes" in e.value.message
    with db.read() as s:
        row = s.exec(select(UserSession)).one()
    assert (row.close_reason, row.closed_at) == ("idle", NOW + 2 * idle + timedelta(seconds=1))
    actions = [e.action for e in audit_trail.audit_log(db=db, actor=actors["qa"])]
    assert actions.count("session.opened") == 1 and actions.count("session.closed") == 1


def test_logout_closes_the_session_once(db, actors):
    tech = users.login(db, "tech", PASSWORD, now=NOW)
    token = accounts.open_session(db, tech, kind="tui", host="bench", now=NOW)
    assert accounts.close_session(db, token, reason="logout", now=NOW)
    assert not accounts.close_session(db, token, reason="logout", now=NOW)
    with pytest.raises(SessionEnded):
        accounts.resume_session(db, token, host="bench", now=NOW)


def test_a_deactivated_account_cannot_resume_its_session(db, actors):
    tech = users.login(db, "tech", PASSWORD, now=NOW)
    token = accounts.open_session(db, tech, kind="cli", host="h", now=NOW)
    users.set_active(db, actor=actors["admin"], username="tech", active=False, reason="x", now=NOW)
    with pytest.raises(SessionEnded) as e:
        accounts.resume_session(db, token, host="h", now=NOW)
    assert "deactivated" in e.value.message


def test_password_expires_and_must_be_changed(db, actors):
    later = NOW + timedelta(days=91)  # default password_max_age_days = 90
    with pytest.raises(AuthenticationFailed) as e:
        users.login(db, "tech", PASSWORD, now=later)
    assert e.value.rule == "password-expired"
    actor = users.change_own_password(db, "tech", PASSWORD, NEW[0], now=later)
    assert actor.username == "tech"
    assert users.login(db, "tech", NEW[0], now=later).username == "tech"
    with pytest.raises(AuthenticationFailed):  # an e-signature with an expired password too
        users.reauthenticate(db, actor, NEW[0], now=later + timedelta(days=91))


def test_the_last_passwords_cannot_be_reused(db, actors):
    users.change_own_password(db, "tech", PASSWORD, NEW[0], now=NOW)
    users.change_own_password(db, "tech", NEW[0], NEW[1], now=NOW)
    for old in (PASSWORD, NEW[0]):
        with pytest.raises(RuleViolation) as e:
            users.change_own_password(db, "tech", NEW[1], old, now=NOW)
        assert e.value.rule == "password-reused"
    users.change_own_password(db, "tech", NEW[1], NEW[2], now=NOW)


def test_failed_login_bursts_and_lockouts_are_reported_to_admins(db, actors):
    for _ in range(3):
        with pytest.raises(AuthenticationFailed):
            users.login(db, "ghost", "whatever-password", now=NOW)
    for i in range(5):
        with pytest.raises(AuthenticationFailed):
            users.login(db, "qa", "wrong-password-here", now=NOW + timedelta(minutes=i))
    with pytest.raises(AuthenticationFailed):  # a lone failure is no burst
        users.login(db, "tech", "wrong-password-here", now=NOW)
    report = accounts.security_events(db, actor=actors["admin"], since=NOW - timedelta(hours=1))
    assert report.failed_logins == 8 and report.lockouts == 1
    assert {(b.account, b.failures, b.locked) for b in report.bursts} == {
        ("ghost", 3, False),
        ("qa", 5, True),
    }
    with pytest.raises(NotPermitted):
        accounts.security_events(db, actor=actors["qa"], since=NOW)


def test_a_role_change_landing_between_the_check_and_the_write_refuses_the_write(
    db, actors, monkeypatch
):
    """The account is checked again under the write lock: QA demoted while typing the password
    of a hold (after ``require`` passed) writes nothing."""
    from mfg.services import holds
    from mfg.store.tables import LotHold
    from tests.release.conftest import PASSING, enter, harvested, sign

    lot = harvested(db, actors)
    enter(db, actors, lot, PASSING)
    sign(db, actors, lot)
    qa = users.login(db, "qa", PASSWORD, now=NOW)
    real = users.reauthenticate

    def reauthenticate_then_demoted(*args, **kw):  # type: ignore[no-untyped-def]
        signer = real(*args, **kw)
        users.set_role(
            db, actor=actors["admin"], username="qa", role="technician", reason="x", now=NOW
        )
        return signer

    monkeypatch.setattr(users, "reauthenticate", reauthenticate_then_demoted)
    before = n_rows(db, AuditEvent)
    with pytest.raises(SessionEnded) as e:
        holds.place_hold(lot, "suspect", PASSWORD, db=db, actor=qa, now=NOW)
    assert e.value.rule == "role-changed"
    assert n_rows(db, LotHold) == 0
    assert n_rows(db, AuditEvent) == before + 1  # the role change only


def test_idle_clock_moves_at_most_once_a_minute_and_never_lets_a_session_live_longer(db, actors):
    """Commands within a minute of the recorded one are let through on a read (no write lock);
    the recorded time is then early, so the session ends early, never late."""
    tech = users.login(db, "tech", PASSWORD, now=NOW)
    token = accounts.open_session(db, tech, kind="cli", host="bench-1", now=NOW)

    def seen() -> object:
        with db.read() as s:
            return s.exec(select(UserSession)).one().last_seen_at

    step = accounts.TOUCH_EVERY - timedelta(seconds=1)
    assert accounts.resume_session(db, token, host="bench-1", now=NOW + step).username == "tech"
    assert seen() == NOW  # a read: nothing written
    later = NOW + accounts.TOUCH_EVERY
    accounts.resume_session(db, token, host="bench-1", now=later)
    assert seen() == later  # a minute on: the clock moves
    with pytest.raises(SessionEnded):  # the fast path never skips the host check
        accounts.resume_session(db, token, host="bench-2", now=later + timedelta(seconds=1))
    idle = db.settings.idle_timeout
    accounts.resume_session(db, token, host="bench-1", now=later + step)  # not recorded
    with pytest.raises(SessionEnded) as e:  # idle counted from the recorded time: early, not late
        accounts.resume_session(db, token, host="bench-1", now=later + idle + timedelta(seconds=1))
    assert "15 minutes" in e.value.message
    with pytest.raises(SessionEnded):  # once ended, a read does not bring it back
        accounts.resume_session(db, token, host="bench-1", now=later + idle + timedelta(seconds=2))


def _statements_of(db, work):  # type: ignore[no-untyped-def]
    """The SQL statements ``work()`` sends, lower case, as the driver gets them: on PostgreSQL
    each with the psycopg pipeline it went in (None: sent on its own), since some go past
    SQLAlchemy's events (``mfg.store.db``: the write lock with BEGIN, queued events with
    COMMIT); on SQLite, SQLAlchemy's statement events see them all (pipeline None)."""
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    sent: list[tuple[str, object]] = []

    def keep(statement: str, pipeline: object = None) -> None:
        sent.append((" ".join(statement.split()).lower(), pipeline))

    if db.engine.dialect.name != "postgresql":

        def seen(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
            keep(statement)

        event.listen(Engine, "before_cursor_execute", seen)
        try:
            work()
        finally:
            event.remove(Engine, "before_cursor_execute", seen)
        return sent
    import psycopg

    execute = psycopg.Cursor.execute

    def recorded(cur, query, *args, **kwargs):  # type: ignore[no-untyped-def]
        keep(str(query), cur.connection._pipeline)
        return execute(cur, query, *args, **kwargs)

    psycopg.Cursor.execute = recorded  # type: ignore[method-assign]
    try:
        work()
    finally:
        psycopg.Cursor.execute = execute  # type: ignore[method-assign]
    return sent


def test_a_write_reads_the_account_and_the_trail_head_in_one_statement(db, actors):
    """Under the write lock the account check and the chain's head are one round trip (writers
    queue on that lock on PostgreSQL); the event still chains to the head, and verifies."""
    tech = users.login(db, "tech", PASSWORD, now=NOW)
    world.subject(db, actors["tech"])
    lot = world.lot(db, actors["tech"]).lot_number
    record = lambda: counts.record_count(_count(lot), db=db, actor=tech, now=NOW)  # noqa: E731
    sent = [s for s, _ in _statements_of(db, record)]
    heads = [s for s in sent if "from auditevent order by auditevent.seq desc" in s]
    assert len(heads) == 1, sent
    assert "app_user" in heads[0] and "locked" in heads[0], heads  # with the account check
    lock = "pg_advisory_xact_lock" if db.engine.dialect.name == "postgresql" else "begin immediate"
    locks = [i for i, s in enumerate(sent) if lock in s]
    assert len(locks) == 1 and locks[0] < sent.index(heads[0]), sent  # read under the lock
    assert sent.index(heads[0]) < next(
        i for i, s in enumerate(sent) if "insert into cellcount" in s
    )
    report = audit_trail.verify(db=db, actor=actors["qa"])
    assert report.ok and not report.record_problems, (report.problem, report.record_problems)


def test_registering_a_lot_checks_the_account_once_under_the_lock(db, actors):
    """A lot registration reads nothing before the write lock: the account is read there, with
    the trail's head, and not also on a connection of its own first (one read transaction
    fewer a registration). A deactivated account is still refused, with nothing written."""
    from mfg.services import lots
    from mfg.store.tables import Lot

    tech = users.login(db, "tech", PASSWORD, now=NOW)
    world.subject(db, actors["tech"])
    register = lambda: world.lot(db, tech)  # noqa: E731
    sent = [s for s, _ in _statements_of(db, register)]
    accounts_read = [s for s in sent if "from app_user" in s]
    assert len(accounts_read) == 1 and "auditevent" in accounts_read[0], sent
    lock = "pg_advisory_xact_lock" if db.engine.dialect.name == "postgresql" else "begin immediate"
    assert next(i for i, s in enumerate(sent) if lock in s) < sent.index(accounts_read[0]), sent
    assert not [s for s in sent if "from alert" in s], sent  # a new lot has no alert to read
    users.set_active(db, actor=actors["admin"], username="tech", active=False, reason="x", now=NOW)
    lots_before, events_before = n_rows(db, Lot), n_rows(db, AuditEvent)
    with pytest.raises(SessionEnded) as e:
        lots.register_lot(
            lots.RegisterLot("S-001", "apheresis", apheresis_on=NOW.date()),
            db=db, actor=tech, now=NOW,
        )  # fmt: skip
    assert e.value.rule == "account-deactivated"
    assert (n_rows(db, Lot), n_rows(db, AuditEvent)) == (lots_before, events_before)


@pytest.mark.postgres
def test_on_postgresql_the_lock_goes_with_begin_and_the_last_event_with_commit(pg_db, monkeypatch):  # type: ignore[no-untyped-def]
    """Round trips a write spends while other writers wait on its lock: the lock, the
    transaction's first statement, goes in one pipeline with psycopg's BEGIN, the reads the
    count knows ahead (its lot, its id from the sequence) and the account + head read (run by
    the server once the lock is held); the count (its id known) and the event (its seq and hash
    known) wait on the connection and go in one pipeline with the COMMIT: one round trip after
    the lock's. An event followed by other statements goes before them, in order (a release
    appends several)."""
    from tests.conftest import add_users

    db, actors = pg_db, add_users(pg_db)
    monkeypatch.setattr(pgpool, "PING_AFTER_IDLE_S", 3600.0)  # no ping however slow the machine
    tech = users.login(db, "tech", PASSWORD, now=NOW)
    world.subject(db, actors["tech"])
    lot = world.lot(db, actors["tech"]).lot_number
    record = lambda: counts.record_count(_count(lot), db=db, actor=tech, now=NOW)  # noqa: E731
    record()  # the lot's first count also moves it into expansion (one more event)
    through_sqlalchemy: list[str] = []

    def seen(conn, cursor, statement, *rest):  # type: ignore[no-untyped-def]
        through_sqlalchemy.append(statement)

    sa_event.listen(Engine, "before_cursor_execute", seen)
    try:
        sent = _statements_of(db, record)  # its connection used a moment ago: no ping before it
    finally:
        sa_event.remove(Engine, "before_cursor_execute", seen)
    # every statement on the driver, past SQLAlchemy's execution (its CPU is every writer's
    # wait): the account + head read too (``mfg.store.ahead``)
    assert through_sqlalchemy == [], through_sqlalchemy
    assert len(sent) == 7, sent
    lock, lot_read, count_id, head = sent[:4]
    assert "pg_advisory_xact_lock" in lock[0] and "from auditevent order by" in head[0], sent
    assert "from lot where" in lot_read[0] and "nextval" in count_id[0], sent
    assert lock[1] is not None and {p for _, p in sent[:4]} == {lock[1]}, sent  # one round trip
    count, event, commit = sent[4:]
    assert count[0].startswith("insert into cellcount") and "%(id)s" in count[0], sent
    assert event[0].startswith("insert into auditevent") and commit[0] == "commit", sent
    assert count[1] is not None and {p for _, p in sent[4:]} == {count[1]}, sent  # one round trip
    assert count[1] is not lock[1], sent

    def two_events() -> None:  # the second event's statements follow the first one's insert
        with db.write(tech, NOW) as tx:
            tx.audit("count.recorded", "count", 1, new={"day": 0})
            seq = tx.session.connection().execute(text("SELECT max(seq) FROM auditevent"))
            assert seq.scalar_one() == tx._head[0]  # type: ignore[index]
            tx.audit("count.recorded", "count", 2, new={"day": 1})
            tx.commit()

    sent = [s for s, _ in _statements_of(db, two_events)]
    inserts = [i for i, s in enumerate(sent) if s.startswith("insert into auditevent")]
    assert len(inserts) == 2 and inserts[0] < sent.index("select max(seq) from auditevent")
    report = audit_trail.verify(db=db, actor=actors["qa"])  # (the two events record nothing)
    assert report.first_bad_seq is None and not report.problem, report


@pytest.mark.postgres
def test_on_postgresql_a_registration_reads_ahead_with_the_lock_and_inserts_with_commit(
    pg_db, monkeypatch
):  # type: ignore[no-untyped-def]
    """A registration's reads known before it starts (its subject's facts, the spec pin, the
    subject's therapy event, the year's last lot number, the new lot's id) go in the lock's
    round trip; then the lot, its event and the COMMIT in one round trip: one round trip after
    the lock's. The lots and their trail verify."""
    from tests.conftest import add_users

    db, actors = pg_db, add_users(pg_db)
    monkeypatch.setattr(pgpool, "PING_AFTER_IDLE_S", 3600.0)  # no ping however slow the machine
    tech = users.login(db, "tech", PASSWORD, now=NOW)
    world.subject(db, actors["tech"])
    first = world.lot(db, tech).lot_number  # opens the subject's therapy event (its CoI)
    sent = _statements_of(db, lambda: world.lot(db, tech))
    assert len(sent) == 10, sent  # its connection used a moment ago: no ping before it
    ahead = sent[:7]
    assert "pg_advisory_xact_lock" in ahead[0][0] and "from auditevent order by" in ahead[6][0]
    assert {p for _, p in ahead} == {ahead[0][1]} and ahead[0][1] is not None, sent
    assert "from subject" in ahead[1][0] and "from specpin" in ahead[2][0], sent
    assert "from therapy_event" in ahead[3][0], sent
    assert "max(cast(substr(lot.lot_number" in ahead[4][0] and "nextval" in ahead[5][0], sent
    lot, event, commit = sent[7:]
    assert lot[0].startswith("insert into lot") and event[0].startswith("insert into auditevent")
    assert commit[0] == "commit" and {lot[1], event[1], commit[1]} == {lot[1]}, sent
    assert lot[1] is not ahead[0][1], sent
    second = world.lot(db, tech).lot_number
    assert int(second[-4:]) == int(first[-4:]) + 2  # the numbers run on
    report = audit_trail.verify(db=db, actor=actors["qa"])
    assert report.ok and not report.record_problems, (report.problem, report.record_problems)


@pytest.mark.postgres
def test_an_error_in_a_pipeline_is_told_as_its_own_statements(pg_db):  # type: ignore[no-untyped-def]
    """A queued event whose seq was taken fails the statement it rides with as the event's
    refusal (the write is refused, nothing written); the riding statement's own error comes as
    SQLAlchemy reports it, the queued event in front of it having gone in."""
    from sqlalchemy import insert
    from sqlalchemy.exc import ProgrammingError

    from mfg import audit
    from mfg.errors import Conflict
    from tests.conftest import add_users

    db = pg_db
    add_users(db)
    tech = users.login(db, "tech", PASSWORD, now=NOW)
    before = n_rows(db, AuditEvent)
    with pytest.raises(Conflict) as refused, db.write(tech, NOW) as tx:
        seq, prev = tx._head  # type: ignore[misc]
        row = audit.Chainer(tx.keyring(False), seq, prev).row(
            at=NOW, username="intruder", action="x.y", entity="x", entity_id="1",
            lot_number=None, old_values="null", new_values="null", reason=None,
        )  # fmt: skip
        tx.session.connection().execute(insert(AuditEvent.__table__), row)  # type: ignore[attr-defined]
        tx.audit("x.queued", "x", 1)  # the same seq: queued
        tx.session.connection().execute(text("SELECT :n"), {"n": 1})  # rides with it
    assert refused.value.rule == "audit-trail-moved"
    with pytest.raises(ProgrammingError, match="nowhere") as failed, db.write(tech, NOW) as tx:
        tx.audit("x.queued", "x", 2)
        tx.session.connection().execute(text("SELECT :n FROM nowhere"), {"n": 1})
    assert "FROM nowhere" in str(failed.value.statement)  # the statement's, not the event's
    assert n_rows(db, AuditEvent) == before


@pytest.mark.postgres
def test_a_queued_event_is_committed_by_any_commit_and_forgotten_by_a_rollback(pg_db):  # type: ignore[no-untyped-def]
    """What waits on the connection is never lost by a commit made past ``Tx.commit`` and never
    carried into the next transaction on that pooled connection after a failed one."""
    from tests.conftest import add_users

    db = pg_db
    add_users(db)
    tech = users.login(db, "tech", PASSWORD, now=NOW)
    before = n_rows(db, AuditEvent)
    with db.write(tech, NOW) as tx:
        tx.audit("x.committed", "x", 1)
        tx.session.commit()  # the session's own commit, not Tx.commit
    assert n_rows(db, AuditEvent) == before + 1
    with pytest.raises(RuleViolation), db.write(tech, NOW) as tx:
        tx.audit("x.failed", "x", 2)
        raise RuleViolation("x", "x-refused", "refused after the event was appended")
    with db.write(tech, NOW) as tx:  # the same pooled connection
        tx.audit("x.next", "x", 3)
        tx.commit()
    with db.read() as s:
        actions = s.exec(select(AuditEvent.action).order_by(col(AuditEvent.seq))).all()
    assert actions[-2:] == ["x.committed", "x.next"] and "x.failed" not in actions
    report = audit_trail.verify(db=db, actor=Actor("qa", "QA", Role.QA))
    assert report.first_bad_seq is None and not report.problem, report


def test_an_event_appended_behind_the_transactions_back_fails_the_write_not_the_chain(db, actors):
    """The transaction appends after the head it read under the lock. Were an event inserted
    between (no path of CellTrail's does: every event goes through ``Tx``; a direct database
    write could), the next ``seq`` is taken: the insert fails on the primary key, the user is
    told so (not an internal error) and nothing is written, the chain never forks."""
    from sqlalchemy import insert

    from mfg import audit
    from mfg.errors import Conflict

    tech = users.login(db, "tech", PASSWORD, now=NOW)
    world.subject(db, actors["tech"])
    before = n_rows(db, AuditEvent)
    with pytest.raises(Conflict) as refused, db.write(tech, NOW) as tx:
        conn = tx.session.connection()
        seq, prev = audit.head(conn)
        row = audit.Chainer(tx.keyring(False), seq, prev).row(
            at=NOW, username="intruder", action="x.y", entity="x", entity_id="1",
            lot_number=None, old_values="null", new_values="null", reason=None,
        )  # fmt: skip
        conn.execute(insert(AuditEvent.__table__), row)  # type: ignore[attr-defined]
        tx.audit("count.recorded", "count", 1, new={"day": 0})
        tx.commit()
    assert refused.value.rule == "audit-trail-moved" and "nothing was written" in str(refused.value)
    assert n_rows(db, AuditEvent) == before
    report = audit_trail.verify(db=db, actor=actors["qa"])
    assert report.ok, report.problem


def _disagrees_once(module, monkeypatch):  # type: ignore[no-untyped-def]
    """``module.check_account`` refusing its first call, as when the account changed between
    the read of its row and of its trail (PostgreSQL's READ COMMITTED lets a commit fall
    there in a read; the write lock does not); the calls it let through."""
    real = module.check_account
    calls: list[str] = []

    def check(conn, u):  # type: ignore[no-untyped-def]
        calls.append(u.username)
        if len(calls) == 1:
            raise AuthenticationFailed("changed meanwhile", rule="account-not-in-trail")
        real(conn, u)

    monkeypatch.setattr(module, "check_account", check)
    return calls


def test_a_trail_that_disagrees_in_a_read_is_decided_under_the_lock(db, actors, monkeypatch):
    """A log-in or a session's command whose account and trail disagree in the read without a
    lock goes to the write, which reads both under the lock and decides (refused there when
    the account really was changed outside CellTrail: tests/services/test_account_trail.py)."""
    tech = users.login(db, "tech", PASSWORD, now=NOW)
    token = accounts.open_session(db, tech, kind="cli", host="bench-1", now=NOW)
    calls = _disagrees_once(users, monkeypatch)
    assert users.login(db, "tech", PASSWORD, now=NOW) == tech
    assert calls == ["tech", "tech"]  # the read's, then the write's
    calls = _disagrees_once(accounts, monkeypatch)
    step = accounts.TOUCH_EVERY - timedelta(seconds=1)
    assert accounts.resume_session(db, token, host="bench-1", now=NOW + step) == tech
    assert calls == ["tech", "tech"]
