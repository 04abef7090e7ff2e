"""DataManager: the Parquet bar store.

Layout (under the data dir)::

    bars/<interval>/<SYMBOL>.parquet
    .trader-cli.lock       the writers' lock (fcntl.flock)
    .trader-cli.journal    present only while a write is in progress (or was killed)

One file per symbol and interval, so reading one symbol's window touches only that file. Rows
are sorted by ``ts`` (bar start, UTC ns, ``timestamp[ns, UTC]``), one schema (below). Row groups
hold one New York trading day for 1s/1m bars, one month for 5m..1h bars and one year for 1d
bars; a window read selects row groups by their ``ts`` statistics (predicate pushdown on the
footer) and reads only those. LZ4 without dictionary encoding: measured here it reads 20 days
of 1m bars in ~1.2 ms against ~3.2 ms for zstd. Pages carry CRC checksums, verified on read.
File metadata carries ``trader_cli.source`` (e.g. "synthetic sample", or "mixed: …" with the days
of each source, which ``sources`` lists as runs of days), row count and days.

Nothing stored is trusted: every read checks the footer (schema, row groups in order), the
pages (checksums; no nulls) and the content rules of ``core/bar_checks.py`` on the rows it
reads, and refuses a file that breaks one with a StoreError naming the file and the problem.
Writes check the same rules first, and several files are written all or none, also across
kill -9 (``core/store_journal.py``: a journal, backups, one writer at a time under a lock). A write
replaces the stored days its bars hold and keeps the others; a damaged file keeps its readable
days and is repaired only by a write holding every damaged day (``core/store_merge.py``).
"""

from __future__ import annotations

import os
import re
import stat
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from trader_cli.core.atomic import os_error_text, sweep_stale
from trader_cli.core.bar_checks import first_problem
from trader_cli.core.bars import FIELDS, Bars
from trader_cli.core.calendar import iso_ny, ny_dates
from trader_cli.core.errors import DataError, IntervalError, StoreError
from trader_cli.core.file_limits import open_files_cap
from trader_cli.core.intervals import Interval
from trader_cli.core.store_format import (
    FileIndex,
    check_content,
    checked_bars,
    is_content_problem,
    problem_text,
    read_index,
    read_reason,
    salvage_group,
    where_damaged,
    window,
    write_temp,
)
from trader_cli.core.store_journal import Journal, journal_path, settle, writer_lock
from trader_cli.core.store_merge import Damage, FileChange, Stored, check_merged, merge, sources

SYMBOL_RE = re.compile(r"^[A-Z][A-Z0-9.\-]{0,14}$")


def check_symbol(text: str) -> str:
    """Normalise a ticker to upper case; raise DataError when it cannot be one."""
    sym = text.strip().upper()
    if not SYMBOL_RE.match(sym):
        raise DataError(
            f"bad symbol '{text}' (a ticker is a letter followed by up to 14 letters, digits, "
            "'.' or '-', e.g. AAPL or BRK.B)"
        )
    return sym


@dataclass(frozen=True)
class ReadBatch:
    """Bars of several symbols one after another: ``symbols[i]`` has the next ``sizes[i]`` bars;
    ``refused`` holds the symbols whose file was refused, with why."""

    bars: Bars
    symbols: list[str]
    sizes: list[int]
    refused: dict[str, StoreError]


@dataclass(frozen=True)
class Coverage:
    """What the store holds for one symbol and interval; ``problem`` says why a file that cannot
    be read was left out (its counts are then 0)."""

    symbol: str
    interval: str
    rows: int
    first_ns: int
    last_ns: int
    days: int
    source: str
    path: str
    size_bytes: int
    problem: str = ""


@dataclass
class StoreWrite:
    """What a write did: rows now stored per symbol, and per symbol what it did to the file
    (days replaced, bars removed, damage repaired, a file started over)."""

    rows: dict[str, int] = field(default_factory=dict)
    changes: dict[str, FileChange] = field(default_factory=dict)


class DataManager:
    """Reads and writes bars under one data dir (see the module doc for the layout)."""

    def __init__(self, data_dir: str | Path) -> None:
        self.data_dir = Path(data_dir)
        self._index: dict[Path, FileIndex] = {}
        self._paths: dict[tuple[str, str], Path] = {}
        self._cap = open_files_cap()
        self._lock = threading.Lock()
        self._local = threading.local()
        self._journal = journal_path(self.data_dir)

    # -- layout -----------------------------------------------------------------------------
    def path_for(self, symbol: str, interval: Interval | str) -> Path:
        """The file holding one symbol's bars of one interval."""
        key = (symbol, interval if isinstance(interval, str) else interval.name)
        path = self._paths.get(key)
        if path is None:
            path = self.data_dir / "bars" / Interval.parse(interval).name / f"{symbol}.parquet"
            if len(self._paths) < 100_000:
                self._paths[key] = path
        return path

    def intervals_for(self, symbol: str) -> list[str]:
        """Intervals with a file for the symbol, shortest first (a file that cannot be read, such
        as a symlink loop, counts: reading it says what is wrong)."""
        name = f"{symbol}.parquet"
        found = [iv for iv in self._interval_dirs() if os.path.lexists(self._bars_dir() / iv / name)]
        return sorted(found, key=lambda n: Interval.parse(n).seconds)

    def symbols(self, interval: Interval | str | None = None) -> list[str]:
        """Symbols with bars stored (of one interval, or any)."""
        dirs = [Interval.parse(interval).name] if interval else self._interval_dirs()
        out: set[str] = set()
        for iv in dirs:
            d = self._bars_dir() / iv
            if d.is_dir():
                out.update(p.stem for p in d.glob("*.parquet"))
        return sorted(out)

    def has(self, symbol: str, interval: Interval | str) -> bool:
        """True when the store has a file for this symbol and interval (readable or not)."""
        return os.path.lexists(self.path_for(symbol, interval))

    def _bars_dir(self) -> Path:
        return self.data_dir / "bars"

    def _interval_dirs(self) -> list[str]:
        d = self._bars_dir()
        if not d.is_dir():
            return []
        names = []
        for p in d.iterdir():
            try:
                names.append(Interval.parse(p.name).name)
            except IntervalError:
                continue  # a folder that is not an interval is not ours
        return names

    # -- footer index ----------------------------------------------------------------------
    def _file_index(self, path: Path) -> FileIndex:
        try:
            st = path.stat()
        except FileNotFoundError as err:
            if os.path.islink(path):
                raise StoreError(f"cannot read {path}: {read_reason(err)}") from err
            raise StoreError(f"no bars stored at {path} (import them with: data import FILE.csv)") from err
        except OSError as err:  # a symlink loop, no permission, an I/O error
            raise StoreError(f"cannot read {path}: {read_reason(err)}") from err
        if not stat.S_ISREG(st.st_mode):  # a FIFO would block the read forever, a folder is no file
            kind = "a folder" if stat.S_ISDIR(st.st_mode) else "not a regular file (a pipe, socket or device)"
            raise StoreError(f"cannot read {path}: it is {kind}; move it out of the store, then re-import the symbol")
        stamp = (st.st_mtime_ns, st.st_size)
        with self._lock:
            cached = self._index.get(path)
        if cached is not None and cached.stamp == stamp:
            return cached
        entry, pf = read_index(path, stamp)
        with self._lock:
            self._index[path] = entry
        self._keep_open(path, stamp, pf)  # the file just opened serves this thread's reads
        return entry

    def _open(self, path: Path, idx: FileIndex) -> Any:
        """An open ParquetFile for this thread (they are not shared across threads), kept per
        thread and reopened when the file changed; it shares the cached footer."""
        import pyarrow.parquet as pq

        hit = self._files().get(path)
        if hit is not None and hit[0] == idx.stamp:
            return hit[1]
        pf = pq.ParquetFile(path, metadata=idx.metadata, pre_buffer=False, page_checksum_verification=True)
        self._keep_open(path, idx.stamp, pf)
        return pf

    def _files(self) -> dict[Path, tuple[tuple[int, int], Any]]:
        """This thread's open files: path -> (stamp, ParquetFile)."""
        cache: dict[Path, tuple[tuple[int, int], Any]] | None = getattr(self._local, "files", None)
        if cache is None:
            cache = self._local.files = {}
        return cache

    def _keep_open(self, path: Path, stamp: tuple[int, int], pf: Any) -> None:
        cache = self._files()
        if path not in cache and len(cache) >= self._cap:
            cache.pop(next(iter(cache)))[1].close()  # the file opened first is closed first
        cache[path] = (stamp, pf)

    # -- reading ---------------------------------------------------------------------------
    def read(
        self,
        symbol: str,
        interval: Interval | str,
        start_ns: int | None = None,
        end_ns: int | None = None,
    ) -> Bars:
        """Bars with start_ns <= ts < end_ns (either bound may be open), read through row-group
        pruning on the footer statistics and checked (see the module doc); StoreError when
        nothing is stored or the file is refused."""
        self._settle_dead_write()
        return self._read(self.path_for(symbol, interval), Interval.parse(interval), start_ns, end_ns)

    def _read(self, path: Path, interval: Interval, start_ns: int | None, end_ns: int | None) -> Bars:
        bars, _, _ = self._read_groups(path, interval, start_ns, end_ns, content=True)
        return window(bars, start_ns, end_ns)

    def _read_groups(
        self, path: Path, interval: Interval, start_ns: int | None, end_ns: int | None, content: bool
    ) -> tuple[Bars, FileIndex, np.ndarray]:
        """The whole row groups overlapping [start, end), checked (content rules: ``content``)."""
        import pyarrow as pa

        idx = self._file_index(path)
        lo = -(2**63) if start_ns is None else start_ns
        hi = 2**63 - 1 if end_ns is None else end_ns
        sel = np.flatnonzero((idx.maxs >= lo) & (idx.mins < hi) & (idx.mins <= idx.maxs))
        if not len(sel):
            return Bars.empty(), idx, sel
        try:
            table = self._open(path, idx).read_row_groups(sel.tolist(), use_threads=False)
        except (OSError, pa.ArrowException) as err:
            raise where_damaged(path, self._open(path, idx), idx, sel, err) from err
        return checked_bars(path, idx, sel, table, interval, content), idx, sel

    def read_batch(self, symbols: list[str], interval: Interval | str, start_ns: int, end_ns: int) -> ReadBatch:
        """Several symbols' bars in the row groups overlapping [start, end), one symbol after
        another in one array per field (the replay scatters them into its day grids at once;
        bars outside the window are the caller's to drop), the content rules checked over all
        of them in one pass (each file alone only when the batch breaks one, to name it)."""
        from trader_cli.core.bar_checks import batch_sound

        self._settle_dead_write()
        iv = Interval.parse(interval)
        parts: list[tuple[str, Path, FileIndex, np.ndarray, Bars]] = []
        refused: dict[str, StoreError] = {}
        for symbol in symbols:
            path = self.path_for(symbol, iv)
            try:
                bars, idx, sel = self._read_groups(path, iv, start_ns, end_ns, content=False)
            except StoreError as err:
                refused[symbol] = err
                continue
            parts.append((symbol, path, idx, sel, bars))
        batch = Bars.concat([p[4] for p in parts], copy=True)
        bounds = np.cumsum([0, *(len(p[4]) for p in parts)]).tolist()
        if not batch_sound(batch, bounds, iv):  # somebody breaks a rule: check each alone to name it
            for symbol, path, idx, sel, bars in parts:
                try:
                    check_content(path, idx, sel, bars, iv)
                except StoreError as err:
                    refused[symbol] = err
            parts = [p for p in parts if p[0] not in refused]
            batch = Bars.concat([p[4] for p in parts], copy=True)
        for _, _, idx, sel, _ in parts:
            idx.checked[sel] = True
        return ReadBatch(batch, [p[0] for p in parts], [len(p[4]) for p in parts], refused)

    def tail(self, symbol: str, interval: Interval | str, n: int) -> Bars:
        """The last ``n`` stored bars (reads only the row groups that hold them)."""
        self._settle_dead_write()
        path = self.path_for(symbol, interval)
        idx = self._file_index(path)
        filled = np.flatnonzero(idx.mins <= idx.maxs)
        held = np.cumsum(idx.group_rows[filled][::-1])
        if not len(filled):
            return Bars.empty()
        first = filled[::-1][min(int(np.searchsorted(held, n)), len(filled) - 1)]
        bars = self._read(path, Interval.parse(interval), int(idx.mins[first]), None)
        return bars.slice(max(0, len(bars) - n))

    def overlaps(self, symbol: str, interval: Interval | str, start_ns: int, end_ns: int) -> bool:
        """True when a row group of the stored file overlaps [start, end) (footer only)."""
        self._settle_dead_write()
        idx = self._file_index(self.path_for(symbol, interval))
        return bool(np.any((idx.maxs >= start_ns) & (idx.mins < end_ns)))

    def spans_with_bars(
        self, symbol: str, interval: Interval | str, starts: np.ndarray, ends: np.ndarray
    ) -> np.ndarray:
        """For each span [start, end): True when a row group of the stored file overlaps it
        (footer only; the row groups are in time order)."""
        self._settle_dead_write()
        idx = self._file_index(self.path_for(symbol, interval))
        real = idx.mins <= idx.maxs  # empty row groups have an empty range
        mins, maxs = idx.mins[real], idx.maxs[real]
        first = np.searchsorted(maxs, starts, "left")  # the first group ending at or after each start
        inside = first < len(mins)
        out = np.zeros(len(starts), dtype=bool)
        out[inside] = mins[first[inside]] < ends[inside]
        return out

    def _settle_dead_write(self) -> None:
        """A journal with no writer holding the lock is a dead writer's: settle it before
        reading (one stat when there is none)."""
        if not os.path.lexists(self._journal):
            return
        try:
            with writer_lock(self.data_dir, wait=False) as held:
                if held:
                    settle(self.data_dir)
        except DataError as err:
            if isinstance(err, StoreError):
                raise
            raise StoreError(f"an interrupted write left {self._journal}; settling it needs to write: {err}") from err

    # -- coverage --------------------------------------------------------------------------
    def coverage(self, symbol: str | None = None) -> list[Coverage]:
        """One row per stored symbol and interval (from file footers only; cheap); a file that
        cannot be read is a row with its problem, and the others are listed as usual."""
        self._settle_dead_write()
        rows = []
        for iv in sorted(self._interval_dirs(), key=lambda n: Interval.parse(n).seconds):
            for path in sorted((self._bars_dir() / iv).glob("*.parquet")):
                if symbol and path.stem != symbol:
                    continue
                try:
                    idx = self._file_index(path)
                except StoreError as err:
                    rows.append(Coverage(path.stem, iv, 0, 0, 0, 0, "unknown", str(path), _size(path), str(err)))
                    continue
                info = idx.info
                rows.append(
                    Coverage(
                        symbol=path.stem,
                        interval=iv,
                        rows=idx.rows,
                        first_ns=int(idx.mins.min()) if idx.rows else 0,
                        last_ns=int(idx.maxs.max()) if idx.rows else 0,
                        days=int(info.get("days", 0)),
                        source=str(info.get("source", "unknown")),
                        path=str(path),
                        size_bytes=idx.stamp[1],
                    )
                )
        return rows

    def trading_days_present(self, symbol: str, interval: Interval | str) -> np.ndarray:
        """NY date ordinals that have at least one bar."""
        return np.unique(ny_dates(self.read(symbol, interval).ts))

    # -- writing ---------------------------------------------------------------------------
    def write(self, symbol: str, interval: Interval | str, bars: Bars, source: str) -> int:
        """Merge ``bars`` into the stored series: they replace the stored days they hold (whole
        New York days), the other days stay; atomic. Returns the number of rows now stored."""
        return self.write_many({symbol: bars}, interval, source)[symbol]

    def write_many(
        self,
        by_symbol: dict[str, Bars],
        interval: Interval | str,
        source: str,
        progress: Callable[[int, int, str], None] | None = None,
    ) -> dict[str, int]:
        """``write`` for several symbols, all or none (see ``write_batch``)."""
        return self.write_batch(by_symbol, interval, source, progress).rows

    def write_batch(
        self,
        by_symbol: dict[str, Bars],
        interval: Interval | str,
        source: str,
        progress: Callable[[int, int, str], None] | None = None,
        replace: bool = False,
    ) -> StoreWrite:
        """Merge each symbol's bars into its file (core/store_merge.py: the days they hold replace
        those stored; a damaged file is repaired only when they hold every damaged day, else the
        write is refused; ``replace`` starts each file over); every file changes or none does,
        also when the process is killed (core/store_journal.py). OSErrors become one DataError line."""
        from trader_cli.core.objectstore import mirrored_from

        iv = Interval.parse(interval)
        uri = mirrored_from(self.data_dir)
        if uri is not None:
            raise DataError(
                f"{uri} is read-only here: import or fetch into a local store (--data-dir DIR), "
                f"then upload it (e.g. aws s3 sync DIR {uri})"
            )
        for symbol, bars in by_symbol.items():
            _check_bars(symbol, bars, iv)
        paths = {symbol: self.path_for(symbol, iv) for symbol in by_symbol}
        done = StoreWrite()
        try:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            for folder in sorted({p.parent for p in paths.values()}):
                folder.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise DataError(f"cannot write to {self.data_dir}: {os_error_text(err)}") from err
        with writer_lock(self.data_dir):
            settle(self.data_dir)
            for folder in sorted({p.parent for p in paths.values()}):
                sweep_stale(folder)
            journal = Journal(self.data_dir, list(paths.values()))
            try:
                for n, (symbol, bars) in enumerate(by_symbol.items()):
                    if progress is not None:
                        progress(n, len(by_symbol), symbol)
                    stored = self._stored(paths[symbol], iv)
                    merged, change = merge(stored, bars, replace, symbol, iv)
                    if stored.damage is not None and not replace:
                        check_merged(symbol, merged, iv)
                    line, runs = sources(stored, merged, bars, source, replace)
                    write_temp(journal.temp(paths[symbol]), paths[symbol], merged, iv, line, runs)
                    done.rows[symbol] = len(merged)
                    done.changes[symbol] = change
                journal.commit()
            except BaseException:
                journal.abort()
                raise
        return done

    def stored(self, symbol: str, interval: Interval | str) -> Stored:
        """What a symbol's file holds as far as it can be read: its readable bars and what is
        damaged (core/store_merge.py); no bars when nothing is stored. StoreError only when the
        system refuses the file (permissions, a symlink loop, an I/O error)."""
        self._settle_dead_write()
        return self._stored(self.path_for(symbol, interval), Interval.parse(interval))

    def _stored(self, path: Path, interval: Interval) -> Stored:
        if not os.path.lexists(path):
            return Stored(Bars.empty())
        try:
            idx = self._file_index(path)
        except StoreError as err:
            if not is_content_problem(err):
                raise
            return Stored(Bars.empty(), Damage(problem_text(err, path), whole=True))
        try:
            return Stored(self._read(path, interval, None, None), None, idx.info)
        except StoreError as err:
            if not is_content_problem(err):
                raise
            first = problem_text(err, path)
        good: list[Bars] = []
        bad_days: set[int] = set()
        bad_rows = 0
        for group in np.flatnonzero(idx.mins <= idx.maxs).tolist():  # the empty groups hold nothing
            kept, days, rows = salvage_group(path, idx, self._open(path, idx), group, interval)
            good.append(kept)
            bad_days.update(days)
            bad_rows += rows
        damage = Damage(first, tuple(sorted(bad_days)), bad_rows)
        return Stored(Bars.concat(good, copy=True), damage, idx.info)


def _size(path: Path) -> int:
    try:
        return os.lstat(path).st_size
    except OSError:
        return 0


def _check_bars(symbol: str, bars: Bars, interval: Interval) -> None:
    """Bars to store: a ticker (no path tricks), parallel arrays of one length, and the content
    rules a read checks (core/bar_checks.py), so nothing is written that could not be read."""
    if check_symbol(symbol) != symbol:
        raise DataError(f"cannot store '{symbol}': write the ticker as {check_symbol(symbol)}")
    lengths = {f: int(np.shape(getattr(bars, f))[0]) for f in FIELDS}
    if len(set(lengths.values())) > 1:
        shown = ", ".join(f"{f} {n}" for f, n in lengths.items())
        raise DataError(f"cannot store {symbol}: its bar columns differ in length ({shown})")
    problem = first_problem(bars, interval)
    if problem is not None:
        row, why = problem
        hint = " (sort the bars and drop duplicate timestamps first)" if why.startswith("ts not") else ""
        raise DataError(f"cannot store {symbol}: {why} at {iso_ny(int(bars.ts[row]))} (row {row}){hint}")
