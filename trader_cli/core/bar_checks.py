"""The content rules of a stored bar series, checked by CSV import, by every store write and by
every store read (a file another tool wrote is not trusted).

    ts       strictly increasing (a read finds it sorted; import sorts and refuses duplicates)
             on the interval's grid: an intraday bar starts on a multiple of its length from a
             whole UTC hour (the clock grid vendors use), or, for 1h bars, from the half hour
             (the session grid of the 09:30 open: 09:30, 10:30, ...); a daily bar starts at New
             York midnight of its trading date
    prices   open, high, low, close finite, 0 <= price <= MAX_PRICE
    volume   finite, 0 <= volume <= MAX_VOLUME
    shape    high >= low, low <= open <= high, low <= close <= high

The value range: MAX_PRICE = 1e7 is ten times the dearest US share (BRK.A, under 1e6) and far
above any coin priced in dollars; tokens priced in millionths are fine (only negatives are
refused). MAX_VOLUME = 1e15 allows a day of a token that trades trillions of units a day (1e13
and more) with room to spare. Both keep every sum, average and price x volume product an
aggregate or indicator forms (a year of minutes: ~1e5 bars) finite in float64, where 1e308
values overflow to inf.
"""

from __future__ import annotations

import numpy as np

from trader_cli.core.bars import Bars
from trader_cli.core.calendar import NS_PER_DAY, ny_dates
from trader_cli.core.intervals import Interval

MAX_PRICE = 1e7
MAX_VOLUME = 1e15
PRICES = ("open", "high", "low", "close")
HALF_HOUR_NS = 1800 * 1_000_000_000

Problem = tuple[int, str]  # (row, reason)


def ny_midnight(ts: np.ndarray) -> np.ndarray:
    """UTC ns of New York midnight of the New York date of each timestamp."""
    import pyarrow as pa
    import pyarrow.compute as pc

    naive = pa.array(ny_dates(ts) * NS_PER_DAY, pa.timestamp("ns"))
    local = pc.assume_timezone(naive, timezone="America/New_York")
    return np.asarray(local.cast(pa.int64()).to_numpy(zero_copy_only=False), dtype=np.int64)


def grid_problems(ts: np.ndarray, interval: Interval) -> list[Problem]:
    """Rows whose start time is off the interval's grid (see the module doc)."""
    if not len(ts):
        return []
    if interval.is_daily:
        bad = np.flatnonzero(ny_midnight(ts) != ts)
        why = "timestamp is not at New York midnight (a daily bar is stamped with its trading date)"
    else:
        bad = np.flatnonzero(_off_grid(ts, interval))
        why = f"timestamp is not on a {interval.name} boundary"
    return [(int(i), why) for i in bad]


def _off_grid(ts: np.ndarray, interval: Interval) -> np.ndarray:
    """Intraday bars off both the clock grid and the half-hour session grid."""
    dur = interval.duration_ns
    rest: np.ndarray = ts - (ts // dur) * dur  # numpy divides by a scalar faster than it takes %
    half = HALF_HOUR_NS % interval.duration_ns
    off: np.ndarray = rest != 0
    return off if half == 0 else off & (rest != half)


def value_problems(bars: Bars) -> list[Problem]:
    """Every (row, reason) of a value breaking the price, volume or shape rules."""
    problems: list[Problem] = []
    for name in (*PRICES, "volume"):
        col = getattr(bars, name)
        limit = MAX_VOLUME if name == "volume" else MAX_PRICE
        finite = np.isfinite(col)
        problems += [(int(i), f"{name} is NaN or infinite") for i in np.flatnonzero(~finite)]
        problems += [(int(i), f"{name} is negative") for i in np.flatnonzero(finite & (col < 0))]
        problems += [
            (int(i), f"{name} {_full(col[i])} is above the limit {limit:g}")
            for i in np.flatnonzero(finite & (col > limit))
        ]
    h, lo = bars.high, bars.low
    problems += [(int(i), f"high {_full(h[i])} < low {_full(lo[i])}") for i in np.flatnonzero(h < lo)]
    for name in ("open", "close"):
        col = getattr(bars, name)
        outside = np.flatnonzero((h >= lo) & ((col > h) | (col < lo)))
        problems += [
            (int(i), f"{name} {_full(col[i])} outside low..high {_full(lo[i])}..{_full(h[i])}") for i in outside
        ]
    return problems


def _full(x: float) -> str:
    """A value in full (the shortest text that reads back as it: ``:g`` made 1220.124 < 1220.125
    read "high 1220.12 < low 1220.12")."""
    text = repr(float(x))
    return text.removesuffix(".0")


def order_problem(ts: np.ndarray) -> Problem | None:
    """The first row whose start time is not after the one before it, or None."""
    if len(ts) < 2:
        return None
    steps = np.diff(ts)
    if int(steps.min()) > 0:
        return None
    return int(np.argmax(steps <= 0)) + 1, "ts not strictly increasing"


def first_problem(bars: Bars, interval: Interval) -> Problem | None:
    """The first row (and why) breaking a rule, or None. A sound series costs one pass per
    column and a few reductions (NaN fails every comparison, so it fails the same test)."""
    order = order_problem(bars.ts)
    on_grid = interval.is_daily or not np.any(_off_grid(bars.ts, interval))
    if order is None and on_grid and _values_sound(bars):
        if not interval.is_daily:
            return None
        daily = grid_problems(bars.ts, interval)
        return daily[0] if daily else None
    found = value_problems(bars) + grid_problems(bars.ts, interval) + ([order] if order else [])
    return min(found, key=lambda p: p[0]) if found else None  # the first row; its first rule


def batch_sound(bars: Bars, bounds: list[int], interval: Interval) -> bool:
    """True when every rule holds for several series one after another (``bounds``: where each
    starts, and the end): one pass per column for all of them; False means check each alone."""
    ts = bars.ts
    if len(ts) > 1:
        steps = np.diff(ts)
        cut = np.asarray(bounds[1:-1], dtype=np.int64) - 1  # a series' first step is not a step
        cut = cut[(cut >= 0) & (cut < len(steps))]
        steps[cut] = 1
        if int(steps.min()) <= 0:
            return False
    if interval.is_daily or np.any(_off_grid(ts, interval)):
        return False
    return _values_sound(bars)


def _values_sound(bars: Bars) -> bool:
    """True when every price and volume rule holds (fast path: no per-row reasons)."""
    if not len(bars):
        return True
    o, h, lo, c, v = bars.open, bars.high, bars.low, bars.close, bars.volume
    # low <= open <= high and low <= close <= high imply high >= low, so low >= 0 and
    # high <= MAX_PRICE bound all four; NaN fails every comparison (and makes min/max NaN).
    return bool(
        lo.min() >= 0
        and h.max() <= MAX_PRICE
        and ((lo <= o) & (o <= h) & (lo <= c) & (c <= h)).all()
        and v.min() >= 0
        and v.max() <= MAX_VOLUME
    )
