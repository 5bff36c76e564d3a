"""An account edited in SQL neither logs in, nor resumes a session, nor signs.

A hostile trial (2026-12-04) made a technician QA in SQL: the technician signed a release, the
role was put back, and ``mfg audit verify`` found nothing. A log-in, a resumed session and an
e-signature's password check now compare the account's role, active flag and password hash with
what the audit trail recorded for it (``mfg.services.account_trail``). SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest

from mfg.errors import AuthenticationFailed, SessionEnded
from mfg.services import accounts, users
from mfg.store.tables import AuditEvent
from tests.robustness.support import sql
from tests.services.test_holds import count
from tests.support.constants import NOW, PASSWORD


def _refused(db, username: str, password: str = PASSWORD) -> str:  # type: ignore[no-untyped-def]
    before = count(db, AuditEvent)
    with pytest.raises(AuthenticationFailed) as e:
        users.login(db, username, password, now=NOW)
    assert e.value.rule == "account-not-in-trail", e.value
    assert "mfg audit verify" in e.value.message
    assert count(db, AuditEvent) == before  # nothing written for it
    return e.value.message


def test_a_role_raised_in_sql_does_not_log_in_or_sign(db, actors) -> None:  # type: ignore[no-untyped-def]
    tech = users.login(db, "tech", PASSWORD, now=NOW)
    sql(db, "UPDATE app_user SET role = 'qa' WHERE username = 'tech'")
    said = _refused(db, "tech")
    assert "role ('qa', the trail: 'technician')" in said, said
    with pytest.raises(AuthenticationFailed) as e:  # the e-signature's password check
        users.reauthenticate(db, tech, PASSWORD, now=NOW)
    assert e.value.rule == "account-not-in-trail"
    sql(db, "UPDATE app_user SET role = 'technician' WHERE username = 'tech'")
    assert users.login(db, "tech", PASSWORD, now=NOW).role.value == "technician"


def test_a_role_changed_through_celltrail_logs_in(db, actors) -> None:  # type: ignore[no-untyped-def]
    users.set_role(
        db, actor=actors["admin"], username="tech", role="qa", reason="promoted", now=NOW
    )
    assert users.login(db, "tech", PASSWORD, now=NOW).role.value == "qa"


def test_a_reactivated_account_a_swapped_hash_and_an_inserted_account_are_refused(
    db, actors
) -> None:  # type: ignore[no-untyped-def]
    users.set_active(
        db, actor=actors["admin"], username="tech2", active=False, reason="left", now=NOW
    )
    sql(db, "UPDATE app_user SET active = :t WHERE username = 'tech2'", t=True)
    assert "active (True, the trail: False)" in _refused(db, "tech2")
    # the QA account given the technician's password hash: the technician's password signs as QA
    sql(
        db,
        "UPDATE app_user SET password_hash = "
        "(SELECT password_hash FROM app_user WHERE username = 'tech') WHERE username = 'qa2'",
    )
    assert "password hash" in _refused(db, "qa2")
    sql(
        db,
        "INSERT INTO app_user (username, full_name, role, password_hash, failed_logins, locked, "
        "active, created_at, password_changed_at, row_version) SELECT 'mallory', 'M', 'qa', "
        "password_hash, 0, locked, active, created_at, password_changed_at, 1 FROM app_user "
        "WHERE username = 'tech'",
    )
    assert "no audit event created it" in _refused(db, "mallory")


def test_a_session_of_an_account_edited_in_sql_does_not_resume(db, actors) -> None:  # type: ignore[no-untyped-def]
    tech = users.login(db, "tech", PASSWORD, now=NOW)
    token = accounts.open_session(db, tech, kind="cli", host="bench-1", now=NOW)
    assert accounts.resume_session(db, token, host="bench-1", now=NOW).username == "tech"
    sql(db, "UPDATE app_user SET role = 'qa' WHERE username = 'tech'")
    for later in (NOW, NOW + timedelta(minutes=2)):  # the read path, the write
        with pytest.raises(AuthenticationFailed) as e:
            accounts.resume_session(db, token, host="bench-1", now=later)
        assert e.value.rule == "account-not-in-trail" and not isinstance(e.value, SessionEnded)


def test_an_account_migration_0002_renamed_logs_in(db, actors) -> None:  # type: ignore[no-untyped-def]
    """0002 wrote names canonically, one ``identity.canonicalised`` event each: the account's
    earlier events are under its old name, and were followed (a renamed account was refused)."""
    from sqlalchemy import text

    with db.write(None, NOW) as tx:
        tx.session.execute(text("UPDATE app_user SET username = 'techie' WHERE username = 'tech'"))
        tx.audit(
            "identity.canonicalised",
            "user",
            "techie",
            old={"username": "tech"},
            new={"username": "techie"},
            reason="migration 0002: username in its canonical form",
            username="system",
        )
        tx.commit()
    assert users.login(db, "techie", PASSWORD, now=NOW).role.value == "technician"
    sql(db, "UPDATE app_user SET role = 'qa' WHERE username = 'techie'")
    assert "role ('qa', the trail: 'technician')" in _refused(db, "techie")


def test_an_account_locked_by_wrong_passwords_and_unlocked_in_sql_stays_refused(db, actors) -> None:  # type: ignore[no-untyped-def]
    """Five wrong passwords lock the account (``user.locked`` in the trail); the lock lifted in
    SQL, the right password is refused as not what the trail says; an admin's unlock (audited)
    lets it in again."""
    from mfg.auth import MAX_FAILED_LOGINS

    for _ in range(MAX_FAILED_LOGINS):
        with pytest.raises(AuthenticationFailed):
            users.login(db, "tech", "wrong password!", now=NOW)
    sql(db, "UPDATE app_user SET locked = :f, failed_logins = 0 WHERE username = 'tech'", f=False)
    assert "locked (False, the trail: True)" in _refused(db, "tech")
    sql(db, "UPDATE app_user SET locked = :t WHERE username = 'tech'", t=True)
    users.unlock(db, actor=actors["admin"], username="tech", reason="forgot", now=NOW)
    assert users.login(db, "tech", PASSWORD, now=NOW).username == "tech"
