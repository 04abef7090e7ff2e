"""The store's file format: the schema, row groups, writing one file, reading its footer, turning
row data into checked columns, reading a damaged row group day by day (what of it is sound), and
the messages for a file that cannot be read.

(The layout and the reading rules are in ``core/store.py``'s module doc.)
"""

from __future__ import annotations

import errno
import itertools
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from trader_cli.core.bar_checks import first_problem
from trader_cli.core.bars import FIELDS, Bars
from trader_cli.core.calendar import iso_ny, ny_dates, ordinal_to_date
from trader_cli.core.errors import DataError, StoreError
from trader_cli.core.intervals import Interval

META_KEY = b"trader_cli"


def schema() -> Any:
    """The one schema of a stored file."""
    import pyarrow as pa

    return pa.schema(
        [
            pa.field("ts", pa.timestamp("ns", "UTC"), nullable=False),
            pa.field("open", pa.float64(), nullable=False),
            pa.field("high", pa.float64(), nullable=False),
            pa.field("low", pa.float64(), nullable=False),
            pa.field("close", pa.float64(), nullable=False),
            pa.field("volume", pa.float64(), nullable=False),
        ]
    )


@dataclass
class FileIndex:
    """Footer facts of one file, cached until the file changes."""

    stamp: tuple[int, int]
    rows: int
    metadata: Any  # the parsed footer: opening the file with it skips parsing it again
    mins: np.ndarray
    maxs: np.ndarray
    group_rows: np.ndarray  # rows in each row group
    first_rows: np.ndarray  # the file row each row group starts at
    info: dict[str, Any]
    checked: np.ndarray  # row groups whose rows passed the content checks (this file version)


def reimport_hint(path: Path, whole: bool = False) -> str:
    """What repairs a bad file: importing the symbol again (the days it holds replace the
    damaged ones); ``whole``: a file whose footer cannot be used, which only ``--replace``
    starts over (its bars cannot even be counted, so no import replaces it unasked)."""
    if whole:
        return (
            f"start the file over with: data import FILE.csv --symbol {path.stem} --interval {path.parent.name} "
            "--replace"
        )
    return f"re-import the symbol with: data import FILE.csv --symbol {path.stem} --interval {path.parent.name}"


def refused(path: Path, problem: str, whole: bool = False) -> StoreError:
    """The error for a file whose content breaks a rule (``whole``: the file as a whole)."""
    return StoreError(f"{path}: {problem}; {reimport_hint(path, whole)}")


def unreadable(path: Path, err: Exception, whole: bool = False) -> StoreError:
    """The error for a file that cannot be read: what the system said (permissions, a symlink
    loop, an I/O error), or that the file is corrupt when Parquet cannot decode it."""
    if isinstance(err, OSError) and err.errno is not None:
        return StoreError(f"cannot read {path}: {read_reason(err)}")
    return refused(path, f"the file is corrupt ({_first_line(err)})", whole)


def _first_line(err: Exception) -> str:
    """What a decoder said, its first line (its type when it said nothing)."""
    return str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__


def where_damaged(path: Path, pf: Any, idx: FileIndex, groups: np.ndarray, err: Exception) -> StoreError:
    """The error of a read of row groups ``groups`` that failed, naming the first that does not
    decode on its own (a New York day of 1m bars): its day and rows, when one can be told."""
    import pyarrow as pa

    if isinstance(err, OSError) and err.errno is not None:
        return unreadable(path, err)
    for g in groups.tolist():
        try:
            pf.read_row_group(g, use_threads=False)
        except (OSError, pa.ArrowException) as bad:
            first, last = int(idx.first_rows[g]), int(idx.first_rows[g] + idx.group_rows[g]) - 1
            day = ordinal_to_date(int(ny_dates(idx.mins[g : g + 1])[0]))
            return refused(path, f"the file is corrupt in its bars of {day} (rows {first}..{last}: {_first_line(bad)})")
    return unreadable(path, err)


def read_reason(err: OSError) -> str:
    """A user-facing reason an existing file cannot be read."""
    from trader_cli.core.atomic import os_error_text

    if err.errno in (errno.EACCES, errno.EPERM):
        return "permission denied (check the file's and its folders' permissions)"
    if err.errno == errno.ELOOP:
        return "too many levels of symbolic links (a symlink loop: remove the link or point it at a file)"
    if err.errno == errno.ENOENT and err.filename and os.path.islink(err.filename):
        return f"it is a symbolic link to {os.readlink(err.filename)}, which does not exist"
    return os_error_text(err)


def problem_text(err: StoreError, path: Path) -> str:
    """What a refused file breaks, without its path in front or the re-import hint after."""
    text = str(err)
    text = (
        text.removeprefix(f"{path}: ")
        .removesuffix(f"; {reimport_hint(path)}")
        .removesuffix(f"; {reimport_hint(path, whole=True)}")
    )
    return text


def is_content_problem(err: StoreError) -> bool:
    """True when a file was refused for what it holds (corrupt, foreign, breaking a rule), not
    because the system would not let it be read: only the former is replaced by an import."""
    cause = err.__cause__
    return not (isinstance(cause, OSError) and cause.errno is not None)


def read_index(path: Path, stamp: tuple[int, int]) -> tuple[FileIndex, Any]:
    """Parse a file's footer and check it (schema, ts statistics in order); returns the index and
    the open ParquetFile."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        # pre_buffer off: a session reads a few row groups from hundreds of files, and
        # coalescing them first costs more than it saves on a local disk (3x faster small reads).
        pf = pq.ParquetFile(path, pre_buffer=False, page_checksum_verification=True)
        md = pf.metadata
        got = md.schema.to_arrow_schema()
    except (OSError, pa.ArrowException) as err:
        raise unreadable(path, err, whole=True) from err
    if [(f.name, f.type) for f in got] != [(f.name, f.type) for f in schema()]:
        shown = ", ".join(f"{f.name}:{f.type}" for f in got)
        raise refused(
            path,
            f"the wrong schema ({shown}); expected ts:timestamp[ns, tz=UTC], open, high, low, close, volume as double",
            whole=True,
        )
    mins, maxs, rows = _ts_bounds(path, md)
    filled = mins <= maxs
    if np.any(maxs[filled][:-1] >= mins[filled][1:]):
        raise refused(path, "row groups out of time order (not written by trader-cli)", whole=True)
    first_rows = np.concatenate([[0], np.cumsum(rows)[:-1]]).astype(np.int64)
    checked = np.zeros(len(rows), dtype=bool)
    return FileIndex(stamp, int(md.num_rows), md, mins, maxs, rows, first_rows, _file_info(md), checked), pf


def checked_bars(
    path: Path, idx: FileIndex, groups: np.ndarray, table: Any, interval: Interval, content: bool = True
) -> Bars:
    """The rows read from ``groups`` as Bars, after checking them: no nulls, first and last ts of
    each group as its statistics say, and (``content``) the content rules; row groups of this
    file version that passed before are not checked again (their pages still are: checksums).
    StoreError names the problem. ``content=False`` leaves the content rules to the caller
    (``check_content``: a batch of files is checked at once)."""
    cols = table.columns
    sizes = idx.group_rows[groups]
    starts = np.cumsum(sizes) - sizes
    if any(col.null_count for col in cols):
        import pyarrow.compute as pc

        name, col = next((n, c) for n, c in zip(FIELDS, cols, strict=True) if c.null_count)
        row = int(pc.index(pc.is_null(col), True).as_py())
        stamp = cols[0][row]
        where = f" at {iso_ny(stamp.value)}" if stamp.is_valid else ""
        raise refused(path, f"null {name}{where} (row {_file_row(idx, groups, starts, row)})")
    bars = Bars(_column(cols[0], np.int64), *(_column(c, np.float64) for c in cols[1:]))
    if idx.checked[groups].all():
        return bars
    ts = bars.ts
    if np.any(ts[starts] != idx.mins[groups]) or np.any(ts[starts + sizes - 1] != idx.maxs[groups]):
        raise refused(path, "the bar times differ from the file's statistics (the file is corrupt)")
    if content:
        check_content(path, idx, groups, bars, interval)
    return bars


def check_content(path: Path, idx: FileIndex, groups: np.ndarray, bars: Bars, interval: Interval) -> None:
    """The content rules over the rows read from ``groups`` (StoreError naming the first broken
    one); the groups are then known good for this file version."""
    problem = first_problem(bars, interval)
    if problem is not None:
        row, why = problem
        sizes = idx.group_rows[groups]
        starts = np.cumsum(sizes) - sizes
        raise refused(path, f"{why} at {iso_ny(int(bars.ts[row]))} (row {_file_row(idx, groups, starts, row)})")
    idx.checked[groups] = True


def _file_row(idx: FileIndex, groups: np.ndarray, starts: np.ndarray, row: int) -> int:
    """The file row of a row of the table read from ``groups``."""
    k = int(np.searchsorted(starts, row, "right")) - 1
    return int(idx.first_rows[groups[k]] + row - starts[k])


def salvage_group(path: Path, idx: FileIndex, pf: Any, group: int, interval: Interval) -> tuple[Bars, list[int], int]:
    """One row group of a damaged file: its sound bars, the New York days it spoils and the bars
    on them (pages that do not decode spoil every day the footer says the group holds)."""
    import pyarrow as pa

    first, last, rows = int(idx.mins[group]), int(idx.maxs[group]), int(idx.group_rows[group])
    try:
        table = pf.read_row_groups([group], use_threads=False)
    except (OSError, pa.ArrowException) as err:
        why = unreadable(path, err)
        if not is_content_problem(why):
            raise why from err
        return Bars.empty(), span_days(first, last), rows
    try:
        bars = checked_bars(path, idx, np.array([group]), table, interval)
    except StoreError:
        return split_days(table, first, last, interval)
    return bars, [], 0


def span_days(first_ns: int, last_ns: int) -> list[int]:
    """The days a row group that cannot be read claims (its footer's first and last bar): the
    New York dates of both and the NYSE trading days between."""
    from trader_cli.core.calendar import nyse

    lo, hi = (int(d) for d in ny_dates(np.array([first_ns, last_ns], dtype=np.int64)))
    known = nyse().schedule.days
    between = known[(known > lo) & (known < hi)]
    return sorted({lo, hi, *(int(d) for d in between)})


def split_days(table: Any, first_ns: int, last_ns: int, interval: Interval) -> tuple[Bars, list[int], int]:
    """A row group that decoded but breaks a rule, day by day: the bars of its sound days, the
    days that break a rule (a null counts) and the bars on them. A group whose times are null or
    differ from its footer is damaged whole (its days as the footer claims)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    cols = table.columns
    rows = table.num_rows
    if cols[0].null_count or not rows:
        return Bars.empty(), span_days(first_ns, last_ns), rows
    ts = np.asarray(cols[0].cast(pa.int64()).to_numpy(), dtype=np.int64)
    if ts[0] != first_ns or ts[-1] != last_ns:
        return Bars.empty(), span_days(first_ns, last_ns), rows
    values = [np.asarray(pc.fill_null(c, np.nan).to_numpy(), dtype=np.float64) for c in cols[1:]]
    bars = Bars(ts, *values)
    day_of = ny_dates(ts)
    bad = [int(d) for d in np.unique(day_of) if first_problem(bars.take(day_of == d), interval) is not None]
    spoiled = np.isin(day_of, bad)
    return bars.take(~spoiled), bad, int(np.count_nonzero(spoiled))


def group_key(ts: np.ndarray, interval: Interval, days: np.ndarray | None = None) -> np.ndarray:
    """Row-group key of each bar: NY day (1s/1m), NY month (5m..1h) or year (1d); ``days``:
    ``ny_dates(ts)`` when the caller has it."""
    days = ny_dates(ts) if days is None else days
    if interval.seconds <= 60:
        return days
    d64 = days.astype("datetime64[D]")
    if interval.is_daily:
        return d64.astype("datetime64[Y]").astype(np.int64)
    return d64.astype("datetime64[M]").astype(np.int64)


def write_file(tmp: Path, bars: Bars, interval: Interval, source: str, runs: dict[str, Any] | None = None) -> None:
    """Write ``bars`` to ``tmp`` in the store's format (a row group per key, page checksums)
    and fsync it; ``runs``: per source the runs of its days, when the file has several.
    OSErrors pass through (the caller names the target)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    days = ny_dates(bars.ts) if len(bars) else np.empty(0, dtype=np.int64)
    keys = group_key(bars.ts, interval, days)
    info: dict[str, Any] = {
        "source": source,
        "rows": len(bars),
        "days": len(np.unique(days)),
        "interval": interval.name,
    }
    if runs:
        info["sources"] = runs
    sch = schema().with_metadata({META_KEY: json.dumps(info).encode()})
    table = pa.table(
        [pa.array(bars.ts, pa.timestamp("ns", "UTC")), *(pa.array(getattr(bars, f)) for f in FIELDS[1:])],
        schema=sch,
    )
    # One row group per key; an empty series gets none.
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]]) if len(keys) else keys
    bounds = [*(int(a) for a in starts), len(bars)]
    with pq.ParquetWriter(
        tmp, sch, compression="lz4", use_dictionary=False, write_statistics=["ts"], write_page_checksum=True
    ) as w:
        for a, b in itertools.pairwise(bounds):
            w.write_table(table.slice(a, b - a))
    with open(tmp, "rb+") as fh:
        os.fsync(fh.fileno())


def _ts_bounds(path: Path, md: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """First and last ``ts`` and the rows of every row group from the footer statistics; an
    empty row group gets an empty range (min > max) so no read selects it."""
    n = md.num_row_groups
    mins = np.full(n, np.iinfo(np.int64).max, dtype=np.int64)
    maxs = np.full(n, np.iinfo(np.int64).min, dtype=np.int64)
    rows = np.zeros(n, dtype=np.int64)
    for i in range(n):
        group = md.row_group(i)
        rows[i] = group.num_rows
        if group.num_rows == 0:
            continue
        stats = group.column(0).statistics
        if stats is None or not stats.has_min_max:
            raise refused(path, f"no ts statistics in row group {i} (not written by trader-cli)", whole=True)
        mins[i], maxs[i] = int(stats.min_raw), int(stats.max_raw)
    return mins, maxs, rows


def _file_info(md: Any) -> dict[str, Any]:
    """The ``trader_cli`` key-value metadata of a file ({} when absent or unreadable)."""
    raw = (md.metadata or {}).get(META_KEY)
    try:
        info = json.loads(raw) if raw else {}
    except ValueError:
        return {}
    return info if isinstance(info, dict) else {}


def _column(col: Any, dtype: Any) -> np.ndarray:
    """A numpy array of a null-free chunked Arrow column (a view when it is one chunk, else
    one copy; no pandas)."""
    chunks = col.chunks
    if len(chunks) == 1:
        return _np(chunks[0], dtype)
    if not chunks:
        return np.empty(0, dtype=dtype)
    return np.concatenate([_np(c, dtype) for c in chunks])


def _np(arr: Any, dtype: Any) -> np.ndarray:
    return np.frombuffer(arr.buffers()[1], dtype=dtype, count=len(arr), offset=arr.offset * 8)


def write_temp(
    tmp: Path, target: Path, bars: Bars, interval: Interval, source: str, runs: dict[str, Any] | None
) -> None:
    """Write one file's temp; OSErrors (a full disk, a folder that refuses files) become one
    DataError line naming the target."""
    import pyarrow as pa

    from trader_cli.core.atomic import os_error_text

    try:
        write_file(tmp, bars, interval, source, runs)
    except OSError as err:
        raise DataError(f"cannot write {target}: {os_error_text(err)}; nothing was changed") from err
    except pa.ArrowException as err:
        raise DataError(f"cannot write {target}: {err}; nothing was changed") from err


def window(bars: Bars, start_ns: int | None, end_ns: int | None) -> Bars:
    """The bars with start <= ts < end (either bound may be open)."""
    ts = bars.ts
    a = 0 if start_ns is None else int(np.searchsorted(ts, start_ns, "left"))
    b = len(ts) if end_ns is None else int(np.searchsorted(ts, end_ns, "left"))
    return bars if (a == 0 and b == len(ts)) else bars.slice(a, b)
