"""Nothing stored is thrown away unasked: a day written replaces that whole stored day and only
the days it holds; a damaged file keeps its readable days, is repaired by a write holding every
damaged day and refuses any other in one line (``--replace`` starts it over); ``data fetch`` asks
only for what a damaged file lacks and skips a file it cannot repair; a partial write keeps the
sources of the days it did not touch; the CSV reader's limits are said in the trader's words."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.conftest import SAMPLE_DATA, assert_bars_equal, make_bars
from tests.test_app import Shell, _clean_env  # noqa: F401 - autouse: no TRADER_CLI_* or HOME of the caller
from trader_cli.core.bars import FIELDS, Bars
from trader_cli.core.calendar import date_to_ordinal, iso_ny, ny_dates, nyse
from trader_cli.core.csv_import import import_csv
from trader_cli.core.errors import DataError, ImportRejected
from trader_cli.core.store import DataManager
from trader_cli.live.fetch import fetch
from trader_cli.live.loopback import LoopbackAlpaca

MON, TUE, WED, THU, FRI = (dt.date(2024, 12, d) for d in (2, 3, 4, 5, 6))
HEADER = "timestamp,open,high,low,close,volume\n"
KEY, SECRET = "keeps-bars-key", "keeps-bars-secret"
KEYS = {"APCA_API_KEY_ID": KEY, "APCA_API_SECRET_KEY": SECRET}


@pytest.fixture
def store(tmp_path: Path) -> DataManager:
    return DataManager(tmp_path / "store")


@pytest.fixture
def server() -> Iterator[LoopbackAlpaca]:
    with LoopbackAlpaca(SAMPLE_DATA, key_id=KEY, secret=SECRET, page_cap=700) as srv:
        yield srv


def three_days(store: DataManager, symbol: str = "SPY", source: str = "vendor") -> Bars:
    bars = Bars.concat([make_bars(MON), make_bars(TUE, seed=1), make_bars(WED, seed=2)])
    store.write(symbol, "1m", bars, source=source)
    return bars


def on_day(bars: Bars, day: dt.date) -> Bars:
    return bars.take(ny_dates(bars.ts) == date_to_ordinal(day))


def csv_of(tmp_path: Path, bars: Bars, name: str = "fix.csv") -> Path:
    rows = "".join(
        f"{iso_ny(int(t))},{o},{h},{lo},{c},{v}\n"
        for t, o, h, lo, c, v in zip(*(getattr(bars, f).tolist() for f in FIELDS), strict=True)
    )
    path = tmp_path / name
    path.write_text(HEADER + rows, encoding="utf-8")
    return path


def with_nan_close(path: Path, row: int) -> None:
    """Another tool's damage: one NaN close, the rest as it was (a row group per 390-bar day)."""
    table = pq.read_table(path)
    close = table.column("close").to_pylist()
    close[row] = float("nan")
    table = table.set_column(4, table.schema.field("close"), pa.array(close))
    pq.write_table(table, path, row_group_size=390)


def with_damaged_page(path: Path, group: int) -> None:
    """Bytes flipped inside one row group's close page (its checksum no longer matches)."""
    chunk = pq.read_metadata(path).row_group(group).column(4)
    at = chunk.data_page_offset + chunk.total_compressed_size // 2
    data = bytearray(path.read_bytes())
    for i in range(at, at + 16):
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))


def shifted(bars: Bars, by: float) -> Bars:
    return Bars(bars.ts, bars.open + by, bars.high + by, bars.low + by, bars.close + by, bars.volume)


# -- a day written replaces that whole day, and only the days written --------------------------------
def test_an_import_that_skips_a_day_keeps_that_day(store: DataManager, tmp_path: Path) -> None:
    stored = three_days(store)
    fix = shifted(Bars.concat([on_day(stored, MON), on_day(stored, WED)]), 1.0)
    (done,) = import_csv(store, csv_of(tmp_path, fix), "1m", symbol="SPY")
    after = store.read("SPY", "1m")
    assert_bars_equal(on_day(after, TUE), on_day(stored, TUE))
    assert_bars_equal(Bars.concat([on_day(after, MON), on_day(after, WED)]), fix)
    assert (done.stored_rows, done.replaced_days, done.replaced_bars, done.removed_bars) == (1170, 2, 780, 0)


def test_two_rows_of_a_day_replace_that_day_and_count_the_bars_gone(store: DataManager, tmp_path: Path) -> None:
    stored = three_days(store)
    monday = on_day(stored, MON)
    ends = monday.take(np.array([0, len(monday) - 1]))
    (done,) = import_csv(store, csv_of(tmp_path, ends), "1m", symbol="SPY")
    assert (done.stored_rows, done.replaced_days, done.replaced_bars, done.removed_bars) == (782, 1, 390, 388)
    assert_bars_equal(store.read("SPY", "1m"), Bars.concat([ends, on_day(stored, TUE), on_day(stored, WED)]))


def test_the_import_caption_says_which_days_it_replaced(tmp_path: Path) -> None:
    shell = Shell(tmp_path / "store")
    stored = three_days(DataManager(shell.data_dir))
    path = csv_of(tmp_path, Bars.concat([on_day(stored, MON), on_day(stored, WED)]))
    res = shell(f"data import {path} --symbol SPY")
    assert res.code == 0, res.err
    flat = " ".join(res.out.split())
    assert "SPY: replaced 2 stored day(s), 780 bars (a day in the file replaces that whole stored day" in flat
    (row,) = json.loads(shell(f"data import {path} --symbol SPY --output json").out)
    assert (row["stored"], row["replaced_days"], row["removed_bars"]) == (1170, 2, 0)


# -- a damaged file keeps its readable days -------------------------------------------------------------
def test_one_nan_close_refuses_an_import_of_another_day(store: DataManager, tmp_path: Path) -> None:
    three_days(store)
    path = store.path_for("SPY", "1m")
    with_nan_close(path, 2 * 390 + 100)  # Wednesday 11:10
    before = path.read_bytes()
    with pytest.raises(DataError) as err:
        import_csv(store, csv_of(tmp_path, make_bars(THU)), "1m", symbol="SPY")
    text = str(err.value)
    assert "\n" not in text
    assert text.startswith("SPY's stored 1m file is damaged on 2024-12-04 (390 stored bars; close is NaN")
    assert "(row 880)" in text and "its other 2 day(s) (780 bars) read fine" in text
    assert "nothing was changed" in text and "2024-12-04" in text and "--replace" in text
    assert path.read_bytes() == before


def test_an_import_holding_the_damaged_day_repairs_it_and_keeps_the_rest(store: DataManager, tmp_path: Path) -> None:
    stored = three_days(store)
    with_nan_close(store.path_for("SPY", "1m"), 2 * 390 + 100)
    fix = Bars.concat([on_day(stored, WED), make_bars(THU)])
    (done,) = import_csv(store, csv_of(tmp_path, fix), "1m", symbol="SPY")
    assert done.repaired is not None and done.repaired.startswith("2024-12-04: close is NaN")
    assert done.stored_rows == 4 * 390
    assert_bars_equal(store.read("SPY", "1m"), Bars.concat([on_day(stored, MON), on_day(stored, TUE), fix]))


def test_a_damaged_page_spoils_only_its_day(store: DataManager, tmp_path: Path) -> None:
    stored = three_days(store)
    with_damaged_page(store.path_for("SPY", "1m"), 1)  # Tuesday
    with pytest.raises(DataError, match=r"damaged on 2024-12-03 \(390 stored bars; the file is corrupt"):
        import_csv(store, csv_of(tmp_path, make_bars(THU)), "1m", symbol="SPY")
    (done,) = import_csv(store, csv_of(tmp_path, on_day(stored, TUE)), "1m", symbol="SPY")
    assert done.repaired is not None and done.stored_rows == 1170
    assert_bars_equal(store.read("SPY", "1m"), stored)


def test_a_file_that_cannot_be_read_at_all_is_replaced_only_when_asked(store: DataManager, tmp_path: Path) -> None:
    path = store.path_for("SPY", "1m")
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not parquet" * 40)
    csv = csv_of(tmp_path, make_bars(THU))
    with pytest.raises(DataError) as err:
        import_csv(store, csv, "1m", symbol="SPY")
    assert str(err.value).startswith("SPY's stored 1m file cannot be read (the file is corrupt")
    assert "nothing was changed: give --replace" in str(err.value)
    assert path.read_bytes() == b"not parquet" * 40
    (done,) = import_csv(store, csv, "1m", symbol="SPY", replace=True)
    assert done.started_over is not None and done.started_over.startswith("an unreadable file (the file is corrupt")
    assert_bars_equal(store.read("SPY", "1m"), make_bars(THU))


def test_replace_starts_a_sound_file_over_and_says_what_it_held(tmp_path: Path) -> None:
    shell = Shell(tmp_path / "store")
    three_days(DataManager(shell.data_dir))
    res = shell(f"data import {csv_of(tmp_path, make_bars(THU))} --symbol SPY --replace")
    assert res.code == 0, res.err
    assert "started SPY's 1m file over (--replace); it held 1,170 bars on 3 day(s)" in " ".join(res.out.split())
    assert shell.stored() == {"SPY": 390}


# -- sources -----------------------------------------------------------------------------------------------
def test_a_partial_import_keeps_the_source_of_the_days_it_did_not_touch(store: DataManager, tmp_path: Path) -> None:
    stored = three_days(store, source="synthetic sample")
    import_csv(store, csv_of(tmp_path, on_day(stored, TUE), name="tue.csv"), "1m", symbol="SPY")
    (row,) = store.coverage()
    assert row.source == "mixed: synthetic sample (2 day(s)); import tue.csv (1 day(s))"
    info = json.loads(pq.read_metadata(store.path_for("SPY", "1m")).metadata[b"trader_cli"])
    mon, tue, wed = (date_to_ordinal(d) for d in (MON, TUE, WED))
    assert info["sources"] == {"synthetic sample": [[mon, mon], [wed, wed]], "import tue.csv": [[tue, tue]]}
    import_csv(store, csv_of(tmp_path, on_day(stored, WED), name="wed.csv"), "1m", symbol="SPY")
    assert store.coverage()[0].source.startswith("mixed: synthetic sample (1 day(s)); import tue.csv (1 day(s))")
    import_csv(store, csv_of(tmp_path, stored, name="all.csv"), "1m", symbol="SPY")
    info = json.loads(pq.read_metadata(store.path_for("SPY", "1m")).metadata[b"trader_cli"])
    assert info["source"] == "import all.csv" and "sources" not in info


# -- the CSV reader's limits, in words -----------------------------------------------------------------
def test_a_line_longer_than_the_reader_takes_is_named(store: DataManager, tmp_path: Path) -> None:
    path = tmp_path / "wide.csv"
    path.write_text(HEADER + "2024-12-02T09:30:00-05:00,10,11,9,10.5,100\n" + "x" * 3_000_000 + ",1,1,1,1,1\n")
    with pytest.raises(DataError) as err:
        import_csv(store, path, "1m", symbol="SPY")
    assert str(err.value) == (
        f"{path} line 3 is longer than 1 MiB, the most a line of bars may be (is it a CSV of bars?); "
        "nothing was imported"
    )


@pytest.mark.parametrize(
    ("header", "says"),
    [
        (HEADER.rstrip("\n") + "," + "n" * 140_000 + "\n", "line 1 is not a header of bars (field larger than"),
        (HEADER.rstrip("\n") + " " * 1_200_000 + "\n", "line 1 is longer than 1 MiB"),
    ],
)
def test_a_header_of_a_huge_field_or_line_is_named_not_an_internal_error(
    store: DataManager, tmp_path: Path, header: str, says: str
) -> None:
    """The header was read with the csv module first: a field over its 128 KiB limit raised
    csv.Error ("internal error"), before the reader's own line limit was looked at."""
    path = tmp_path / "hdr.csv"
    path.write_text(header + "2024-12-02T09:30:00-05:00,10,11,9,10.5,100\n")
    with pytest.raises(DataError, match=re.escape(says)):
        import_csv(store, path, "1m", symbol="SPY")
    assert not store.path_for("SPY", "1m").exists()


@pytest.mark.parametrize(
    ("text", "says"),
    [
        (HEADER.rstrip("\n"), "has no rows to import"),
        (HEADER, "has no rows to import"),
        ("", "is empty: nothing to import (expected header: timestamp,open,high,low,close,volume[,symbol])"),
        ("\n\n", "is empty: nothing to import"),
    ],
    ids=["header-no-newline", "header", "empty", "blank-lines"],
)
def test_a_file_without_rows_says_so(store: DataManager, tmp_path: Path, text: str, says: str) -> None:
    path = tmp_path / "rows.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ImportRejected) as err:
        import_csv(store, path, "1m", symbol="SPY")
    assert str(err.value).startswith(f"{path} {says}")
    assert not store.data_dir.exists()


# -- data fetch --------------------------------------------------------------------------------------------
def sample_window(symbol: str, first: dt.date, last: dt.date) -> Bars:
    start = nyse().open_close(first)[0] - 6 * 3_600_000_000_000
    end = nyse().open_close(last)[1] + 5 * 3_600_000_000_000
    return DataManager(SAMPLE_DATA).read(symbol, "1m", start, end)


def fetched_days(server: LoopbackAlpaca) -> list[str]:
    """The New York dates the requests started on."""
    from zoneinfo import ZoneInfo

    ny = ZoneInfo("America/New_York")
    return sorted(
        {
            dt.datetime.fromisoformat(q["start"].replace("Z", "+00:00")).astimezone(ny).date().isoformat()
            for q in server.requests
        }
    )


def test_fetch_over_damaged_days_asks_only_for_them_and_repairs_the_file(
    server: LoopbackAlpaca, store: DataManager
) -> None:
    fetch(store, ["AAPL"], "1m", MON, FRI, data_url=server.data_url, environ=KEYS)
    path = store.path_for("AAPL", "1m")
    with_nan_close(path, 0 * 390 + 10)
    with_damaged_page(path, 4)  # Monday and Friday: two runs, two requests
    server.requests.clear()
    (aapl,) = fetch(store, ["AAPL"], "1m", MON, FRI, data_url=server.data_url, environ=KEYS).symbols
    assert fetched_days(server) == ["2024-12-02", "2024-12-06"]
    assert aapl.missing_days == 2 and aapl.repaired is not None and aapl.repaired.startswith("2024-12-02, 2024-12-06")
    assert_bars_equal(store.read("AAPL", "1m"), sample_window("AAPL", MON, FRI))


def test_fetch_keeps_a_file_damaged_outside_the_range(server: LoopbackAlpaca, store: DataManager) -> None:
    fetch(store, ["AAPL", "MSFT"], "1m", MON, WED, data_url=server.data_url, environ=KEYS)
    path = store.path_for("AAPL", "1m")
    with_nan_close(path, 2 * 390 + 5)  # Wednesday
    before = path.read_bytes()
    server.requests.clear()
    res = fetch(store, ["AAPL", "MSFT"], "1m", MON, TUE, data_url=server.data_url, environ=KEYS)
    assert server.requests == [] and res.symbols[0].damaged is not None and not res.symbols[0].skipped
    res = fetch(store, ["AAPL", "MSFT"], "1m", THU, FRI, data_url=server.data_url, environ=KEYS)
    aapl, msft = res.symbols
    assert aapl.skipped and aapl.bars == 0 and aapl.empty_days == 0 and path.read_bytes() == before
    assert aapl.damaged is not None and "damaged on 2024-12-04" in aapl.damaged and "skipped" in aapl.damaged
    assert "fetch those days (data fetch AAPL --from 2024-12-04 --to 2024-12-04)" in aapl.damaged
    assert msft.bars == 2 * 390 and {q["symbols"] for q in server.requests} == {"MSFT"}


def test_fetch_replace_starts_a_file_over_even_an_unreadable_one(
    server: LoopbackAlpaca, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for var, value in KEYS.items():
        monkeypatch.setenv(var, value)
    shell = Shell(tmp_path / "store")
    path = shell.data_dir / "bars" / "1m" / "AAPL.parquet"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not parquet" * 40)
    url = server.data_url
    res = shell(f"data fetch AAPL --from 2024-12-02 --to 2024-12-03 --data-url {url} --output json")
    assert res.code == 0, res.err
    (row,) = json.loads(res.out)
    note = row["note"] or ""
    assert "AAPL's stored 1m file cannot be read" in note and "skipped" in note and "--replace" in note, note
    assert path.read_bytes() == b"not parquet" * 40 and server.requests == []
    res = shell(f"data fetch AAPL --from 2024-12-02 --to 2024-12-03 --data-url {url} --replace --output json")
    assert res.code == 0, res.err
    (row,) = json.loads(res.out)
    assert "started its 1m file over (--replace); it held an unreadable file" in (row["note"] or ""), row
    assert_bars_equal(DataManager(shell.data_dir).read("AAPL", "1m"), sample_window("AAPL", MON, TUE))
