"""The bar source behind the minute step.

``BarSource`` is what the engine asks of wherever bars come from: coverage (for validation),
history windows (for provisioning), the book of each session day and the next minute's bars for
every lane. ``ParquetFeed`` serves a backtest from the store; the live source (Alpaca's stream)
implements the same protocol.

The Parquet read-ahead: reading one day for every symbol costs one file read per symbol,
whatever the number of days in it, so bars are read ``FEED_DAYS`` days at a time in one read
per symbol, at the roll into the next window (the first day comes with the history read at
provisioning). Each day read goes straight into its book's 1m grid (no per-symbol copies are
kept). Measured on 2 cores: reading in a background thread cost more than it hid (the reader
and the replay fight for the GIL).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from typing import Any, Protocol

import numpy as np

from trader_cli.core.bars import Bars
from trader_cli.core.calendar import MarketCalendar
from trader_cli.core.errors import TraderCliError
from trader_cli.core.intervals import BASE_1M, Interval
from trader_cli.core.replay import DayBook
from trader_cli.core.store import DataManager
from trader_cli.core.timeline import Timeline

FEED_DAYS = 2  # days read at a time per symbol (memory: one day's 1m grid per day read ahead)
READ_BATCH = 64  # symbols whose read bars are put into the day grids in one go


class BarSource(Protocol):
    """Where a session's bars come from (see the module doc)."""

    name: str  # "parquet" in a backtest, "alpaca" live: what validation reports as the source
    where: str  # for messages: "in data/" (the store's folder), "on Alpaca (iex feed)"

    def intervals_for(self, symbol: str) -> list[str]:
        """Intervals the source holds for a symbol (shortest first; empty: it has none)."""
        ...

    def universe(self, interval: Interval) -> list[str]:
        """Every symbol the source holds bars of ``interval`` for (what scanners look over)."""
        ...

    def has_bars(self, symbol: str, interval: Interval, start_ns: int, end_ns: int) -> bool:
        """True when the source holds a bar of ``interval`` in [start, end) (cheap)."""
        ...

    def days_with_bars(self, symbol: str, interval: Interval, days: list[dt.date]) -> list[dt.date]:
        """Which of ``days`` have at least one bar (cheap)."""
        ...

    def span_text(self, symbol: str) -> str:
        """What the source holds for a symbol, for messages ("1m 2024-11-01..2024-12-31")."""
        ...

    def read(self, symbol: str, interval: Interval, start_ns: int | None, end_ns: int | None) -> Bars:
        """Bars with start <= ts < end (history windows)."""
        ...

    def read_through(self, symbol: str, start_ns: int) -> Bars:
        """A symbol's 1m bars from ``start_ns`` to the end of what the feed holds now (history,
        today and the days read ahead), in one read: provisioning splits it."""
        ...

    def join(self, lane: int, bars: Bars, symbol: str) -> None:
        """A symbol joins the session at ``lane``: its bars of the days read ahead (``bars`` from
        read_through; a live source subscribes it)."""
        ...

    def leave(self, lane: int) -> None:
        """A symbol left the session: forget its lane in the days read ahead."""
        ...

    def next_book(self, pos: int, capacity: int, derived: Iterable[Interval], lanes: dict[str, int]) -> DayBook:
        """Day ``pos``'s book with every lane's bars known for it (``lanes``: symbol -> lane)."""
        ...

    def next_minute(self, book: DayBook) -> None:
        """Make the bars of minute ``book.cursor`` available in the book (a backtest's book holds
        the whole day already; a live source waits for the minute to close)."""
        ...

    def reset(self) -> None:
        """Forget everything read (a new session)."""
        ...

    def live_counts(self) -> dict[str, Any] | None:
        """A live source's stream figures for the status (``queries.LiveStatus``); None in a backtest."""
        ...

    def revised_bars(self) -> list[tuple[str, int, float, float, float, float, float]]:
        """A live stream's corrections of closed minutes, kept and never re-stepped: (symbol, bar
        start UTC ns, open, high, low, close, volume) in arrival order; none in a backtest."""
        ...


class ParquetFeed:
    """A backtest's bar source: the Parquet store, read ahead by day (see the module doc)."""

    name = "parquet"

    def __init__(
        self, store: DataManager, calendar: MarketCalendar, timeline: Timeline, on_error: Callable[[str], None]
    ) -> None:
        self.store = store
        self.where = f"in {store.data_dir}"
        self.calendar = calendar
        self.timeline = timeline
        self.on_error = on_error
        self._ahead: dict[int, DayBook] = {}  # day position -> that day's book, read ahead

    # -- coverage ----------------------------------------------------------------------------
    def intervals_for(self, symbol: str) -> list[str]:
        """Intervals stored for a symbol."""
        return self.store.intervals_for(symbol)

    def universe(self, interval: Interval) -> list[str]:
        """The stored symbols with a file of ``interval``."""
        return self.store.symbols(interval)

    def has_bars(self, symbol: str, interval: Interval, start_ns: int, end_ns: int) -> bool:
        """A row group of the stored file overlaps [start, end) (footer only)."""
        return self.store.overlaps(symbol, interval, start_ns, end_ns)

    def days_with_bars(self, symbol: str, interval: Interval, days: list[dt.date]) -> list[dt.date]:
        """Days whose session has a stored row group (footer only: 1m row groups are days)."""
        if not days:
            return []
        spans = np.array([self.calendar.open_close(d) for d in days], dtype=np.int64)
        have = self.store.spans_with_bars(symbol, interval, spans[:, 0], spans[:, 1])
        return [d for d, ok in zip(days, have.tolist(), strict=True) if ok]

    def span_text(self, symbol: str) -> str:
        """'1d 2024-01-02..2024-12-31, 1m 2024-11-01..2024-12-31'."""
        from trader_cli.core.calendar import to_ny

        return ", ".join(
            f"{c.interval} {to_ny(c.first_ns):%Y-%m-%d}..{to_ny(c.last_ns):%Y-%m-%d}"
            for c in self.store.coverage(symbol)
            if c.rows
        )

    # -- reading -------------------------------------------------------------------------------
    def read(self, symbol: str, interval: Interval, start_ns: int | None, end_ns: int | None) -> Bars:
        """A window of stored bars."""
        return self.store.read(symbol, interval, start_ns, end_ns)

    def read_through(self, symbol: str, start_ns: int) -> Bars:
        """1m bars from ``start_ns`` through the last day read so far (today or read ahead)."""
        last = max(self._ahead, default=self.timeline.pos)
        return self.store.read(symbol, BASE_1M, start_ns, self.calendar.open_close(self.timeline.days[last])[1])

    def join(self, lane: int, bars: Bars, symbol: str) -> None:
        """Put a new symbol's bars into the books read ahead."""
        for b in self._ahead.values():
            b.fill_lane(lane, bars.window(b.open_ns, b.close_ns))

    def leave(self, lane: int) -> None:
        """Clear a lane in the books read ahead."""
        for b in self._ahead.values():
            b.clear_lane(lane)

    def next_minute(self, book: DayBook) -> None:
        """Nothing to do: a backtest's book holds its whole day (the cursor hides the future)."""

    def reset(self) -> None:
        """Drop the books read ahead."""
        self._ahead = {}

    def live_counts(self) -> dict[str, Any] | None:
        """No stream in a backtest."""
        return None

    def revised_bars(self) -> list[tuple[str, int, float, float, float, float, float]]:
        """No stream in a backtest."""
        return []

    def next_book(self, pos: int, capacity: int, derived: Iterable[Interval], lanes: dict[str, int]) -> DayBook:
        """Day ``pos``'s book, reading the next window first when that day has not been read."""
        book = self._ahead.pop(pos, None)
        if book is None:
            self._read_window(pos, capacity, lanes)
            book = self._ahead.pop(pos)
        book.ensure_capacity(capacity)
        for iv in sorted(derived):
            book.add_derived(iv)
        return book

    def _read_window(self, first: int, capacity: int, lanes: dict[str, int]) -> None:
        """Every symbol's bars of days ``first`` .. ``first + FEED_DAYS - 1``, one read each,
        into new books for those days. A symbol whose bars cannot be read gets empty lanes for
        the days and an error (quality shows the missing days)."""
        days = self.timeline.days
        last = min(first + FEED_DAYS - 1, len(days) - 1)
        books = [DayBook(self.calendar, days[p], [], capacity) for p in range(first, last + 1)]
        o, c = books[0].open_ns, books[-1].close_ns
        items = list(lanes.items())
        span = f"{books[0].day}" + (f"..{books[-1].day}" if len(books) > 1 else "")
        for a in range(0, len(items), READ_BATCH):  # one read-and-check per batch of files
            chunk = dict(items[a : a + READ_BATCH])
            try:
                got = self.store.read_batch(list(chunk), BASE_1M, o, c)
            except TraderCliError as err:  # the store itself (a journal it cannot settle)
                for symbol in chunk:
                    self.on_error(f"{symbol}: no bars for {span}: {err}")
                continue
            for symbol, why in got.refused.items():
                self._day_by_day(symbol, chunk[symbol], books, why)
            if got.symbols:
                lane_of = np.repeat(np.array([chunk[s] for s in got.symbols], dtype=np.int64), got.sizes)
                for b in books:
                    b.fill_fresh(lane_of, got.bars)
        self._ahead.update({first + i: b for i, b in enumerate(books)})

    def _day_by_day(self, symbol: str, lane: int, books: list[DayBook], why: object) -> None:
        """A symbol whose window of days could not be read, read a day at a time: a damaged day
        is that day's error and an empty lane, not its neighbours' too."""
        if len(books) == 1:
            self.on_error(f"{symbol}: no bars for {books[0].day}: {why}")
            return
        for b in books:
            try:
                bars = self.store.read(symbol, BASE_1M, b.open_ns, b.close_ns)
            except TraderCliError as err:
                self.on_error(f"{symbol}: no bars for {b.day}: {err}")
                continue
            b.fill_lane(lane, bars, fresh=True)
