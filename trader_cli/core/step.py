"""The minute step: one ordered list of stages applied to every symbol at once.

    [open: pre-session scanners, before a day's first minute] → feed → [match orders]
         → bars (and derived bars) → indicators → [mark to market] → [scanners due now]
         → [strategies] → events

A stage is a callable taking the ``Minute`` being stepped; later parts (the broker's order
matching, mark to market, scanners, strategies) are added to the list by name and position
(``MinuteStep.add``), not written into the engine. ``Replay`` owns the current session day: it
runs the step, and at a day's close rolls to the next day (the feed builds it, the finished
day joins history, the indicator records start a new day).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from trader_cli.core.errors import few
from trader_cli.core.feed import BarSource
from trader_cli.core.history import History
from trader_cli.core.intervals import BASE_1M, Interval
from trader_cli.core.replay import DayBook, Grid
from trader_cli.core.session import SessionData
from trader_cli.core.streams import IndicatorHub
from trader_cli.core.timeline import Timeline

# The order of the stages that exist; a stage added later names its place in it.
STAGE_ORDER = ("open", "feed", "match", "bars", "indicators", "mark", "scanners", "strategies", "events")


@dataclass
class Minute:
    """The minute being stepped: its row in the day book and the derived bars it completed."""

    book: DayBook
    row: int
    completed: list[tuple[Grid, int]] = field(default_factory=list)

    @property
    def start_ns(self) -> int:
        """Start time of the minute's bars (UTC ns)."""
        return self.book.open_ns + self.row * 60_000_000_000


Stage = Callable[[Minute], None]


class MinuteStep:
    """The stages of a minute, in STAGE_ORDER."""

    def __init__(self) -> None:
        self._stages: dict[str, Stage] = {}
        self._ordered: list[Stage] = []

    def add(self, name: str, stage: Stage) -> None:
        """Put a stage in its place (its name is one of STAGE_ORDER)."""
        if name not in STAGE_ORDER:
            raise ValueError(f"unknown stage '{name}' (stages: {', '.join(STAGE_ORDER)})")
        self._stages[name] = stage
        self._order()

    def remove(self, name: str) -> None:
        """Take a stage out (it is no longer needed)."""
        self._stages.pop(name, None)
        self._order()

    def _order(self) -> None:
        self._ordered = [self._stages[n] for n in STAGE_ORDER if n in self._stages]

    @property
    def names(self) -> list[str]:
        """The stages that run, in order."""
        return [n for n in STAGE_ORDER if n in self._stages]

    def run(self, book: DayBook) -> Minute:
        """Step minute ``book.cursor`` through every stage."""
        minute = Minute(book, book.cursor)
        for stage in self._ordered:
            stage(minute)
        return minute


class Replay:
    """The session day being replayed and the minute step over it (see the module doc)."""

    def __init__(
        self,
        timeline: Timeline,
        feed: BarSource,
        history: History,
        hub: IndicatorHub,
        session: SessionData,
        emit: Callable[[str, str], None],
        on_last_minute: Callable[[], None],
    ) -> None:
        self.timeline = timeline
        self.feed = feed
        self.history = history
        self.hub = hub
        self.session = session
        self.emit = emit
        self.on_last_minute = on_last_minute
        self.book: DayBook | None = None
        self.derived: set[Interval] = set()
        self.bars_replayed = 0
        self.days_without_data: dict[dt.date, list[str]] = {}
        self.step = MinuteStep()
        self.step.add("feed", lambda m: self.feed.next_minute(m.book))
        self.step.add("bars", self._bars)
        self.step.add("indicators", self._indicators)
        self.step.add("events", self._events)

    def reset(self, book: DayBook | None, derived: set[Interval]) -> None:
        """A new session at ``book``'s day (None: no session)."""
        self.book = book
        self.derived = set(derived)
        self.bars_replayed = 0
        self.days_without_data = {}

    def now_ns(self) -> int | None:
        """The simulated time: the end of the last minute that arrived (None: no session)."""
        return self.book.now_ns if self.book is not None else None

    def advance(self) -> int:
        """One minute for every symbol, or the roll to the next day; the minutes it moved
        (caller holds the symbol lock)."""
        book = self.book
        assert book is not None
        if book.done:
            self.roll()
            return 0
        self.step.run(book)
        return 1

    # -- the stages ---------------------------------------------------------------------------
    def _bars(self, minute: Minute) -> None:
        _, minute.completed = minute.book.step()

    def _indicators(self, minute: Minute) -> None:
        book = minute.book
        self.hub.on_bar(BASE_1M, book.base, minute.row)
        for g, j in minute.completed:
            self.hub.on_bar(g.interval, g, j)

    def _events(self, minute: Minute) -> None:
        book = minute.book
        self.bars_replayed += int(np.count_nonzero(~np.isnan(book.base.cols["close"][minute.row])))
        if not book.done:
            return
        missing = self._symbols_without_bars(book)
        note = ""
        if missing:
            self.days_without_data[book.day] = missing
            every = len(missing) == len(self.session.symbols)
            note = "; no bars for " + ("any symbol" if every else few(missing))
        self.emit("day_end", f"session day {book.day} closed ({self.timeline.label()}){note}")
        if self.timeline.is_last:
            self.on_last_minute()

    def _symbols_without_bars(self, book: DayBook) -> list[str]:
        """The session's symbols that had no bar at all on the book's day."""
        counts = np.count_nonzero(~np.isnan(book.base.cols["close"]), axis=0)
        return sorted(s for s, d in self.session.symbols.items() if d.lane < len(counts) and counts[d.lane] == 0)

    # -- the roll -------------------------------------------------------------------------------
    def roll(self) -> None:
        """Move to the next session day. The new day's book comes whole from the feed; only
        once it is built does the finished day join history and the new book get swapped in
        (readers without the lock never see half, and a failed roll can be retried)."""
        old = self.book
        assert old is not None
        pos = self.timeline.pos + 1
        lanes = {s: d.lane for s, d in self.session.symbols.items()}
        book = self.feed.next_book(pos, old.capacity, self.derived, lanes)
        self.history.add_day(self.timeline.pos, old)
        self.hub.roll_day(self.timeline.pos, {iv: len(g.ts) for iv, g in book.derived.items()} | {BASE_1M: book.n_min})
        self.timeline.pos = pos
        self.book = book
        self.emit("day_start", f"session day {book.day} ({self.timeline.label()})")

    def finished_summary(self, symbols: int, wall: float) -> str:
        """The end-of-backtest line: days, bars, symbols, speed, and the days without bars."""
        rate = self.bars_replayed / wall if wall else 0.0
        gaps = ""
        if self.days_without_data:
            gaps = f"; days without bars ({len(self.days_without_data)}): " + few(
                f"{d} ({'every symbol' if len(syms) == symbols else few(syms, limit=3)})"
                for d, syms in sorted(self.days_without_data.items())
            )
        return (
            f"{'live session' if self.feed.name == 'alpaca' else 'backtest'} finished: "
            f"{len(self.timeline.days)} day(s), {self.bars_replayed:,} bars, "
            f"{symbols} symbol(s), {wall:.2f} s replay, {rate:,.0f} bars/s{gaps}"
        )
