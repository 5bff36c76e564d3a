"""Crash safety of `mfg import lots`: a SIGKILL in the middle of an import leaves nothing of it;
after the restart the audit trail verifies and the same file imports cleanly."""

from __future__ import annotations

import multiprocessing as mp
import os
import select
import signal
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from mfg.services import importer
from mfg.store.tables import AuditEvent, Harvest, Lot, ReleaseResult, Subject
from tests.conftest import add_users
from tests.reports import scenario
from tests.robustness import workers
from tests.robustness.support import n_rows, verify
from tests.support.constants import NOW, PASSWORD

N_LOTS = 120
TABLES = (Subject, Lot, Harvest, ReleaseResult, AuditEvent)


def big_csv(path: Path, n: int = N_LOTS) -> Path:
    rows = [scenario.row(f"BH002-25-{i:04d}", f"H-{i:04d}") for i in range(1, n + 1)]
    return scenario.write_csv(path, rows)


def snapshot(db) -> tuple[int, ...]:  # type: ignore[no-untyped-def]
    return tuple(n_rows(db, t) for t in TABLES)


def _url(db) -> str:  # type: ignore[no-untyped-def]
    return db.engine.url.render_as_string(hide_password=False)


@pytest.mark.parametrize("inserts_before_death", [1, 2, 3])
def test_sigkill_inside_the_import_transaction_leaves_nothing(
    db, actors, tmp_path, inserts_before_death
):
    csv_path = big_csv(tmp_path / "history.csv")
    staged = importer.import_lots(csv_path, db=db, actor=actors["qa"], now=NOW)
    before = snapshot(db)
    p = mp.get_context("spawn").Process(
        target=workers.die_inside_import,
        args=(_url(db), str(db.settings.home), staged.id, inserts_before_death),
    )
    p.start()
    p.join(180)
    assert p.exitcode == -signal.SIGKILL
    assert snapshot(db) == before  # no subject, lot, harvest, result or audit event of it
    r = verify(db, actors["qa"])
    assert r.ok, (r.problem, r.record_problems[:3])
    # the import is still staged: approving it now succeeds in full
    res = importer.approve_import(staged.id, PASSWORD, db=db, actor=actors["qa2"], now=NOW)
    assert res.lots == N_LOTS and n_rows(db, Lot) == N_LOTS
    assert verify(db, actors["qa"]).ok


def _wait_for_line(p: subprocess.Popen[str], timeout: float) -> str:
    """The child's first line of stdout, or '' if it exited or said nothing within ``timeout``."""
    assert p.stdout is not None
    ready, _, _ = select.select([p.stdout], [], [], timeout)
    return p.stdout.readline() if ready else ""


@pytest.mark.parametrize("inserts_before_kill", [1, 3])
def test_cli_import_killed_inside_its_transaction_leaves_nothing(db, tmp_path, inserts_before_kill):
    """The real `mfg import approve` process (the step that writes the staged file) says when
    it is inside the transaction (rows flushed, not committed) and waits; only then is it
    killed. Nothing of it remains, the trail verifies, and the approval then imports in full."""
    csv_path = big_csv(tmp_path / "history.csv")
    env = {
        **os.environ,
        "MFG_HOME": str(tmp_path / "cli-home"),
        "MFG_AUDIT_KEY_FILE": str(db.settings.audit_key_path),
        "MFG_PASSWORD": PASSWORD,
    }
    now = datetime.now(UTC)  # `mfg` runs on the real clock: the data are made on it too
    actors = add_users(db, now)
    staged = importer.import_lots(csv_path, db=db, actor=actors["qa"], now=now)
    args = [
        "import",
        "approve",
        str(staged.id),
        "--password-stdin",
        "--user",
        "qa2",
        "--db",
        _url(db),
    ]
    before = snapshot(db)
    p = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.robustness.die_inside_import",
            str(inserts_before_kill),
            *args,
        ],
        env=env,
        cwd=Path(__file__).resolve().parents[2],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert p.stdin is not None
    p.stdin.write(PASSWORD + "\n")  # the e-signature's password (MFG_PASSWORD never signs)
    p.stdin.flush()
    try:
        said = _wait_for_line(p, 180)
        assert said == "inside\n", f"the import never reached its transaction ({p.poll()=})"
        p.send_signal(signal.SIGKILL)
        assert p.wait(60) == -signal.SIGKILL
    finally:
        if p.poll() is None:
            p.kill()
            p.wait(60)
    assert snapshot(db) == before  # no subject, lot, harvest, result or audit event of it
    r = verify(db, actors["qa"])
    assert r.ok, (r.problem, r.record_problems[:3])
    done = subprocess.run(
        [str(Path(sys.executable).with_name("mfg")), *args],
        env=env,
        input=PASSWORD + "\n",
        text=True,
        check=False,
    )
    assert done.returncode == 0
    assert n_rows(db, Lot) == N_LOTS and verify(db, actors["qa"]).ok
