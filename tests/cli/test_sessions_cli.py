"""Issue 12: `mfg login` / `logout` / `whoami`, idle expiry, and e-signatures that never come from
MFG_PASSWORD or a session (21 CFR 11.200(a), 11.300)."""

from __future__ import annotations

import json
import sqlite3
import stat
from datetime import UTC, datetime, timedelta

import pytest

from tests.cli.conftest import Home
from tests.support.constants import PASSWORD


def login(home: Home, user: str = "qa"):  # type: ignore[no-untyped-def]
    return home.run("login", "--password-stdin", user=user, password=None, input=PASSWORD + "\n")


def session_files(home: Home) -> list:  # type: ignore[type-arg]
    d = home.path / "sessions"
    return sorted(d.glob("*.json")) if d.exists() else []


def test_login_keeps_a_private_token_and_the_database_only_its_hash(home: Home):
    r = login(home)
    assert r.exit_code == 0, r.stderr
    assert "logged in as qa (qa)" in r.stdout
    [f] = session_files(home)
    assert stat.S_IMODE(f.stat().st_mode) == 0o600
    assert stat.S_IMODE(f.parent.stat().st_mode) == 0o700
    token = json.loads(f.read_text())["token"]
    data = (
        home.db_path.read_bytes() + (home.path / "celltrail.db-wal").read_bytes()
        if (home.path / "celltrail.db-wal").exists()
        else home.db_path.read_bytes()
    )
    assert token.encode() not in data
    # later commands use the session: no --user, no password
    who = json.loads(home.ok("whoami", "--json", user=None, password=None).stdout)
    assert who["session"] and who["username"] == "qa" and who["kind"] == "cli"
    assert home.ok("audit", "log", "--last", "1", user=None, password=None).exit_code == 0
    r = home.ok("logout", user=None, password=None)
    assert "logged out qa" in r.stdout and session_files(home) == []
    r = home.run("audit", "log", user=None, password=None)
    assert r.exit_code == 1 and "[user-required]" in r.stderr
    log = json.loads(home.ok("audit", "log", "--json", user="qa").stdout)
    actions = [e["action"] for e in log]
    assert actions.count("session.opened") == 1 and actions.count("session.closed") == 1


def test_an_idle_session_ends_with_a_clear_message(home: Home):
    assert login(home).exit_code == 0
    with sqlite3.connect(home.db_path) as c:
        old = (datetime.now(UTC) - timedelta(minutes=16)).isoformat()
        c.execute("UPDATE user_session SET last_seen_at = ?", (old.replace("+00:00", ""),))
    r = home.run("audit", "log", user=None, password=None)
    assert r.exit_code == 1
    assert r.stderr.strip().endswith("[session-ended]") and "15 minutes" in r.stderr
    assert session_files(home) == []


def test_a_deactivated_user_is_logged_out_at_the_next_command(home: Home):
    assert login(home).exit_code == 0
    home.ok("user", "deactivate", "qa", "--reason", "left the company", user="admin")
    r = home.run("audit", "log", user=None, password=None)
    assert r.exit_code == 1 and "deactivated" in r.stderr and "[session-ended]" in r.stderr


def test_mfg_password_never_signs(home: Home):
    """A disposition with MFG_PASSWORD set (or a session) and no password typed is refused."""
    home.subject()
    lot = home.register()
    before = home.snapshot()
    r = home.run("disposition", lot, "reject", "--reason", "x", user="qa")  # MFG_PASSWORD is set
    assert r.exit_code == 1
    assert r.stderr.strip().endswith("[signature-password-required]"), r.stderr
    assert login(home).exit_code == 0
    r = home.run("disposition", lot, "reject", "--reason", "x", user=None, password=None)
    assert r.stderr.strip().endswith("[signature-password-required]"), r.stderr
    after = home.snapshot()
    assert {k: v for k, v in after.items() if k not in ("auditevent", "user_session")} == {
        k: v for k, v in before.items() if k not in ("auditevent", "user_session")
    }


def test_expired_password_must_be_changed_then_not_reused(home: Home, monkeypatch):
    monkeypatch.setenv("MFG_PASSWORD_MAX_AGE_DAYS", "1")
    with sqlite3.connect(home.db_path) as c:
        c.execute(
            "UPDATE app_user SET password_changed_at = ? WHERE username = 'qa'",
            ((datetime.now(UTC) - timedelta(days=2)).isoformat().replace("+00:00", ""),),
        )
    r = home.run("audit", "log", user="qa")
    assert r.exit_code == 1 and "[password-expired]" in r.stderr and "mfg user passwd" in r.stderr
    new = "a-fresh-passphrase-2026"
    home.ok("user", "passwd", "--password-stdin", user="qa", input=new + "\n")
    assert home.ok("audit", "log", "--last", "1", user="qa", password=new).exit_code == 0
    r = home.run(
        "user", "passwd", "--password-stdin", user="qa", password=new, input=PASSWORD + "\n"
    )
    assert r.exit_code == 1 and "[password-reused]" in r.stderr


@pytest.mark.parametrize("hours", ["0", "-3", "99999999999999999999"])
def test_user_events_refuses_odd_windows(home: Home, hours: str):
    r = home.run("user", "events", "--hours", hours, user="admin")
    assert r.exit_code == 1 and r.stderr.startswith("refused: ")


def test_user_events_shows_bursts_to_admins(home: Home):
    for _ in range(3):
        assert home.run("audit", "log", user="qa", password="wrong-password-here").exit_code == 1
    r = home.ok("user", "events", user="admin")
    assert "BURST qa: 3 failures" in r.stdout
    data = json.loads(home.ok("user", "events", "--json", user="admin").stdout)
    assert data["bursts"][0]["account"] == "qa"
    r = home.run("user", "events", user="qa")
    assert r.exit_code == 1 and "[not-permitted]" in r.stderr


def test_account_commands_print_the_account_as_stored_not_as_typed(home: Home):
    r = home.ok("user", "role", "TECH", "--role", "qa", "--reason", "trained", user="admin")
    assert r.stdout.strip() == "user tech is now qa"
    r = home.ok("user", "deactivate", "Tech", "--reason", "left", user="admin")
    assert r.stdout.strip() == "user tech deactivated"


def test_login_without_a_terminal_says_how_to_give_the_password(home: Home):
    before = home.snapshot()
    r = home.run("login", user="qa", password=None)
    assert r.exit_code == 1
    line = r.stderr.strip()
    assert line.endswith("[password-required]") and "--password-stdin" in line, line
    assert "run mfg login, or" not in line  # was: told to run the command being run
    assert session_files(home) == [] and home.snapshot() == before
