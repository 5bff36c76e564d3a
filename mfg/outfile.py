"""Writing an output file (``-o``) safely: the one helper every command that writes a file uses.

- The target is checked before any work: a directory, a missing or non-folder parent, a folder
  we cannot write in, a symbolic link (never followed) or a device/FIFO (``/dev/full``) is a
  one-line refusal naming the field; an existing file is refused unless ``force``.
- The content goes to a temporary file in the target's folder (flushed and fsynced) and is then
  renamed into place: a reader never sees half a file, and a failed write leaves no file.
- Two phases (``PendingOutput.write`` then ``.commit``) let a service record a print only once
  its file is complete: it calls ``write`` inside its transaction, before its commit.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from mfg.errors import RuleViolation


def _refuse(field: str, rule: str, path: Path, message: str) -> RuleViolation:
    return RuleViolation(field, rule, f"{path}: {message}")


def check_target(path: Path, *, force: bool = False, field: str = "output") -> Path:
    """The target, or a RuleViolation saying what is wrong with it (nothing is written)."""
    if str(path) in ("", "-"):
        raise _refuse(field, "output-not-a-file", path, "give a file name")
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        st = None
    except OSError as e:
        raise _refuse(field, "output-unwritable", path, e.strerror or str(e)) from None
    if st is not None:
        if stat.S_ISLNK(st.st_mode):
            raise _refuse(
                field, "output-symlink", path, "is a symbolic link; links are not followed"
            )
        if stat.S_ISDIR(st.st_mode):
            raise _refuse(field, "output-is-directory", path, "is a directory; give a file name")
        if not stat.S_ISREG(st.st_mode):
            raise _refuse(field, "output-not-a-file", path, "is not a regular file")
        if not force:
            raise _refuse(field, "output-exists", path, "already exists; add --force to replace it")
    parent = path.parent
    if not parent.exists():
        raise _refuse(field, "output-folder-missing", path, f"folder {parent} does not exist")
    if not parent.is_dir():
        raise _refuse(field, "output-folder-missing", path, f"{parent} is not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise _refuse(field, "output-unwritable", path, f"cannot write in folder {parent}")
    return path


class PendingOutput:
    """A checked target and, once ``write`` ran, its complete temporary file."""

    def __init__(
        self, path: Path, *, force: bool = False, field: str = "output", kind: str | None = None
    ) -> None:
        """``kind``: the suffix the temporary file gets for writers that choose a format by it
        (``xlsx``); default the target's own."""
        self.path = check_target(Path(path), force=force, field=field)
        self.force = force
        self.suffix = f".{kind}" if kind else self.path.suffix
        self.field = field
        self.temp: Path | None = None

    def temp_path(self) -> Path:
        """A fresh temporary file next to the target (same suffix, for writers that look at it)."""
        if self.temp is None:
            fd, name = tempfile.mkstemp(
                prefix=f".{self.path.name}.", suffix=f".partial{self.suffix}",
                dir=self.path.parent,
            )  # fmt: skip
            os.close(fd)
            self.temp = Path(name)
        return self.temp

    def write(self, data: bytes) -> None:
        """The whole content to the temporary file; a RuleViolation if it cannot be written."""
        tmp = self.temp_path()
        try:
            with open(tmp, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
        except OSError as e:
            self.discard()
            raise _refuse(
                self.field, "output-unwritable", self.path, e.strerror or str(e)
            ) from None

    def fill(self, writer: Callable[[Path], object]) -> None:
        """Let ``writer`` write the temporary file by name (pandas, reportlab)."""
        tmp = self.temp_path()
        try:
            writer(tmp)
            with open(tmp, "rb") as f:
                os.fsync(f.fileno())
        except OSError as e:
            self.discard()
            raise _refuse(
                self.field, "output-unwritable", self.path, e.strerror or str(e)
            ) from None
        except BaseException:
            self.discard()
            raise

    def commit(self) -> Path:
        """Rename the complete temporary file into place (refusing a file that appeared since
        the check unless ``force``)."""
        if self.temp is None:
            raise RuntimeError("nothing was written")
        try:
            os.chmod(self.temp, 0o666 & ~_umask())
            if self.force:
                os.replace(self.temp, self.path)
            else:
                os.link(self.temp, self.path)  # fails if a file of that name appeared meanwhile
                os.unlink(self.temp)
        except FileExistsError:
            self.discard()
            raise _refuse(
                self.field, "output-exists", self.path, "already exists; add --force to replace it"
            ) from None
        except OSError as e:
            self.discard()
            raise _refuse(
                self.field, "output-unwritable", self.path, e.strerror or str(e)
            ) from None
        self.temp = None
        return self.path

    def discard(self) -> None:
        if self.temp is not None:
            with contextlib.suppress(OSError):
                os.unlink(self.temp)
            self.temp = None


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def pending(path: Path, *, force: bool = False, field: str = "output") -> Iterator[PendingOutput]:
    """``with pending(p, force=f) as out: out.write(data)``: committed when the block ends
    normally, discarded when it raises."""
    out = PendingOutput(path, force=force, field=field)
    try:
        yield out
    except BaseException:
        out.discard()
        raise
    if out.temp is not None:
        out.commit()


def write_file(path: Path, data: bytes, *, force: bool = False, field: str = "output") -> Path:
    """Check, write to a temporary file, rename into place."""
    with pending(path, force=force, field=field) as out:
        out.write(data)
    return Path(path)
