"""Trailing history and the whole run.

A symbol's history has two parts: the blocks read from the store at provisioning (the trading
days before the day it joined, one ``DayBlock`` per interval and day, kept for the whole run; a
later addition that needs more puts older days in front, never replacing what is held) and the
session days replayed since it joined, whose books are kept here, every one of them
(the whole-run series). Finished books keep only their 1m grid; a derived interval of a past
day is worked out from it when read: for one symbol from its own minutes (``day_bars``,
``present``: what every symbol's table or export reads), for every lane at once when a whole
grid is asked for (``grid``, the last few cached), so a past bar costs its five numbers once.

``window`` is the trailing history an indicator or a table sees (the config's trailing days
before the session day); ``whole`` is everything since the first history bar (exports, charts).
"""

from __future__ import annotations

import datetime as dt
from collections import OrderedDict

import numpy as np

from trader_cli.core.bars import Bars
from trader_cli.core.intervals import BASE_1M, Interval
from trader_cli.core.replay import DayBook, Grid
from trader_cli.core.session import DayBlock, SymbolSessionData
from trader_cli.core.timeline import Timeline

DERIVED_CACHE = 16  # past days' derived grids kept built (each is bars × lanes × 5 floats)


class History:
    """Past session days (every one, 1m grids) and reads of a symbol's history."""

    def __init__(self, timeline: Timeline) -> None:
        self.timeline = timeline
        self.past: list[tuple[int, DayBook]] = []  # (backtest day position, finished book)
        self._derived: OrderedDict[tuple[int, str], Grid] = OrderedDict()

    def clear(self) -> None:
        """A new session: no past days."""
        self.past = []
        self._derived.clear()

    def add_day(self, pos: int, book: DayBook) -> None:
        """A finished session day joins the past (its derived grids are let go)."""
        book.keep_only({BASE_1M})
        self.past.append((pos, book))

    def grid(self, pos: int, book: DayBook, interval: Interval) -> Grid:
        """A past day's grid of ``interval`` (derived ones rebuilt from 1m, cached)."""
        if interval == BASE_1M or book.has(interval):
            return book.grid(interval)
        key = (pos, interval.name)
        hit = self._derived.get(key)
        if hit is None:
            hit = self._derived[key] = book.build_derived(interval)
            if len(self._derived) > DERIVED_CACHE:
                self._derived.popitem(last=False)
        else:
            self._derived.move_to_end(key)
        return hit

    def day_bars(self, pos: int, book: DayBook, lane: int, interval: Interval) -> Bars:
        """One lane's bars of a past day (a derived interval not built: worked out for the lane
        alone, so reading every symbol's history costs each its own minutes)."""
        if self._built(pos, book, interval):
            g = self.grid(pos, book, interval)
            return g.lane_bars(lane, len(g.ts))
        return book.lane_derived(interval, lane)

    def present(self, pos: int, book: DayBook, lane: int, interval: Interval) -> np.ndarray:
        """Which of a past day's bars of ``interval`` the lane has (one bool a bar slot)."""
        if self._built(pos, book, interval):
            built: np.ndarray = ~np.isnan(self.grid(pos, book, interval).cols["close"][:, lane])
            return built
        return book.lane_present(interval, lane)

    def _built(self, pos: int, book: DayBook, interval: Interval) -> bool:
        return interval == BASE_1M or book.has(interval) or (pos, interval.name) in self._derived

    def window(self, data: SymbolSessionData, interval: Interval, day: dt.date) -> Bars:
        """The symbol's trailing history of ``interval`` before ``day``: its trailing days of
        loaded blocks and replayed days (the config's window, or its indicators')."""
        cut = self.timeline.cutoff(day, data.history_days.get(interval, 0), interval)
        parts = [b.bars(cut if b.ts[0] < cut else None) for b in data.loaded.get(interval, []) if b.last_ns >= cut]
        recent = []
        for pos, book in reversed(self.past):
            if pos < data.since_pos or book.close_ns <= cut:
                break
            recent.append(self.day_bars(pos, book, data.lane, interval))
        return Bars.concat(parts + recent[::-1])

    def window_count(self, data: SymbolSessionData, interval: Interval, day: dt.date) -> int:
        """``len(window(...))`` without building the bars (a table's counts of every symbol)."""
        cut = self.timeline.cutoff(day, data.history_days.get(interval, 0), interval)
        n = 0
        for b in data.loaded.get(interval, []):
            if b.last_ns >= cut:
                ts = b.present_ts()
                n += len(ts) - int(np.searchsorted(ts, cut)) if b.ts[0] < cut else len(ts)
        for pos, book in reversed(self.past):
            if pos < data.since_pos or book.close_ns <= cut:
                break
            n += int(np.count_nonzero(self.present(pos, book, data.lane, interval)))
        return n

    def whole(self, data: SymbolSessionData, interval: Interval) -> Bars:
        """Every bar of ``interval`` the symbol held before today: all its loaded blocks and
        every day replayed since it joined."""
        parts = [b.bars() for b in data.loaded.get(interval, [])]
        parts += [self.day_bars(pos, book, data.lane, interval) for pos, book in self.past if pos >= data.since_pos]
        return Bars.concat(parts)

    def whole_ts(self, data: SymbolSessionData, interval: Interval) -> np.ndarray:
        """The bar start times of ``whole`` (quality needs no prices)."""
        parts = [b.present_ts() for b in data.loaded.get(interval, [])]
        for pos, book in self.past:
            if pos >= data.since_pos:
                parts.append(self.timeline.slot_ts(interval, book.day)[self.present(pos, book, data.lane, interval)])
        return np.concatenate(parts) if parts else np.empty(0, dtype=np.int64)

    def blocks(self, bars: Bars, interval: Interval, days: list[dt.date]) -> list[DayBlock]:
        """``bars`` of the trading ``days`` (oldest first) as a block per day (days without a
        bar are left out)."""
        if not len(bars) or not days:
            return []
        slots = [self.timeline.slot_ts(interval, d) for d in days]
        every = np.concatenate(slots)
        if len(every) == len(bars) and np.array_equal(every, bars.ts):  # every bar there: one array, cut by day
            values = np.vstack((bars.open, bars.high, bars.low, bars.close, bars.volume))
            cuts = np.cumsum([0, *(len(t) for t in slots)]).tolist()
            # a copy per day, so a day that leaves the window is freed on its own
            return [
                DayBlock(d, ts, values[:, cuts[i] : cuts[i + 1]].copy())
                for i, (d, ts) in enumerate(zip(days, slots, strict=True))
            ]
        bounds = np.searchsorted(bars.ts, [int(t[0]) for t in slots] + [2**63 - 1]).tolist()
        return [
            DayBlock.of(d, ts, bars.slice(bounds[i], bounds[i + 1]))
            for i, (d, ts) in enumerate(zip(days, slots, strict=True))
            if bounds[i + 1] > bounds[i]
        ]
