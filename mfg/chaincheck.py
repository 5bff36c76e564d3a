"""The keyed chain checked in a second process while this one folds the trail (verify on two
cores).

``mfg audit verify`` reads the trail once for two checks: the keyed chain (an HMAC per event)
and the record check (the trail folded, every record compared). Both are Python work, so one
process does them one after the other. For a long trail a helper process (``python -m
mfg.chaincheck``) reads the same events and checks the chain while this process folds them.

Both processes must judge the same events: the helper reads up to the head this process saw in
its own read transaction, and each side hashes every batch it read (``Digest``); the helper's
report counts only when the two digests agree. Anything else (the helper cannot start, fails,
or read other rows: the trail was edited between the two reads) and the chain is checked here,
on this process's own read, as it always was: the helper can make verify faster, never say
more than this process's read of the trail would.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from mfg import audit
from mfg.auditkey import Keyring

# Below this many events to hash the helper's start (a Python process importing the stack)
# costs more than hashing here (about 7 us an event): measured in benchmarks/bench_audit_verify.py.
HELPER_FROM_EVENTS = 50_000
HELPER = ("-m", "mfg.chaincheck")  # the helper's arguments to this Python


class Digest:
    """SHA-256 over the batches of stored events as read (``audit.EventRow`` tuples)."""

    def __init__(self) -> None:
        self._h = hashlib.sha256()
        self.rows = 0

    def add(self, rows: list[Any]) -> None:
        try:
            blob = orjson.dumps(rows)
        except TypeError:  # a value orjson does not write (an edited column): its repr
            blob = repr(rows).encode("utf-8", "surrogatepass")
        self._h.update(len(blob).to_bytes(8, "big"))
        self._h.update(blob)
        self.rows += len(rows)

    def hexdigest(self) -> str:
        return self._h.hexdigest()


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
    upto: int
    digest: Digest = field(default_factory=Digest)

    def read(self, batches: Iterable[list[Any]]) -> Iterator[list[Any]]:
        """``batches`` passed on, each added to this side's digest."""
        for rows in batches:
            self.digest.add(rows)
            yield rows

    def report(self) -> audit.ChainReport | None:
        """The helper's chain report, or None when it cannot count (see the module's note)."""
        assert self.proc.stdout is not None
        try:
            out = self.proc.stdout.read()
            self.proc.wait()
        except OSError:
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
        """Stop the helper if it still runs (this process stopped early) and close its pipes."""
        if self.proc.poll() is None:
            self.proc.kill()
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def start(url: str, ring: Keyring, *, after: int, prev: str, upto: int) -> Helper | None:
    """A helper checking the chain of events ``after`` < seq <= ``upto`` (None: check here).

    ``url`` with its password: sent on the helper's standard input, never on its command line."""
    if upto - after < HELPER_FROM_EVENTS or not _shareable(url):
        return None
    job = {"url": url, "key": str(ring.path), "after": after, "prev": prev, "upto": upto}
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
        assert proc.stdin is not None
        proc.stdin.write(json.dumps(job).encode())
        proc.stdin.close()
    except OSError:
        return None
    return Helper(proc, upto)


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
    try:
        with engine.connect() as conn, conn.begin():
            for rows in fed(walk, audit.event_batches(conn, upto=int(job["upto"]))):
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
