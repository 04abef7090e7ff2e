"""All-or-none writes of several store files, kept so across kill -9 and power loss.

One writer at a time: every write and every recovery holds an exclusive ``fcntl.flock`` on
``DATA_DIR/.trader-cli.lock`` (released by the kernel when a writer dies). A write of N files:

1. the journal ``DATA_DIR/.trader-cli.journal`` is written atomically and fsynced, listing per
   file the target, its temp file and, when the target exists, its backup and its inode;
2. each new file is written to its temp (``atomic.temp_path``) and fsynced;
3. each existing target is hard-linked to its backup (copied where links are refused);
4. the temps are renamed over the targets one by one, and the folders fsynced;
5. the backups are removed, then the journal (the write is over when the journal is gone).

A failure in 2-4 (a rename refused, a full disk) rolls back at once. The journal of a writer
that died is settled by the next store operation of any process — a write, or a read that finds
the journal while no writer holds the lock — by the same rule:

- **roll back** while any temp listed remains (some rename was not done): each target that is
  no longer the file it was (another inode) gets its backup back, a target that did not exist
  before is removed; then the temps, backups and journal go. The store reads as before.
- **roll forward** when no temp remains (every rename was done, or none was begun): the files
  stand as they are; the backups and the journal go.

Every temp and backup is created after the journal and removed before it, so a settled journal
leaves nothing behind. Only a write killed while writing the journal itself leaves its temp
(no data file has changed); the next write into the data dir sweeps it.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from trader_cli.core.atomic import os_error_text, temp_path, write_atomic
from trader_cli.core.errors import DataError, StoreError

LOCK_NAME = ".trader-cli.lock"
JOURNAL_NAME = ".trader-cli.journal"


@dataclass(frozen=True)
class Entry:
    """One file of a write: where it goes, its temp, and the old file's backup and inode."""

    target: Path
    temp: Path
    backup: Path | None
    inode: tuple[int, int] | None

    def to_json(self, root: Path) -> dict[str, object]:
        """Paths relative to the data dir (the dir may be moved before recovery)."""
        return {
            "target": str(self.target.relative_to(root)),
            "temp": str(self.temp.relative_to(root)),
            "backup": None if self.backup is None else str(self.backup.relative_to(root)),
            "inode": None if self.inode is None else list(self.inode),
        }

    @classmethod
    def from_json(cls, root: Path, raw: dict[str, object]) -> Entry:
        """An entry read back; paths must stay inside the data dir's bars/ folder."""
        bars = os.path.normpath(os.path.join(root, "bars")) + os.sep

        def inside(value: object) -> Path:
            path = os.path.normpath(root / str(value))
            if not path.startswith(bars):
                raise ValueError(f"path {value!r} is outside {bars}")
            return Path(path)

        backup, inode = raw.get("backup"), raw.get("inode")
        ino = None if inode is None else (int(inode[0]), int(inode[1]))  # type: ignore[index]
        return cls(inside(raw["target"]), inside(raw["temp"]), None if backup is None else inside(backup), ino)


def journal_path(data_dir: Path) -> Path:
    """Where a write in progress keeps its journal."""
    return data_dir / JOURNAL_NAME


@contextmanager
def writer_lock(data_dir: Path, wait: bool = True) -> Iterator[bool]:
    """Hold the store's exclusive lock; yields False (without waiting) when ``wait`` is off and
    another writer holds it. OSErrors become one DataError line."""
    import fcntl

    try:
        fd = os.open(data_dir / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as err:
        raise DataError(f"cannot write to {data_dir}: {os_error_text(err)}") from err
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def settle(data_dir: Path) -> bool:
    """Finish or undo the write a dead writer left (call with the lock held); True when there
    was one. StoreError when the journal cannot be read or the files cannot be put back."""
    journal = journal_path(data_dir)
    try:
        raw = json.loads(journal.read_text(encoding="utf-8"))
        entries = [Entry.from_json(data_dir, e) for e in raw["files"]]
    except FileNotFoundError:
        return False
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise StoreError(
            f"{journal} (left by an interrupted write) cannot be read ({err}); check the bars it lists, then remove it"
        ) from err
    try:
        if any(os.path.lexists(e.temp) for e in entries):
            _roll_back(entries)
        else:
            _drop(e.backup for e in entries)
        journal.unlink(missing_ok=True)
        fsync_dir(data_dir)
    except OSError as err:
        raise StoreError(
            f"an interrupted write left {journal} and the files cannot be put back: "
            f"{os_error_text(err)}; fix that and run any data command"
        ) from err
    return True


class Journal:
    """One all-or-none write of several files (see the module doc), under the writer lock."""

    def __init__(self, data_dir: Path, targets: list[Path]) -> None:
        self.data_dir = data_dir
        self.entries = [_entry(t) for t in targets]
        self._done = False
        record = {"pid": os.getpid(), "files": [e.to_json(data_dir) for e in self.entries]}
        write_atomic(journal_path(data_dir), json.dumps(record))
        fsync_dir(data_dir)

    def temp(self, target: Path) -> Path:
        """The temp file the new content of ``target`` goes to."""
        return next(e.temp for e in self.entries if e.target == target)

    def commit(self) -> None:
        """Back up, rename every temp into place, clean up; on a failure before the last rename
        is durable, roll back and raise one DataError line naming the file."""
        current = self.entries[0].target
        try:
            for e in self.entries:
                current = e.target
                if e.backup is not None:
                    _backup(e.target, e.backup)
            for e in self.entries:
                current = e.target
                os.replace(e.temp, e.target)
            _fsync_folders(self.entries)
        except OSError as err:
            self.abort()
            raise DataError(f"cannot write {current}: {os_error_text(err)}; nothing was changed") from err
        self._done = True  # every file is in place: from here on the write stands
        try:
            _drop(e.backup for e in self.entries)
            journal_path(self.data_dir).unlink()
            fsync_dir(self.data_dir)
        except OSError:
            # The new files are in place and no temp is left, so the next store operation
            # settles the journal forward (it drops what is left of the backups).
            return

    def abort(self) -> None:
        """Undo everything not committed (idempotent). When even that fails the journal stays,
        and the next store operation settles it."""
        if self._done:
            return
        try:
            _roll_back(self.entries)
            journal_path(self.data_dir).unlink(missing_ok=True)
            self._done = True
        except OSError as err:
            raise DataError(
                f"a write failed and the store could not be put back yet ({os_error_text(err)}); "
                "it will be on the next data command"
            ) from err


def _entry(target: Path) -> Entry:
    try:
        st = os.lstat(target)
    except FileNotFoundError:
        return Entry(target, temp_path(target), None, None)
    return Entry(target, temp_path(target), temp_path(target.with_name(target.name + ".old")), (st.st_dev, st.st_ino))


def _backup(target: Path, backup: Path) -> None:
    """A second name for the old file (no copy); a copy where the file system refuses links."""
    try:
        os.link(target, backup, follow_symlinks=False)
        return
    except FileExistsError:
        os.unlink(backup)
        os.link(target, backup, follow_symlinks=False)
        return
    except OSError as err:
        if err.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK, errno.EXDEV):
            raise
    shutil.copyfile(target, backup, follow_symlinks=False)
    with open(backup, "rb+") as fh:
        os.fsync(fh.fileno())


def _roll_back(entries: list[Entry]) -> None:
    """Put every target back as it was before the write (see the module doc), then drop the
    temps and backups. Targets first: while a temp remains, a later recovery rolls back again."""
    for e in entries:
        if e.backup is None:
            if not os.path.lexists(e.temp) and os.path.lexists(e.target):
                os.unlink(e.target)  # new with this write, and renamed into place
        elif os.path.lexists(e.backup) and _inode(e.target) != e.inode:
            os.replace(e.backup, e.target)
    _fsync_folders(entries)
    _drop(e.backup for e in entries)
    _drop(e.temp for e in entries)
    _fsync_folders(entries)


def _inode(path: Path) -> tuple[int, int] | None:
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None
    return st.st_dev, st.st_ino


def _drop(paths: Iterable[Path | None]) -> None:
    for p in paths:
        if p is not None:
            p.unlink(missing_ok=True)


def _fsync_folders(entries: list[Entry]) -> None:
    for folder in sorted({e.target.parent for e in entries}):
        fsync_dir(folder)


def fsync_dir(folder: Path) -> None:
    """Make the renames and removals in ``folder`` durable (a no-op where folders cannot be
    fsynced)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except FileNotFoundError:
        return
    try:
        os.fsync(fd)
    except OSError as err:
        if err.errno not in (errno.EINVAL, errno.ENOTSUP, errno.EBADF):
            raise
    finally:
        os.close(fd)
