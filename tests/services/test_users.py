"""Accounts through the service on SQLite and PostgreSQL: lockout, unlock, policy, deactivation."""

from __future__ import annotations

import pytest
from sqlmodel import select

from mfg.auth import MAX_FAILED_LOGINS
from mfg.domain.permissions import Role
from mfg.errors import AuthenticationFailed, NotFound, NotPermitted
from mfg.services import audit_trail, users
from mfg.services.uow import Actor
from mfg.store.tables import User
from tests.conftest import add_users
from tests.support.constants import NOW, PASSWORD
from tests.support.refusals import assert_refused


def login(db, name="tech", password=PASSWORD):  # type: ignore[no-untyped-def]
    return users.login(db, name, password, now=NOW)


def user_row(db, name):  # type: ignore[no-untyped-def]
    with db.read() as s:
        return s.exec(select(User).where(User.username == name)).one()


def test_login_returns_the_actor(db, actors):
    assert login(db) == actors["tech"]
    assert login(db, "admin").role == "admin"


def test_five_wrong_passwords_lock_the_account_until_an_admin_unlocks_it(db, actors):
    for attempt in range(1, MAX_FAILED_LOGINS):
        with pytest.raises(AuthenticationFailed) as e:
            login(db, password="wrong password!")
        assert e.value.rule == "authentication-failed"
        assert f"{MAX_FAILED_LOGINS - attempt} attempt(s) left" in e.value.message
    with pytest.raises(AuthenticationFailed) as e:
        login(db, password="wrong password!")
    assert e.value.rule == "account-locked"
    assert user_row(db, "tech").locked
    # even the right password is refused now, and that refusal writes nothing
    assert_refused(db, lambda: login(db), "account-locked", kind=AuthenticationFailed)
    events = audit_trail.audit_log(db=db, actor=actors["admin"], action="user.")
    assert [e.action for e in events if e.entity_id == "tech"][-5:] == ["user.login_failed"] * 4 + [
        "user.locked"
    ]
    assert_refused(
        db,
        lambda: users.unlock(db, actor=actors["qa"], username="tech", reason="ok", now=NOW),
        "not-permitted",
        kind=NotPermitted,
    )
    assert_refused(
        db,
        lambda: users.unlock(db, actor=actors["admin"], username="tech", reason=" ", now=NOW),
        "reason-required",
        "reason",
    )
    assert_refused(
        db,
        lambda: users.unlock(db, actor=actors["admin"], username="tech", reason="\u3164", now=NOW),
        "reason-blank",
        "reason",
    )
    v = users.unlock(db, actor=actors["admin"], username="tech", reason="called", now=NOW)
    assert not v.locked and v.failed_logins == 0
    assert login(db) == actors["tech"]


def test_a_good_login_resets_the_failure_count(db, actors):
    for _ in range(MAX_FAILED_LOGINS - 1):
        with pytest.raises(AuthenticationFailed):
            login(db, password="nope nope nope")
    login(db)
    assert user_row(db, "tech").failed_logins == 0
    with pytest.raises(AuthenticationFailed) as e:
        login(db, password="nope nope nope")
    assert e.value.rule == "authentication-failed"


def _refused_login_recorded_only(db, fn):  # type: ignore[no-untyped-def]
    """Refused; the only write is the one audit event of the admins' failed-login report
    (issue 12: failed log-ins for unknown or deactivated names are reported, mfg user events)."""
    from tests.support.refusals import snapshot

    before = snapshot(db)
    with pytest.raises(AuthenticationFailed) as e:
        fn()
    assert e.value.rule == "authentication-failed"
    after = snapshot(db)
    assert [t for t in before if before[t] != after[t]] == ["auditevent"]
    last = audit_trail.audit_log(db=db, actor=Actor("qa", "Q", Role.QA), limit=1)[0]
    assert last.action == "login.unknown_user"
    return e.value


def test_unknown_user_looks_like_a_wrong_password_and_writes_nothing(db, actors):
    e = _refused_login_recorded_only(db, lambda: login(db, "nobody"))
    assert e.message == "unknown user or wrong password"


@pytest.mark.parametrize(
    ("username", "full_name", "role", "password", "rule", "field"),
    [
        ("bob", "Bob", "technician", "short-pw", "password-too-short", "password"),
        ("bob", "Bob", "technician", "my-name-is-bob!", "password-contains-username", "password"),
        ("bob", "Bob", "technician", "long enough\tpassword", "password-control-chars", "password"),
        ("bob\n", "Bob", "technician", PASSWORD, "id-control-character", "username"),
        (" bob", "Bob", "technician", PASSWORD, "id-surrounding-space", "username"),
        ("b0b\u200b", "Bob", "technician", PASSWORD, "id-control-character", "username"),
        ("Tech", "Tom", "technician", PASSWORD, "username-taken", "username"),
        ("tech.", "Tom", "technician", PASSWORD, "username-lookalike", "username"),
        ("b", "Bob", "technician", PASSWORD, "username-format", "username"),
        ("bob", "  ", "technician", PASSWORD, "full-name-required", "full_name"),
        ("bob", "Bob", "operator", PASSWORD, "unknown-role", "role"),
        ("tech", "Tom", "technician", PASSWORD, "username-taken", "username"),
    ],
)
def test_add_user_refusals(db, actors, username, full_name, role, password, rule, field):
    assert_refused(
        db,
        lambda: users.add_user(
            db,
            actor=actors["admin"],
            username=username,
            full_name=full_name,
            role=role,
            password=password,
            now=NOW,
        ),
        rule,
        field,
    )


@pytest.mark.parametrize("who", ["tech", "qa", "sponsor"])
def test_only_admins_manage_users(db, actors, who):
    assert_refused(
        db,
        lambda: users.add_user(
            db,
            actor=actors[who],
            username="bob",
            full_name="Bob",
            role="qa",
            password=PASSWORD,
            now=NOW,
        ),
        "not-permitted",
        kind=NotPermitted,
    )
    with pytest.raises(NotPermitted):
        users.list_users(db, actor=actors[who])


def test_password_is_hashed_never_stored_or_audited(db, actors):
    row = user_row(db, "tech")
    assert row.password_hash.startswith("$argon2id$") and PASSWORD not in row.password_hash
    for e in audit_trail.audit_log(db=db, actor=actors["admin"]):
        assert PASSWORD not in str(e.new) and PASSWORD not in str(e.old)


def test_deactivate_and_reactivate(db, actors):
    admin = actors["admin"]
    v = users.set_active(db, actor=admin, username="tech", active=False, reason="left", now=NOW)
    assert not v.active
    _refused_login_recorded_only(db, lambda: login(db))
    assert_refused(
        db,
        lambda: users.set_active(
            db, actor=admin, username="ghost", active=False, reason="x", now=NOW
        ),
        "unknown-user",
        kind=NotFound,
    )
    assert_refused(
        db,
        lambda: users.set_active(db, actor=admin, username="tech", active=True, reason="", now=NOW),
        "reason-required",
    )
    users.set_active(db, actor=admin, username="tech", active=True, reason="back", now=NOW)
    assert login(db) == actors["tech"]
    assert "tech" in {u.username for u in users.list_users(db, actor=admin)}


def test_change_password(db, actors):
    tech = actors["tech"]
    new = "a-new-long-password"
    assert_refused(
        db,
        lambda: users.change_password(
            db, actor=tech, old_password=PASSWORD, new_password="short", now=NOW
        ),
        "password-too-short",
    )
    assert_refused(
        db,
        lambda: users.change_password(
            db, actor=tech, old_password=PASSWORD, new_password=PASSWORD, now=NOW
        ),
        "password-unchanged",
    )
    users.change_password(db, actor=tech, old_password=PASSWORD, new_password=new, now=NOW)
    assert login(db, password=new) == tech
    with pytest.raises(AuthenticationFailed):
        login(db)


def test_the_same_password_with_its_accents_typed_another_way_is_not_a_change(db, actors):
    """A password is one password in NFC: typing the current one decomposed must not pass for
    a new one (it would restart the password's age without changing it)."""
    import unicodedata

    composed = "caf\u00e9-passphrase-1"
    users.change_password(
        db, actor=actors["tech"], old_password=PASSWORD, new_password=composed, now=NOW
    )
    decomposed = unicodedata.normalize("NFD", composed)
    assert decomposed != composed
    assert_refused(
        db,
        lambda: users.change_password(
            db, actor=actors["tech"], old_password=composed, new_password=decomposed, now=NOW
        ),
        "password-unchanged",
    )
    assert login(db, password=decomposed) == actors["tech"]  # and it logs in either way


def test_init_database_is_idempotent_and_keeps_one_first_admin(db):
    rev, created = users.init_database(
        db, admin="admin", full_name="Ada", password=PASSWORD, now=NOW
    )
    assert rev and created
    assert users.init_database(db, admin="admin", full_name="Ada", password=PASSWORD, now=NOW) == (
        rev,
        False,
    )
    assert users.init_database(db, admin=None, full_name="", password=None, now=NOW) == (rev, False)
    assert_refused(
        db,
        lambda: users.init_database(db, admin="eve", full_name="Eve", password=PASSWORD, now=NOW),
        "admin-exists",
        "admin",
    )
    assert_refused(
        db,
        lambda: users.init_database(db, admin="eve", full_name="Eve", password="short", now=NOW),
        "password-too-short",
    )


def _write_lock_free(db) -> bool:  # type: ignore[no-untyped-def]
    """Whether another connection could start a write now (no writer holds the lock)."""
    from sqlalchemy import text

    from mfg.store.db import WRITE_LOCK_KEY

    if db.dialect == "sqlite":
        import sqlite3

        other = sqlite3.connect(db.engine.url.database, timeout=0, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError:  # database is locked
            return False
        else:
            other.execute("ROLLBACK")
            return True
        finally:
            other.close()
    with db.engine.connect() as conn:
        free = conn.execute(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": WRITE_LOCK_KEY})
        result = bool(free.scalar_one())
        conn.rollback()
        return result


def _login_turn_taken(db) -> bool:  # type: ignore[no-untyped-def]
    """Whether a log-in holds the log-ins' queue (``mfg.store.logins``) now."""
    from sqlalchemy import text

    from mfg.store.logins import LOGIN_LOCK_KEY

    if db.dialect == "sqlite":
        import fcntl
        import os

        fd = os.open(f"{db.engine.url.database}-loginlock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        else:
            fcntl.flock(fd, fcntl.LOCK_UN)
            return False
        finally:
            os.close(fd)
    with db.engine.connect() as conn:
        free = conn.execute(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": LOGIN_LOCK_KEY})
        result = not free.scalar_one()
        conn.rollback()
        return result


def test_the_password_is_checked_outside_the_write_lock(db, actors, monkeypatch):
    """argon2id takes tens of milliseconds at the production parameters: a log-in (and every
    e-signature's re-authentication) checks the password before it queues for the write lock,
    so it stalls no other writer of the site; but in the log-ins' own queue, so that attempts
    on an account are checked one at a time and the lock-out after 5 failures stays exact."""
    from mfg import auth

    verify = auth.verify_password
    seen: list[bool] = []

    def watched(stored_hash: str, password: str) -> bool:
        seen.append(_write_lock_free(db) and _login_turn_taken(db))
        return verify(stored_hash, password)

    monkeypatch.setattr(auth, "verify_password", watched)
    assert login(db) == actors["tech"]
    with pytest.raises(AuthenticationFailed):
        login(db, password="wrong password!")
    assert user_row(db, "tech").failed_logins == 1  # counted under the lock, as before
    users.reauthenticate(db, actors["qa"], PASSWORD, now=NOW)
    assert seen == [True, True, True]


def test_a_password_changed_while_the_old_one_was_checked_is_the_one_that_counts(
    db, actors, monkeypatch
):
    """The check ahead is keyed by the hash it used: when the password changes between it and
    the write, the new hash decides (checked under the lock), so the old password is refused."""
    import contextlib

    from mfg import auth

    verify = auth.verify_password
    new = "a-new-long-password"

    def changed_meanwhile(stored_hash: str, password: str) -> bool:
        monkeypatch.setattr(auth, "verify_password", verify)  # once
        assert _write_lock_free(db), "checked under the write lock: no write could come between"
        # a change whose own log-in had its turn before this one: its write lands now
        with monkeypatch.context() as m:
            m.setattr(users, "login_turn", lambda engine: contextlib.nullcontext())
            users.change_password(
                db, actor=actors["tech"], old_password=PASSWORD, new_password=new, now=NOW
            )
        return verify(stored_hash, password)

    monkeypatch.setattr(auth, "verify_password", changed_meanwhile)
    with pytest.raises(AuthenticationFailed):
        login(db)  # the old password, right when checked ahead, is no longer the account's
    assert user_row(db, "tech").failed_logins == 1
    assert login(db, password=new) == actors["tech"]


def test_a_locked_account_is_refused_without_checking_the_password(db, actors, monkeypatch):
    from mfg import auth

    for _ in range(MAX_FAILED_LOGINS):
        with pytest.raises(AuthenticationFailed):
            login(db, password="wrong password!")

    def never(stored_hash: str, password: str) -> bool:
        raise AssertionError("a locked account's password was checked")

    monkeypatch.setattr(auth, "verify_password", never)
    with pytest.raises(AuthenticationFailed) as e:
        login(db)
    assert e.value.rule == "account-locked"


def _reuse_refused(db, tech, current: str) -> None:  # type: ignore[no-untyped-def]
    """Changing the password back to the first one (in the history) is refused, nothing written."""
    assert_refused(
        db,
        lambda: users.change_password(
            db, actor=tech, old_password=current, new_password=PASSWORD, now=NOW
        ),
        "password-reused",
        "password",
    )


def test_a_password_change_hashes_and_checks_history_outside_the_write_lock(
    db, actors, monkeypatch
):
    """The new password's hash and its comparison with the earlier ones (argon2id, tens of ms
    each) are made before the write lock is taken; a reuse is still refused."""
    from mfg import auth

    tech = actors["tech"]
    first = "a-first-new-password"
    users.change_password(db, actor=tech, old_password=PASSWORD, new_password=first, now=NOW)
    verify, hash_password = auth.verify_password, auth.hash_password
    seen: list[tuple[str, bool]] = []

    def watched_verify(stored_hash: str, password: str) -> bool:
        seen.append(("verify", _write_lock_free(db)))
        return verify(stored_hash, password)

    def watched_hash(password: str) -> str:
        seen.append(("hash", _write_lock_free(db)))
        return hash_password(password)

    monkeypatch.setattr(auth, "verify_password", watched_verify)
    monkeypatch.setattr(auth, "hash_password", watched_hash)
    _reuse_refused(db, tech, first)
    users.change_password(
        db, actor=tech, old_password=first, new_password="a-second-new-password", now=NOW
    )
    assert {kind for kind, _ in seen} == {"verify", "hash"}
    assert all(free for _, free in seen), seen


def test_a_right_password_with_nothing_to_reset_logs_in_without_a_write(db, actors, monkeypatch):
    """A read command's log-in never queues behind the site's writers: only a failure to count
    or to reset (or an unknown name to report) opens a write."""

    def no_write(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise AssertionError("a successful log-in opened a write transaction")

    with monkeypatch.context() as m:
        m.setattr(db, "write", no_write)
        assert login(db) == actors["tech"]
        users.reauthenticate(db, actors["qa"], PASSWORD, now=NOW)
        with pytest.raises(AssertionError):  # a failure is counted: that writes
            login(db, password="wrong password!")
    assert user_row(db, "tech").failed_logins == 0  # (the write was refused above)
    with pytest.raises(AuthenticationFailed):
        login(db, password="wrong password!")
    assert user_row(db, "tech").failed_logins == 1
    login(db)  # the reset is a write, and is made
    assert user_row(db, "tech").failed_logins == 0


def test_attempts_at_once_check_no_more_than_five_passwords(db, actors, monkeypatch):
    """Eight wrong passwords sent at once (threads, one connection each): the log-ins' queue
    lets one be checked at a time, so five are checked and counted, the account locks, and the
    other three are refused as locked without their password being checked."""
    import threading

    from mfg import auth

    verify = auth.verify_password
    checked: list[str] = []

    def counted(stored_hash: str, password: str) -> bool:
        checked.append(password)
        return verify(stored_hash, password)

    monkeypatch.setattr(auth, "verify_password", counted)
    start = threading.Barrier(8)
    rules: list[str] = []

    def attempt(k: int) -> None:
        start.wait()
        try:
            login(db, password=f"wrong password {k}!")
        except AuthenticationFailed as e:
            rules.append(e.rule)

    threads = [threading.Thread(target=attempt, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(checked) == MAX_FAILED_LOGINS
    assert sorted(rules) == ["account-locked"] * 4 + ["authentication-failed"] * 4
    assert user_row(db, "tech").locked and user_row(db, "tech").failed_logins == 5


def test_an_earlier_password_recorded_meanwhile_is_checked_under_the_lock(db, actors, monkeypatch):
    """The history read ahead missed a password (another change landed between it and the
    write): the one found under the lock is checked there, and its reuse refused."""
    tech = actors["tech"]
    first = "a-first-new-password"
    users.change_password(db, actor=tech, old_password=PASSWORD, new_password=first, now=NOW)
    real = users._earlier
    reads: list[int] = []

    def earlier(session, username: str, keep: int) -> list[str]:  # type: ignore[no-untyped-def]
        reads.append(1)
        return [] if len(reads) == 1 else real(session, username, keep)

    monkeypatch.setattr(users, "_earlier", earlier)
    _reuse_refused(db, tech, first)
    assert len(reads) == 2


def test_a_log_in_begun_inside_a_write_is_refused_at_once(db, actors):  # type: ignore[no-untyped-def]
    """A log-in waits for the write lock while it holds the log-ins' queue
    (``mfg.store.logins``): begun inside a write of its own thread it would wait for that
    write's lock (PostgreSQL: for ever), or hold the queue while another thread's log-in waits
    for this write. It is refused
    at once, and the write is rolled back; outside a write, log-ins and e-signatures work as
    before."""
    for check in (
        lambda: users.login(db, "tech", PASSWORD, now=NOW),
        lambda: users.reauthenticate(db, actors["qa"], PASSWORD, now=NOW),
    ):
        refused = pytest.raises(RuntimeError, match="inside a write transaction")
        with refused, db.write(actors["admin"], NOW):
            check()
        assert check().username in ("tech", "qa")


def test_a_write_begun_inside_a_write_is_refused_at_once(sqlite_db):  # type: ignore[no-untyped-def]
    """A second write in the thread of an open one would wait for the first's write lock:
    refused at once, the first rolled back; the next write works. (The refusal comes before
    any database work, the same on both back-ends; on SQLite only because without it this test
    would wait on PostgreSQL for ever instead of failing.)"""
    admin = add_users(sqlite_db)["admin"]
    begun = []
    refused = pytest.raises(RuntimeError, match="inside a write transaction")
    with refused, sqlite_db.write(admin, NOW), sqlite_db.write(admin, NOW):
        begun.append("inner")
    assert begun == []
    with sqlite_db.write(admin, NOW) as tx:
        tx.commit()
