"""The CLI session file of ``mfg login``: one per database and terminal, readable by its owner
only (0600 in a 0700 folder under MFG_HOME), holding the user, the host and the token. The
database keeps only the token's SHA-256 (mfg.services.accounts)."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import socket
import stat
import sys
from pathlib import Path
from typing import Any

from mfg.errors import RuleViolation


def host() -> str:
    return socket.gethostname() or "localhost"


def terminal() -> str:
    """The terminal this command runs on (a session belongs to one terminal)."""
    for stream in (sys.stdin, sys.stdout, sys.stderr):
        try:
            if stream is not None and stream.isatty():
                return os.ttyname(stream.fileno())
        except (OSError, ValueError, AttributeError):
            continue
    return "no-terminal"


def path_for(home: Path, database_url: str, tty: str | None = None) -> Path:
    key = hashlib.sha256(f"{database_url}\n{tty or terminal()}".encode()).hexdigest()[:20]
    return home / "sessions" / f"{key}.json"


def save(path: Path, data: dict[str, Any]) -> None:
    """Write the file 0600 (never through a link), replacing an earlier one atomically."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.partial")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def load(path: Path) -> dict[str, Any] | None:
    """The saved session, or None; a file others could read or write is refused (and left)."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None
    if not stat.S_ISREG(st.st_mode) or st.st_uid != os.getuid() or st.st_mode & 0o077:
        raise RuleViolation(
            "session",
            "session-file-unsafe",
            f"{path} is not a private file of yours (0600): remove it and log in again",
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("token"), str):
        return None
    return data


def remove(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
