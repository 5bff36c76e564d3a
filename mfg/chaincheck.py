"""The keyed chain checked in a second process while this one folds the trail (verify on two
cores).

``mfg audit verify`` reads the trail once for two checks: the keyed chain (an HMAC per event)
and the record check (the trail folded, every record compared). Both are Python work, so one
process does them one after the other. For a long trail a helper process (``python -m
mfg.chaincheck``) reads the same events and checks the chain while this process folds them.

Both processes must judge the same events. Verify reads in one snapshot (``one_snapshot``:
SQLite's read transaction; PostgreSQL's REPEATABLE READ, whose snapshot the helper imports);
both read up to the head of that snapshot in the same batches, and each side hashes every batch
it read (``Digest``): the helper's report counts only when the two digests agree. Anything else
(the helper cannot start, fails, takes too long, or read other rows) and the chain is checked
here, on this process's own snapshot, the one the record check folded: the helper can make
verify faster, never say more than this process's read of the trail would.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import text
from sqlalchemy.engine import Connection

from mfg import audit
from mfg.auditkey import Keyring

# Below this many events to hash the helper's start (a Python process importing the stack)
# costs more than hashing here (about 7 us an event): benchmarks/bench_audit_verify.py.
HELPER_FROM_EVENTS = 50_000
HELPER = ("-m", "mfg.chaincheck")  # the helper's arguments to this Python
BATCH = 20_000  # events a batch, on both sides (the digest frames batches)
# How long this process waits for the helper once the fold is done: generous (the helper hashes
# at ~7 us an event and started first); past it the helper is stopped and the chain checked here.
WAIT_S, WAIT_PER_EVENT_S = 60.0, 100e-6
LOCK_TIMEOUT = "5s"  # PostgreSQL: a helper queued behind a table lock gives up instead of waiting
_PG_SNAPSHOT = re.compile(r"[0-9A-F]+(-[0-9A-F]+)+")
_PG_INTERVAL = re.compile(r"[0-9]{1,6}(ms|s)")
_PLAIN = frozenset({str, int, type(None)})  # what orjson writes one way each


class Digest:
    """SHA-256 over the batches of stored events as read (``audit.EventRow`` tuples)."""

    def __init__(self) -> None:
        self._h = hashlib.sha256()
        self.rows = 0

    def add(self, rows: list[Any]) -> None:
        # orjson writes text, integers and NULL one way each (in C); anything else (a float,
        # whose NaN and infinities orjson writes as null; bytes; a date) is in an edited table
        # and goes by its repr, which keeps the type
        if set(map(type, chain.from_iterable(rows))) <= _PLAIN:
            blob = b"j" + orjson.dumps(rows)
        else:
            blob = b"r" + repr(rows).encode("utf-8", "surrogatepass")
        self._h.update(len(blob).to_bytes(8, "big"))
        self._h.update(blob)
        self.rows += len(rows)

    def hexdigest(self) -> str:
        return self._h.hexdigest()


def one_snapshot(dialect: str) -> dict[str, Any]:
    """Execution options for verify's read: one snapshot for every statement of it."""
    return {"isolation_level": "REPEATABLE READ"} if dialect == "postgresql" else {}


def batches(conn: Connection, upto: int) -> Iterator[list[Any]]:
    """The events up to ``upto`` from event 1, in the batches both sides digest."""
    return audit.event_batches(conn, batch=BATCH, upto=upto)


def fed(walk: audit.ChainWalk, batches: Iterable[list[Any]]) -> Iterator[list[Any]]:
    """``batches`` passed on, each fed to ``walk`` on its way (the events after its start)."""
    for rows in batches:
        if walk.broken is None and rows[-1][0] > walk.after:
            walk.feed(audit.chained(rows, walk.after))
        yield rows


@dataclass
class Helper:
    """A running helper and what this process read while it ran."""

    proc: subprocess.Popen[bytes]
    events: int
    digest: Digest = field(default_factory=Digest)

    def read(self, batches: Iterable[list[Any]]) -> Iterator[list[Any]]:
        """``batches`` passed on, each added to this side's digest."""
        for rows in batches:
            self.digest.add(rows)
            yield rows

    def report(self) -> audit.ChainReport | None:
        """The helper's chain report, or None when it cannot count (see the module's note)."""
        try:
            out, _ = self.proc.communicate(timeout=WAIT_S + self.events * WAIT_PER_EVENT_S)
        except (OSError, subprocess.SubprocessError):  # TimeoutExpired: close() stops it
            return None
        if self.proc.returncode != 0:
            return None
        try:
            got = json.loads(out)
            same = (got["digest"], got["rows"]) == (self.digest.hexdigest(), self.digest.rows)
            return audit.ChainReport(**got["report"]) if same else None
        except (ValueError, KeyError, TypeError):
            return None

    def close(self) -> None:
        """Stop the helper if it still runs (this process stopped early or gave up waiting)."""
        if self.proc.poll() is None:
            self.proc.kill()
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            self.proc.wait()
        if self.proc.stdout is not None and not self.proc.stdout.closed:
            self.proc.stdout.close()


def start(
    conn: Connection, url: str, ring: Keyring, *, after: int, prev: str, upto: int
) -> Helper | None:
    """A helper checking the chain of events ``after`` < seq <= ``upto`` as ``conn`` (verify's
    read, ``one_snapshot``) sees them; None: check it here.

    ``url`` with its password: sent on the helper's standard input, never on its command line."""
    if upto - after < HELPER_FROM_EVENTS or not _shareable(url):
        return None
    job: dict[str, Any] = {
        "url": url,
        "key": str(ring.path),
        "after": after,
        "prev": prev,
        "upto": upto,
        "batch": BATCH,
        "lock_timeout": LOCK_TIMEOUT,
    }
    if conn.dialect.name == "postgresql":
        job["snapshot"] = str(conn.execute(text("SELECT pg_export_snapshot()")).scalar_one())
    root = str(Path(__file__).resolve().parents[1])  # the helper runs this very code
    path = os.pathsep.join(filter(None, (root, os.environ.get("PYTHONPATH"))))
    try:
        proc = subprocess.Popen(
            [sys.executable, *HELPER],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,  # its failure is only a reason to check here
            env={**os.environ, "PYTHONPATH": path},
        )
    except (OSError, ValueError):
        return None
    assert proc.stdin is not None
    with contextlib.suppress(OSError):  # it ended already: report() finds out
        proc.stdin.write(json.dumps(job).encode())
    with contextlib.suppress(OSError):
        proc.stdin.close()
    proc.stdin = None  # sent: communicate() only reads
    return Helper(proc, upto - after)


def _shareable(url: str) -> bool:
    """Another process can open it: not an in-memory or URI-named SQLite database."""
    if not url.startswith("sqlite"):
        return True
    path = url.split("///", 1)[1] if "///" in url else ""
    return bool(path) and path != ":memory:" and not path.startswith("file:")


_FIELDS = ("ok", "events", "first_bad_seq", "problem", "head_hash", "head_seq", "trail")


def _run(job: dict[str, Any]) -> dict[str, Any]:
    from mfg.auditkey import load_keyring
    from mfg.store.db import make_engine

    ring = load_keyring(Path(job["key"]))
    engine = make_engine(job["url"])
    walk = audit.ChainWalk(ring, after=int(job["after"]), prev=str(job["prev"]))
    digest = Digest()
    upto, batch = int(job["upto"]), int(job["batch"])
    try:
        with engine.connect() as plain:
            conn = plain.execution_options(**one_snapshot(plain.dialect.name))
            with conn.begin():
                if "snapshot" in job:  # PostgreSQL: verify's own snapshot, then no long waits
                    name = str(job["snapshot"])
                    if not _PG_SNAPSHOT.fullmatch(name):
                        raise ValueError("not a snapshot name")
                    conn.execute(text(f"SET TRANSACTION SNAPSHOT '{name}'"))
                    wait = str(job["lock_timeout"])
                    if not _PG_INTERVAL.fullmatch(wait):
                        raise ValueError("not a lock timeout")
                    conn.execute(text(f"SET LOCAL lock_timeout = '{wait}'"))
                for rows in fed(walk, audit.event_batches(conn, batch=batch, upto=upto)):
                    digest.add(rows)
    finally:
        engine.dispose()
    r = walk.report()
    return {
        "report": {f: getattr(r, f) for f in _FIELDS},
        "digest": digest.hexdigest(),
        "rows": digest.rows,
    }


def main() -> None:
    """The helper: a job (JSON) on standard input, its report (JSON) on standard output."""
    print(json.dumps(_run(json.loads(sys.stdin.buffer.read()))))


if __name__ == "__main__":
    main()
