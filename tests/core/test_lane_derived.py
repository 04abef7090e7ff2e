"""A past day's derived bars worked out for one lane (DayBook.lane_derived, History.present) are
the day's whole derived grid's, bit for bit: missing minutes, a thin symbol, a short last bar on
an early close, the daily bar. Reading 500 symbols' history then costs each its own minutes (a
grid of every lane per symbol and day stalled `data session` for 24 s after 8 days)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from trader_cli.core.config import parse_config
from trader_cli.core.coordinator import SessionCoordinator
from trader_cli.core.intervals import Interval
from trader_cli.core.store import DataManager

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def past() -> object:
    cfg = parse_config(
        {
            "name": "lanes",
            "backtest_config": {"start_date": "2024-11-26", "end_date": "2024-12-03", "speed_multiplier": 0},
            "session_data_config": {
                "symbols": ["AAPL", "RIVN", "MSFT"],
                "derived_intervals": ["5m", "15m", "30m", "1h", "1d"],
                "historical": {"trailing_days": 1},
            },
        }
    )
    coord = SessionCoordinator(DataManager)
    coord.start(cfg, REPO / "data", paused=True)
    coord.advance(10**6)  # every day replayed: 11-26, 11-27, 11-29 (closes 13:00), 12-02, 12-03
    yield coord
    coord.shutdown()


@pytest.mark.parametrize("name", ["5m", "15m", "30m", "1h", "1d"])
def test_one_lanes_derived_bars_are_the_grids(past: SessionCoordinator, name: str) -> None:
    iv = Interval.parse(name)
    hist = past.engine.history
    assert len(hist.past) >= 4
    for pos, book in hist.past:
        grid = book.build_derived(iv)
        for sym, data in past.session.symbols.items():
            want = grid.lane_bars(data.lane, len(grid.ts))
            got = book.lane_derived(iv, data.lane)
            for field in ("ts", "open", "high", "low", "close", "volume"):
                np.testing.assert_array_equal(getattr(got, field), getattr(want, field), err_msg=f"{sym} {pos} {field}")
            np.testing.assert_array_equal(
                hist.present(pos, book, data.lane, iv), ~np.isnan(grid.cols["close"][:, data.lane])
            )
    rivn = past.session.symbols["RIVN"].lane
    thin = [book.base.count(rivn, book.n_min) for _, book in hist.past]
    assert min(thin) < max(book.n_min for _, book in hist.past)  # RIVN misses minutes: the gaps are exercised


def test_with_random_gaps_and_fractional_volumes(past: SessionCoordinator) -> None:
    """Minutes knocked out at random (whole bars too) and volumes that are not whole numbers
    (their sums' order matters): still the grid's, bit for bit."""
    import copy

    rng = np.random.default_rng(7)
    for pos, book in past.engine.history.past:
        b = copy.copy(book)  # its own 1m grid to knock minutes out of
        b.base = copy.copy(book.base)
        b.base.cols = cols = {f: a.copy() for f, a in book.base.cols.items()}
        gone = rng.random(cols["close"].shape) < 0.4
        gone[60:75] = True  # whole 15m bars missing for every lane
        for f in cols:
            cols[f][gone] = np.nan
        cols["volume"] *= rng.random(cols["volume"].shape) * 0.37
        for name in ("5m", "15m", "30m", "1h", "1d"):
            iv = Interval.parse(name)
            grid = b.build_derived(iv)
            for lane in range(len(past.session.symbols)):
                want, got = grid.lane_bars(lane, len(grid.ts)), b.lane_derived(iv, lane)
                for field in ("ts", "open", "high", "low", "close", "volume"):
                    np.testing.assert_array_equal(getattr(got, field), getattr(want, field), err_msg=f"{pos} {name}")


def test_a_one_lane_day_too() -> None:
    """A session of one symbol (a book one lane wide: its sums run as a line, as the grid's)."""
    import copy

    cfg = parse_config(
        {
            "name": "one",
            "backtest_config": {"start_date": "2024-11-29", "end_date": "2024-12-02", "speed_multiplier": 0},
            "session_data_config": {"symbols": ["RIVN"], "derived_intervals": ["15m", "1h"]},
        }
    )
    coord = SessionCoordinator(DataManager)
    try:
        coord.start(cfg, REPO / "data", paused=True)
        coord.advance(10**6)
        rng = np.random.default_rng(3)
        for _, book in coord.engine.history.past:
            b = copy.copy(book)
            b.base = copy.copy(book.base)
            b.base.cols = {f: a.copy() for f, a in book.base.cols.items()}
            b.base.cols["volume"] *= rng.random(b.base.cols["volume"].shape) * 0.37
            for name in ("15m", "1h", "1d"):
                grid = b.build_derived(Interval.parse(name))
                for lane in range(b.capacity):
                    want, got = grid.lane_bars(lane, len(grid.ts)), b.lane_derived(Interval.parse(name), lane)
                    np.testing.assert_array_equal(got.volume, want.volume, err_msg=f"{b.capacity} {name}")
                    np.testing.assert_array_equal(got.close, want.close)
    finally:
        coord.shutdown()


def test_window_counts_are_the_windows_lengths(past: SessionCoordinator) -> None:
    """The session table counts a symbol's bars without building them: the same numbers."""
    from trader_cli.core import queries, reports

    eng = past.engine
    book = eng.replay.book
    table = {s.symbol: {c.interval: (c.history, c.session) for c in s.bars} for s in reports.session_table(eng).symbols}
    for sym, data in past.session.symbols.items():
        for iv in data.intervals:
            hist, today = queries.bars(eng, data, iv)
            assert eng.history.window_count(data, iv, book.day) == len(hist), (sym, iv)
            assert table[sym][iv] == (len(hist), len(today)), (sym, iv)
