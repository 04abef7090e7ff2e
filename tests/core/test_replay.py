"""The replay: after it runs, session bars, derived bars and indicator values equal the batch
path over the store; an addition on a running clock never sees a bar at or after its time; adds
and removes from another thread neither drop nor duplicate a bar."""

from __future__ import annotations

import datetime as dt
import random
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from trader_cli.core.bars import Bars, aggregate, session_bars
from trader_cli.core.calendar import ny_dates, nyse, ordinal_to_date
from trader_cli.core.config import parse_config
from trader_cli.core.coordinator import SessionCoordinator
from trader_cli.core.export import build_export
from trader_cli.core.indicators import get_indicator
from trader_cli.core.intervals import Interval
from trader_cli.core.lifecycle import SessionState
from trader_cli.core.store import DataManager

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "data"
INDICATORS = [
    {"name": "sma", "params": [20], "interval": "5m"},
    {"name": "ema", "params": [10], "interval": "1m"},
    {"name": "rsi", "params": [14], "interval": "15m"},
    {"name": "vwap", "params": [], "interval": "1m"},
    {"name": "macd", "params": [], "interval": "1m"},
    {"name": "bbands", "params": [20, 2], "interval": "1h"},
]


def make(start: str, end: str, symbols: list[str], speed: float = 0) -> Any:
    return parse_config(
        {
            "name": "replay",
            "mode": "backtest",
            "backtest_config": {"start_date": start, "end_date": end, "speed_multiplier": speed},
            "session_data_config": {
                "symbols": symbols,
                "base_interval": "1m",
                "derived_intervals": ["5m", "15m", "1h"],
                "historical": {"trailing_days": 3},
                "indicators": INDICATORS,
            },
        }
    )


@pytest.fixture
def coord() -> Any:
    c = SessionCoordinator(DataManager)
    yield c
    c.shutdown()


def store_bars(sym: str, first: dt.date, last: dt.date, interval: str) -> Bars:
    """The batch path: regular-session bars of an interval straight from the store."""
    cal = nyse()
    o = cal.open_close(first)[0]
    c = cal.open_close(last)[1]
    base = session_bars(DataManager(DATA).read(sym, "1m", o, c), cal)
    return base if interval == "1m" else aggregate(base, Interval.parse(interval), cal)


def seed_start(coord: SessionCoordinator, sym: str, interval: str) -> dt.date:
    """First trading day of the history an indicator of the symbol was seeded from: the history
    depth of its interval (trailing days or its warmup, the larger) before the day it was added."""
    data = coord.session.symbols[sym]
    meta = data.metadata
    day = coord.days[0] if meta.added_at is None else ordinal_to_date(int(ny_dates(np.array([meta.added_at]))[0]))
    back = nyse().trading_days_back(day, data.history_days[interval])
    return back[0] if back else day


def check_against_batch(coord: SessionCoordinator, sym: str) -> None:
    data = coord.session.symbols[sym]
    day = coord.session_day
    for iv in data.intervals:
        _, today = coord.bars(sym, iv)
        want = store_bars(sym, day, day, iv)
        want = want.take(want.ts < coord.now_ns())
        if iv != "1m":  # only bars complete by now
            ends = np.minimum(want.ts + Interval.parse(iv).duration_ns, nyse().open_close(day)[1])
            want = want.take(ends <= coord.now_ns())
        for f in ("ts", "open", "high", "low", "close", "volume"):
            np.testing.assert_array_equal(getattr(today, f), getattr(want, f), err_msg=f"{sym} {iv} {f}")
    for key, slot in data.indicators.items():
        req = slot.request
        first = seed_start(coord, sym, req.interval.name)
        series = store_bars(sym, first, day, req.interval.name)
        series = series.take(series.ts < coord.now_ns())
        expect = get_indicator(req.name).batch(series, req.params)
        _, today = coord.bars(sym, req.interval.name)
        got = coord.engine.hub.today(key, data.lane, coord.engine.replay.book.expected_so_far(req.interval.name))
        g = coord.engine.replay.book.grid(req.interval.name)
        rows = np.searchsorted(g.ts, today.ts)
        idx = np.searchsorted(series.ts, today.ts)
        for out in expect:
            np.testing.assert_allclose(
                got[out][rows], expect[out][idx], rtol=1e-9, atol=1e-9, err_msg=f"{sym} {key} {out}"
            )


def test_full_replay_equals_batch_across_holiday_and_early_close(coord: SessionCoordinator) -> None:
    # 2024-11-27 .. 2024-12-02: Thanksgiving (no session) and the 11-29 early close (210 minutes).
    coord.start(make("2024-11-27", "2024-12-02", ["AAPL", "RIVN"]), DATA)
    assert coord.wait(timeout=60)
    assert coord.state is SessionState.finished
    assert coord.minutes_done == 390 + 210 + 390
    for sym in ("AAPL", "RIVN"):
        check_against_batch(coord, sym)
        hist, _ = coord.bars(sym, "1m")  # history rolled forward to the 3 days before 12-02
        np.testing.assert_array_equal(hist.ts, store_bars(sym, dt.date(2024, 11, 26), dt.date(2024, 11, 29), "1m").ts)


def test_early_close_day_has_short_last_bar(coord: SessionCoordinator) -> None:
    coord.start(make("2024-11-29", "2024-11-29", ["AAPL"]), DATA, paused=True)
    coord.advance(10_000)
    _, h1 = coord.bars("AAPL", "1h")
    assert [str(x)[11:16] for x in h1.ts.astype("datetime64[ns]")] == ["14:30", "15:30", "16:30", "17:30"]
    check_against_batch(coord, "AAPL")


def test_add_on_running_clock_has_no_look_ahead(coord: SessionCoordinator) -> None:
    coord.start(make("2024-12-02", "2024-12-02", ["AAPL"], speed=60), DATA, paused=True)
    coord.advance_to(coord.engine.replay.book.open_ns + 90 * 60 * 10**9)  # 11:00 New York
    coord.resume()
    coord.add("symbol", "TSLA", "strategy")
    snap = build_export(coord, with_bars=True)  # taken right after the add
    coord.pause()
    t = coord.session.symbols["TSLA"].metadata.added_at
    assert t is not None and t >= coord.engine.replay.book.open_ns + 90 * 60 * 10**9
    t_iso = np.datetime_as_string(np.datetime64(t, "ns"), unit="s") + "Z"
    for iv in snap["symbols"]["TSLA"]["intervals"].values():
        assert all(b["timestamp"] < t_iso for b in iv["bars"])
    for ind in snap["symbols"]["TSLA"]["indicators"].values():
        assert all(v["timestamp"] < t_iso for v in ind["values"])
    coord.advance(10_000)
    check_against_batch(coord, "TSLA")
    check_against_batch(coord, "AAPL")


def test_concurrent_adds_and_removes_drop_or_duplicate_nothing(coord: SessionCoordinator) -> None:
    coord.start(make("2024-12-02", "2024-12-03", ["AAPL", "RIVN"]), DATA, paused=True)
    rng = random.Random(5)
    pool = ["MSFT", "TSLA", "NVDA", "SPY", "AMD"]
    errors: list[BaseException] = []

    def churn() -> None:
        try:
            for _ in range(40):
                sym = rng.choice(pool)
                if sym in coord.session.symbols and rng.random() < 0.5:
                    coord.remove_symbol(sym)
                elif coord.state is SessionState.running:
                    kind = rng.choice(["symbol", "bar", "indicator"])
                    if kind == "symbol":
                        coord.add("symbol", sym, "strategy")
                    elif kind == "bar":
                        coord.add("bar", sym, "adhoc", interval="15m", days=2)
                    else:
                        coord.add("indicator", sym, "adhoc", indicator=("ema", ["10"], "5m"))
        except BaseException as err:
            errors.append(err)

    coord.resume()
    worker = threading.Thread(target=churn)
    worker.start()
    worker.join(timeout=120)
    assert coord.wait(timeout=120)
    assert not errors, errors
    for sym in coord.session.symbols:
        check_against_batch(coord, sym)


def test_lane_reused_after_remove_carries_nothing_of_the_old_symbol(coord: SessionCoordinator) -> None:
    coord.start(make("2024-12-02", "2024-12-04", ["AAPL"]), DATA, paused=True)
    coord.add("symbol", "TSLA", "strategy")
    lane = coord.session.symbols["TSLA"].lane
    coord.advance(390 + 60)  # into the second day: TSLA's first day is in the replayed history
    coord.remove_symbol("TSLA")
    coord.add("symbol", "NVDA", "strategy")
    assert coord.session.symbols["NVDA"].lane == lane  # the freed lane is reused
    coord.advance(390)  # and across another day roll
    for sym in ("AAPL", "NVDA"):
        check_against_batch(coord, sym)
        for iv in ("1m", "5m"):
            hist, _ = coord.bars(sym, iv)
            first = nyse().trading_days_back(coord.session_day, coord.session.symbols[sym].history_days[iv])[0]
            want = store_bars(sym, first, nyse().trading_days_back(coord.session_day, 1)[0], iv)
            np.testing.assert_array_equal(hist.close, want.close, err_msg=f"{sym} {iv} history")


def test_add_at_the_close_before_the_roll(coord: SessionCoordinator) -> None:
    coord.start(make("2024-12-02", "2024-12-03", ["AAPL"]), DATA, paused=True)
    coord.advance(390)  # every minute of the first day has arrived; the roll comes with the next step
    assert coord.engine.replay.book.done
    coord.add("indicator", "MSFT", "adhoc", indicator=("ema", ["10"], "5m"))
    _, today = coord.bars("MSFT", "1m")
    assert len(today) == 390
    coord.advance(120)
    check_against_batch(coord, "MSFT")
    check_against_batch(coord, "AAPL")


def test_indicator_values_follow_their_bank_lanes_after_a_removal(coord: SessionCoordinator) -> None:
    # ema_10_1m ends up on replay lanes 0 and 1 with bank lanes 2 and 1 (bank lane 0 freed):
    # the values recorded each minute must land on each symbol's own bank lane.
    cfg = make("2024-12-02", "2024-12-03", ["AAPL", "MSFT"])
    coord.start(cfg, DATA, paused=True)
    coord.add("symbol", "NVDA", "strategy")
    for sym in ("NVDA", "MSFT", "AAPL"):
        coord.add("indicator", sym, "adhoc", indicator=("ema", ["7"], "1m"))
    coord.remove_symbol("NVDA")
    stream = coord.engine.hub.streams["ema_7_1m"]
    assert sorted(stream.members.items()) == [(0, 2), (1, 1)]
    coord.advance(390 + 45)
    for sym in ("AAPL", "MSFT"):
        check_against_batch(coord, sym)
