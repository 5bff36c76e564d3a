"""The site's audit key and the trail's checkpoints: the parts of tamper evidence that live
OUTSIDE the database (21 CFR 11.10(c), (e); EU GMP Annex 11 sections 7 and 9).

- ``keys/audit.key`` (mode 0600 in a 0700 directory): one line per key, ``<key id> <64 hex>``,
  oldest first; the last line is the key new events are chained with. Rotation appends a line,
  so every older event still names (by ``AuditEvent.key_id``) a key that verifies it.
- ``keys/audit-checkpoints.log``: one JSON line per committed write, COA, report and anchor:
  the trail's identity (hash of event 1), the head's sequence number and hash, keyed with the
  audit key. A database user cannot reach the file, so a trail cut short (tail truncation) or
  rewritten shows against the newest checkpoint.
- ``keys/audit-verified.log``: the head of each full verification that passed; ``mfg audit
  verify --since-checkpoint`` starts after the newest one.

Nothing here talks to the database: callers pass sequence numbers and hashes in.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from mfg.errors import ConfigError

KEY_BYTES = 32
CHECKPOINTS = "audit-checkpoints.log"
VERIFIED = "audit-verified.log"
_TAIL_BYTES = 64 * 1024


class AuditKeyMissing(ConfigError):
    rule = "audit-key-missing"


class Mac:
    """HMAC-SHA256 (RFC 2104) with the key's pads hashed once: the verifier's hot loop.

    ``Mac(k).hex(m) == hmac.new(k, m, "sha256").hexdigest()`` (a test keeps it so); copying two
    prepared SHA-256 states is ~2x faster than ``hmac.digest``, which re-derives them per call.
    """

    __slots__ = ("_inner", "_outer")

    def __init__(self, key: bytes) -> None:
        if len(key) > 64:
            key = hashlib.sha256(key).digest()
        block = key.ljust(64, b"\0")
        self._inner = hashlib.sha256(bytes(b ^ 0x36 for b in block))
        self._outer = hashlib.sha256(bytes(b ^ 0x5C for b in block))

    def hex(self, data: bytes) -> str:
        inner = self._inner.copy()
        inner.update(data)
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.hexdigest()


def key_id_of(key: bytes) -> str:
    """A public fingerprint of a key (names it on every event; reveals nothing of it)."""
    return "k" + hashlib.sha256(b"celltrail-audit-key-id\n" + key).hexdigest()[:11]


@dataclass(frozen=True)
class Keyring:
    """The site's audit keys: every key ever used (by id) and the current one."""

    path: Path
    keys: dict[str, bytes]
    current: str

    def mac(self, key_id: str) -> Mac | None:
        macs: dict[str, Mac] = self.__dict__.setdefault("_macs", {})
        if key_id not in macs:
            key = self.keys.get(key_id)
            if key is None:
                return None
            macs[key_id] = Mac(key)
        return macs[key_id]

    @property
    def current_mac(self) -> Mac:
        mac = self.mac(self.current)
        assert mac is not None
        return mac

    @property
    def checkpoints_path(self) -> Path:
        return self.path.parent / CHECKPOINTS

    @property
    def verified_path(self) -> Path:
        return self.path.parent / VERIFIED


def _check_private(path: Path) -> None:
    if os.name != "posix":  # pragma: no cover - POSIX sites only
        return
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise ConfigError(
            f"audit key {path} is readable or writable by others (mode {mode:04o}): "
            f"run `chmod 600 {path}`",
            rule="audit-key-permissions",
        )


def load_keyring(path: Path) -> Keyring:
    """Read the key file; refuse one others can read, or one that is damaged."""
    if not path.is_file():
        raise AuditKeyMissing(
            f"the audit key {path} is missing: restore it from the site's key backup "
            "(README: Tamper evidence); without it no audit event can be written or verified",
        )
    _check_private(path)
    keys: dict[str, bytes] = {}
    current = ""
    for n, line in enumerate(path.read_text(encoding="ascii").splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split()
        try:
            key = bytes.fromhex(parts[1]) if len(parts) == 2 else b""
        except ValueError:
            key = b""
        if len(key) != KEY_BYTES or key_id_of(key) != parts[0]:
            raise ConfigError(
                f"audit key {path} line {n} is damaged (expected '<key id> <64 hex digits>')",
                rule="audit-key-damaged",
            )
        keys[parts[0]] = key
        current = parts[0]
    if not current:
        raise ConfigError(f"audit key {path} holds no key", rule="audit-key-damaged")
    return Keyring(path, keys, current)


def _append_key(path: Path, key: bytes, comment: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        os.write(fd, f"# {comment}\n{key_id_of(key)} {key.hex()}\n".encode("ascii"))
        os.fsync(fd)
    finally:
        os.close(fd)


def create_keyring(path: Path, now: datetime) -> Keyring:
    """A new site key (refuses to replace an existing one)."""
    if path.exists():
        return load_keyring(path)
    _append_key(path, secrets.token_bytes(KEY_BYTES), f"created {now.isoformat()}")
    return load_keyring(path)


def new_key() -> bytes:
    """A fresh random audit key (not yet in the key file: ``rotate`` puts it there)."""
    return secrets.token_bytes(KEY_BYTES)


def rotate(path: Path, now: datetime, key: bytes | None = None) -> Keyring:
    """Append ``key`` (a new random one if None) as the current key; older keys stay so that
    older events keep verifying."""
    load_keyring(path)
    _append_key(path, new_key() if key is None else key, f"rotated {now.isoformat()}")
    return load_keyring(path)


# -- checkpoints -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Checkpoint:
    """The trail's head at one moment, keyed so that nobody without the key can forge one."""

    trail: str  # hash of event 1: which trail this belongs to
    db: str  # which database holds it (a restored copy elsewhere keeps its own checkpoints)
    seq: int
    hash: str
    at: str
    kind: str  # write | verified | anchor | coa | report | backup | keyed | upgrade
    key_id: str
    mac: str = ""

    def body(self) -> bytes:
        fields = (self.trail, self.db, self.seq, self.hash, self.at, self.kind)
        return "\n".join(["checkpoint", *map(str, fields)]).encode()

    def line(self) -> str:
        return json.dumps(self.__dict__, separators=(",", ":")) + "\n"

    @property
    def short(self) -> str:
        """What a COA or report prints: enough to compare with the trail by hand."""
        return f"audit checkpoint {self.seq}:{self.hash[:16]} ({self.key_id}, {self.mac[:8]})"


def database_id(location: str) -> str:
    """A short name for where a database lives (its file, or host/port/name), not a secret."""
    return hashlib.sha256(location.encode()).hexdigest()[:16]


def make_checkpoint(
    ring: Keyring, where: tuple[str, str], seq: int, hash_: str, at: str, kind: str
) -> Checkpoint:
    """``where``: (trail, database id)."""
    cp = Checkpoint(where[0], where[1], seq, hash_, at, kind, ring.current)
    object.__setattr__(cp, "mac", ring.current_mac.hex(cp.body()))
    return cp


def checks(ring: Keyring, cp: Checkpoint) -> bool:
    mac = ring.mac(cp.key_id)
    return mac is not None and secrets.compare_digest(mac.hex(cp.body()), cp.mac)


def append_checkpoint(path: Path, cp: Checkpoint, fd: int | None = None) -> None:
    """One line, one write(2) on an O_APPEND descriptor: atomic among concurrent processes.
    ``fd``: a descriptor the caller keeps open on ``path`` (the write path's)."""
    if fd is not None:
        os.write(fd, cp.line().encode("utf-8"))
        return
    fd = open_for_append(path)
    try:
        os.write(fd, cp.line().encode("utf-8"))
    finally:
        os.close(fd)


def open_for_append(path: Path) -> int:
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)


@dataclass(frozen=True)
class Found:
    """A checkpoint read from a file, or why a line could not be one."""

    source: str
    checkpoint: Checkpoint | None
    problem: str = ""


def parse_line(text: str, source: str) -> Found:
    try:
        data = json.loads(text)
        cp = Checkpoint(**{k: data[k] for k in Checkpoint.__dataclass_fields__})
        if not isinstance(cp.seq, int) or not isinstance(cp.hash, str):
            raise TypeError
    except (ValueError, TypeError, KeyError):
        return Found(source, None, f"{source} is not a CellTrail checkpoint")
    return Found(source, cp)


def read_checkpoints(path: Path, *, tail_only: bool = False) -> Iterator[Found]:
    """Checkpoints of a file (only its last 64 KiB when ``tail_only``), in file order."""
    if not path.is_file():
        return
    with path.open("rb") as f:
        size = f.seek(0, os.SEEK_END)
        start = max(0, size - _TAIL_BYTES) if tail_only else 0
        f.seek(start)
        data = f.read()
    lines = data.decode("utf-8", "replace").split("\n")
    if start > 0:
        lines = lines[1:]  # the first line was cut by the seek
    for n, text in enumerate(lines, 1):
        if text.strip():
            where = f"{path} line {n}" if start == 0 else f"{path} (near its end)"
            yield parse_line(text, where)


def newest(
    ring: Keyring, path: Path, where: tuple[str, str]
) -> tuple[Checkpoint | None, list[str]]:
    """The newest (highest sequence) checkpoint of ``where`` (trail, database id) in ``path``
    whose key checks, and the lines that do not check (someone edited the file)."""
    best: Checkpoint | None = None
    bad: list[str] = []
    for tail_only in (True, False):
        for found in read_checkpoints(path, tail_only=tail_only):
            cp = found.checkpoint
            if cp is None:
                bad.append(found.problem)
                continue
            if (cp.trail, cp.db) != where:
                continue
            if not checks(ring, cp):
                bad.append(f"{found.source}: checkpoint {cp.seq} does not verify with the key")
                continue
            if best is None or cp.seq > best.seq:
                best = cp
        if best is not None or bad:
            break
    return best, bad
