"""The backtest's timeline: its trading days on the real calendar, the position in them, the
history cutoffs, the bar slots of a day, and where ``time advance``/``time until`` go."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import numpy as np

from trader_cli.core.bars import OPEN_AFTER_MIDNIGHT_NS
from trader_cli.core.calendar import NS_PER_MINUTE, MarketCalendar
from trader_cli.core.errors import SessionStateError
from trader_cli.core.intervals import Interval
from trader_cli.core.replay import bar_slots

if TYPE_CHECKING:
    from trader_cli.core.replay import DayBook

END_OF_TIME = 2**63 - 1


class Timeline:
    """The trading days of one backtest and which of them is being replayed."""

    def __init__(self, calendar: MarketCalendar) -> None:
        self.calendar = calendar
        self.days: list[dt.date] = []
        self.pos = 0
        self.total_minutes = 0
        self._cutoffs: dict[tuple[dt.date, int, str], int] = {}
        self._slots: dict[tuple[str, dt.date], np.ndarray] = {}

    def start(self, days: list[dt.date]) -> None:
        """A new backtest over ``days`` (trading days, in order), at the first."""
        self.days, self.pos = list(days), 0
        self.total_minutes = sum(self.calendar.expected_bars(d, "1m") for d in days)

    @property
    def day(self) -> dt.date:
        """The trading day being replayed."""
        return self.days[self.pos]

    @property
    def is_last(self) -> bool:
        """True on the backtest's last day."""
        return self.pos + 1 >= len(self.days)

    def label(self) -> str:
        """'2 of 5': the day's place in the backtest."""
        return f"{self.pos + 1} of {len(self.days)}"

    # -- history and bar slots --------------------------------------------------------------
    def cutoff(self, day: dt.date, depth: int, interval: Interval) -> int:
        """Earliest bar start kept for ``depth`` trading days of history before ``day``."""
        key = (day, depth, interval.name)
        hit = self._cutoffs.get(key)
        if hit is None:
            back = self.calendar.trading_days_back(day, depth) if depth else []
            if not back:
                hit = self.calendar.open_close(day)[0]
            else:
                first_open = self.calendar.open_close(back[0])[0]
                hit = first_open - OPEN_AFTER_MIDNIGHT_NS if interval.is_daily else first_open
            self._cutoffs[key] = hit
        return hit

    def slot_ts(self, interval: Interval, day: dt.date) -> np.ndarray:
        """Bar start times of ``interval`` on ``day`` (one array shared by every symbol)."""
        key = (interval.name, day)
        ts = self._slots.get(key)
        if ts is None:
            o, c = self.calendar.open_close(day)
            ts = self._slots[key] = bar_slots(interval, o, (c - o) // NS_PER_MINUTE)[3]
        return ts

    # -- where the clock goes -----------------------------------------------------------------
    def open_of(self, pos: int) -> int:
        """Open of backtest day ``pos`` (past the last day: no open, so the end of time)."""
        if pos >= len(self.days):
            return END_OF_TIME
        return self.calendar.open_close(self.days[pos])[0]

    def bound(self, pos: int, which: int) -> int:
        """Open (0) or close (1) of backtest day ``pos``; SessionStateError past the last day."""
        if pos >= len(self.days):
            raise SessionStateError(
                f"the backtest ends with the session of {self.days[-1]} (system wait or time advance runs to its end)"
            )
        return self.calendar.open_close(self.days[pos])[which]

    def session_target(self, book: DayBook, sessions: int) -> int:
        """Where ``time advance N session(s)`` goes: the same time of day N sessions on (that
        session's close when it closes earlier), or, from a close, the open N sessions on; the
        backtest's last close when that is beyond it."""
        pos = self.pos + sessions
        if pos >= len(self.days):
            return self.calendar.open_close(self.days[-1])[1]
        o, c = self.calendar.open_close(self.days[pos])
        if book.done:
            return o
        return min(c, o + (book.now_ns - book.open_ns))

    def named_target(self, book: DayBook, name: str) -> int:
        """``open`` (the next session open after now), ``close`` (the next close) or
        ``next-open`` (the open of the session after the current one)."""
        nxt = self.pos + 1
        if name == "close":
            return book.close_ns if not book.done else self.bound(nxt, 1)
        if name == "open" and book.cursor == 0:
            raise SessionStateError(
                f"already at the open of {book.day} (time until next-open goes to the next session's open)"
            )
        return self.bound(nxt, 0)
