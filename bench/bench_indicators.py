"""Indicator benchmarks: batch throughput on a year of 1m bars, bank update cost per bar
(500 lanes per call and 1 lane), seed time for 10k bars, and running-sum drift over 100k updates.

Run alone with ``python bench/bench_indicators.py`` or through ``python bench/run.py``.
Targets (brief of issue 3): batch >= 50 M bars/s for sma/ema; bank update <= 2 us per bar per
indicator with 500 lanes; seed < 1 ms for 10k bars; drift well within 1e-9.
"""

from __future__ import annotations

import datetime as dt
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _util import Row, median_seconds, print_rows, progress

from trader_cli.core.bars import Bars
from trader_cli.core.calendar import NS_PER_MINUTE, nyse
from trader_cli.core.indicators import IndicatorBank, get_indicator, indicator_names

BATCH_RUNS = 7
BANK_RUNS = 7
LANES = 500
STEPS_MANY = 200  # update calls per timed run with 500 lanes
STEPS_ONE = 1000  # update calls per timed run with 1 lane
SEED_BARS = 10_000
DRIFT_BARS = 100_000
YEAR = (dt.date(2024, 1, 1), dt.date(2024, 12, 31))


def year_of_1m_bars(seed: int = 1) -> Bars:
    """Every regular-session minute of 2024 on the NYSE calendar (early closes short): a
    cent-rounded random walk around 100."""
    cal = nyse()
    sessions = [cal.open_close(day) for day in cal.trading_days(*YEAR)]
    ts = np.concatenate(
        [start + np.arange((end - start) // NS_PER_MINUTE) * NS_PER_MINUTE for start, end in sessions]
    ).astype(np.int64)
    return random_walk(ts, seed)


def random_walk(ts: np.ndarray, seed: int) -> Bars:
    """OHLCV bars on the given times."""
    rng = np.random.default_rng(seed)
    n = len(ts)
    close = np.round(100 * np.exp(np.cumsum(rng.normal(0, 1e-3, n))), 2)
    open_ = np.r_[close[0], close[:-1]]
    high = np.maximum(open_, close) + rng.integers(0, 5, n) / 100
    low = np.minimum(open_, close) - rng.integers(0, 5, n) / 100
    return Bars(ts, open_, high, low, close, rng.integers(100, 10_000, n).astype(np.float64))


def batch_rows(bars: Bars) -> list[Row]:
    """Batch throughput per indicator (default params), median of BATCH_RUNS."""
    rows: list[Row] = []
    for name in indicator_names():
        ind = get_indicator(name)
        ind.batch(bars)  # warm caches
        secs = median_seconds(lambda ind=ind: ind.batch(bars), BATCH_RUNS)
        rows.append((f"batch {name}, 1 year of 1m ({len(bars):,} bars)", len(bars) / secs / 1e6, "M bars/s"))
    return rows


def _lane_grid(lanes: int, steps: int) -> list[np.ndarray]:
    """Per step and lane: ts, open, high, low, close, volume (steps x lanes each)."""
    rng = np.random.default_rng(5)
    close = np.round(100 * np.exp(np.cumsum(rng.normal(0, 1e-3, (steps, lanes)), axis=0)), 2)
    open_ = np.vstack([close[:1], close[:-1]])
    high = np.maximum(open_, close) + 0.02
    low = np.minimum(open_, close) - 0.02
    ts = np.broadcast_to(
        (1_704_205_800 + 60 * np.arange(steps, dtype=np.int64))[:, None] * 10**9, (steps, lanes)
    ).copy()
    volume = rng.integers(100, 10_000, (steps, lanes)).astype(np.float64)
    return [ts, open_, high, low, close, volume]


def _seeded_bank(name: str, lanes: int, history: Bars) -> IndicatorBank:
    bank = get_indicator(name).new_bank(capacity=lanes)
    for _ in range(lanes):
        bank.seed(bank.add_lane(), history)  # past warmup: time the steady state
    return bank


def bank_rows(lanes: int, steps: int, history: Bars) -> list[Row]:
    """Update cost per bar per indicator with ``lanes`` lanes updated per call."""
    grid = _lane_grid(lanes, steps)
    index = np.arange(lanes)
    rows: list[Row] = []
    for name in indicator_names():
        bank = _seeded_bank(name, lanes, history)

        def run(bank: IndicatorBank = bank) -> None:
            for i in range(steps):
                bank.update(index, *(g[i] for g in grid))

        secs = median_seconds(run, BANK_RUNS)
        rows.append(
            (f"bank update {name}, {lanes} lane{'s' if lanes > 1 else ''}/call", secs / (steps * lanes) * 1e9, "ns/bar")
        )
    return rows


def seed_rows(bars: Bars) -> list[Row]:
    """Time to seed one lane from 10k bars."""
    history = bars.slice(0, SEED_BARS)
    rows: list[Row] = []
    for name in indicator_names():
        bank = get_indicator(name).new_bank()
        lane = bank.add_lane()
        secs = median_seconds(lambda b=bank, ln=lane: b.seed(ln, history), BATCH_RUNS)
        rows.append((f"seed {name}, {SEED_BARS:,} bars", secs * 1e3, "ms"))
    return rows


def drift_rows(bars: Bars) -> list[Row]:
    """Largest relative difference bank vs batch over 100k bar-by-bar updates (running sums)."""
    series = bars.slice(0, DRIFT_BARS)
    rows: list[Row] = []
    for name in ("sma", "wma", "bbands"):
        ind = get_indicator(name)
        batch = ind.batch(series)
        bank = ind.new_bank(capacity=1)
        lane = np.array([bank.add_lane()])
        worst = 0.0
        for i in range(len(series)):
            bank.update(
                lane, series.ts[i], series.open[i], series.high[i], series.low[i], series.close[i], series.volume[i]
            )
            if i % 97 == 0 or i == len(series) - 1:
                got = bank.latest(0)
                if got is not None:
                    err = max(abs(got[k] - batch[k][i]) / abs(batch[k][i]) for k in got)
                    worst = max(worst, err)
        rows.append((f"drift {name}, {len(series):,} updates (max rel vs batch)", worst * 1e12, "x 1e-12"))
    return rows


def main() -> list[Row]:
    """Every indicator benchmark row: (label, median, unit)."""
    t0 = time.perf_counter()
    bars = year_of_1m_bars()
    progress(f"batch over {len(bars):,} bars")
    rows = batch_rows(bars)
    history = bars.slice(0, 500)
    progress(f"bank updates, {LANES} lanes")
    rows += bank_rows(LANES, STEPS_MANY, history)
    progress("bank updates, 1 lane")
    rows += bank_rows(1, STEPS_ONE, history)
    progress("seeding")
    rows += seed_rows(bars)
    progress("drift")
    rows += drift_rows(bars)
    progress(f"done in {time.perf_counter() - t0:.1f} s")
    return rows


if __name__ == "__main__":
    print_rows(main(), "indicators")
