"""SQLite writers queue on an OS file lock before BEGIN IMMEDIATE (no busy polling)."""

from __future__ import annotations

import subprocess
import sys
import threading

from mfg.services.uow import Database
from mfg.store import db as store_db
from tests.support.constants import NOW

TRY_LOCK = (
    "import fcntl, os, sys\n"
    "fd = os.open(sys.argv[1], os.O_RDWR)\n"
    "try:\n"
    "    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)\n"
    "except BlockingIOError:\n"
    "    sys.exit(7)\n"
)


def _other_process_can_take(path: str) -> bool:
    r = subprocess.run([sys.executable, "-c", TRY_LOCK, path], capture_output=True, text=True)
    assert r.returncode in (0, 7), r.stderr
    return r.returncode == 0


def test_a_write_transaction_holds_the_queue_until_it_ends(sqlite_db: Database) -> None:
    path = str(sqlite_db.engine.url.database) + "-writelock"
    with sqlite_db.write(None, NOW):
        assert not _other_process_can_take(path)  # another writer would wait in the kernel
    assert _other_process_can_take(path)
    try:
        with sqlite_db.write(None, NOW):
            raise RuntimeError("a failing service call")
    except RuntimeError:
        pass
    assert _other_process_can_take(path)  # released on rollback too


def test_threads_of_one_process_take_turns(sqlite_db: Database) -> None:
    """One open lock file per process: the threads queue on a lock in front of it."""
    inside, order = threading.Event(), []
    release = threading.Event()

    def first() -> None:
        with store_db.write_turn(sqlite_db.engine):
            inside.set()
            release.wait()
            order.append("first")

    def second() -> None:
        inside.wait()
        with store_db.write_turn(sqlite_db.engine):
            order.append("second")

    a, b = threading.Thread(target=first), threading.Thread(target=second)
    a.start()
    b.start()
    inside.wait()
    release.set()
    a.join()
    b.join()
    assert order == ["first", "second"]


def test_an_in_memory_database_needs_no_queue_file(tmp_path) -> None:  # type: ignore[no-untyped-def]
    engine = store_db.make_engine("sqlite:///:memory:")
    with store_db.write_turn(engine):
        pass
    assert not list(tmp_path.iterdir())
