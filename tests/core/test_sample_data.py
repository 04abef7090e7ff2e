"""The synthetic sample shipped in data/ and scripts/make_sample_data.py, which makes it: twelve
symbols of 1m and 1d bars that follow the NYSE calendar, RIVN with gaps, deterministic."""

from __future__ import annotations

import datetime as dt
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from trader_cli.core.bars import FIELDS, Bars, aggregate
from trader_cli.core.calendar import MarketCalendar, ny_dates, ordinal_to_date
from trader_cli.core.intervals import Interval
from trader_cli.core.store import DataManager

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "data"


def assert_same(a: Bars, b: Bars) -> None:
    assert len(a) == len(b)
    for f in FIELDS:
        np.testing.assert_array_equal(getattr(a, f), getattr(b, f), err_msg=f)


SAMPLE_SYMBOLS = ["AAPL", "AMD", "AMZN", "GOOGL", "JPM", "META", "MSFT", "NVDA", "QQQ", "RIVN", "SPY", "TSLA"]


def load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_sample_data", REPO / "scripts" / "make_sample_data.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while it executes
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[spec.name]
    return module


@pytest.fixture(scope="module")
def sample() -> DataManager:
    return DataManager(SAMPLE)


def test_sample_has_twelve_symbols_in_1m_and_1d(sample: DataManager) -> None:
    assert sample.symbols("1m") == SAMPLE_SYMBOLS
    assert sample.symbols("1d") == SAMPLE_SYMBOLS
    for row in sample.coverage():
        assert row.source == "synthetic sample (scripts/make_sample_data.py, seed 7)"


def test_sample_minutes_follow_the_calendar(sample: DataManager, cal: MarketCalendar) -> None:
    days = cal.trading_days(dt.date(2024, 11, 1), dt.date(2024, 12, 31))
    for sym in ("AAPL", "SPY"):
        bars = sample.read(sym, "1m")
        dates = ny_dates(bars.ts)
        present, counts = np.unique(dates, return_counts=True)
        assert [ordinal_to_date(int(o)) for o in present] == days
        per_day = dict(zip((ordinal_to_date(int(o)) for o in present), counts.tolist(), strict=True))
        assert per_day[dt.date(2024, 11, 29)] == per_day[dt.date(2024, 12, 24)] == 210
        assert all(n == cal.expected_bars(d, "1m") for d, n in per_day.items())
        assert dt.date(2024, 11, 28) not in per_day
        assert bool(cal.session_of(bars.ts)[1].all())


def test_sample_rivn_is_the_one_symbol_with_gaps(sample: DataManager, cal: MarketCalendar) -> None:
    days = cal.trading_days(dt.date(2024, 11, 1), dt.date(2024, 12, 31))
    full = sum(cal.expected_bars(d, "1m") for d in days)
    for sym in SAMPLE_SYMBOLS:
        n = len(sample.read(sym, "1m"))
        if sym == "RIVN":
            assert 0.95 * full < n < 0.99 * full
        else:
            assert n == full
    rivn = sample.read("RIVN", "1m")
    opens = {cal.open_close(d)[0] for d in days}
    assert opens <= set(rivn.ts.tolist())  # the first minute of every day is there


def test_sample_bars_are_consistent(sample: DataManager) -> None:
    for sym in SAMPLE_SYMBOLS:
        for iv in ("1m", "1d"):
            b = sample.read(sym, iv)
            assert bool(np.all(b.low <= np.minimum(b.open, b.close)))
            assert bool(np.all(b.high >= np.maximum(b.open, b.close)))
            assert bool(np.all(b.low > 0))
            assert bool(np.all(np.round(b.close, 2) == b.close))
            assert bool(np.all(b.volume == np.round(b.volume))) and bool(np.all(b.volume > 0))


def test_sample_daily_bars_are_the_aggregated_minutes(sample: DataManager, cal: MarketCalendar) -> None:
    start = cal.open_close(dt.date(2024, 11, 1))[0] - 12 * 3600 * 10**9
    for sym in SAMPLE_SYMBOLS:
        daily = sample.read(sym, "1d")
        assert_same(daily.window(start, 2**62), aggregate(sample.read(sym, "1m"), Interval.parse("1d"), cal))
        early = daily.before(start)
        assert ordinal_to_date(int(ny_dates(early.ts[:1])[0])) == dt.date(2024, 1, 2)
        assert len(daily) >= 250  # a daily sma 200 has data


def test_sample_script_is_deterministic(tmp_path: Path) -> None:
    script = load_script()
    script.write_sample(tmp_path / "a", seed=7, symbols=["RIVN", "SPY"])
    script.write_sample(tmp_path / "b", seed=7, symbols=["RIVN", "SPY"])
    script.write_sample(tmp_path / "b", seed=7, symbols=["RIVN", "SPY"])  # a rerun in place
    a, b = DataManager(tmp_path / "a"), DataManager(tmp_path / "b")
    for sym in ("RIVN", "SPY"):
        for iv in ("1m", "1d"):
            assert_same(a.read(sym, iv), b.read(sym, iv))
            assert_same(a.read(sym, iv), DataManager(SAMPLE).read(sym, iv))
    other = load_script()
    other.write_sample(tmp_path / "c", seed=8, symbols=["SPY"])
    assert not np.array_equal(DataManager(tmp_path / "c").read("SPY", "1m").close, a.read("SPY", "1m").close)


def test_the_shipped_files_carry_page_checksums(tmp_path: Path) -> None:
    """A flipped bit inside any data page of a shipped file is refused on read, not read as a
    changed price: every file was written with page CRCs (the store's format), as the script
    writes it now."""
    import shutil

    import pyarrow.parquet as pq

    from trader_cli.core.errors import DataError

    files = sorted((SAMPLE / "bars").rglob("*.parquet"))
    assert len(files) == 2 * len(SAMPLE_SYMBOLS)
    for src in files:
        meta = pq.ParquetFile(src).metadata
        chunk = meta.row_group(0).column(meta.num_columns - 2)  # a price column (close), past its page header
        at = chunk.data_page_offset + chunk.total_compressed_size // 2
        dst = tmp_path / src.parent.name / "bars" / src.parent.name / src.name
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(src, dst)
        raw = bytearray(dst.read_bytes())
        raw[at] ^= 0x01
        dst.write_bytes(bytes(raw))
        with pytest.raises(DataError):
            DataManager(tmp_path / src.parent.name).read(src.stem, src.parent.name)
