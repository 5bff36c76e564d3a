"""mfg backup / mfg restore on SQLite and PostgreSQL: verified by audit verify and record counts."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import create_engine
from typer.testing import CliRunner

from mfg import backup
from mfg.errors import NotPermitted, RuleViolation
from mfg.services import audit_trail
from mfg.services.uow import Database
from tests.robustness.support import counts, sql, wait_until
from tests.support import world
from tests.support.constants import NOW, PASSWORD
from tests.support.databases import empty_database_url


def empty_target(backend: str, tmp_path, request) -> str:  # type: ignore[no-untyped-def]
    return empty_database_url(backend, tmp_path / "restored" / "celltrail.db", request)


@pytest.fixture
def filled(db, actors):  # type: ignore[no-untyped-def]
    world.harvested_lot(db, actors["tech"])
    world.subject(db, actors["tech"], "S-002")
    world.lot(db, actors["tech"], "S-002")
    return db


def test_backup_and_restore_round_trip(filled, actors, backend, tmp_path, request):
    db = filled
    before = counts(db)
    f = tmp_path / "celltrail.backup"
    m = backup.backup(db, f, actor=actors["admin"], now=NOW)
    assert f.exists() and backup.manifest_path(f).exists()
    assert m.format == ("sqlite" if backend == "sqlite" else "pg_dump")
    assert m.counts["lot"] == 2 and m.counts["auditevent"] == before["AuditEvent"]
    assert m.sha256 == backup.sha256_file(f)
    # the backup itself is audited on the live database
    log = audit_trail.audit_log(db=db, actor=actors["qa"], action="database.backed_up")
    assert log[-1].new["sha256"] == m.sha256
    target = empty_target(backend, tmp_path, request)
    report = backup.restore(f, target, db.audit_keyring())
    assert report.ok, (report.problem, report.record_problems)
    assert report.counts == m.counts and report.audit_events == m.audit_events
    restored = Database.open(target, db.settings)
    try:
        assert counts(restored) == before
        r = audit_trail.verify(db=restored, actor=actors["qa"])
        assert r.ok and r.events == before["AuditEvent"]
    finally:
        restored.dispose()


def test_restore_refuses_a_non_empty_database(filled, actors, tmp_path):
    f = tmp_path / "b.backup"
    backup.backup(filled, f, actor=actors["admin"], now=NOW)
    before = counts(filled)
    url = filled.engine.url.render_as_string(hide_password=False)
    with pytest.raises(RuleViolation) as e:
        backup.restore(f, url, filled.audit_keyring())
    assert e.value.rule == "restore-target-not-empty"
    assert counts(filled) == before


def test_backup_needs_the_admin_role_and_never_overwrites(filled, actors, tmp_path):
    f = tmp_path / "b.backup"
    for who in ("tech", "qa", "sponsor"):
        with pytest.raises(NotPermitted):
            backup.backup(filled, f, actor=actors[who], now=NOW)
    assert not f.exists()
    backup.backup(filled, f, actor=actors["admin"], now=NOW)
    with pytest.raises(RuleViolation) as e:
        backup.backup(filled, f, actor=actors["admin"], now=NOW)
    assert e.value.rule == "backup-exists"


def test_corrupted_backup_is_refused(filled, actors, backend, tmp_path, request):
    f = tmp_path / "b.backup"
    backup.backup(filled, f, actor=actors["admin"], now=NOW)
    data = bytearray(f.read_bytes())
    data[len(data) // 2] ^= 0xFF
    f.write_bytes(bytes(data))
    target = empty_target(backend, tmp_path, request)
    with pytest.raises(RuleViolation) as e:
        backup.restore(f, target, filled.audit_keyring())
    assert e.value.rule == "backup-corrupted"
    eng = create_engine(target)
    try:
        assert backup.is_empty(eng)
    finally:
        eng.dispose()


def test_backup_of_a_tampered_database_restores_but_does_not_verify(
    filled, actors, backend, tmp_path, request
):
    sql(filled, "UPDATE lot SET state = 'released'")
    f = tmp_path / "b.backup"
    backup.backup(filled, f, actor=actors["admin"], now=NOW)
    report = backup.restore(f, empty_target(backend, tmp_path, request), filled.audit_keyring())
    assert not report.ok and any("state is" in p for p in report.record_problems)


def test_cli_backup_restore_drill(
    filled, actors, backend, tmp_path, request, monkeypatch, cli_clock
):
    from mfg.cli import app

    monkeypatch.setenv("MFG_HOME", str(tmp_path / "home-cli"))
    monkeypatch.setenv("MFG_AUDIT_KEY_FILE", str(filled.settings.audit_key_path))
    monkeypatch.setenv("MFG_PASSWORD", PASSWORD)
    url = filled.engine.url.render_as_string(hide_password=False)
    f = tmp_path / "drill.backup"
    runner = CliRunner()
    r = runner.invoke(app, ["backup", str(f), "--user", "tech", "--db", url])
    assert r.exit_code == 1 and "[not-permitted]" in r.stderr
    r = runner.invoke(app, ["backup", str(f), "--user", "admin", "--db", url, "--json"])
    assert r.exit_code == 0, r.output
    records = json.loads(r.stdout)["counts"]
    target = empty_target(backend, tmp_path, request)
    # a non-admin cannot restore: the restore is undone
    r = runner.invoke(app, ["restore", str(f), "--user", "qa", "--db", target])
    assert r.exit_code == 1 and "[not-permitted]" in r.stderr
    eng = create_engine(target)
    assert backup.is_empty(eng)
    eng.dispose()
    r = runner.invoke(app, ["restore", str(f), "--user", "admin", "--db", target, "--json"])
    assert r.exit_code == 0, r.output + r.stderr
    out = json.loads(r.stdout)
    assert out["verified"] and out["counts"] == records
    r = runner.invoke(app, ["audit", "verify", "--user", "qa", "--db", target])
    assert r.exit_code == 0 and "audit trail intact" in r.stdout
    r = runner.invoke(app, ["restore", str(f), "--user", "admin", "--db", target])
    assert r.exit_code == 1 and "[restore-target-not-empty]" in r.stderr


def test_online_backup_while_a_writer_is_busy_is_consistent(db, actors, backend, tmp_path, request):
    """A backup taken while another process keeps writing restores to a verifying database
    whose row counts are exactly the manifest's (one consistent snapshot)."""
    import multiprocessing as mp

    from tests.robustness import workers

    world.subject(db, actors["tech"])
    lot = world.lot(db, actors["tech"]).lot_number
    log = tmp_path / "committed.txt"
    url = db.engine.url.render_as_string(hide_password=False)
    p = mp.get_context("spawn").Process(
        target=workers.write_and_log, args=(url, str(db.settings.home), lot, str(log))
    )
    p.start()
    try:
        wait_until(lambda: log.exists() and len(log.read_text().split()) >= 5, "5 counts written")
        f = tmp_path / "online.backup"
        m = backup.backup(db, f, actor=actors["admin"], now=NOW)
        wait_until(  # the writer goes on after the snapshot
            lambda: counts(db)["CellCount"] > m.counts["cellcount"], "a count after the backup"
        )
    finally:
        p.kill()
        p.join(30)
    assert m.counts["cellcount"] >= 5
    report = backup.restore(f, empty_target(backend, tmp_path, request), db.audit_keyring())
    assert report.ok, (report.problem, report.record_problems[:3])
    assert report.counts == m.counts
    assert counts(db)["CellCount"] > m.counts["cellcount"]  # the live database moved on
