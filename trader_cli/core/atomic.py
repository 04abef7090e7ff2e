"""Atomic file writes: a temp file in the target's folder, fsync, then one rename.

The rule for temp files (documented in the README): a writer names its temp file
``.<name>.<pid>.<thread>.tmp`` in the target's folder. A write that dies (kill -9, power loss)
leaves its temp behind; the next write into that folder removes the temps whose writer process
is no longer alive (``sweep_stale``). Temps of live processes are never touched.
"""

from __future__ import annotations

import errno
import os
import re
import stat
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from trader_cli.core.errors import DataError

_TEMP = re.compile(r"^\..+\.(\d+)\.(\d+)\.tmp$")


def temp_path(path: Path) -> Path:
    """The temp file a write of ``path`` goes through (same folder, so the rename is atomic)."""
    return path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")


def pid_alive(pid: int) -> bool:
    """True when a process with this id exists (or may: permission to signal it is denied)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep_stale(folder: Path) -> int:
    """Remove the temp files of dead writers in ``folder``; returns how many were removed."""
    removed = 0
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return 0
    for entry in entries:
        m = _TEMP.match(entry.name)
        if m is None or pid_alive(int(m.group(1))):
            continue
        try:
            os.unlink(entry.path)
            removed += 1
        except FileNotFoundError:
            continue  # another process swept it first
        except OSError:
            continue  # not ours to remove (permissions): it stays, and so does the data
    return removed


def os_error_text(err: OSError) -> str:
    """A user-facing reason for an OSError, with what to do for the common ones."""
    code = err.errno
    if code == errno.ENOSPC:
        return "no space left on the device (free some space and try again)"
    if code == errno.EDQUOT:
        return "disk quota exceeded (free some space and try again)"
    if code in (errno.EACCES, errno.EPERM):
        return "permission denied (check the folder's permissions)"
    if code == errno.EROFS:
        return "the file system is read-only (write somewhere else)"
    if code == errno.EMFILE or code == errno.ENFILE:
        return "too many open files (raise the limit with: ulimit -n 4096)"
    return err.strerror or str(err)


def check_target(path: Path) -> Path:
    """The real path a write of ``path`` replaces (through a symlink to its target); DataError
    for a folder, a device or pipe, or a missing parent folder."""
    real = Path(os.path.realpath(path))
    if real.is_dir():
        raise DataError(f"{real} is a folder; give a file name inside it, e.g. {real / 'out'}{real.suffix}")
    if real.exists() and not stat.S_ISREG(real.stat().st_mode):
        raise DataError(f"{real} is not a regular file (a device or pipe); give a file path")
    if not real.parent.exists():
        raise DataError(f"no folder {real.parent} (create it first)")
    return real


@contextmanager
def atomic_open(path: Path, mode: str = "wb", encoding: str | None = None) -> Iterator[IO]:  # type: ignore[type-arg]
    """A file object whose content replaces ``path`` in one rename when the block ends without
    an error; on an error the temp is removed and ``path`` is unchanged. OSErrors become one
    DataError line naming the file."""
    real = check_target(path)
    sweep_stale(real.parent)
    tmp = temp_path(real)
    try:
        with open(tmp, mode, encoding=encoding) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, real)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        raise DataError(f"cannot write {real}: {os_error_text(err)}") from err
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_atomic(path: Path, content: str | bytes) -> Path:
    """Write a whole file (text as UTF-8, or bytes) atomically; returns the path written."""
    payload = content.encode("utf-8") if isinstance(content, str) else content
    with atomic_open(path, "wb") as fh:
        fh.write(payload)
    return Path(os.path.realpath(path))
