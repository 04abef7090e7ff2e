"""History held as day blocks: a day's bars in the day's bar slots (NaN where a bar is missing,
bars between slots left out), read back as exactly the bars present; the trailing window lets
go of a day's block once the session has moved past it."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from trader_cli.core.bars import Bars, aggregate
from trader_cli.core.calendar import NS_PER_MINUTE, nyse
from trader_cli.core.config import parse_config
from trader_cli.core.coordinator import SessionCoordinator
from trader_cli.core.intervals import Interval
from trader_cli.core.replay import bar_slots
from trader_cli.core.session import DayBlock
from trader_cli.core.store import DataManager

DATA = Path(__file__).resolve().parents[2] / "data"
DAY = dt.date(2024, 11, 29)  # an early close: 210 one-minute slots


def slots(interval: str) -> np.ndarray:
    o, c = nyse().open_close(DAY)
    return bar_slots(Interval.parse(interval), o, (c - o) // NS_PER_MINUTE)[3]


def bars_at(ts: np.ndarray) -> Bars:
    x = np.arange(len(ts), dtype=np.float64) + 100.0
    return Bars(ts.astype(np.int64), x, x + 1, x - 1, x + 0.5, x * 10)


def test_complete_day_round_trips() -> None:
    ts = slots("1m")
    assert len(ts) == 210
    b = bars_at(ts)
    block = DayBlock.of(DAY, ts, b)
    back = block.bars()
    for f in ("ts", "open", "high", "low", "close", "volume"):
        np.testing.assert_array_equal(getattr(back, f), getattr(b, f))
    assert block.values.nbytes == 5 * 8 * 210  # 40 bytes a bar: the times are the day's


def test_gaps_stay_gaps_and_bars_between_slots_are_left_out() -> None:
    ts = slots("5m")
    keep = np.ones(len(ts), dtype=bool)
    keep[[0, 7, len(ts) - 1]] = False
    b = bars_at(ts[keep])
    odd = Bars(np.array([ts[3] + 30 * 10**9]), *(np.array([1.0]) for _ in range(5)))  # 30 s after a slot
    both = Bars.concat([b, odd], copy=True)
    order = np.argsort(both.ts, kind="stable")
    block = DayBlock.of(DAY, ts, both.take(order))
    back = block.bars()
    np.testing.assert_array_equal(back.ts, ts[keep])
    np.testing.assert_array_equal(back.close, b.close)
    assert np.isnan(block.values[:, 7]).all()
    later = block.bars(from_ns=int(ts[10]))
    np.testing.assert_array_equal(later.ts, ts[10:][keep[10:]])


def aapl_session(end: str, derived: list[str], indicators: list[dict[str, Any]] | None = None) -> Any:
    """AAPL from 2024-12-02 to ``end``, two trailing days."""
    return parse_config(
        {
            "name": "blocks",
            "mode": "backtest",
            "backtest_config": {"start_date": "2024-12-02", "end_date": end, "speed_multiplier": 0},
            "session_data_config": {
                "symbols": ["AAPL"],
                "base_interval": "1m",
                "derived_intervals": derived,
                "historical": {"trailing_days": 2},
                "indicators": indicators or [],
            },
        }
    )


@pytest.fixture
def coord() -> Any:
    c = SessionCoordinator(DataManager)
    yield c
    c.shutdown()


def test_the_window_rolls_and_the_whole_run_keeps_every_day(coord: SessionCoordinator) -> None:
    coord.start(aapl_session("2024-12-04", ["5m"]), DATA, paused=True)
    data = coord.session.symbols["AAPL"]
    assert [b.day for b in data.loaded["1m"]] == [dt.date(2024, 11, 27), dt.date(2024, 11, 29)]
    before, _ = coord.bars("AAPL", "1m")
    coord.advance(391)  # across the first roll: 11-27 leaves the window, 12-02 joins it from the replay
    after, _ = coord.bars("AAPL", "1m")
    np.testing.assert_array_equal(after.ts[: len(after) - 390], before.ts[before.ts >= after.ts[0]])
    assert len(after) == 210 + 390  # the early close, then the replayed day
    whole = coord.series("AAPL", "1m")  # the whole run: 11-27 is still held, then today's minute
    assert len(whole) == 390 + 210 + 390 + 1 and whole.ts[0] == before.ts[0]


def test_past_days_keep_1m_and_rebuild_the_other_intervals(coord: SessionCoordinator) -> None:
    daily_sma = [{"name": "sma", "params": [5], "interval": "1d"}]
    coord.start(aapl_session("2024-12-06", ["5m", "1d"], daily_sma), DATA, paused=True)
    data = coord.session.symbols["AAPL"]
    assert data.history_days["1d"] >= 5 and data.history_days["1m"] == 2
    coord.advance(4 * 390 + 1)  # into 12-06: 12-02 .. 12-05 replayed
    past = coord.engine.history.past
    assert [p for p, _ in past] == [0, 1, 2, 3]
    # every past day keeps its 1m grid only: 5m and 1d are rebuilt from it when read
    assert all(book.has("1m") and not book.has("5m") and not book.has("1d") for _, book in past)
    cal = nyse()
    for iv in ("1m", "5m", "1d"):
        hist, _ = coord.bars("AAPL", iv)
        back = cal.trading_days_back(coord.session_day, data.history_days[iv])
        base = DataManager(DATA).read("AAPL", "1m", cal.open_close(back[0])[0], cal.open_close(back[-1])[1])
        want = base if iv == "1m" else aggregate(base, Interval.parse(iv), cal)
        if iv == "1d":  # daily history comes from the stored daily bars
            want = DataManager(DATA).read("AAPL", "1d", int(hist.ts[0]), int(hist.ts[-1]) + 1)
        np.testing.assert_array_equal(hist.ts, want.ts, err_msg=iv)
        np.testing.assert_array_equal(hist.close, want.close, err_msg=iv)
    assert len(coord.bars("AAPL", "1d")[0]) == data.history_days["1d"]
