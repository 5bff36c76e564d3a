"""Concurrent writers in separate processes on SQLite (WAL) and PostgreSQL.

No lost update, no duplicate lot number or COI code, the audit chain whole afterwards; two people
correcting the same record: the second gets ``Conflict`` "changed by X at T".
"""

from __future__ import annotations

import multiprocessing as mp
from collections import Counter

import pytest
from sqlmodel import col, select

from mfg.errors import Conflict
from mfg.services import counts, subjects
from mfg.store.tables import AuditEvent, CellCount, Lot, Subject
from tests.robustness import workers
from tests.robustness.support import n_rows, verify
from tests.support import world
from tests.support.constants import NOW

N_PROC = 4


def _url(db) -> str:  # type: ignore[no-untyped-def]
    return db.engine.url.render_as_string(hide_password=False)


def run_parallel(target, arg_lists):  # type: ignore[no-untyped-def]
    """Start one spawned process per argument list, release them together, collect results."""
    ctx = mp.get_context("spawn")
    start = ctx.Barrier(len(arg_lists) + 1)  # every worker imported and ready, then all go
    out = ctx.Queue()
    procs = [ctx.Process(target=target, args=(*args, start, out)) for args in arg_lists]
    for p in procs:
        p.start()
    start.wait(120)
    results = [out.get(timeout=240) for _ in procs]
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    errors = [r for r in results if r[1] == "error"]
    assert not errors, errors[0][2]
    return results


def test_concurrent_registration_gives_unique_lot_numbers_and_cois(db, actors):
    per = 4
    sids = [[f"S-{p}{i}" for i in range(per)] for p in range(N_PROC)]
    for group in sids:
        for sid in group:
            world.subject(db, actors["tech"], sid)
    results = run_parallel(
        workers.register_lots, [(_url(db), str(db.settings.home), g) for g in sids]
    )
    assert all(r[1] == "ok" for r in results), results
    made = [x for r in results for x in r[2]]
    assert len(made) == N_PROC * per
    numbers = [m[0] for m in made]
    cois = [m[1] for m in made]
    assert len(set(numbers)) == len(numbers) and len(set(cois)) == len(cois)
    # the sequence has no gaps: 0001 .. 0016
    assert sorted(numbers) == [f"BH002-26-{i:04d}" for i in range(1, N_PROC * per + 1)]
    with db.read() as s:
        assert len(s.exec(select(Lot)).all()) == N_PROC * per
    r = verify(db, actors["qa"])
    assert r.ok, (r.problem, r.record_problems)


@pytest.mark.parametrize("live", [False, True], ids=["bare", "logged-in"])
def test_concurrent_counts_on_one_lot_are_all_kept(db, actors, live):
    world.subject(db, actors["tech"])
    lot = world.lot(db, actors["tech"]).lot_number
    per = 5
    results = run_parallel(
        workers.add_counts,
        [
            (_url(db), str(db.settings.home), lot, list(range(p * per, (p + 1) * per)), live)
            for p in range(N_PROC)
        ],
    )
    assert all(r[1] == "ok" for r in results), results
    ids = [i for r in results for i in r[2]]
    assert len(set(ids)) == N_PROC * per
    assert n_rows(db, CellCount) == N_PROC * per  # no lost update
    with db.read() as s:
        changed = s.exec(
            select(AuditEvent).where(
                AuditEvent.action == "lot.state_changed", AuditEvent.lot_number == lot
            )
        ).all()
        recorded = s.exec(select(AuditEvent).where(AuditEvent.action == "count.recorded")).all()
        seqs = s.exec(select(AuditEvent.seq).order_by(col(AuditEvent.seq))).all()
    assert len(changed) == 1  # registered -> in_expansion exactly once
    assert len(recorded) == N_PROC * per
    assert list(seqs) == list(range(1, len(seqs) + 1))
    r = verify(db, actors["qa"])
    assert r.ok, (r.problem, r.record_problems)


def test_two_people_correct_the_same_count_second_gets_conflict(db, actors):
    world.subject(db, actors["tech"])
    lot = world.lot(db, actors["tech"]).lot_number
    c = counts.record_count(
        counts.RecordCount(lot, 110_000_000, 100_000_000, day=0),
        db=db,
        actor=actors["tech"],
        now=NOW,
    )
    results = run_parallel(
        workers.correct_count,
        [(_url(db), str(db.settings.home), lot, c.id, 100_000_001 + p) for p in range(N_PROC)],
    )
    kinds = Counter(r[1] for r in results)
    assert kinds == {"ok": 1, "conflict": N_PROC - 1}, results
    winner = next(r for r in results if r[1] == "ok")
    for r in results:
        if r[1] == "conflict":
            assert f"count {c.id} was changed by tech" in r[2] and " UTC (now version 2" in r[2]
    with db.read() as s:
        rows = s.exec(select(CellCount).order_by(col(CellCount.id))).all()
    assert len(rows) == 2 and rows[0].superseded_by_id == winner[2]
    r = verify(db, actors["qa"])
    assert r.ok, (r.problem, r.record_problems)


def test_two_people_change_the_same_weight_second_gets_conflict(db, actors):
    world.subject(db, actors["tech"])
    results = run_parallel(
        workers.change_weight,
        [(_url(db), str(db.settings.home), "S-001", 60.0 + p, 1) for p in range(N_PROC)],
    )
    kinds = Counter(r[1] for r in results)
    assert kinds == {"ok": 1, "conflict": N_PROC - 1}, results
    winner = next(r for r in results if r[1] == "ok")[2]
    with db.read() as s:
        subj = s.exec(select(Subject)).one()
    assert subj.weight_kg == winner and subj.row_version == 2
    assert all(
        "subject S-001 was changed by tech at" in r[2] for r in results if r[1] == "conflict"
    )


def test_optimistic_lock_in_process_names_who_and_when(db, actors):
    """The same story without processes: read version 1, someone corrects, stale edit refused."""
    world.subject(db, actors["tech"])
    lot = world.lot(db, actors["tech"]).lot_number
    c = counts.record_count(
        counts.RecordCount(lot, 110_000_000, 100_000_000, day=0),
        db=db,
        actor=actors["tech"],
        now=NOW,
    )
    with db.read() as s:
        seen = counts.count_version(s, c.id)
    assert seen == 1
    counts.correct_count(
        c.id,
        counts.RecordCount(lot, 120_000_000, 100_000_000, day=0),
        "typo",
        db=db,
        actor=actors["tech2"],
        now=NOW,
        expected_version=seen,
    )
    before = n_rows(db, AuditEvent)
    with pytest.raises(Conflict) as e:
        counts.correct_count(
            c.id,
            counts.RecordCount(lot, 130_000_000, 100_000_000, day=0),
            "other typo",
            db=db,
            actor=actors["tech"],
            now=NOW,
            expected_version=seen,
        )
    assert str(e.value).startswith(f"count {c.id} was changed by tech2 at 2026-11-25 09:30:00 UTC")
    assert e.value.rule == "changed-by-someone-else"
    assert n_rows(db, AuditEvent) == before and n_rows(db, CellCount) == 2
    # weight: stale row_version refused, current one accepted
    with db.read() as s:
        v = s.exec(select(Subject)).one().row_version
    from datetime import date

    subjects.update_weight(
        "S-001",
        63.0,
        date(2026, 11, 24),
        "scale",
        db=db,
        actor=actors["tech"],
        now=NOW,
        expected_version=v,
    )
    with pytest.raises(Conflict):
        subjects.update_weight(
            "S-001",
            64.0,
            date(2026, 11, 24),
            "scale",
            db=db,
            actor=actors["qa"],
            now=NOW,
            expected_version=v,
        )


def test_harvest_correction_with_stale_version_conflicts(db, actors):
    from mfg.services import harvest

    lv, hv = world.harvested_lot(db, actors["tech"])
    v = harvest.harvest_version(lv.lot_number, db=db, actor=actors["qa"])
    assert v == 1
    cmd = harvest.RecordHarvest(lv.lot_number, hv.harvested_on, 3_100_000_000, 31.0)
    harvest.correct_harvest(cmd, "typo", db=db, actor=actors["qa"], now=NOW, expected_version=v)
    with pytest.raises(Conflict) as e:
        harvest.correct_harvest(
            cmd, "typo again", db=db, actor=actors["tech"], now=NOW, expected_version=v
        )
    assert f"harvest {lv.lot_number} was changed by qa at" in str(e.value)


def test_concurrent_mfg_commands_as_separate_programs(db, tmp_path):
    """The real command line: six `mfg` processes at once, registering lots and counting."""
    import os
    import subprocess
    import sys
    from datetime import UTC, datetime, timedelta
    from pathlib import Path

    from tests.conftest import add_users
    from tests.support.constants import PASSWORD

    now = datetime.now(UTC)  # `mfg` runs on the real clock: the data are made on it too
    actors = add_users(db, now)
    world.subject(db, actors["tech"], now=now)
    day0 = now.date() - timedelta(days=11)
    first = world.lot(db, actors["tech"], day0=day0, now=now).lot_number
    env = {
        **os.environ,
        "MFG_HOME": str(tmp_path / "cli-home"),
        "MFG_AUDIT_KEY_FILE": str(db.settings.audit_key_path),
        "MFG_PASSWORD": PASSWORD,
        "MFG_USER": "tech",
        "MFG_DATABASE_URL": _url(db),
    }
    mfg = str(Path(sys.executable).with_name("mfg"))
    cmds = [
        [mfg, "lot", "register", "S-001", "--source", "apheresis", "--apheresis-date", "today"]
    ] * 3
    cmds += [
        [mfg, "count", "add", first, "--day", str(d), "--total", "2e8", "--viable", "1e8"]
        for d in (1, 2, 3)
    ]
    procs = [
        subprocess.Popen(c, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for c in cmds
    ]
    outs = [p.communicate(timeout=240) for p in procs]
    assert [p.returncode for p in procs] == [0] * 6, outs
    with db.read() as s:
        numbers = sorted(x.lot_number for x in s.exec(select(Lot)).all())
    yy = first.split("-")[1]  # the year of the real clock
    assert numbers == [f"BH002-{yy}-{i:04d}" for i in range(1, 5)]
    assert n_rows(db, CellCount) == 3
    r = verify(db, actors["qa"])
    assert r.ok, (r.problem, r.record_problems)
