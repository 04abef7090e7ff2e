"""CSV import: ``timestamp,open,high,low,close,volume`` (optionally ``symbol``) into the store.

Timestamps may be ISO 8601 with an offset, ISO 8601 without one (read in ``tz``; a time that
does not exist there, in a spring-forward gap, is a bad row; an ambiguous one in the fall-back
hour is read as the first), or epoch integers whose unit is told by magnitude: below 1e11
seconds, below 1e14 milliseconds, below 1e17 microseconds, else nanoseconds (unambiguous for
1973..5138). Bar times must fall in 1900..2199.

The whole file is checked before anything is written; a file with bad rows is rejected with
the first of them listed by line number and nothing changes. The rules are those of every
stored series (``core/bar_checks.py``): finite prices in 0..1e7 and volumes in 0..1e15,
high >= low, open and close inside low..high, intraday bars on their interval's grid, daily
bars on NYSE trading days; plus no duplicate timestamps per symbol. The range: 1e7 is ten times
the dearest US share (BRK.A, under 1e6) and above any coin priced in dollars, while tokens
priced in millionths pass; 1e15 covers a day of a token trading trillions of units; and with
both, every sum, mean and price x volume an aggregate or indicator forms stays finite (values
near 1e308 overflow to inf and broke aggregation and export). Bars outside the regular
session, or inside it but off the session's bar grid (an hourly bar at 10:00 when the session's
hours start at 09:30), are stored and counted in the result, not refused.

What is written: each New York day in the file replaces that whole stored day, the days it does
not hold stay, and the result counts the stored days and bars replaced; a damaged stored file
is repaired only by a file holding every damaged day (``core/store_merge.py``).
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np

from trader_cli.core.bar_checks import grid_problems, ny_midnight, value_problems
from trader_cli.core.bars import Bars
from trader_cli.core.calendar import ny_dates
from trader_cli.core.errors import DataError, ImportRejected
from trader_cli.core.intervals import Interval
from trader_cli.core.store import DataManager, check_symbol

REQUIRED = ("timestamp", "open", "high", "low", "close", "volume")
MAX_LISTED = 10
BLOCK = 1 << 20  # the CSV reader's block: a line (a row) must fit in one
FIRST_NS = -2_208_988_800 * 1_000_000_000  # 1900-01-01T00:00:00Z
END_NS = 7_258_118_400 * 1_000_000_000  # 2200-01-01T00:00:00Z
YEARS = "1900..2199"


@dataclass(frozen=True)
class ImportedSymbol:
    """What one symbol's import did."""

    symbol: str
    interval: str
    rows: int
    first_ns: int
    last_ns: int
    stored_rows: int
    outside_session: int = 0  # bars outside the regular session (extended hours)
    off_grid: int = 0  # bars inside the session but not on its bar grid (aligned to the open)
    replaced_days: int = 0  # stored days the file's days replaced (a day in the file replaces that whole day)
    replaced_bars: int = 0  # the stored bars on those days
    removed_bars: int = 0  # of those, bars at a time the file does not hold: gone
    repaired: str | None = None  # the damaged days (and why) of the stored file, which the import replaced
    started_over: str | None = None  # --replace: what the stored file held before


def _read_table(path: Path) -> Any:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    if not path.is_file():
        raise DataError(f"no such file: {path} (give the path of a CSV file)")
    try:
        opts = pacsv.ConvertOptions(column_types=_all_strings(path), strings_can_be_null=False)
        return pacsv.read_csv(path, read_options=pacsv.ReadOptions(block_size=BLOCK), convert_options=opts)
    except pa.ArrowInvalid as err:
        if _first_non_utf8(path) is not None:  # Arrow says only "invalid UTF8 data"
            raise DataError(_not_utf8(path)) from err
        _refuse_layout(path)  # Arrow names its own limits ("block", "straddling object")
        why = str(err).splitlines()[0]
        line = _uneven_line(path) if "columns, got" in why else None  # Arrow names the row, not its line
        if line is not None:
            why = why.removeprefix("CSV parse error: ")
            raise DataError(f"{path} line {line:,}: {why}; fix or remove that row, then import again") from err
        raise DataError(f"{path} is not a readable CSV file ({why})") from err


def _uneven_line(path: Path) -> int | None:
    """The line number of the first row with another number of columns than the header (read
    only on that error: the reader names the row's text, not where it is)."""
    import csv

    with path.open(newline="", encoding="utf-8", errors="replace") as f:
        rows = csv.reader(f)
        header = next(rows, None)
        for row in rows:
            if header is not None and row and len(row) != len(header):
                return rows.line_num
    return None


def _refuse_layout(path: Path) -> None:
    """Say plainly what keeps the reader from a file's rows: nothing in it, only a header (with
    or without a line break after it), or a line longer than the reader's block. Scanned in
    chunks, and only when the reader refused the file."""
    line, length, lines_with_text, has_text = 1, 0, 0, False
    with open(path, "rb") as fh:
        while chunk := fh.read(BLOCK):
            start = 0
            while True:
                nl = chunk.find(b"\n", start)
                end = len(chunk) if nl < 0 else nl
                length += end - start
                has_text = has_text or bool(chunk[start:end].strip())
                if length > BLOCK:
                    raise DataError(
                        f"{path} line {line} is longer than {BLOCK // (1 << 20)} MiB, the most a line of bars "
                        "may be (is it a CSV of bars?); nothing was imported"
                    )
                if nl < 0:
                    break
                lines_with_text += has_text
                line, length, has_text, start = line + 1, 0, False, nl + 1
    lines_with_text += has_text
    if lines_with_text == 0:
        raise ImportRejected(f"{path} is empty: nothing to import (expected header: {','.join(REQUIRED)}[,symbol])")
    if lines_with_text == 1:
        raise ImportRejected(f"{path} has no rows to import")


def _not_utf8(path: Path) -> str:
    """The one line for a file that is not UTF-8 text: where, and what to do."""
    with open(path, "rb") as fh:
        head = fh.read(2)
    fix = "save it as UTF-8 (in Excel: CSV UTF-8) and import again; nothing was imported"
    if head in (b"\xff\xfe", b"\xfe\xff"):
        return f"{path} is UTF-16 text, not UTF-8: {fix}"
    where = _first_non_utf8(path)
    at = f" (line {where[0]}: byte 0x{where[2]:02x} at offset {where[1]})" if where else ""
    return f"{path} is not UTF-8 text{at}: {fix}"


def _first_non_utf8(path: Path) -> tuple[int, int, int] | None:
    """(line, offset in the file, value) of the first byte that is not UTF-8, else None. Read
    in chunks: only a rejected file is scanned, and it may be large."""
    line, offset, carry = 1, 0, b""
    with open(path, "rb") as fh:
        while True:
            chunk = fh.read(1 << 20)
            data = carry + chunk
            try:
                data.decode("utf-8")
                good, carry = len(data), b""
            except UnicodeDecodeError as err:
                if not (chunk and err.reason == "unexpected end of data"):
                    return line + data.count(b"\n", 0, err.start), offset + err.start, data[err.start]
                good, carry = err.start, data[err.start :]  # a character split across two chunks
            line += data.count(b"\n", 0, good)
            offset += good
            if not chunk:
                return None


def _all_strings(path: Path) -> dict[str, Any]:
    import pyarrow as pa

    # utf-8-sig: the reader drops a byte-order mark (Excel writes one), so the names must too.
    with open(path, encoding="utf-8-sig", errors="replace", newline="") as fh:
        first = fh.readline(BLOCK + 1)  # bounded: a "header" of megabytes is no CSV of bars
    if len(first) > BLOCK:
        _refuse_layout(path)
    try:
        header = next(csv.reader([first]), [])
    except csv.Error as err:  # a field over the csv module's limit (128 KiB): no column name is that long
        raise DataError(
            f"{path} line 1 is not a header of bars ({err}); expected header: {','.join(REQUIRED)}[,symbol]"
        ) from None
    return {name: pa.string() for name in header}


def _parse_timestamps(column: Any, tz: str) -> tuple[np.ndarray, list[tuple[int, str]]]:
    """UTC ns per row of an Arrow string column, and the rows that did not parse or fall
    outside the years we take."""
    try:
        zone = ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as err:
        raise DataError(f"unknown time zone '{tz}' (use an IANA name such as America/New_York)") from err
    texts: list[str] | None = None
    out = _parse_fast(column, tz)
    if out is None:
        texts = column.to_pylist()
        out = np.zeros(len(column), dtype=np.int64)
        bad: list[tuple[int, str]] = []
        for i, text in enumerate(texts):
            value, why = _parse_one(text.strip(), zone, tz)
            if why is not None:
                bad.append((i, why))
            else:
                out[i] = value
        return out, bad
    outside = np.flatnonzero((out < FIRST_NS) | (out >= END_NS))
    if not len(outside):
        return out, []
    texts = column.to_pylist()
    return out, [(int(i), f"timestamp '{texts[i][:40]}' is outside {YEARS}") for i in outside]


def _parse_fast(arr: Any, tz: str) -> np.ndarray | None:
    """Vectorised parse of a homogeneous column; None when it needs the row-by-row path."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if not len(arr):
        return np.zeros(0, dtype=np.int64)
    sample = str(arr[0].as_py()).strip()
    try:
        if sample.isdigit():
            nums = pc.cast(arr, pa.int64()).to_numpy()
            ns, ok = _epoch_to_ns(nums)
            return ns if bool(ok.all()) else None
        # A guess from the first row only: Arrow refuses a row that does not fit the guess,
        # and the row-by-row path then reads every row as it is.
        offset = len(sample) > 19 and (
            sample.endswith("Z") or sample[19] in "+-" or "+" in sample[10:] or sample[-6] in "+-"
        )
        if offset:
            out = pc.cast(arr, pa.timestamp("ns", "UTC"))
            return np.asarray(out.cast(pa.int64()).to_numpy(zero_copy_only=False), dtype=np.int64)
        naive = pc.cast(arr, pa.timestamp("ns"))
        local = pc.assume_timezone(naive, timezone=tz, ambiguous="earliest", nonexistent="raise")
        return np.asarray(local.cast(pa.int64()).to_numpy(zero_copy_only=False), dtype=np.int64)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, ValueError):
        return None


def _epoch_to_ns(nums: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Epoch integers to ns by magnitude (see the module doc), and which are in the years we take
    (the others are 0: they are bad rows)."""
    size = np.abs(nums.astype(np.float64))
    scale = np.select([size < 1e11, size < 1e14, size < 1e17], [10**9, 10**6, 10**3], 1)
    approx = nums.astype(np.float64) * scale
    ok = (approx >= FIRST_NS) & (approx < END_NS)
    return np.where(ok, nums, 0) * scale, ok  # multiplied only where it cannot overflow


def _parse_one(text: str, zone: ZoneInfo, tz: str) -> tuple[int, str | None]:
    """One timestamp's UTC ns, or the reason it is a bad row."""
    try:
        if text.lstrip("-").isdigit():
            ns, ok = _epoch_to_ns(np.array([max(min(int(text), 2**63 - 1), -(2**63))], dtype=np.int64))
            if not ok[0]:
                return 0, f"timestamp '{text[:40]}' is outside {YEARS}"
            return int(ns[0]), None
        d = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return 0, f"unparseable timestamp '{text[:40]}'"
    if not 1900 <= d.year <= 2199:
        return 0, f"timestamp '{text[:40]}' is outside {YEARS}"
    if d.tzinfo is None:
        local = d.replace(tzinfo=zone)
        if local.astimezone(dt.UTC).astimezone(zone).replace(tzinfo=None) != d:
            return 0, f"{text[:40]} does not exist in {tz} (clocks spring forward)"
        d = local
    value = int(d.timestamp()) * 1_000_000_000 + d.microsecond * 1000
    if not FIRST_NS <= value < END_NS:
        return 0, f"timestamp '{text[:40]}' is outside {YEARS}"
    return value, None


def _parse_numbers(name: str, column: Any) -> tuple[np.ndarray, list[tuple[int, str]]]:
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        parsed = pc.cast(column, pa.float64())
        return parsed.to_numpy(zero_copy_only=False), []
    except (pa.ArrowInvalid, ValueError):
        values = column.to_pylist()
        out = np.zeros(len(values))
        bad = []
        for i, text in enumerate(values):
            try:
                out[i] = float(text)
            except ValueError:
                bad.append((i, f"unparseable {name} '{text[:40]}'"))
        return out, bad


def row_problems(ts: np.ndarray, fields: dict[str, np.ndarray], interval: Interval) -> list[tuple[int, str]]:
    """Per-row checks of the stored-series rules, vectorised; (row index, reason)."""
    bars = Bars(ts, *(fields[f] for f in REQUIRED[1:]))
    problems = value_problems(bars)
    if interval.is_intraday:
        problems += grid_problems(ts, interval)
    return problems


def _duplicates(ts: np.ndarray, groups: np.ndarray) -> list[tuple[int, str]]:
    order = np.lexsort((ts, groups))
    same = (ts[order][1:] == ts[order][:-1]) & (groups[order][1:] == groups[order][:-1])
    return [(int(order[k + 1]), "duplicate timestamp") for k in np.flatnonzero(same)]


def _non_trading_days(ts: np.ndarray) -> list[tuple[int, str]]:
    """Daily bars dated on a day the NYSE did not trade (weekend, holiday)."""
    from trader_cli.core.calendar import nyse, ordinal_to_date

    days = ny_dates(ts)
    known = nyse().schedule.days
    pos = np.clip(np.searchsorted(known, days), 0, len(known) - 1)
    bad = np.flatnonzero(known[pos] != days)
    return [(int(i), f"{ordinal_to_date(int(days[i]))} is not an NYSE trading day") for i in bad]


def _daily_midnight(ts: np.ndarray) -> np.ndarray:
    """Daily bars are stamped at New York midnight of their trading date. Vendors stamp them at
    New York midnight, at UTC midnight, at the open or at the close; six hours later every one
    of those falls on the trading date in New York."""
    return ny_midnight(ts + 6 * 3_600_000_000_000)


def _session_counts(ts: np.ndarray, interval: Interval) -> tuple[int, int]:
    """Bars outside the regular session, and bars inside it off its bar grid (intraday only)."""
    from trader_cli.core.calendar import nyse

    if interval.is_daily or not len(ts):
        return 0, 0
    schedule = nyse().schedule
    idx, inside = nyse().session_of(ts)
    off = inside & ((ts - schedule.opens[idx]) % interval.duration_ns != 0)
    return int((~inside).sum()), int(off.sum())


def import_csv(
    store: DataManager,
    path: str | Path,
    interval: str,
    symbol: str | None = None,
    tz: str = "America/New_York",
    progress: Callable[[int, int, str], None] | None = None,
    replace: bool = False,
) -> list[ImportedSymbol]:
    """Check the whole file, then write every symbol in it atomically: the days it holds replace
    those stored, the other days stay (``replace``: each symbol's file starts over with the
    file's bars). Raises ImportRejected (listing the first bad lines) and writes nothing when any
    row is bad; DataError, writing nothing, when a stored file is damaged on days it lacks."""
    iv = Interval.parse(interval)
    path = Path(path)
    cols = _columns(path, symbol)
    ts, problems = _parse_timestamps(cols["timestamp"], tz)
    fields = {}
    for name in REQUIRED[1:]:
        fields[name], bad = _parse_numbers(name, cols[name])
        problems += bad
    names, group_ids, bad_rows = _symbol_groups(cols.get("symbol"), symbol, len(ts))
    problems += bad_rows
    if not len(ts):
        raise ImportRejected(f"{path} has no rows to import")
    if iv.is_daily:
        ts = _daily_midnight(ts)
    unreadable = {i for i, _ in problems}  # their values are placeholders: check nothing else
    checks = row_problems(ts, fields, iv) + _duplicates(ts, group_ids)
    if iv.is_daily:
        checks += _non_trading_days(ts)
    problems += [p for p in checks if p[0] not in unreadable]
    if problems:
        raise _rejection(path, problems, _line_numbers(path, len(ts)))
    order = np.lexsort((ts, group_ids))  # by symbol, then time
    gids = group_ids[order]
    starts = np.flatnonzero(np.r_[True, gids[1:] != gids[:-1]])
    ends = np.r_[starts[1:], len(order)]
    by_symbol: dict[str, Bars] = {}
    for a, b in zip(starts.tolist(), ends.tolist(), strict=True):
        sel = order[a:b]
        by_symbol[names[int(gids[a])]] = Bars(ts[sel], *(fields[f][sel] for f in REQUIRED[1:]))
    by_symbol = dict(sorted(by_symbol.items()))
    stored = store.write_batch(by_symbol, iv, source=f"import {path.name}", progress=progress, replace=replace)
    done = []
    for sym, b in by_symbol.items():
        outside, off = _session_counts(b.ts, iv)
        change = stored.changes[sym]
        done.append(
            ImportedSymbol(
                sym,
                iv.name,
                len(b),
                int(b.ts[0]),
                int(b.ts[-1]),
                change.rows,
                outside,
                off,
                change.replaced_days,
                change.replaced_bars,
                change.removed_bars,
                change.repaired,
                change.started_over,
            )
        )
    return done


def _symbol_groups(column: Any, symbol: str | None, rows: int) -> tuple[list[str], np.ndarray, list[tuple[int, str]]]:
    """Symbol names, each row's index into them, and the rows with a bad symbol (checked once
    per distinct value: the column is dictionary-encoded)."""
    import pyarrow.compute as pc

    if column is None:
        return [check_symbol(symbol or "")], np.zeros(rows, dtype=np.int64), []
    enc = pc.dictionary_encode(column).combine_chunks() if hasattr(column, "chunks") else pc.dictionary_encode(column)
    raw = enc.dictionary.to_pylist()
    checked = [check_symbol_safe(str(v)) for v in raw]
    idx = np.asarray(enc.indices.to_numpy(zero_copy_only=False), dtype=np.int64)
    # Two spellings of one ticker ("aapl", "AAPL") are one symbol.
    names = sorted({c for c in checked if c is not None})
    pos = {n: i for i, n in enumerate(names)}
    remap = np.array([pos.get(c, -1) if c is not None else -1 for c in checked], dtype=np.int64)
    gids = remap[idx] if len(remap) else idx
    bad = [(int(i), f"bad symbol '{raw[idx[i]]}'") for i in np.flatnonzero(gids < 0)]
    return names, np.where(gids < 0, 0, gids), bad


def _columns(path: Path, symbol: str | None) -> dict[str, Any]:
    """The file's columns by lower-cased name, after checking the header and --symbol."""
    table = _read_table(path)
    try:
        names = [n.strip().lower() for n in table.column_names]
    except UnicodeDecodeError as err:  # Arrow decodes the header's names only here
        raise DataError(_not_utf8(path)) from err
    twice = sorted({n for n in names if names.count(n) > 1 and n in (*REQUIRED, "symbol")})
    if twice:
        raise DataError(f"{path}: duplicate column {', '.join(twice)} (the header names it twice; keep one)")
    missing = [c for c in REQUIRED if c not in names]
    if missing:
        raise DataError(f"{path} lacks column(s) {', '.join(missing)} (expected header: {','.join(REQUIRED)}[,symbol])")
    cols = {n: table.column(i).combine_chunks() for i, n in enumerate(names)}
    if "symbol" in cols and symbol:
        raise DataError(f"{path} has a symbol column: leave out --symbol to import every symbol in it")
    if "symbol" not in cols and not symbol:
        raise DataError(f"{path} has no symbol column: give --symbol SYMBOL")
    return cols


def _line_numbers(path: Path, rows: int) -> np.ndarray:
    """The line (header = line 1) of each data row. The CSV reader skips empty lines, so row i
    is line i + 2 only in a file without them; a quoted line break falls back to i + 2."""
    with open(path, "rb") as fh:
        filled = [n for n, line in enumerate(fh, start=1) if line.rstrip(b"\r\n")]
    if len(filled) - 1 != rows:
        return np.arange(rows, dtype=np.int64) + 2
    return np.array(filled[1:], dtype=np.int64)


def _rejection(path: Path, problems: list[tuple[int, str]], lines: np.ndarray) -> ImportRejected:
    """ImportRejected listing the first problems by line number."""
    numbered = [(int(lines[i]), why) for i, why in sorted(set(problems))]
    rows = len({i for i, _ in problems})
    listed = "; ".join(f"line {n}: {why}" for n, why in numbered[:MAX_LISTED])
    more = f" (and {len(numbered) - MAX_LISTED} more)" if len(numbered) > MAX_LISTED else ""
    return ImportRejected(
        f"rejected {path.name}: {rows} bad row(s), nothing was written — {listed}{more}",
        numbered,
    )


def check_symbol_safe(text: str) -> str | None:
    """``check_symbol`` that answers None instead of raising."""
    try:
        return check_symbol(text)
    except DataError:
        return None
