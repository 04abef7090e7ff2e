"""The replay book: one trading day's bars for every symbol, cross-sectionally.

Each symbol is a *lane* (a column). The day's 1m bars sit in (minutes × lanes) arrays per field,
NaN where a symbol has no bar; ``cursor`` counts the minutes that have arrived, and nothing at or
after the cursor is ever visible. One ``step()`` applies one minute to every lane at once and
completes derived bars (5m, 15m, …) at their boundaries, vectorised across lanes, so the cost of
a minute does not grow with a Python loop over symbols.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np

from trader_cli.core.bars import OPEN_AFTER_MIDNIGHT_NS, Bars, aggregate
from trader_cli.core.calendar import NS_PER_MINUTE, MarketCalendar
from trader_cli.core.intervals import BASE_1M, Interval

PRICE_FIELDS = ("open", "high", "low", "close", "volume")


def bar_slots(interval: Interval, open_ns: int, n_min: int) -> tuple[int, np.ndarray, np.ndarray, np.ndarray]:
    """The bars of ``interval`` in a session of ``n_min`` minutes opening at ``open_ns``: base
    minutes per bar, each bar's first minute row and one past its last, and its start time (UTC
    ns; a daily bar is stamped at the day's New York midnight)."""
    m = n_min if interval.is_daily else interval.seconds // 60
    starts = np.arange(0, n_min, m)
    ends = np.minimum(starts + m, n_min)
    if interval.is_daily:
        ts = np.array([open_ns - OPEN_AFTER_MIDNIGHT_NS], dtype=np.int64)
    else:
        ts = open_ns + starts.astype(np.int64) * NS_PER_MINUTE
    return m, starts, ends, ts


@dataclass
class Grid:
    """Bars of one interval for one day: (bars × lanes) arrays, NaN where there is no bar."""

    interval: Interval
    minutes: int  # base minutes per bar
    starts: np.ndarray  # first minute row of each bar
    ends: np.ndarray  # one past the last minute row of each bar
    ts: np.ndarray  # bar start times (UTC ns)
    cols: dict[str, np.ndarray] = field(default_factory=dict)
    completed: int = 0

    @classmethod
    def build(cls, interval: Interval, open_ns: int, n_min: int, capacity: int) -> Grid:
        """An empty grid for a session of ``n_min`` minutes."""
        m, starts, ends, ts = bar_slots(interval, open_ns, n_min)
        cols = {f: np.full((len(starts), capacity), np.nan) for f in PRICE_FIELDS}
        return cls(interval, m, starts, ends, ts, cols)

    def grow(self, capacity: int) -> None:
        """Widen every array to ``capacity`` lanes."""
        for f, a in self.cols.items():
            wide = np.full((a.shape[0], capacity), np.nan)
            wide[:, : a.shape[1]] = a
            self.cols[f] = wide

    def lane_bars(self, lane: int, rows: int) -> Bars:
        """The lane's bars among the first ``rows`` rows (missing ones left out)."""
        close = self.cols["close"][:rows, lane]
        have = ~np.isnan(close)
        return Bars(self.ts[:rows][have], *(self.cols[f][:rows, lane][have] for f in PRICE_FIELDS))

    def count(self, lane: int, rows: int) -> int:
        """How many bars the lane has among the first ``rows`` rows."""
        return int(np.count_nonzero(~np.isnan(self.cols["close"][:rows, lane])))


class DayBook:
    """One session day for every lane: the base 1m grid plus derived grids (see module doc)."""

    def __init__(self, calendar: MarketCalendar, day: dt.date, derived: list[Interval], capacity: int) -> None:
        self.calendar = calendar
        self.day = day
        self.open_ns, self.close_ns = calendar.open_close(day)
        self.n_min = (self.close_ns - self.open_ns) // NS_PER_MINUTE
        self.capacity = max(1, capacity)
        self.base = Grid.build(BASE_1M, self.open_ns, self.n_min, self.capacity)
        self.derived: dict[Interval, Grid] = {
            iv: Grid.build(iv, self.open_ns, self.n_min, self.capacity) for iv in derived
        }
        self.cursor = 0
        # Minute row -> derived grids whose bar completes with that minute.
        self._completes: dict[int, list[tuple[Grid, int]]] = {}
        for g in self.derived.values():
            for j, end in enumerate(g.ends.tolist()):
                self._completes.setdefault(end - 1, []).append((g, j))

    # -- lanes ---------------------------------------------------------------------------
    def ensure_capacity(self, lanes: int) -> None:
        """Make room for lane indexes below ``lanes``."""
        if lanes <= self.capacity:
            return
        cap = max(lanes, int(self.capacity * 1.5) + 1)
        self.base.grow(cap)
        for g in self.derived.values():
            g.grow(cap)
        self.capacity = cap

    def add_derived(self, interval: Interval) -> Grid:
        """Add a derived interval (completed bars are computed for the minutes already passed)."""
        if interval in self.derived:
            return self.derived[interval]
        g = Grid.build(interval, self.open_ns, self.n_min, self.capacity)
        self.derived[interval] = g
        for j, end in enumerate(g.ends.tolist()):
            self._completes.setdefault(end - 1, []).append((g, j))
        done = int(np.searchsorted(g.ends, self.cursor, "right"))
        for j in range(done):
            self._complete(g, j)
        g.completed = done
        return g

    def fill_lane(self, lane: int, bars: Bars, fresh: bool = False) -> None:
        """Put a symbol's bars of this day into its lane (regular-session 1m bars only) and
        compute its derived bars for the windows already completed (``fresh``: the lane is
        known to be empty)."""
        self.ensure_capacity(lane + 1)
        if not fresh:
            self.clear_lane(lane)
        if len(bars):
            rows = (bars.ts - self.open_ns) // NS_PER_MINUTE
            ok = (rows >= 0) & (rows < self.n_min) & ((bars.ts - self.open_ns) % NS_PER_MINUTE == 0)
            rows = rows[ok]
            for f in PRICE_FIELDS:
                self.base.cols[f][rows, lane] = getattr(bars, f)[ok]
        for g in self.derived.values():
            if not g.completed:
                continue
            passed = self.base.lane_bars(lane, self.cursor)
            agg = aggregate(passed, g.interval, self.calendar)
            done = g.completed
            j = np.searchsorted(g.ts, agg.ts)
            keep = j < done
            for f in PRICE_FIELDS:
                g.cols[f][j[keep], lane] = getattr(agg, f)[keep]

    def fill_fresh(self, lanes: np.ndarray, bars: Bars) -> None:
        """Put many symbols' bars into a book no minute has reached yet (its lanes empty):
        ``bars`` is every symbol's bars one after another, ``lanes`` each bar's lane; bars
        outside this session day are left out. One scatter per field, whatever the number of
        symbols."""
        assert self.cursor == 0, "fill_fresh is for a day that has not started"
        if not len(bars):
            return
        self.ensure_capacity(int(lanes.max()) + 1)
        off = bars.ts - self.open_ns
        rows = off // NS_PER_MINUTE
        ok = (rows >= 0) & (rows < self.n_min) & (off % NS_PER_MINUTE == 0)
        rows, lanes = rows[ok], lanes[ok]
        for f in PRICE_FIELDS:
            self.base.cols[f][rows, lanes] = getattr(bars, f)[ok]

    def clear_lane(self, lane: int) -> None:
        """Forget a lane's bars (the symbol was removed or the lane is reused)."""
        if lane >= self.capacity:
            return
        for grid in (self.base, *self.derived.values()):
            for a in grid.cols.values():
                a[:, lane] = np.nan

    # -- time ----------------------------------------------------------------------------
    @property
    def now_ns(self) -> int:
        """Simulated time: the end of the last minute that has arrived."""
        return self.open_ns + self.cursor * NS_PER_MINUTE

    @property
    def done(self) -> bool:
        """True once every minute of the session has arrived."""
        return self.cursor >= self.n_min

    def step(self) -> tuple[int, list[tuple[Grid, int]]]:
        """Let the next minute arrive for every lane; returns its row and the derived bars it
        completed (grid, bar index)."""
        k = self.cursor
        self.cursor = k + 1
        completed = self._completes.get(k, [])
        for g, j in completed:
            self._complete(g, j)
            g.completed = j + 1
        return k, completed

    def _complete(self, g: Grid, j: int) -> None:
        a, b = int(g.starts[j]), int(g.ends[j])
        c = self.base.cols
        if b - a == 1:
            for f in PRICE_FIELDS:
                g.cols[f][j] = c[f][a]
            return
        high = c["high"][a:b]
        have = ~np.isnan(high)
        anyb = have.any(axis=0)
        first = np.argmax(have, axis=0)
        last = (b - a - 1) - np.argmax(have[::-1], axis=0)
        lanes = np.arange(self.capacity)
        with np.errstate(invalid="ignore"):
            g.cols["high"][j] = np.where(anyb, np.fmax.reduce(high, axis=0), np.nan)
            g.cols["low"][j] = np.where(anyb, np.fmin.reduce(c["low"][a:b], axis=0), np.nan)
            g.cols["volume"][j] = np.where(anyb, np.nansum(c["volume"][a:b], axis=0), np.nan)
        g.cols["open"][j] = np.where(anyb, c["open"][a:b][first, lanes], np.nan)
        g.cols["close"][j] = np.where(anyb, c["close"][a:b][last, lanes], np.nan)

    def build_derived(self, interval: Interval) -> Grid:
        """A derived grid of a finished day built from its 1m grid, not kept in the book."""
        assert self.done and self.base.cols, "only a finished day with its 1m grid builds derived grids"
        g = Grid.build(interval, self.open_ns, self.n_min, self.capacity)
        for j in range(len(g.ts)):
            self._complete(g, j)
        g.completed = len(g.ts)
        return g

    def lane_derived(self, interval: Interval, lane: int) -> Bars:
        """One lane's bars of a derived interval worked out from its 1m bars alone, as the
        day's whole grid (``build_derived``) would hold them, bit for bit: a finished day's
        history read for one symbol costs its own minutes, not every lane's."""
        assert self.done and self.base.cols, "only a finished day with its 1m grid builds derived bars"
        m, starts, ends, ts = bar_slots(interval, self.open_ns, self.n_min)
        c = {f: self.base.cols[f][: self.n_min, lane] for f in PRICE_FIELDS}
        have = ~np.isnan(c["high"])
        at = np.logical_or.reduceat(have, starts)  # the bars the lane has
        if not at.any():
            return Bars.empty()
        rows = np.arange(self.n_min)
        first = np.minimum.reduceat(np.where(have, rows, self.n_min), starts)
        last = np.maximum.reduceat(np.where(have, rows, -1), starts)
        with np.errstate(invalid="ignore"):
            high, low = np.fmax.reduceat(c["high"], starts), np.fmin.reduceat(c["low"], starts)
        volume = np.empty(len(starts))
        whole = len(starts) if ends[-1] - starts[-1] == m else len(starts) - 1  # a short last bar apart
        if whole:
            volume[:whole] = self._summed(c["volume"][: whole * m].reshape(whole, m).T)
        if whole < len(starts):
            volume[whole:] = self._summed(c["volume"][starts[-1] :].reshape(-1, 1))
        return Bars(ts[at], c["open"][first[at]], high[at], low[at], c["close"][last[at]], volume[at])

    def lane_present(self, interval: Interval, lane: int) -> np.ndarray:
        """Which bars of a derived interval one lane has (a bool a bar slot), from its 1m bars."""
        starts = bar_slots(interval, self.open_ns, self.n_min)[1]
        present: np.ndarray = np.logical_or.reduceat(~np.isnan(self.base.cols["high"][: self.n_min, lane]), starts)
        return present

    def _summed(self, minutes: np.ndarray) -> np.ndarray:
        """Each column's minutes summed (NaN as 0) in the order ``_complete`` sums a bar's rows
        for every lane: a (minutes × lanes) C-ordered array reduced down its rows, so a volume
        that is not a whole number comes out the same to the last bit."""
        k = minutes.shape[1]
        if self.capacity == 1:  # the grid's one column is reduced as a line (pairwise): each column so
            lines: np.ndarray = np.nansum(np.ascontiguousarray(minutes.T), axis=1)
            return lines
        block = np.zeros((minutes.shape[0], max(k, 2)))  # one column alone would be reduced as a line
        block[:, :k] = minutes
        out: np.ndarray = np.nansum(block, axis=0)[:k]
        return out

    def has(self, interval: str) -> bool:
        """True when the book holds bars of ``interval`` (see ``keep_only``)."""
        return bool(self.base.cols) if interval == "1m" else interval in self.derived

    def keep_only(self, intervals: set[str]) -> None:
        """A finished day kept as history: let go of the grids of every other interval."""
        assert self.done, "only a finished day lets go of grids"
        if "1m" not in intervals:
            self.base.cols = {}
        for name in [n for n in self.derived if n not in intervals]:
            del self.derived[name]

    # -- reading -------------------------------------------------------------------------
    def grid(self, interval: Interval) -> Grid:
        """The grid of an interval (``1m`` is the base)."""
        return self.base if interval == "1m" else self.derived[interval]

    def session_bars(self, lane: int, interval: Interval) -> Bars:
        """The lane's bars of ``interval`` that have completed by now (never later ones)."""
        g = self.grid(interval)
        return g.lane_bars(lane, self._rows(g))

    def _rows(self, g: Grid) -> int:
        """The rows of a grid that have completed by now."""
        return self.cursor if g is self.base else g.completed

    def session_count(self, lane: int, interval: Interval) -> int:
        """How many bars of ``interval`` the lane holds so far today."""
        g = self.grid(interval)
        return g.count(lane, self._rows(g))

    def expected_so_far(self, interval: Interval) -> int:
        """Bars of ``interval`` the calendar expects by now today."""
        g = self.grid(interval)
        return self.cursor if g is self.base else g.completed

    def nbytes(self) -> int:
        """Bytes held by the grids."""
        return sum(a.nbytes for g in (self.base, *self.derived.values()) for a in g.cols.values())
