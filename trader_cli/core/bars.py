"""Columnar bar series and aggregation of base bars into derived bars.

A bar is stamped with its start time (UTC ns). Derived bars are built inside one regular
session, aligned to the session open; they never span sessions, the last bar of an early close
is short, and a window with no base bars yields no bar (nothing is forward-filled).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from trader_cli.core.calendar import MarketCalendar
from trader_cli.core.intervals import Interval

FIELDS = ("ts", "open", "high", "low", "close", "volume")
OPEN_AFTER_MIDNIGHT_NS = (9 * 3600 + 30 * 60) * 1_000_000_000


@dataclass(frozen=True)
class Bars:
    """A series of bars as parallel numpy arrays (ts int64 UTC ns; prices and volume float64)."""

    ts: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray

    @classmethod
    def empty(cls) -> Bars:
        """A series with no bars."""
        f = np.empty(0, dtype=np.float64)
        return cls(np.empty(0, dtype=np.int64), f, f.copy(), f.copy(), f.copy(), f.copy())

    @classmethod
    def concat(cls, parts: list[Bars], copy: bool = False) -> Bars:
        """Bars of several series one after another (callers keep them in time order);
        ``copy`` always returns fresh arrays (never a view that keeps a larger array alive)."""
        parts = [p for p in parts if len(p)]
        if not parts:
            return cls.empty()
        if len(parts) == 1 and not copy:
            return parts[0]
        return cls(*(np.concatenate([getattr(p, f) for p in parts]) for f in FIELDS))

    def __len__(self) -> int:
        return int(self.ts.shape[0])

    def slice(self, start: int, stop: int | None = None) -> Bars:
        """Bars ``start:stop`` (views, no copy)."""
        return Bars(*(getattr(self, f)[start:stop] for f in FIELDS))

    def take(self, mask_or_index: np.ndarray) -> Bars:
        """The bars selected by a boolean mask or an index array."""
        return Bars(*(getattr(self, f)[mask_or_index] for f in FIELDS))

    def copy(self) -> Bars:
        """The same bars in arrays of their own (a view no longer keeps a larger buffer alive)."""
        return Bars(*(np.array(getattr(self, f)) for f in FIELDS))

    def before(self, ts_ns: int) -> Bars:
        """Bars that start strictly before ``ts_ns``."""
        return self.slice(0, int(np.searchsorted(self.ts, ts_ns, "left")))

    def window(self, start_ns: int, end_ns: int) -> Bars:
        """Bars with start_ns <= ts < end_ns."""
        lo = int(np.searchsorted(self.ts, start_ns, "left"))
        hi = int(np.searchsorted(self.ts, end_ns, "left"))
        return self.slice(lo, hi)

    def nbytes(self) -> int:
        """Bytes held by the arrays."""
        return sum(int(getattr(self, f).nbytes) for f in FIELDS)


def session_bars(bars: Bars, calendar: MarketCalendar) -> Bars:
    """Only the bars inside a regular session (extended-hours bars are dropped)."""
    if not len(bars):
        return bars
    _, inside = calendar.session_of(bars.ts)
    return bars if bool(inside.all()) else bars.take(inside)


def aggregate(base: Bars, interval: Interval, calendar: MarketCalendar) -> Bars:
    """Derived bars of ``interval`` from sorted base bars, session by session (see module doc)."""
    if not len(base):
        return Bars.empty()
    if interval.is_daily and len(base) > 1 and int(np.min(np.diff(base.ts))) >= 20 * 3_600_000_000_000:
        return base  # already daily bars (stamped at midnight, outside any session)
    day_idx, inside = calendar.session_of(base.ts)
    if not bool(inside.all()):
        base = base.take(inside)
        day_idx = day_idx[inside]
        if not len(base):
            return Bars.empty()
    opens = calendar.schedule.opens[day_idx]
    bucket = np.zeros(len(base), dtype=np.int64) if interval.is_daily else (base.ts - opens) // interval.duration_ns
    key = day_idx.astype(np.int64) * 1_000_000 + bucket
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    ends = np.r_[starts[1:], len(base)] - 1
    if interval.is_daily:
        # Daily bars are stamped at New York midnight of the trading date (as vendors do);
        # the NYSE always opens at 09:30 local time.
        ts = opens[starts] - OPEN_AFTER_MIDNIGHT_NS
    else:
        ts = opens[starts] + bucket[starts] * interval.duration_ns
    return Bars(
        ts=ts.astype(np.int64),
        open=base.open[starts],
        high=np.maximum.reduceat(base.high, starts),
        low=np.minimum.reduceat(base.low, starts),
        close=base.close[ends],
        volume=np.add.reduceat(base.volume, starts),
    )
