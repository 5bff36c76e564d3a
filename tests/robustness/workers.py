"""Functions run in separate processes (multiprocessing, spawn) by the robustness tests.

Each opens its own engine on the same database, like a second user at another bench.
"""

from __future__ import annotations

import os
import traceback
from datetime import timedelta
from pathlib import Path
from typing import Any

from mfg.config import Settings
from mfg.errors import CellTrailError, Conflict
from mfg.services.uow import Actor, Database
from tests.support.constants import FULL_NAMES, NOW, PASSWORD, ROLES, TODAY
from tests.support.fast_hash import install as _fast_hashes

_fast_hashes()


def open_db(url: str, home: str) -> Database:
    from mfg.store import db as store_db

    settings = Settings(
        home=Path(home),
        facility_id="A9990",
        site_timezone="Asia/Shanghai",
        database_url=url,
        site_name="Test GMP Facility",
    )
    return Database(engine=store_db.make_engine(url), settings=settings)


def actor(name: str) -> Actor:
    return Actor(name, FULL_NAMES[name], ROLES[name])


def _run(fn: Any, start: Any, out: Any, tag: str) -> None:
    try:
        if start is not None:
            start.wait(60)
        out.put((tag, "ok", fn()))
    except Conflict as e:
        out.put((tag, "conflict", str(e)))
    except CellTrailError as e:
        out.put((tag, "refused", f"{e.rule}: {e}"))
    except Exception:
        out.put((tag, "error", traceback.format_exc()))


def register_lots(url: str, home: str, subject_ids: list[str], start: Any, out: Any) -> None:
    from mfg.services import lots

    def go() -> list[tuple[str, str]]:
        db = open_db(url, home)
        made = []
        for sid in subject_ids:
            v = lots.register_lot(
                lots.RegisterLot(sid, "apheresis", apheresis_on=TODAY - timedelta(days=5)),
                db=db,
                actor=actor("tech"),
                now=NOW,
            )
            made.append((v.lot_number, v.coi))
        db.dispose()
        return made

    _run(go, start, out, subject_ids[0])


def add_counts(
    url: str, home: str, lot_number: str, days: list[int], live: bool, start: Any, out: Any
) -> None:
    """``live``: as a logged-in user (the account check and the chain's head read together
    under the write lock), else as a bare actor (the head read by the append)."""
    from mfg.services import counts, users

    def go() -> list[int]:
        db = open_db(url, home)
        who = users.login(db, "tech", PASSWORD, now=NOW) if live else actor("tech")
        ids = []
        for d in days:
            v = counts.record_count(
                counts.RecordCount(lot_number, 200_000_000 + d, 100_000_000 + d, day=d % 5),
                db=db,
                actor=who,
                now=NOW,
            )
            ids.append(v.id)
        db.dispose()
        return ids

    _run(go, start, out, str(days[0]))


def correct_count(
    url: str, home: str, lot_number: str, count_id: int, viable: int, start: Any, out: Any
) -> None:
    from mfg.services import counts

    def go() -> int:
        db = open_db(url, home)
        try:
            v = counts.correct_count(
                count_id,
                counts.RecordCount(lot_number, 300_000_000, viable, day=0),
                f"recount {viable}",
                db=db,
                actor=actor("tech2" if viable % 2 else "tech"),
                now=NOW,
                expected_version=1,
            )
            return v.id
        finally:
            db.dispose()

    _run(go, start, out, str(viable))


def change_weight(
    url: str, home: str, subject_id: str, weight: float, version: int, start: Any, out: Any
) -> None:
    from mfg.services import subjects

    def go() -> float:
        db = open_db(url, home)
        try:
            v = subjects.update_weight(
                subject_id,
                weight,
                TODAY,
                "re-weighed",
                db=db,
                actor=actor("tech"),
                now=NOW,
                expected_version=version,
            )
            return v.weight_kg
        finally:
            db.dispose()

    _run(go, start, out, str(weight))


def die_inside_a_write(url: str, home: str, lot_number: str, log_path: str) -> None:
    """Commit two counts, then SIGKILL itself inside the third write: after the row and its
    audit event were flushed, before the commit."""
    import signal

    from mfg import audit
    from mfg.services import counts

    db = open_db(url, home)
    for i in range(2):
        v = counts.record_count(
            counts.RecordCount(lot_number, 200_000_000 + i, 100_000_000 + i, day=1),
            db=db,
            actor=actor("tech"),
            now=NOW,
        )
        with open(log_path, "a") as f:
            f.write(f"{v.id}\n")
            f.flush()
            os.fsync(f.fileno())
    original = audit.append

    def append_then_die(*a: Any, **kw: Any) -> Any:
        original(*a, **kw)
        os.kill(os.getpid(), signal.SIGKILL)

    audit.append = append_then_die  # type: ignore[assignment]
    counts.record_count(
        counts.RecordCount(lot_number, 999_000_000, 900_000_000, day=2),
        db=db,
        actor=actor("tech"),
        now=NOW,
    )


def write_and_log(url: str, home: str, lot_number: str, log_path: str) -> None:
    """Record counts in a loop, logging each committed id (fsync) until killed."""
    from mfg.services import counts

    db = open_db(url, home)
    i = 0
    while True:
        v = counts.record_count(
            counts.RecordCount(lot_number, 200_000_000 + i, 100_000_000 + i, day=1),
            db=db,
            actor=actor("tech"),
            now=NOW,
        )
        with open(log_path, "a") as f:
            f.write(f"{v.id}\n")
            f.flush()
            os.fsync(f.fileno())
        i += 1


def die_inside_import(url: str, home: str, batch_id: int, calls_before_death: int) -> None:
    """Approve a staged import (as qa2) and SIGKILL itself inside the import transaction, after
    ``calls_before_death`` bulk inserts were flushed (subjects, lots, ...), before the commit."""
    import signal

    from mfg.services import import_writer, importer

    original = import_writer._inserted
    calls = {"n": 0}

    def inserted_then_die(*a: Any, **kw: Any) -> Any:
        out = original(*a, **kw)
        calls["n"] += 1
        if calls["n"] >= calls_before_death:
            os.kill(os.getpid(), signal.SIGKILL)
        return out

    import_writer._inserted = inserted_then_die  # type: ignore[assignment]
    db = open_db(url, home)
    importer.approve_import(batch_id, PASSWORD, db=db, actor=actor("qa2"), now=NOW)
