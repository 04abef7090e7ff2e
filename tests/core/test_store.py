"""DataManager: round trip, window reads, layout, schema and corruption checks, atomic writes,
coverage, the open-files limit. (The shipped sample: test_sample_data.py; content checks:
test_store_integrity.py; all-or-none writes: test_store_journal.py.)"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from trader_cli.core.bars import FIELDS, Bars, aggregate
from trader_cli.core.calendar import NS_PER_MINUTE, MarketCalendar, ordinal_to_date
from trader_cli.core.errors import DataError, StoreError
from trader_cli.core.intervals import Interval
from trader_cli.core.store import DataManager, check_symbol

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "data"
MakeBars = Callable[..., Bars]
MONDAY, TUESDAY = dt.date(2024, 12, 2), dt.date(2024, 12, 3)


def assert_same(a: Bars, b: Bars) -> None:
    assert len(a) == len(b)
    for f in FIELDS:
        np.testing.assert_array_equal(getattr(a, f), getattr(b, f), err_msg=f)


def temp_files(store: DataManager) -> list[Path]:
    return [p for p in store.data_dir.rglob("*") if p.name.endswith(".tmp")]


# -- round trip and reads ----------------------------------------------------------------------
def test_round_trip_keeps_values_and_dtypes(store: DataManager, bars_factory: MakeBars) -> None:
    bars = Bars.concat([bars_factory(MONDAY, 390), bars_factory(TUESDAY, 390, seed=1)])
    assert store.write("AAPL", "1m", bars, source="test") == 780
    back = store.read("AAPL", "1m")
    assert_same(back, bars)
    assert back.ts.dtype == np.int64
    for f in FIELDS[1:]:
        assert getattr(back, f).dtype == np.float64
    schema = pq.read_schema(store.path_for("AAPL", "1m"))
    assert [(f.name, str(f.type), f.nullable) for f in schema] == [
        ("ts", "timestamp[ns, tz=UTC]", False),
        ("open", "double", False),
        ("high", "double", False),
        ("low", "double", False),
        ("close", "double", False),
        ("volume", "double", False),
    ]


def test_layout_is_one_file_per_symbol_and_interval(
    store: DataManager, bars_factory: MakeBars, cal: MarketCalendar
) -> None:
    minutes = bars_factory(MONDAY, 5)
    store.write("AAPL", "1m", minutes, source="test")
    store.write("MSFT", "1m", minutes, source="test")
    store.write("MSFT", "1d", aggregate(minutes, Interval.parse("1d"), cal), source="test")
    assert store.path_for("AAPL", "1m") == store.data_dir / "bars" / "1m" / "AAPL.parquet"
    assert store.path_for("AAPL", "1m").is_file()
    assert store.symbols() == ["AAPL", "MSFT"]
    assert store.symbols("1d") == ["MSFT"]
    assert store.intervals_for("MSFT") == ["1m", "1d"]
    assert store.has("AAPL", "1m") and not store.has("AAPL", "1d")


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (0, 1),  # exactly the first bar
        (0, 0),  # an empty window
        (10, 20),
        (389, 391),  # Monday's last bar and Tuesday's first
        (100, 700),
        (None, 5),
        (775, None),
        (None, None),
    ],
)
def test_window_reads_start_inclusive_end_exclusive(
    filled_store: DataManager, start: int | None, end: int | None
) -> None:
    everything = filled_store.read("AAPL", "1m")
    ts = everything.ts.tolist()
    lo = None if start is None else ts[start]
    hi = None if end is None else ts[end]
    got = filled_store.read("AAPL", "1m", lo, hi)
    assert_same(got, everything.slice(start or 0, end))
    assert all((lo is None or t >= lo) and (hi is None or t < hi) for t in got.ts.tolist())


def test_window_bounds_between_bar_starts(filled_store: DataManager) -> None:
    ts = filled_store.read("AAPL", "1m").ts
    got = filled_store.read("AAPL", "1m", int(ts[3]) + 1, int(ts[6]) + 1)
    assert got.ts.tolist() == ts[4:7].tolist()
    assert len(filled_store.read("AAPL", "1m", 0, int(ts[0]))) == 0
    assert len(filled_store.read("AAPL", "1m", int(ts[-1]) + 1, None)) == 0


def test_window_on_a_day_without_bars_is_empty(filled_store: DataManager, cal: MarketCalendar) -> None:
    o, c = cal.open_close(dt.date(2024, 11, 29))
    assert len(filled_store.read("AAPL", "1m", o, c)) == 0


def test_reading_a_symbol_never_stored_is_a_store_error(store: DataManager) -> None:
    with pytest.raises(StoreError, match=r"no bars stored at .*NOPE\.parquet.*data import"):
        store.read("NOPE", "1m")


# -- layout of row groups ----------------------------------------------------------------------
def test_one_row_group_per_new_york_day_for_1m(store: DataManager, bars_factory: MakeBars, cal: MarketCalendar) -> None:
    days = [dt.date(2024, 11, 1), dt.date(2024, 11, 4), dt.date(2024, 11, 29)]  # across DST
    store.write("SPY", "1m", Bars.concat([bars_factory(d) for d in days]), source="test")
    md = pq.read_metadata(store.path_for("SPY", "1m"))
    assert md.num_row_groups == 3
    assert [md.row_group(i).num_rows for i in range(3)] == [390, 390, 210]
    for i, day in enumerate(days):
        stats = md.row_group(i).column(0).statistics
        assert (stats.min_raw, stats.max_raw) == (cal.open_close(day)[0], cal.open_close(day)[1] - NS_PER_MINUTE)


def test_row_groups_per_month_for_intraday_and_per_year_for_daily(
    store: DataManager, bars_factory: MakeBars, cal: MarketCalendar
) -> None:
    days = [dt.date(2024, 11, 29), MONDAY, TUESDAY]
    base = Bars.concat([bars_factory(d, seed=i) for i, d in enumerate(days)])
    store.write("SPY", "5m", aggregate(base, Interval.parse("5m"), cal), source="test")
    assert pq.read_metadata(store.path_for("SPY", "5m")).num_row_groups == 2  # Nov, Dec
    daily = aggregate(base, Interval.parse("1d"), cal)
    jan = aggregate(bars_factory(dt.date(2025, 1, 2), 5), Interval.parse("1d"), cal)
    store.write("SPY", "1d", Bars.concat([daily, jan]), source="test")
    assert pq.read_metadata(store.path_for("SPY", "1d")).num_row_groups == 2  # 2024, 2025


def test_a_window_read_touches_only_its_row_groups(
    filled_store: DataManager, cal: MarketCalendar, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[list[int]] = []
    real = pq.ParquetFile.read_row_groups

    def spy(self: pq.ParquetFile, row_groups: list[int], *args: object, **kw: object) -> pa.Table:
        seen.append(list(row_groups))
        return real(self, row_groups, *args, **kw)

    monkeypatch.setattr(pq.ParquetFile, "read_row_groups", spy)
    o, c = cal.open_close(TUESDAY)
    assert len(filled_store.read("AAPL", "1m", o, c)) == 390
    assert seen == [[1]]


# -- schema and corruption ---------------------------------------------------------------------
@pytest.mark.parametrize(
    "table",
    [
        pa.table(
            {
                "ts": pa.array([1], pa.timestamp("ms", "UTC")),
                "open": [1.0],
                "high": [1.0],
                "low": [1.0],
                "close": [1.0],
                "volume": [1.0],
            }
        ),
        pa.table(
            {
                "ts": pa.array([1], pa.timestamp("ns", "UTC")),
                "open": [1.0],
                "high": [1.0],
                "low": [1.0],
                "close": [1.0],
                "volume": pa.array([1], pa.int64()),
            }
        ),
        pa.table({"ts": pa.array([1], pa.timestamp("ns", "UTC")), "open": [1.0]}),
        pa.table(
            {
                "time": pa.array([1], pa.timestamp("ns", "UTC")),
                "open": [1.0],
                "high": [1.0],
                "low": [1.0],
                "close": [1.0],
                "volume": [1.0],
            }
        ),
    ],
    ids=["ts-in-ms", "int-volume", "missing-columns", "renamed-ts"],
)
def test_a_file_with_the_wrong_schema_is_a_store_error(store: DataManager, table: pa.Table) -> None:
    path = store.path_for("BAD", "1m")
    path.parent.mkdir(parents=True)
    pq.write_table(table, path)
    with pytest.raises(StoreError, match=r"BAD\.parquet: the wrong schema .*start the file over with: .* --replace$"):
        store.read("BAD", "1m")
    (row,) = store.coverage()  # listed, with its problem
    assert (row.symbol, row.rows) == ("BAD", 0) and "wrong schema" in row.problem


def test_a_file_without_ts_statistics_is_a_store_error(store: DataManager, bars_factory: MakeBars) -> None:
    b = bars_factory(MONDAY, 3)
    table = pa.table(
        [pa.array(b.ts, pa.timestamp("ns", "UTC")), b.open, b.high, b.low, b.close, b.volume], names=list(FIELDS)
    )
    path = store.path_for("NOSTATS", "1m")
    path.parent.mkdir(parents=True)
    pq.write_table(table, path, write_statistics=False)
    with pytest.raises(StoreError, match="no ts statistics"):
        store.read("NOSTATS", "1m")


@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty"])
def test_a_corrupt_file_is_a_store_error(filled_store: DataManager, damage: str) -> None:
    path = filled_store.path_for("AAPL", "1m")
    good = path.read_bytes()
    fresh = DataManager(filled_store.data_dir)  # no cached footer
    if damage == "garbage":
        path.write_bytes(b"this is not parquet at all" * 100)
    elif damage == "truncated":
        path.write_bytes(good[: len(good) // 2])
    else:
        path.write_bytes(b"")
    with pytest.raises(
        StoreError, match=r"AAPL\.parquet: the file is corrupt .*; start the file over with: data import .* --replace$"
    ):
        fresh.read("AAPL", "1m")


def test_damaged_row_data_is_a_store_error(filled_store: DataManager) -> None:
    # Footer intact, column data overwritten: only reading the rows can notice.
    path = filled_store.path_for("AAPL", "1m")
    data = bytearray(path.read_bytes())
    data[4 : len(data) // 2] = b"\xff" * (len(data) // 2 - 4)
    path.write_bytes(bytes(data))
    with pytest.raises(StoreError, match="corrupt"):
        DataManager(filled_store.data_dir).read("AAPL", "1m")


# -- coverage ----------------------------------------------------------------------------------
def test_coverage_from_footers(
    filled_store: DataManager, two_days: list[dt.date], cal: MarketCalendar, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_rows(*args: object, **kw: object) -> None:
        raise AssertionError("coverage must not read row data")

    monkeypatch.setattr(pq.ParquetFile, "read_row_groups", no_rows)
    monkeypatch.setattr(pq, "read_table", no_rows)
    (row,) = filled_store.coverage()
    assert (row.symbol, row.interval, row.rows, row.days, row.source) == ("AAPL", "1m", 780, 2, "test")
    assert row.first_ns == cal.open_close(two_days[0])[0]
    assert row.last_ns == cal.open_close(two_days[1])[1] - NS_PER_MINUTE
    assert row.size_bytes == filled_store.path_for("AAPL", "1m").stat().st_size
    assert filled_store.coverage("MSFT") == []


def test_trading_days_present(filled_store: DataManager, two_days: list[dt.date]) -> None:
    days = filled_store.trading_days_present("AAPL", "1m")
    assert [ordinal_to_date(int(o)) for o in days] == two_days


# -- writing: merge and atomicity --------------------------------------------------------------
def test_a_write_replaces_the_days_it_holds(filled_store: DataManager, cal: MarketCalendar) -> None:
    before = filled_store.read("AAPL", "1m")
    open_ns = cal.open_close(MONDAY)[0]
    # New bars at 10:00 and 10:29 of Monday only: every stored Monday bar is replaced, Tuesday stays.
    ts = np.array([open_ns + 30 * NS_PER_MINUTE, open_ns + 59 * NS_PER_MINUTE])
    new = Bars(
        ts, np.array([5.0, 6.0]), np.array([5.5, 6.5]), np.array([4.5, 5.5]), np.array([5.2, 6.2]), np.array([1.0, 2.0])
    )
    assert filled_store.write("AAPL", "1m", new, source="fix") == 390 + 2
    after = filled_store.read("AAPL", "1m")
    assert_same(after, Bars.concat([new, before.slice(390)]))
    assert filled_store.coverage()[0].source == "mixed: test (1 day(s)); fix (1 day(s))"


def test_writing_adjacent_days_appends(store: DataManager, bars_factory: MakeBars) -> None:
    mon, tue = bars_factory(MONDAY), bars_factory(TUESDAY, seed=3)
    store.write("AAPL", "1m", tue, source="test")
    store.write("AAPL", "1m", mon, source="test")
    assert_same(store.read("AAPL", "1m"), Bars.concat([mon, tue]))
    assert pq.read_metadata(store.path_for("AAPL", "1m")).num_row_groups == 2


def test_rewriting_the_same_bars_changes_nothing(filled_store: DataManager) -> None:
    before = filled_store.read("AAPL", "1m")
    filled_store.write("AAPL", "1m", before, source="test")
    assert_same(filled_store.read("AAPL", "1m"), before)


def test_writing_no_bars_keeps_what_is_stored(filled_store: DataManager) -> None:
    before = filled_store.read("AAPL", "1m")
    assert filled_store.write("AAPL", "1m", Bars.empty(), source="test") == len(before)
    assert_same(filled_store.read("AAPL", "1m"), before)


def test_an_empty_file_reads_as_no_bars(store: DataManager) -> None:
    store.write("NEW", "1m", Bars.empty(), source="test")
    assert len(store.read("NEW", "1m")) == 0
    (row,) = store.coverage()
    assert (row.rows, row.first_ns, row.last_ns, row.days) == (0, 0, 0, 0)


def test_a_read_after_a_write_sees_the_new_file(filled_store: DataManager, bars_factory: MakeBars) -> None:
    filled_store.read("AAPL", "1m")  # caches the footer
    extra = bars_factory(dt.date(2024, 12, 4), 10)
    filled_store.write("AAPL", "1m", extra, source="test")
    assert len(filled_store.read("AAPL", "1m")) == 790


def test_a_failing_write_leaves_the_stored_file_untouched(
    filled_store: DataManager, bars_factory: MakeBars, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = filled_store.path_for("AAPL", "1m")
    original = path.read_bytes()
    calls = {"n": 0}
    real = pq.ParquetWriter.write_table

    def fail_on_second(self: pq.ParquetWriter, table: pa.Table, *a: object, **kw: object) -> None:
        calls["n"] += 1
        if calls["n"] == 2:  # the temp file exists and holds one row group
            raise OSError("disk full")
        real(self, table, *a, **kw)

    monkeypatch.setattr(pq.ParquetWriter, "write_table", fail_on_second)
    with pytest.raises(DataError, match=r"cannot write .*AAPL\.parquet: disk full; nothing was changed"):
        filled_store.write("AAPL", "1m", bars_factory(dt.date(2024, 12, 4)), source="new")
    assert path.read_bytes() == original
    assert temp_files(filled_store) == []
    monkeypatch.undo()
    assert len(DataManager(filled_store.data_dir).read("AAPL", "1m")) == 780


def test_write_many_renames_nothing_when_one_symbol_fails(
    filled_store: DataManager, bars_factory: MakeBars, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = filled_store.path_for("AAPL", "1m")
    original = path.read_bytes()
    real = pq.ParquetWriter.__init__

    def fail_for_msft(self: pq.ParquetWriter, where: object, *a: object, **kw: object) -> None:
        if "MSFT" in str(where):
            raise OSError("no space left on device")
        real(self, where, *a, **kw)

    monkeypatch.setattr(pq.ParquetWriter, "__init__", fail_for_msft)
    with pytest.raises(DataError, match=r"cannot write .*MSFT\.parquet: no space left on device"):
        filled_store.write_many(
            {"AAPL": bars_factory(dt.date(2024, 12, 4)), "MSFT": bars_factory(dt.date(2024, 12, 4))}, "1m", source="x"
        )
    assert path.read_bytes() == original
    assert not filled_store.has("MSFT", "1m")
    assert temp_files(filled_store) == []


@pytest.mark.parametrize("problem", ["ragged", "unsorted", "duplicate"])
def test_bad_bars_are_refused_before_anything_is_written(
    filled_store: DataManager, bars_factory: MakeBars, problem: str
) -> None:
    path = filled_store.path_for("AAPL", "1m")
    original = path.read_bytes()
    b = bars_factory(dt.date(2024, 12, 4), 5)
    if problem == "ragged":
        bad = Bars(b.ts, b.open[:4], b.high, b.low, b.close, b.volume)
        match = r"columns differ in length \(ts 5, open 4"
    elif problem == "unsorted":
        bad = b.take(np.array([0, 2, 1, 3, 4]))
        match = "strictly increasing"
    else:
        bad = b.take(np.array([0, 1, 1, 2]))
        match = "strictly increasing"
    with pytest.raises(DataError, match=match):
        filled_store.write("AAPL", "1m", bad, source="x")
    assert path.read_bytes() == original
    assert temp_files(filled_store) == []


@pytest.mark.parametrize("symbol", ["../../outside", "aapl", "A B"])
def test_only_tickers_are_written(store: DataManager, bars_factory: MakeBars, symbol: str) -> None:
    with pytest.raises(DataError):
        store.write(symbol, "1m", bars_factory(MONDAY, 3), source="x")
    assert not store.data_dir.exists()


def test_metadata_records_source_rows_and_days(filled_store: DataManager) -> None:
    md = pq.read_metadata(filled_store.path_for("AAPL", "1m"))
    info = json.loads(md.metadata[b"trader_cli"])
    assert info == {"source": "test", "rows": 780, "days": 2, "interval": "1m"}


@pytest.mark.parametrize(("text", "sym"), [("aapl", "AAPL"), (" brk.b ", "BRK.B"), ("X", "X")])
def test_check_symbol_normalises(text: str, sym: str) -> None:
    assert check_symbol(text) == sym


@pytest.mark.parametrize("text", ["", "1ABC", "../etc", "A B", "TOOLONGSYMBOLNAME"])
def test_check_symbol_rejects(text: str) -> None:
    with pytest.raises(DataError, match="bad symbol"):
        check_symbol(text)


def test_a_low_open_files_limit_is_respected(tmp_path: Path) -> None:
    # 300 symbols read twice over under a limit of 64 open files: the store keeps at most a
    # quarter of the limit open, closing the oldest, and every read still works.
    script = f"""
import os, resource, numpy as np
from trader_cli.core.bars import Bars
from trader_cli.core.store import DataManager
resource.setrlimit(resource.RLIMIT_NOFILE, (64, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
dm = DataManager({str(tmp_path)!r})
ts = np.array([1733149800000000000 + i * 60_000_000_000 for i in range(5)], dtype=np.int64)
x = np.arange(5, dtype=np.float64) + 1
for i in range(300):
    dm.write(f"S{{i:03d}}", "1m", Bars(ts, x, x, x, x, x), "test")
fresh = DataManager({str(tmp_path)!r})
for _ in range(2):
    for i in range(300):
        assert len(fresh.read(f"S{{i:03d}}", "1m")) == 5
print(len(os.listdir("/proc/self/fd")))
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert int(out.stdout.strip()) < 64
