"""Write the synthetic sample bar store shipped in ``data/``.

    python scripts/make_sample_data.py [--out data] [--seed 7]

Twelve symbols, regular-session 1m bars for every NYSE trading day 2024-11-01 .. 2024-12-31 (the
real calendar: Thanksgiving has no bars, 2024-11-29 and 2024-12-24 close at 13:00), and 1d bars
from 2024-01-02: the daily bars of November and December are the aggregation of the 1m bars,
the earlier ones a daily random walk ending where November starts. The prices are made up
(a geometric random walk from a start near each symbol's late-2024 level); they are not real.

Deterministic: each symbol draws from its own generator seeded with zlib.crc32 of its name and
``--seed`` (never Python's ``hash()``, which changes per process), so a rerun writes the same bars.
Everything goes through the store's own API (``DataManager.write_many``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from trader_cli.core.bars import OPEN_AFTER_MIDNIGHT_NS, Bars, aggregate
from trader_cli.core.calendar import NS_PER_MINUTE, MarketCalendar, nyse
from trader_cli.core.intervals import Interval
from trader_cli.core.store import DataManager

MINUTES_START = dt.date(2024, 11, 1)
MINUTES_END = dt.date(2024, 12, 31)
DAILY_START = dt.date(2024, 1, 2)
MINUTES_PER_YEAR = 252 * 390
THIN_SYMBOL = "RIVN"
THIN_DROP_FRACTION = 0.03


@dataclass(frozen=True)
class Profile:
    """How one synthetic symbol behaves: start price, annual volatility, shares per day."""

    price: float
    volatility: float
    daily_volume: float


PROFILES: dict[str, Profile] = {
    "AAPL": Profile(222.0, 0.22, 45e6),
    "MSFT": Profile(410.0, 0.22, 20e6),
    "TSLA": Profile(250.0, 0.60, 90e6),
    "RIVN": Profile(10.0, 0.70, 35e6),
    "NVDA": Profile(135.0, 0.50, 220e6),
    "SPY": Profile(570.0, 0.13, 45e6),
    "AMZN": Profile(197.0, 0.30, 40e6),
    "GOOGL": Profile(171.0, 0.28, 25e6),
    "META": Profile(567.0, 0.35, 12e6),
    "AMD": Profile(144.0, 0.45, 35e6),
    "JPM": Profile(222.0, 0.22, 9e6),
    "QQQ": Profile(487.0, 0.17, 30e6),
}


def source_label(seed: int) -> str:
    """The source shown by ``data list`` for bars this script wrote."""
    return f"synthetic sample (scripts/make_sample_data.py, seed {seed})"


def rng_for(symbol: str, seed: int, stream: int) -> np.random.Generator:
    """A generator that depends only on the symbol's name, the seed and the stream number."""
    return np.random.default_rng([zlib.crc32(symbol.encode("ascii")), seed, stream])


def _ohlc(opens: np.ndarray, closes: np.ndarray, wick: np.ndarray) -> tuple[np.ndarray, ...]:
    """Cent-rounded OHLC with wicks outside the body, so low <= open, close <= high always."""
    o = np.round(opens, 2)
    c = np.round(closes, 2)
    high = np.maximum(np.ceil(np.maximum(o, c) * (1 + wick) * 100) / 100, np.maximum(o, c))
    low = np.minimum(np.floor(np.minimum(o, c) * (1 - wick) * 100) / 100, np.minimum(o, c))
    return o, high, np.maximum(low, 0.01), c


def _volume_shape(n: int) -> np.ndarray:
    """Relative volume through a session: high at the open, dips at midday, rises into the close."""
    x = np.linspace(0.0, 1.0, n)
    return 1.0 + 3.0 * (1.0 - x) ** 8 + 2.0 * x**10


def minute_bars(symbol: str, seed: int, calendar: MarketCalendar) -> Bars:
    """Regular-session 1m bars of one symbol for every trading day of the sample."""
    prof = PROFILES[symbol]
    rng = rng_for(symbol, seed, 0)
    sigma = prof.volatility / np.sqrt(MINUTES_PER_YEAR)
    gap_sigma = prof.volatility / np.sqrt(252) * 0.5
    price = prof.price
    parts = []
    for day in calendar.trading_days(MINUTES_START, MINUTES_END):
        open_ns, close_ns = calendar.open_close(day)
        n = (close_ns - open_ns) // NS_PER_MINUTE
        if day != MINUTES_START:  # the overnight gap; the sample starts at the profile's price
            price *= float(np.exp(rng.normal(0.0, gap_sigma)))
        path = price * np.exp(np.cumsum(rng.normal(0.0, sigma, n)))
        opens = np.r_[price, path[:-1]]
        wick = np.abs(rng.normal(0.0, sigma * 0.6, n))
        o, h, lo, c = _ohlc(opens, path, wick)
        expected = prof.daily_volume / 390 * _volume_shape(n) / 1.6
        volume = np.maximum(1.0, np.round(expected * rng.lognormal(0.0, 0.35, n)))
        ts = open_ns + np.arange(n, dtype=np.int64) * NS_PER_MINUTE
        bars = Bars(ts, o, h, lo, c, volume)
        if symbol == THIN_SYMBOL:
            keep = rng.random(n) >= THIN_DROP_FRACTION
            keep[0] = True  # a thin symbol still prints at the open
            bars = bars.take(keep)
        parts.append(bars)
        price = float(c[-1])
    return Bars.concat(parts)


def early_daily_bars(symbol: str, seed: int, first_open: float, calendar: MarketCalendar) -> Bars:
    """Daily bars from DAILY_START to the day before the sample, walked backwards from its open."""
    prof = PROFILES[symbol]
    rng = rng_for(symbol, seed, 1)
    days = calendar.trading_days(DAILY_START, MINUTES_START - dt.timedelta(days=1))
    n = len(days)
    sigma = prof.volatility / np.sqrt(252)
    gaps = rng.normal(0.0, sigma * 0.5, n)  # gaps[i]: from day i's close to the next open
    moves = rng.normal(0.0, sigma * 0.85, n)  # moves[i]: from day i's open to its close
    closes = np.empty(n)
    opens = np.empty(n)
    nxt = first_open
    for i in range(n - 1, -1, -1):
        closes[i] = nxt / np.exp(gaps[i])
        opens[i] = closes[i] / np.exp(moves[i])
        nxt = opens[i]
    wick = np.abs(rng.normal(0.0, sigma * 0.5, n))
    o, h, lo, c = _ohlc(opens, closes, wick)
    volume = np.round(prof.daily_volume * rng.lognormal(0.0, 0.3, n))
    opens_ns = np.array([calendar.open_close(d)[0] for d in days], dtype=np.int64)
    ts = opens_ns - OPEN_AFTER_MIDNIGHT_NS  # daily bars are stamped at New York midnight
    return Bars(ts, o, h, lo, c, volume)


def build(symbols: list[str], seed: int, calendar: MarketCalendar) -> tuple[dict[str, Bars], dict[str, Bars]]:
    """The 1m and 1d bars of every symbol (nothing is written)."""
    daily_iv = Interval.parse("1d")
    minutes: dict[str, Bars] = {}
    daily: dict[str, Bars] = {}
    for sym in symbols:
        m = minute_bars(sym, seed, calendar)
        early = early_daily_bars(sym, seed, float(m.open[0]), calendar)
        minutes[sym] = m
        daily[sym] = Bars.concat([early, aggregate(m, daily_iv, calendar)])
    return minutes, daily


def write_sample(out: Path, seed: int, symbols: list[str] | None = None) -> dict[str, int]:
    """Write the sample into the store at ``out``; returns 1m rows per symbol. A rerun replaces
    the sample's time range, so it leaves the same bars."""
    calendar = nyse()
    minutes, daily = build(symbols or list(PROFILES), seed, calendar)
    store = DataManager(out)
    label = source_label(seed)
    counts = store.write_many(minutes, "1m", source=label)
    store.write_many(daily, "1d", source=label)
    return counts


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="data", help="data dir to write into (default: data)")
    parser.add_argument("--seed", type=int, default=7, help="random seed (default: 7)")
    args = parser.parse_args(argv)
    counts = write_sample(Path(args.out), args.seed)
    print(f"wrote {sum(counts.values())} 1m bars for {len(counts)} symbols into {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
