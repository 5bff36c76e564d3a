"""The keyed chain, checkpoints and append-only triggers, against someone who can write the
database but does not hold the site's audit key. Every db test runs on SQLite and PostgreSQL."""

from __future__ import annotations

import hmac
import json
import os
from pathlib import Path

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from mfg import audit, auditkey
from mfg.errors import ConfigError
from mfg.services import audit_trail
from tests.robustness.support import attack, count_and_its_event_times_ten, scalar, sql
from tests.support import world
from tests.support.constants import NOW, PASSWORD

# mfg runs on data made at NOW: its clock is fixed a week on (cli_clock), not the real one
pytestmark = pytest.mark.usefixtures("cli_clock")


@pytest.fixture
def lot(db, actors):  # type: ignore[no-untyped-def]
    return world.harvested_lot(db, actors["tech"])[0].lot_number


def verify(db, actors, **kw):  # type: ignore[no-untyped-def]
    return audit_trail.verify(db=db, actor=actors["qa"], **kw)


def cli(db, *args: str) -> object:  # type: ignore[no-untyped-def]
    from mfg.cli import app

    url = db.engine.url.render_as_string(hide_password=False)
    env = {"MFG_HOME": str(db.settings.home), "MFG_PASSWORD": PASSWORD, "MFG_DATABASE_URL": url}
    return CliRunner().invoke(app, [*args, "--user", "qa"], env=env)


def rechain_from(db, seq: int, ring: auditkey.Keyring | None) -> None:  # type: ignore[no-untyped-def]
    """The 'few lines of Python': recompute every hash from ``seq`` on, with ``ring``'s key
    (the attacker's own, or None for the unkeyed SHA-256 of CellTrail 0.1)."""
    with db.engine.begin() as c:
        prev = c.execute(
            text("SELECT hash FROM auditevent WHERE seq = :s"), {"s": seq - 1}
        ).scalar()
        rows = c.execute(
            text(
                f"SELECT seq, {audit.message_sql(db.dialect)} FROM auditevent "
                "WHERE seq >= :s ORDER BY seq"
            ),
            {"s": seq},
        ).all()
        for s_, msg in rows:
            if ring is None:
                import hashlib

                h = hashlib.sha256(f"{prev}\n{msg}".encode()).hexdigest()
            else:
                h = audit.keyed_hash(ring.current_mac, prev, msg)
            c.execute(
                text("UPDATE auditevent SET prev_hash = :p, hash = :h WHERE seq = :s"),
                {"p": prev, "h": h, "s": s_},
            )
            prev = h


def test_mac_is_hmac_sha256():
    for key in (b"k" * 32, b"", b"x" * 64, b"y" * 100):
        for msg in (b"", b"abc", b"z" * 1000):
            assert auditkey.Mac(key).hex(msg) == hmac.new(key, msg, "sha256").hexdigest()


def test_untouched_trail_verifies_against_its_newest_checkpoint(db, actors, lot):
    r = verify(db, actors, now=NOW)
    assert r.ok, (r.problem, r.record_problems)
    head = scalar(db, "SELECT max(seq) FROM auditevent")
    assert r.head_seq == head and f"event {head})" in r.checkpoint
    assert scalar(db, "SELECT count(DISTINCT key_id) FROM auditevent") == 1
    key = db.settings.audit_key_path
    assert oct(key.stat().st_mode & 0o777) == "0o600"
    assert oct(key.parent.stat().st_mode & 0o777) == "0o700"


@pytest.mark.parametrize("ring", ["attacker", "unkeyed"])
def test_record_and_event_changed_then_chain_recomputed_without_the_key(
    db, actors, lot, tmp_path, ring
):
    seq = count_and_its_event_times_ten(db, scalar(db, "SELECT max(id) FROM cellcount"))
    mallory = auditkey.create_keyring(tmp_path / "mallory" / "audit.key", NOW)
    rechain_from(db, seq, mallory if ring == "attacker" else None)
    r = verify(db, actors)
    assert not r.ok and r.first_bad_seq == seq
    assert "re-hashed by someone without the site's key" in r.problem
    out = cli(db, "audit", "verify")
    assert out.exit_code == 1  # type: ignore[attr-defined]
    assert f"audit trail broken at event {seq}" in out.stderr  # type: ignore[attr-defined]


def test_tail_truncation_is_found_by_the_checkpoint(db, actors, lot):
    """The newest events deleted together with the rows they created: the chain that is left
    is whole, and every record matches it; only the checkpoint beside the key shows the cut."""
    head = scalar(db, "SELECT max(seq) FROM auditevent")
    first = 1 + scalar(db, "SELECT max(seq) FROM auditevent WHERE action = 'count.recorded'")
    pk = scalar(db, "SELECT id FROM lot WHERE lot_number = :l", l=lot)
    sql(db, "DELETE FROM dosebag WHERE lot_pk = :p", p=pk)
    sql(db, "DELETE FROM harvest WHERE lot_pk = :p", p=pk)
    attack(db, "DELETE FROM auditevent WHERE seq >= :s", s=first)
    sql(db, "UPDATE lot SET state = 'in_expansion' WHERE id = :p", p=pk)
    # the deleted events also verified the subject's weight (the record check compares that too)
    sql(db, "UPDATE subject SET weight_verified_by = NULL, weight_verified_at = NULL")
    r = verify(db, actors)
    assert not r.ok and r.first_bad_seq == first and r.record_problems == (), r.record_problems
    assert f"event(s) {first}..{head} were removed (truncated)" in r.problem
    out = cli(db, "audit", "verify")
    assert out.exit_code == 1 and "truncated" in out.stderr  # type: ignore[attr-defined]


def test_anchor_file_finds_truncation_when_the_checkpoint_file_is_gone(db, actors, lot, tmp_path):
    anchor = tmp_path / "offsite" / "anchor.json"
    anchor.parent.mkdir()
    made = cli(db, "audit", "anchor", "-o", str(anchor))
    assert made.exit_code == 0, made.output  # type: ignore[attr-defined]
    assert "anchor written to" in made.stdout  # type: ignore[attr-defined]
    again = cli(db, "audit", "anchor", "-o", str(anchor))
    assert again.exit_code == 1 and "[file-exists]" in again.stderr  # type: ignore[attr-defined]
    head = scalar(db, "SELECT max(seq) FROM auditevent")
    attack(db, "DELETE FROM auditevent WHERE seq = :s", s=head)
    db.audit_keyring().checkpoints_path.unlink()  # lost, or out of the tamperer's reach
    assert verify(db, actors).checkpoint == "no checkpoint of this trail found"
    r = verify(db, actors, anchor=anchor)
    assert not r.ok and r.first_bad_seq == head and "truncated" in r.problem
    out = cli(db, "audit", "verify", "--anchor", str(anchor))
    assert out.exit_code == 1 and f"event(s) {head} were removed" in out.stderr  # type: ignore[attr-defined]


def test_a_forged_or_foreign_anchor_is_refused(db, actors, lot, tmp_path):
    anchor = tmp_path / "anchor.json"
    audit_trail.anchor(db=db, actor=actors["qa"], out=anchor, now=NOW)
    data = json.loads(anchor.read_text())
    forged = tmp_path / "forged.json"
    forged.write_text(json.dumps({**data, "seq": data["seq"] + 5}) + "\n")
    r = verify(db, actors, anchor=forged)
    assert not r.ok and "does not verify with the key" in r.problem
    other = tmp_path / "other.json"
    other.write_text(json.dumps({**data, "trail": "f" * 64}) + "\n")
    out = cli(db, "audit", "verify", "--anchor", str(other))
    assert out.exit_code == 1 and "[anchor-other-trail]" in out.stderr  # type: ignore[attr-defined]


def test_an_edited_checkpoint_file_is_named(db, actors, lot):
    path = db.audit_keyring().checkpoints_path
    lines = path.read_text().splitlines()
    data = json.loads(lines[-1])
    lines[-1] = json.dumps({**data, "seq": data["seq"] - 1, "hash": "0" * 64})
    path.write_text("\n".join(lines) + "\n")
    r = verify(db, actors)
    assert not r.ok and "checkpoint damaged" in r.problem and "does not verify" in r.problem


def test_the_audit_table_refuses_update_delete_and_truncate(db, actors, lot):
    for statement in (
        "UPDATE auditevent SET reason = 'x' WHERE seq = 2",
        "DELETE FROM auditevent WHERE seq = 2",
        *(["TRUNCATE auditevent"] if db.dialect == "postgresql" else []),
    ):
        with pytest.raises(Exception, match="append-only"):
            sql(db, statement)
    assert verify(db, actors).ok


def test_writes_without_the_key_are_refused_and_write_nothing(db, actors, lot):
    key = db.settings.audit_key_path
    key.rename(key.with_name("elsewhere"))
    from mfg.services.uow import Database

    fresh = Database(engine=db.engine, settings=db.settings)  # a new process: no cached key
    events = scalar(db, "SELECT count(*) FROM auditevent")
    with pytest.raises(auditkey.AuditKeyMissing) as e:
        world.subject(fresh, actors["tech"], "S-077")
    assert e.value.rule == "audit-key-missing" and str(key) in str(e.value)
    assert scalar(db, "SELECT count(*) FROM auditevent") == events
    assert scalar(db, "SELECT count(*) FROM subject WHERE subject_id = 'S-077'") == 0
    out = cli(db, "audit", "verify")
    assert out.exit_code == 1 and "[audit-key-missing]" in out.stderr  # type: ignore[attr-defined]


def test_a_key_file_others_can_read_is_refused(db, actors, lot):
    key = db.settings.audit_key_path
    os.chmod(key, 0o644)
    with pytest.raises(ConfigError) as e:
        auditkey.load_keyring(key)
    assert e.value.rule == "audit-key-permissions" and "chmod 600" in str(e.value)


def test_rotation_keeps_older_events_verifying(db, actors, lot):
    old = db.audit_keyring().current
    ring = audit_trail.rotate_key(db=db, actor=actors["admin"], now=NOW)
    assert ring.current != old and set(ring.keys) == {old, ring.current}
    world.subject(db, actors["tech"], "S-078")
    assert verify(db, actors).ok
    ids = {
        r[0]
        for r in db.engine.connect().execute(text("SELECT DISTINCT key_id FROM auditevent")).all()
    }
    assert ids == {old, ring.current}
    rotated = scalar(db, "SELECT seq FROM auditevent WHERE action = 'audit.key_rotated'")
    # the rotation event is chained with the key in force and names the new one (the key is
    # appended only once that event is committed); the next event is the new key's first
    assert scalar(db, "SELECT key_id FROM auditevent WHERE seq = :s", s=rotated) == old
    assert ring.current in scalar(db, "SELECT new_values FROM auditevent WHERE seq = :s", s=rotated)
    assert scalar(db, "SELECT key_id FROM auditevent WHERE seq = :s", s=rotated + 1) == ring.current
    # without the old key, the old events cannot be verified: the verifier says which key
    path = ring.path
    path.write_text(
        "\n".join(x for x in path.read_text().splitlines() if not x.startswith(old)) + "\n"
    )
    from mfg.services.uow import Database

    fresh = Database(engine=db.engine, settings=db.settings)
    r = verify(fresh, actors)
    assert r.first_bad_seq == 1 and f"names audit key {old!r}" in r.problem


def test_since_checkpoint_checks_after_the_last_verified_pass(db, actors, lot):
    assert verify(db, actors, now=NOW).ok  # a full pass writes the verified checkpoint
    verified = scalar(db, "SELECT max(seq) FROM auditevent")
    world.subject(db, actors["tech"], "S-079")
    r = verify(db, actors, since_checkpoint=True)
    assert r.ok and r.started_after == verified and r.events == 1
    out = cli(db, "audit", "verify", "--since-checkpoint")  # passes: verified up to the head
    assert out.exit_code == 0 and f"events {verified + 1}..{verified + 1}," in out.stdout  # type: ignore[attr-defined]
    verified += 1
    world.subject(db, actors["tech"], "S-080")
    attack(db, "UPDATE auditevent SET reason = 'edited' WHERE seq = :s", s=verified + 1)
    r = verify(db, actors, since_checkpoint=True)
    assert r.first_bad_seq == verified + 1 and "changed after it was written" in r.problem
    attack(db, "DELETE FROM auditevent WHERE seq >= :s", s=verified)
    r = verify(db, actors, since_checkpoint=True)
    assert r.first_bad_seq == verified and "is missing" in r.problem


def test_since_checkpoint_with_nothing_new_says_so(db, actors, lot):
    """It said 'events 13..12' when no event came after the verified checkpoint."""
    assert verify(db, actors, now=NOW).ok
    verified = scalar(db, "SELECT max(seq) FROM auditevent")
    out = cli(db, "audit", "verify", "--since-checkpoint")
    assert out.exit_code == 0, out.output  # type: ignore[attr-defined]
    assert f"intact: no events after verified event {verified}, head {verified}:" in out.stdout  # type: ignore[attr-defined]


@pytest.mark.sqlite_only("a file copy; the PostgreSQL drill is in test_backup")
def test_restored_copy_elsewhere_keeps_its_own_checkpoints(db, actors, lot, tmp_path):
    """Checkpoints belong to one database: a drill copy restored elsewhere does not fail
    against the live database's newer ones (and --anchor from the backup checks it)."""
    from mfg.services.uow import Database
    from mfg.store import db as store_db

    copy = tmp_path / "drill.db"
    with db.engine.connect() as c:
        c.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    copy.write_bytes(Path(db.engine.url.database or "").read_bytes())
    anchor = tmp_path / "at-copy.json"
    audit_trail.anchor(db=db, actor=actors["qa"], out=anchor, now=NOW)
    world.subject(db, actors["tech"], "S-080")  # the live database moves on
    drill = Database(engine=store_db.make_engine(f"sqlite:///{copy}"), settings=db.settings)
    try:
        assert verify(drill, actors).ok
        assert verify(drill, actors, anchor=anchor).ok
    finally:
        drill.dispose()


@pytest.mark.parametrize(
    ("where", "rule"),
    [
        ("missing-folder/anchor.json", "output-folder-missing"),
        (".", "output-is-directory"),
        ("link.json", "output-symlink"),
    ],
)
def test_anchor_to_an_impossible_target_is_a_one_line_refusal(
    db, actors, lot, tmp_path, where, rule
):
    """No exit 3, no file, no checkpoint appended beside the key."""
    (tmp_path / "elsewhere.json").write_text("")
    (tmp_path / "link.json").symlink_to(tmp_path / "elsewhere.json")
    ring = db.audit_keyring()
    before = ring.checkpoints_path.read_bytes() if ring.checkpoints_path.exists() else b""
    out = cli(db, "audit", "anchor", "-o", str(tmp_path / where))
    assert out.exit_code == 1, out.output  # type: ignore[attr-defined]
    assert f"[{rule}]" in out.stderr and "output:" in out.stderr  # type: ignore[attr-defined]
    assert (tmp_path / "elsewhere.json").read_text() == ""
    after = ring.checkpoints_path.read_bytes() if ring.checkpoints_path.exists() else b""
    assert after == before


@pytest.mark.parametrize("where", [".", "/dev/null"])
def test_verify_against_a_directory_or_device_says_so(db, actors, lot, tmp_path, where):
    target = str(tmp_path) if where == "." else where
    out = cli(db, "audit", "verify", "--anchor", target)
    assert out.exit_code == 1, out.output  # type: ignore[attr-defined]
    assert "[not-an-anchor]" in out.stderr and "is not a file" in out.stderr  # type: ignore[attr-defined]
