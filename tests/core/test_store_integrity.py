"""Stored files are not trusted: every read checks the content rules import enforces (order, grid,
finite prices and volumes in range, high >= low, open/close inside low..high, no nulls, intact
pages) and refuses a bad file with a message naming it and the problem; permission and symlink
problems say what they are; an import replaces a file that cannot be read (and says so); and
``coverage`` lists the other files when one is bad."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.conftest import make_bars
from trader_cli.core.bars import FIELDS, Bars
from trader_cli.core.calendar import NS_PER_MINUTE, nyse
from trader_cli.core.csv_import import import_csv
from trader_cli.core.errors import DataError, StoreError
from trader_cli.core.feed import ParquetFeed
from trader_cli.core.intervals import Interval
from trader_cli.core.provisioning.validation import validate_symbol
from trader_cli.core.store import DataManager
from trader_cli.core.timeline import Timeline

MONDAY, TUESDAY = dt.date(2024, 12, 2), dt.date(2024, 12, 3)
OPEN_NS = nyse().open_close(MONDAY)[0]  # 2024-12-02T14:30:00Z
REIMPORT = "re-import the symbol with: data import FILE.csv --symbol MSFT --interval 1m"


def table_of(bars: Bars, nullable: bool = False) -> pa.Table:
    fields = [pa.field("ts", pa.timestamp("ns", "UTC"), nullable=nullable)]
    fields += [pa.field(f, pa.float64(), nullable=nullable) for f in FIELDS[1:]]
    cols = [pa.array(bars.ts, pa.timestamp("ns", "UTC"))] + [pa.array(getattr(bars, f)) for f in FIELDS[1:]]
    return pa.Table.from_arrays(cols, schema=pa.schema(fields))


def write_foreign(store: DataManager, symbol: str, table: pa.Table, interval: str = "1m") -> Path:
    """A file another tool wrote: the right schema and ts statistics, one row group per 390 rows."""
    path = store.path_for(symbol, interval)
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path, row_group_size=390)
    return path


def with_value(bars: Bars, field: str, row: int, value: float) -> Bars:
    cols = {f: getattr(bars, f).copy() for f in FIELDS}
    cols[field][row] = value
    return Bars(*(cols[f] for f in FIELDS))


def two_days() -> Bars:
    return Bars.concat([make_bars(MONDAY), make_bars(TUESDAY, seed=1)])


# -- content rules on every read ---------------------------------------------------------------
UNSORTED = r"ts not strictly increasing at 2024-12-02T09:31:00-05:00 \(row 2\)"
DUPLICATE = r"ts not strictly increasing at 2024-12-02T10:30:00-05:00 \(row 61\)"
OFF_GRID = r"timestamp is not on a 1m boundary at 2024-12-02T09:30:30-05:00"


@pytest.mark.parametrize(
    ("damage", "problem"),
    [
        (lambda b: b.take(np.r_[0, 2, 1, 3 : len(b)]), UNSORTED),
        (lambda b: b.take(np.r_[0:61, 60, 61 : len(b)]), DUPLICATE),
        (
            lambda b: with_value(b, "close", 61, np.nan),
            r"close is NaN or infinite at 2024-12-02T10:31:00-05:00 \(row 61\)",
        ),
        (lambda b: with_value(b, "high", 5, np.inf), r"high is NaN or infinite at .* \(row 5\)"),
        (lambda b: with_value(b, "low", 7, -1.0), r"low is negative at .* \(row 7\)"),
        (lambda b: with_value(with_value(b, "high", 3, 1e308), "close", 3, 1e308), r"high 1e\+308 is above the limit"),
        (lambda b: with_value(b, "volume", 9, 1.7e308), r"volume 1\.7e\+308 is above the limit 1e\+15"),
        (lambda b: with_value(b, "high", 4, 1.0), r"high 1 < low .* at .* \(row 4\)"),
        (lambda b: with_value(b, "open", 4, 1000.0), r"open 1000 outside low\.\.high"),
        (lambda b: with_value(b, "ts", 1, OPEN_NS + 30 * 10**9), OFF_GRID),
    ],
    ids=["unsorted", "duplicate", "nan", "inf", "negative", "huge-price", "huge-volume", "high<low", "open", "grid"],
)
def test_a_foreign_file_breaking_a_rule_is_refused_naming_file_and_problem(
    store: DataManager, damage: object, problem: str
) -> None:
    bad = damage(two_days())  # type: ignore[operator]
    path = write_foreign(store, "MSFT", table_of(bad))
    with pytest.raises(StoreError) as info:
        store.read("MSFT", "1m")
    text = str(info.value)
    assert text.startswith(f"{path}: "), text
    assert __import__("re").search(problem, text), text
    assert text.endswith(REIMPORT)


def test_a_window_read_checks_the_rows_it_reads(store: DataManager) -> None:
    bad = with_value(two_days(), "close", 390 + 10, np.nan)  # on Tuesday
    write_foreign(store, "MSFT", table_of(bad))
    o, c = nyse().open_close(MONDAY)
    assert len(store.read("MSFT", "1m", o, c)) == 390  # Monday's row group is sound
    with pytest.raises(StoreError, match=r"close is NaN or infinite .*\(row 400\)"):
        store.read("MSFT", "1m", *nyse().open_close(TUESDAY))


def test_nulls_name_the_file_and_the_column(store: DataManager) -> None:
    table = table_of(two_days(), nullable=True)
    close = table.column("close").to_pylist()
    close[5] = None
    table = table.set_column(4, table.schema.field("close"), pa.array(close, pa.float64()))
    path = write_foreign(store, "MSFT", table)
    with pytest.raises(StoreError) as info:
        store.read("MSFT", "1m")
    assert str(info.value) == f"{path}: null close at 2024-12-02T09:35:00-05:00 (row 5); {REIMPORT}"


def silently_damaged(path: Path, row_group: int, column: int) -> bytes:
    """The file with one byte of a column chunk changed such that a plain Parquet reader
    decodes it without an error (into different values)."""
    good = path.read_bytes()
    original = pq.read_table(path)
    chunk = pq.read_metadata(path).row_group(row_group).column(column)
    for pos in range(chunk.data_page_offset + chunk.total_compressed_size - 1, chunk.data_page_offset, -1):
        data = bytearray(good)
        data[pos] ^= 0x01
        path.write_bytes(bytes(data))
        try:
            if not pq.read_table(path).equals(original):
                return bytes(data)
        except (OSError, pa.ArrowException):
            continue
    raise AssertionError("no silent damage found")


def test_a_damaged_data_page_with_a_valid_footer_is_refused(store: DataManager) -> None:
    store.write("MSFT", "1m", two_days(), source="test")
    path = store.path_for("MSFT", "1m")
    path.write_bytes(silently_damaged(path, 1, 4))  # Tuesday's close
    fresh = DataManager(store.data_dir)
    o, c = nyse().open_close(MONDAY)
    assert len(fresh.read("MSFT", "1m", o, c)) == 390
    corrupt = r"MSFT\.parquet: the file is corrupt in its bars of (\S+) \(rows 390\.\.779: "
    with pytest.raises(StoreError, match=corrupt) as err:
        fresh.read("MSFT", "1m")
    assert f"of {TUESDAY} " in str(err.value)  # the damaged day named, with its rows


def test_writes_refuse_what_reads_would_refuse(store: DataManager) -> None:
    with pytest.raises(DataError, match=r"cannot store MSFT: volume 1\.7e\+308 is above the limit"):
        store.write("MSFT", "1m", with_value(two_days(), "volume", 9, 1.7e308), source="test")
    with pytest.raises(DataError, match="timestamp is not on a 1m boundary"):
        store.write("MSFT", "1m", with_value(two_days(), "ts", 1, OPEN_NS + 30 * 10**9), source="test")
    assert not store.data_dir.exists()


def test_daily_files_must_be_stamped_at_new_york_midnight(store: DataManager) -> None:
    ny_midnight = OPEN_NS - (9 * 60 + 30) * NS_PER_MINUTE
    b = Bars(np.array([ny_midnight, ny_midnight + 86_400 * 10**9 + 3600 * 10**9]), *(np.ones(2) for _ in range(5)))
    write_foreign(store, "MSFT", table_of(b), interval="1d")
    with pytest.raises(StoreError, match=r"not at New York midnight .*\(row 1\)"):
        store.read("MSFT", "1d")


# -- permissions and symlinks say what they are ------------------------------------------------
@pytest.fixture
def world_readable_dir() -> Iterator[Path]:
    """A data dir another user can reach (pytest's tmp dirs are private to root)."""
    path = Path(tempfile.mkdtemp(prefix="trader-cli-perm-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.mark.skipif(not hasattr(os, "setuid") or os.geteuid() != 0, reason="needs root to become another user")
def test_permission_denied_is_not_called_corrupt(world_readable_dir: Path) -> None:
    store = DataManager(world_readable_dir)
    store.write("MSFT", "1m", two_days(), source="test")
    for d in (world_readable_dir / "bars", world_readable_dir / "bars" / "1m"):
        d.chmod(0o755)
    store.path_for("MSFT", "1m").chmod(0)
    script = (
        "import os, sys\n"
        "from trader_cli.core.store import DataManager\n"
        "from trader_cli.core.errors import DataError, StoreError\n"
        "import pyarrow.parquet\n"
        "os.setgid(65534); os.setuid(65534)\n"
        "try:\n"
        f"    DataManager({str(world_readable_dir)!r}).read('MSFT', '1m')\n"
        "except StoreError as err:\n"
        "    print(err)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "permission denied" in out.stdout and "corrupt" not in out.stdout, out.stdout


def test_a_symlink_loop_is_reported_as_unreadable(store: DataManager) -> None:
    store.write("LOOP", "1d", Bars.empty(), source="test")
    path = store.path_for("LOOP", "1m")
    path.parent.mkdir(parents=True)
    path.symlink_to(path)
    assert store.intervals_for("LOOP") == ["1m", "1d"]
    feed = ParquetFeed(store, nyse(), Timeline(nyse()), on_error=print)
    res = validate_symbol(feed, nyse(), "LOOP", [Interval.parse("1m"), Interval.parse("5m")], MONDAY, [])
    assert not res.can_proceed
    assert "has only" not in res.reason
    assert f"cannot read {path}: too many levels of symbolic links" in res.reason


# -- an import repairs a file that cannot be read ----------------------------------------------
def test_an_import_holding_the_damaged_day_repairs_it_and_says_so(store: DataManager, tmp_path: Path) -> None:
    table = table_of(two_days(), nullable=True)
    close = table.column("close").to_pylist()
    close[5] = None
    path = write_foreign(store, "MSFT", table.set_column(4, table.schema.field("close"), pa.array(close)))
    csv = tmp_path / "fix.csv"
    csv.write_text("timestamp,open,high,low,close,volume\n2024-12-02T09:30:00-05:00,10,11,9,10.5,100\n")
    (done,) = import_csv(store, csv, "1m", symbol="MSFT")
    assert done.stored_rows == 1 + 390  # Monday (damaged) replaced, Tuesday kept
    assert done.repaired is not None and "null close" in done.repaired
    assert len(store.read("MSFT", "1m")) == 391
    assert path.is_file()


# -- coverage lists everything else ------------------------------------------------------------
def test_coverage_flags_a_bad_file_and_lists_the_rest(filled_store: DataManager) -> None:
    bad = filled_store.path_for("MSFT", "1m")
    bad.write_bytes(b"not parquet at all" * 10)
    rows = filled_store.coverage()
    assert [(r.symbol, r.rows) for r in rows] == [("AAPL", 780), ("MSFT", 0)]
    assert rows[0].problem == ""
    assert "corrupt" in rows[1].problem and str(bad) in rows[1].problem


def test_a_pipe_named_like_a_bar_file_is_refused_not_waited_on(tmp_path: Path) -> None:
    """A FIFO would block its reader forever (and Ctrl-C with it): one line, at once."""
    data = tmp_path / "data"
    shutil.copytree(Path(__file__).resolve().parents[2] / "data" / "bars", data / "bars")
    fifo = data / "bars" / "1m" / "AAPL.parquet"
    fifo.unlink()
    os.mkfifo(fifo)
    run = [sys.executable, "-m", "trader_cli", "--data-dir", str(data)]
    listed = subprocess.run([*run, "data", "list"], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert listed.returncode == 0 and "not a regular file" in listed.stdout.replace("\n", " ")
    read = subprocess.run([*run, "data", "bars", "AAPL"], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert read.returncode == 1
    assert read.stderr.strip().splitlines() == [
        f"error: cannot read {fifo}: it is not a regular file (a pipe, socket or device); "
        "move it out of the store, then re-import the symbol"
    ]
