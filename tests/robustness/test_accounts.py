"""Accounts (21 CFR 11.300): lockout after 5 failures, admin unlock, password change, re-auth for
signatures, and passwords never logged nor in the audit trail (nor anywhere in the database file)."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from mfg.errors import AuthenticationFailed, NotPermitted, RuleViolation
from mfg.services import audit_trail, users
from tests.robustness.support import n_rows
from tests.support.constants import NOW, PASSWORD

WRONG = "Wr0ng-but-distinctive-§-pass"
NEW = "a-brand-new-passphrase-42"


def test_five_failures_lock_until_an_admin_unlocks(db, actors):
    for i in range(4):
        with pytest.raises(AuthenticationFailed) as e:
            users.login(db, "tech", WRONG, now=NOW)
        assert e.value.rule == "authentication-failed" and f"({4 - i} attempt(s) left" in str(
            e.value
        )
    with pytest.raises(AuthenticationFailed) as e:
        users.login(db, "tech", WRONG, now=NOW)
    assert e.value.rule == "account-locked"
    # even the right password is refused now
    with pytest.raises(AuthenticationFailed) as e:
        users.login(db, "tech", PASSWORD, now=NOW)
    assert e.value.rule == "account-locked"
    with pytest.raises(NotPermitted):
        users.unlock(db, actor=actors["qa"], username="tech", reason="asked", now=NOW)
    with pytest.raises(RuleViolation):
        users.unlock(db, actor=actors["admin"], username="tech", reason=" ", now=NOW)
    users.unlock(db, actor=actors["admin"], username="tech", reason="identity checked", now=NOW)
    assert users.login(db, "tech", PASSWORD, now=NOW).username == "tech"
    actions = [e.action for e in audit_trail.audit_log(db=db, actor=actors["qa"])]
    assert actions.count("user.login_failed") == 4
    assert "user.locked" in actions and "user.unlocked" in actions


def test_unknown_user_and_wrong_password_look_the_same(db, actors):
    with pytest.raises(AuthenticationFailed) as a:
        users.login(db, "nobody", WRONG, now=NOW)
    with pytest.raises(AuthenticationFailed) as b:
        users.login(db, "tech", WRONG, now=NOW)
    assert str(a.value).startswith("unknown user or wrong password")
    assert str(b.value).startswith("unknown user or wrong password")


def test_password_change(db, actors):
    tech = actors["tech"]
    with pytest.raises(AuthenticationFailed):
        users.change_password(db, actor=tech, old_password=WRONG, new_password=NEW, now=NOW)
    with pytest.raises(RuleViolation) as e:
        users.change_password(db, actor=tech, old_password=PASSWORD, new_password="short", now=NOW)
    assert e.value.rule == "password-too-short"
    users.change_password(db, actor=tech, old_password=PASSWORD, new_password=NEW, now=NOW)
    with pytest.raises(AuthenticationFailed):
        users.login(db, "tech", PASSWORD, now=NOW)
    assert users.login(db, "tech", NEW, now=NOW).username == "tech"


def test_reauthentication_for_signatures_counts_towards_lockout(db, actors):
    qa = actors["qa"]
    assert users.reauthenticate(db, qa, PASSWORD, now=NOW) == qa
    for _ in range(5):
        with pytest.raises(AuthenticationFailed):
            users.reauthenticate(db, qa, WRONG, now=NOW)
    with pytest.raises(AuthenticationFailed) as e:
        users.reauthenticate(db, qa, PASSWORD, now=NOW)
    assert e.value.rule == "account-locked"


def test_disposition_signature_asks_the_password_again(db, actors):
    from mfg.services import disposition
    from tests.support import world

    lv, _ = world.harvested_lot(db, actors["tech"])
    before = n_rows(db, disposition.Signature)
    with pytest.raises(AuthenticationFailed):
        disposition.dispose(
            disposition.Dispose(lv.lot_number, "reject", "test"),  # type: ignore[call-arg]
            WRONG,
            db=db,
            actor=actors["qa"],
            now=NOW,
        )
    assert n_rows(db, disposition.Signature) == before


def _everything_stored(db) -> str:  # type: ignore[no-untyped-def]
    """Every text value in every table (the audit trail included)."""
    from sqlmodel import SQLModel

    import mfg.store.tables  # noqa: F401

    chunks = []
    with db.engine.connect() as c:
        for t in SQLModel.metadata.sorted_tables:
            for row in c.execute(text(f'SELECT * FROM "{t.name}"')):
                chunks.append(" ".join(str(v) for v in row))
    return "\n".join(chunks)


def test_passwords_never_in_audit_values_database_or_logs(db, actors, tmp_path, monkeypatch):
    """Log in wrongly, change a password, add a user, provoke errors: the password texts appear
    nowhere: not in the audit trail, not in any table, not in the logs, not on the terminal."""
    from mfg.cli import app

    home = tmp_path / "cli-home"
    monkeypatch.setenv("MFG_HOME", str(home))
    monkeypatch.setenv("MFG_AUDIT_KEY_FILE", str(db.settings.audit_key_path))
    url = db.engine.url.render_as_string(hide_password=False)
    runner = CliRunner()
    outputs = []
    monkeypatch.setenv("MFG_PASSWORD", WRONG)
    for _ in range(2):
        outputs.append(runner.invoke(app, ["lot", "list", "--user", "tech", "--db", url]))
    monkeypatch.setenv("MFG_PASSWORD", PASSWORD)
    outputs.append(
        runner.invoke(
            app,
            [
                "user",
                "add",
                "newbie",
                "--role",
                "technician",
                "--full-name",
                "New Bie",
                "--password-stdin",
                "--user",
                "admin",
                "--db",
                url,
            ],
            input=NEW + "\n",
        )
    )
    outputs.append(
        runner.invoke(
            app,
            ["user", "passwd", "--password-stdin", "--user", "qa", "--db", url],
            input=NEW + "x\n",
        )
    )
    outputs.append(runner.invoke(app, ["lot", "show", "NOPE", "--user", "tech", "--db", url]))
    # an internal error is logged to $MFG_HOME/logs/errors.log: provoke one (bad DB URL scheme)
    outputs.append(runner.invoke(app, ["lot", "list", "--user", "tech", "--db", url + "-missing"]))
    for r in outputs:
        assert r.exit_code != 3 or "Traceback" not in r.output
    stored = _everything_stored(db)
    logs = "".join(p.read_text(errors="replace") for p in home.rglob("*") if p.is_file())
    terminal = "".join(r.output for r in outputs)
    for secret in (WRONG, PASSWORD, NEW, NEW + "x"):
        assert secret not in stored
        assert secret not in logs
        assert secret not in terminal
    assert "login_failed" in stored and "password_changed" in stored


def test_sqlite_file_never_holds_a_password_in_clear(sqlite_db, tmp_path):
    from tests.conftest import add_users

    add_users(sqlite_db)
    for _ in range(3):
        with pytest.raises(AuthenticationFailed):
            users.login(sqlite_db, "tech", WRONG, now=NOW)
    sqlite_db.dispose()
    raw = b"".join(
        p.read_bytes() for p in sqlite_db.settings.home.glob("celltrail.db*") if p.is_file()
    )
    assert raw
    for secret in (WRONG, PASSWORD):
        assert secret.encode() not in raw
