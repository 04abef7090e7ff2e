"""CSV import: timestamp formats, symbol columns, whole-file rejection with line numbers,
re-import and overlapping import."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from trader_cli.core.calendar import to_ny
from trader_cli.core.csv_import import import_csv
from trader_cli.core.errors import DataError, ImportRejected
from trader_cli.core.store import DataManager

HEADER = "timestamp,open,high,low,close,volume"
UTC = dt.UTC


def ns(d: dt.datetime) -> int:
    return int(d.timestamp()) * 1_000_000_000


def write_csv(tmp_path: Path, *lines: str, name: str = "bars.csv", header: str = HEADER) -> Path:
    path = tmp_path / name
    path.write_text("\n".join([header, *lines]) + "\n", encoding="utf-8")
    return path


def snapshot(store: DataManager) -> dict[str, bytes]:
    """Every file under the data dir, by relative path."""
    root = store.data_dir
    if not root.exists():
        return {}
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


# -- timestamp formats -------------------------------------------------------------------------
def test_iso_with_offset(store: DataManager, tmp_path: Path) -> None:
    path = write_csv(
        tmp_path, "2013-10-04T09:30:00-04:00,10,11,9,10.5,100", "2013-10-04T09:31:00-04:00,10.5,11,10,10.8,200"
    )
    (done,) = import_csv(store, path, "1m", symbol="spy")
    assert (done.symbol, done.interval, done.rows, done.stored_rows) == ("SPY", "1m", 2, 2)
    bars = store.read("SPY", "1m")
    assert bars.ts.tolist() == [
        ns(dt.datetime(2013, 10, 4, 13, 30, tzinfo=UTC)),
        ns(dt.datetime(2013, 10, 4, 13, 31, tzinfo=UTC)),
    ]
    assert bars.open.tolist() == [10, 10.5] and bars.high.tolist() == [11, 11]
    assert bars.low.tolist() == [9, 10] and bars.close.tolist() == [10.5, 10.8]
    assert bars.volume.tolist() == [100, 200]
    assert store.coverage()[0].source == "import bars.csv"


@pytest.mark.parametrize(
    "stamp",
    ["2024-12-02T14:30:00Z", "2024-12-02 14:30:00+00:00", "2024-12-02T09:30:00.000-05:00", "2024-12-02T15:30:00+01:00"],
)
def test_iso_offset_spellings(store: DataManager, tmp_path: Path, stamp: str) -> None:
    import_csv(store, write_csv(tmp_path, f"{stamp},1,1,1,1,1"), "1m", symbol="X")
    assert store.read("X", "1m").ts.tolist() == [ns(dt.datetime(2024, 12, 2, 14, 30, tzinfo=UTC))]


@pytest.mark.parametrize(
    ("tz", "utc_hour"), [("America/New_York", 14), ("UTC", 9), ("Europe/London", 9), ("Asia/Tokyo", 0)]
)
def test_iso_without_offset_is_read_in_tz(store: DataManager, tmp_path: Path, tz: str, utc_hour: int) -> None:
    path = write_csv(tmp_path, "2024-12-02T09:30:00,1,1,1,1,1", "2024-12-02 09:31:00,1,1,1,1,1")
    import_csv(store, path, "1m", symbol="X", tz=tz)
    first = dt.datetime(2024, 12, 2, utc_hour, 30, tzinfo=UTC)
    assert store.read("X", "1m").ts.tolist() == [ns(first), ns(first) + 60 * 10**9]


def test_iso_without_offset_defaults_to_new_york_across_dst(store: DataManager, tmp_path: Path) -> None:
    path = write_csv(tmp_path, "2024-11-01T09:30:00,1,1,1,1,1", "2024-11-04T09:30:00,1,1,1,1,1")
    import_csv(store, path, "1m", symbol="X")
    local = [to_ny(int(t)) for t in store.read("X", "1m").ts]
    assert [(d.day, d.hour, d.minute) for d in local] == [(1, 9, 30), (4, 9, 30)]
    assert [d.utcoffset() for d in local] == [dt.timedelta(hours=-4), dt.timedelta(hours=-5)]


def test_rows_with_and_without_offset_in_one_file(store: DataManager, tmp_path: Path) -> None:
    path = write_csv(tmp_path, "2013-10-04T09:30:00-04:00,1,1,1,1,1", "2013-10-04T09:31:00,1,1,1,1,1")
    import_csv(store, path, "1m", symbol="X")
    start = ns(dt.datetime(2013, 10, 4, 13, 30, tzinfo=UTC))
    assert store.read("X", "1m").ts.tolist() == [start, start + 60 * 10**9]


def test_epoch_seconds_and_milliseconds(store: DataManager, tmp_path: Path) -> None:
    start = ns(dt.datetime(2024, 12, 2, 14, 30, tzinfo=UTC))
    secs = start // 10**9
    import_csv(
        store, write_csv(tmp_path, f"{secs},1,1,1,1,1", f"{secs + 60},1,1,1,1,1", name="s.csv"), "1m", symbol="S"
    )
    import_csv(
        store,
        write_csv(tmp_path, f"{secs * 1000},1,1,1,1,1", f"{(secs + 60) * 1000},1,1,1,1,1", name="ms.csv"),
        "1m",
        symbol="MS",
    )
    import_csv(
        store,
        write_csv(tmp_path, f"{secs},1,1,1,1,1", f"{(secs + 60) * 1000},1,1,1,1,1", name="mixed.csv"),
        "1m",
        symbol="MIX",
    )
    for sym in ("S", "MS", "MIX"):
        assert store.read(sym, "1m").ts.tolist() == [start, start + 60 * 10**9], sym


def test_header_in_any_case_with_a_byte_order_mark(store: DataManager, tmp_path: Path) -> None:
    path = tmp_path / "excel.csv"
    path.write_bytes(
        b"\xef\xbb\xbfTimestamp,Open,High,Low,Close,Volume\r\n2024-12-02T09:30:00-05:00,1,2,0.5,1.5,10\r\n"
    )
    (done,) = import_csv(store, path, "1m", symbol="X")
    assert done.rows == 1
    assert store.read("X", "1m").high.tolist() == [2.0]


def test_daily_bars_are_stamped_at_new_york_midnight(store: DataManager, tmp_path: Path) -> None:
    path = write_csv(tmp_path, "2024-12-02,1,2,0.5,1.5,10", "2024-12-03T16:00:00-05:00,1,2,0.5,1.5,10")
    import_csv(store, path, "1d", symbol="X")
    ny = ZoneInfo("America/New_York")
    assert store.read("X", "1d").ts.tolist() == [
        ns(dt.datetime(2024, 12, 2, tzinfo=ny)),
        ns(dt.datetime(2024, 12, 3, tzinfo=ny)),
    ]


# -- symbols -----------------------------------------------------------------------------------
def test_a_symbol_column_imports_several_symbols_at_once(store: DataManager, tmp_path: Path) -> None:
    path = write_csv(
        tmp_path,
        "2024-12-02T09:31:00-05:00,2,2,2,2,20,aapl",
        "2024-12-02T09:30:00-05:00,1,1,1,1,10,AAPL",
        "2024-12-02T09:30:00-05:00,5,5,5,5,50,MSFT",
        "2024-12-02T09:30:00-05:00,7,7,7,7,70,BRK.B",
        header=HEADER + ",symbol",
    )
    done = import_csv(store, path, "1m")
    assert {d.symbol: d.rows for d in done} == {"AAPL": 2, "MSFT": 1, "BRK.B": 1}
    assert store.symbols() == ["AAPL", "BRK.B", "MSFT"]
    aapl = store.read("AAPL", "1m")
    assert aapl.open.tolist() == [1, 2]  # sorted by time
    assert np.all(np.diff(aapl.ts) > 0)
    assert store.read("MSFT", "1m").volume.tolist() == [50]


def test_symbol_option_with_a_symbol_column_is_an_error(store: DataManager, tmp_path: Path) -> None:
    path = write_csv(tmp_path, "2024-12-02T09:30:00-05:00,1,1,1,1,1,AAPL", header=HEADER + ",symbol")
    with pytest.raises(DataError, match="has a symbol column: leave out --symbol"):
        import_csv(store, path, "1m", symbol="AAPL")
    assert snapshot(store) == {}


def test_no_symbol_anywhere_is_an_error(store: DataManager, tmp_path: Path) -> None:
    path = write_csv(tmp_path, "2024-12-02T09:30:00-05:00,1,1,1,1,1")
    with pytest.raises(DataError, match="has no symbol column: give --symbol SYMBOL"):
        import_csv(store, path, "1m")


def test_a_bad_symbol_option_is_an_error(store: DataManager, tmp_path: Path) -> None:
    path = write_csv(tmp_path, "2024-12-02T09:30:00-05:00,1,1,1,1,1")
    with pytest.raises(DataError, match="bad symbol '1\\$'"):
        import_csv(store, path, "1m", symbol="1$")


# -- rejection ---------------------------------------------------------------------------------
GOOD = "2024-12-02T09:30:00-05:00,10,11,9,10.5,100"


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        ("2024-12-02T09:31:00-05:00,10,9,11,10,100", "high 9 < low 11"),
        ("2024-12-02T09:31:00-05:00,12,11,9,10,100", "open 12 outside low..high 9..11"),
        ("2024-12-02T09:31:00-05:00,10,11,9,8.5,100", "close 8.5 outside low..high 9..11"),
        (
            "2024-12-02T09:31:00-05:00,10,1220.124,1220.125,10,100",
            "high 1220.124 < low 1220.125",
        ),  # :g: 1220.12 < 1220.12
        ("2024-12-02T09:31:00-05:00,10,11,9,10,-5", "volume is negative"),
        ("2024-12-02T09:31:00-05:00,-1,11,-2,10,5", "open is negative"),
        ("2024-12-02T09:31:00-05:00,nan,11,9,10,100", "open is NaN or infinite"),
        ("2024-12-02T09:31:00-05:00,10,inf,9,10,100", "high is NaN or infinite"),
        ("2024-12-02T09:31:00-05:00,1e308,1e308,9,10,100", "open 1e+308 is above the limit 1e+07"),
        ("2024-12-02T09:31:00-05:00,10,11,9,10,1.7e308", "volume 1.7e+308 is above the limit 1e+15"),
        ("9999-12-31T09:31:00-05:00,10,11,9,10,100", "timestamp '9999-12-31T09:31:00-05:00' is outside 1900..2199"),
        ("1500-01-02T09:31:00,10,11,9,10,100", "timestamp '1500-01-02T09:31:00' is outside 1900..2199"),
        ("99999999999999999999,10,11,9,10,100", "timestamp '99999999999999999999' is outside 1900..2199"),
        (
            "2024-03-10T02:30:00,10,11,9,10,100",
            "2024-03-10T02:30:00 does not exist in America/New_York (clocks spring forward)",
        ),
        ("2024-12-02T09:30:00-05:00,10,11,9,10,100", "duplicate timestamp"),
        ("2024-12-02T09:31:00-05:00,ten,11,9,10,100", "unparseable open 'ten'"),
        ("2024-12-02T09:31:00-05:00,10,11,9,10,", "unparseable volume ''"),
        ("yesterday at noon,10,11,9,10,100", "unparseable timestamp 'yesterday at noon'"),
        ("2024-12-02T09:31:30-05:00,10,11,9,10,100", "timestamp is not on a 1m boundary"),
    ],
)
def test_a_bad_row_rejects_the_file_by_line_number(store: DataManager, tmp_path: Path, row: str, reason: str) -> None:
    path = write_csv(tmp_path, GOOD, GOOD.replace("09:30", "09:32"), row)
    with pytest.raises(ImportRejected) as info:
        import_csv(store, path, "1m", symbol="X")
    err = info.value
    assert (4, reason) in err.problems  # header is line 1, the bad row line 4
    assert f"line 4: {reason}" in str(err)
    assert "rejected bars.csv: 1 bad row(s), nothing was written" in str(err)
    assert snapshot(store) == {}


def test_a_rejected_file_leaves_the_store_unchanged(store: DataManager, tmp_path: Path) -> None:
    import_csv(store, write_csv(tmp_path, GOOD, name="first.csv"), "1m", symbol="X")
    before = snapshot(store)
    bad = write_csv(tmp_path, GOOD.replace("10.5", "10.6"), "2024-12-02T09:31:00-05:00,10,9,11,10,1", name="second.csv")
    with pytest.raises(ImportRejected, match="line 3: high 9 < low 11"):
        import_csv(store, bad, "1m", symbol="X")
    assert snapshot(store) == before


def test_every_bad_line_is_reported(store: DataManager, tmp_path: Path) -> None:
    rows = [GOOD.replace("09:30", f"09:{30 + i}").replace(",11,", ",1,") for i in range(12)]
    path = write_csv(tmp_path, *rows)
    with pytest.raises(ImportRejected) as info:
        import_csv(store, path, "1m", symbol="X")
    err = info.value
    assert [n for n, _ in err.problems] == list(range(2, 14))
    assert "12 bad row(s)" in str(err)
    assert "line 11:" in str(err) and "line 12:" not in str(err)  # the first ten, then a count
    assert str(err).endswith("(and 2 more)")


def test_only_the_real_problem_of_an_unparseable_row_is_listed(store: DataManager, tmp_path: Path) -> None:
    path = write_csv(tmp_path, GOOD, "2024-12-02T09:31:00-05:00,abc,11,9,10,100")
    with pytest.raises(ImportRejected) as info:
        import_csv(store, path, "1m", symbol="X")
    assert info.value.problems == [(3, "unparseable open 'abc'")]


def test_line_numbers_count_blank_lines(store: DataManager, tmp_path: Path) -> None:
    path = tmp_path / "gaps.csv"
    path.write_text(f"{HEADER}\n{GOOD}\n\n\n2024-12-02T09:31:00-05:00,10,9,11,10,1\n")
    with pytest.raises(ImportRejected) as info:
        import_csv(store, path, "1m", symbol="X")
    assert info.value.problems == [(5, "high 9 < low 11")]


def test_duplicates_are_per_symbol(store: DataManager, tmp_path: Path) -> None:
    path = write_csv(tmp_path, GOOD + ",AAPL", GOOD + ",MSFT", header=HEADER + ",symbol")
    assert len(import_csv(store, path, "1m")) == 2
    dup = write_csv(tmp_path, GOOD + ",AAPL", GOOD + ",aapl", header=HEADER + ",symbol", name="dup.csv")
    with pytest.raises(ImportRejected, match="line 3: duplicate timestamp"):
        import_csv(store, dup, "1m")


def test_a_bad_symbol_in_the_column_is_rejected(store: DataManager, tmp_path: Path) -> None:
    path = write_csv(tmp_path, GOOD + ",AAPL", GOOD + ",no good", header=HEADER + ",symbol")
    with pytest.raises(ImportRejected, match="line 3: bad symbol 'no good'"):
        import_csv(store, path, "1m")
    assert snapshot(store) == {}


# -- the file as a whole ----------------------------------------------------------------------
def test_missing_columns_are_named(store: DataManager, tmp_path: Path) -> None:
    path = write_csv(tmp_path, "2024-12-02T09:30:00-05:00,1,1,1", header="timestamp,open,high,low")
    with pytest.raises(
        DataError,
        match=r"lacks column\(s\) close, volume \(expected header: "
        r"timestamp,open,high,low,close,volume\[,symbol\]\)",
    ):
        import_csv(store, path, "1m", symbol="X")


def test_a_file_with_no_rows_is_rejected(store: DataManager, tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_text(HEADER + "\n")
    with pytest.raises(ImportRejected, match="has no rows to import"):
        import_csv(store, path, "1m", symbol="X")


def test_a_missing_file_is_a_data_error(store: DataManager, tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no such file"):
        import_csv(store, tmp_path / "nope.csv", "1m", symbol="X")


def test_an_unknown_time_zone_is_a_data_error(store: DataManager, tmp_path: Path) -> None:
    path = write_csv(tmp_path, "2024-12-02T09:30:00,1,1,1,1,1")
    with pytest.raises(DataError, match="unknown time zone 'Mars/Olympus'"):
        import_csv(store, path, "1m", symbol="X", tz="Mars/Olympus")


def test_reimporting_the_same_file_changes_nothing(store: DataManager, tmp_path: Path) -> None:
    rows = [GOOD.replace("09:30", f"09:{30 + i}") for i in range(5)]
    path = write_csv(tmp_path, *rows)
    import_csv(store, path, "1m", symbol="X")
    first = store.read("X", "1m")
    (again,) = import_csv(store, path, "1m", symbol="X")
    assert again.stored_rows == 5
    second = store.read("X", "1m")
    for f in ("ts", "open", "high", "low", "close", "volume"):
        np.testing.assert_array_equal(getattr(first, f), getattr(second, f))


def test_an_overlapping_import_replaces_that_whole_day(store: DataManager, tmp_path: Path) -> None:
    rows = [GOOD.replace("09:30", f"09:{30 + i}") for i in range(10)]
    import_csv(store, write_csv(tmp_path, *rows, name="day.csv"), "1m", symbol="X")
    fix = [f"2024-12-02T09:{m}:00-05:00,20,21,19,20.5,7" for m in (33, 34, 36)]
    (done,) = import_csv(store, write_csv(tmp_path, *fix, name="fix.csv"), "1m", symbol="X")
    bars = store.read("X", "1m")
    # A day in the file replaces that whole stored day: 09:30..09:39 give way to the three new bars.
    assert [to_ny(int(t)).minute for t in bars.ts] == [33, 34, 36]
    assert bars.open.tolist() == [20, 20, 20]
    assert (done.stored_rows, done.replaced_days, done.replaced_bars, done.removed_bars) == (3, 1, 10, 7)


# -- timestamps and values the checks must name rightly ----------------------------------------
@pytest.mark.parametrize("unit", [1, 1000, 1_000_000, 1_000_000_000], ids=["s", "ms", "us", "ns"])
def test_epoch_units_are_told_by_magnitude(store: DataManager, tmp_path: Path, unit: int) -> None:
    start = ns(dt.datetime(2024, 12, 2, 14, 30, tzinfo=UTC)) // 10**9
    path = write_csv(tmp_path, f"{start * unit},1,1,1,1,1", f"{(start + 60) * unit},1,1,1,1,1")
    import_csv(store, path, "1m", symbol="E")
    assert store.read("E", "1m").ts.tolist() == [start * 10**9, (start + 60) * 10**9]


def test_epoch_units_in_the_row_by_row_path(store: DataManager, tmp_path: Path) -> None:
    start = ns(dt.datetime(2024, 12, 2, 14, 30, tzinfo=UTC))
    path = write_csv(tmp_path, "2024-12-02T09:30:00-05:00,1,1,1,1,1", f"{(start + 60 * 10**9) // 1000},1,1,1,1,1")
    import_csv(store, path, "1m", symbol="E")
    assert store.read("E", "1m").ts.tolist() == [start, start + 60 * 10**9]


def test_a_years_out_of_range_row_is_a_bad_row_in_the_fast_path_too(store: DataManager, tmp_path: Path) -> None:
    path = write_csv(tmp_path, GOOD, "2250-12-02T09:31:00-05:00,10,11,9,10,100")
    with pytest.raises(ImportRejected) as info:
        import_csv(store, path, "1m", symbol="X")
    assert info.value.problems == [(3, "timestamp '2250-12-02T09:31:00-05:00' is outside 1900..2199")]


def test_a_duplicated_column_is_named(store: DataManager, tmp_path: Path) -> None:
    path = write_csv(
        tmp_path, "2024-12-02T09:30:00-05:00,10,11,9,10.5,99,100", header=HEADER.replace("close", "close,close")
    )
    with pytest.raises(DataError, match=r"bars\.csv: duplicate column close \(the header names it twice; keep one\)"):
        import_csv(store, path, "1m", symbol="X")
    assert snapshot(store) == {}


def test_bars_outside_the_session_or_off_its_grid_are_counted(store: DataManager, tmp_path: Path) -> None:
    rows = [f"2024-12-02T{h:02d}:00:00-05:00,10,11,9,10.5,100" for h in (8, 9, 10, 11, 16)]
    rows.append("2024-12-02T12:30:00-05:00,10,11,9,10.5,100")
    (done,) = import_csv(store, write_csv(tmp_path, *rows), "1h", symbol="X")
    assert (done.rows, done.outside_session, done.off_grid) == (6, 3, 2)  # 08:00 09:00 16:00; 10:00 11:00
    minutes = [f"2024-12-02T{t},1,1,1,1,1" for t in ("04:00:00-05:00", "09:30:00-05:00", "15:59:00-05:00")]
    (done,) = import_csv(store, write_csv(tmp_path, *minutes, name="m.csv"), "1m", symbol="M")
    assert (done.outside_session, done.off_grid) == (1, 0)
