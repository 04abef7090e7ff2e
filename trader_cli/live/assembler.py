"""The minute assembler of a live session: streamed 1m bars in, closed minutes out, in order.

Alpaca streams a minute's bar for each symbol shortly after the minute ends, symbol by symbol,
sometimes late, sometimes never (no trade in that minute), sometimes corrected afterwards
(``updatedBars``). The minute step needs whole minutes, each exactly once, in time order. The
assembler closes minute T (the bar starting at T) when

- every subscribed symbol has reported a bar for T, or
- the live clock has passed T + 60 s + ``grace`` (the symbols without a bar have none for T:
  the session shows them missing, never filled),

whichever comes first; then T + 60 s is the next minute to close. A bar for a minute already
closed is counted per symbol (``late``) and dropped — the session never re-steps a minute; an
updated bar is kept as a revision (``revisions``) and reported, never re-stepped either. A bar
repeated for a minute still open keeps the first (``duplicates`` counts the others). A bar of a
minute outside the session's regular hours (Alpaca streams the extended hours too) is counted
(``outside``) and left: it is neither late nor a minute of the session. A symbol
joins at the next minute to close (a mid-session add), and leaves at once.

Thread-safe: the stream's thread calls ``add``, the session's clock thread ``wait_next`` /
``close_next`` (the feed asks REST for what a minute closed without).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

MINUTE_NS = 60_000_000_000


class StreamBar(NamedTuple):
    """One streamed 1m bar (prices as Alpaca sends them); a tuple: hundreds arrive a minute."""

    symbol: str
    ts_ns: int  # the minute's start (UTC ns)
    open: float
    high: float
    low: float
    close: float
    volume: float


@dataclass
class ClosedMinute:
    """A minute ready for the step: its start and the bars that came for it (by symbol)."""

    ts_ns: int
    bars: dict[str, StreamBar]
    by_timeout: bool  # closed when the clock passed it + grace (some symbols had no bar)
    expected: frozenset[str] = frozenset()  # the symbols it waited for


@dataclass
class AssemblerCounts:
    """What the assembler saw besides closed minutes (for ``data quality`` and the status)."""

    late: dict[str, int] = field(default_factory=dict)  # bars for minutes already closed
    duplicates: dict[str, int] = field(default_factory=dict)  # repeated bars for open minutes
    unknown: int = 0  # bars for symbols not subscribed
    outside: int = 0  # bars of minutes outside the regular session (extended hours)
    revisions: list[StreamBar] = field(default_factory=list)  # updatedBars: corrections of closed minutes


class MinuteAssembler:
    """See the module doc. ``next_ns``: the first minute to close (a minute boundary);
    ``hours``: the regular session's [open, close) (None: every minute counts)."""

    def __init__(self, symbols: set[str], next_ns: int, grace_ns: int, hours: tuple[int, int] | None = None) -> None:
        if next_ns % MINUTE_NS:
            raise ValueError("next_ns must be a minute boundary")
        self._lo, self._hi = hours if hours is not None else (-(2**63), 2**63 - 1)
        self._symbols = set(symbols)
        self._joining: dict[str, int] = {}  # symbol -> first minute it counts in
        self.next_ns = next_ns
        self.grace_ns = grace_ns
        self._pending: dict[int, dict[str, StreamBar]] = {}
        self.counts = AssemblerCounts()
        self._lock = threading.Lock()  # never re-entered: a plain lock is cheaper
        self._cv = threading.Condition(self._lock)

    # -- the stream's side ---------------------------------------------------------------------
    def add(self, bar: StreamBar, updated: bool = False) -> None:
        """A bar from the stream (``updated``: an ``updatedBars`` correction)."""
        self.add_many([bar], updated)

    def add_many(self, bars: list[StreamBar], updated: bool = False) -> None:
        """The bars of one stream message, in order (``updated``: ``updatedBars`` corrections).
        Hundreds come at once each minute: the lock is taken once, the usual bar (the minute
        to close next, a subscribed symbol) takes the short way, and the clock's side is woken
        only when the minute it waits for may be whole."""
        with self._lock:
            nxt, symbols, pending = self.next_ns, self._symbols, self._pending
            usual = not updated and self._lo <= nxt < self._hi
            slot = pending.get(nxt)
            for bar in bars:
                sym = bar[0]
                if usual and bar[1] == nxt and sym in symbols:
                    if slot is None:
                        slot = pending[nxt] = {}
                    elif sym in slot:
                        self.counts.duplicates[sym] = self.counts.duplicates.get(sym, 0) + 1
                        continue
                    slot[sym] = bar
                else:
                    self._add_other(bar, updated)
                    slot = pending.get(nxt)
            if slot is not None and len(slot) >= len(symbols):  # may be whole: look
                self._cv.notify_all()

    def _add_other(self, bar: StreamBar, updated: bool) -> None:
        """A bar off the short way (lock held): a later minute's, a joining symbol's, or one
        only counted (see ``_for_open_minute``)."""
        sym, ts = bar[0], bar[1]
        if not self._for_open_minute(sym, ts, bar, updated):
            return
        slot = self._pending.get(ts)
        if slot is None:
            slot = self._pending[ts] = {}
        elif sym in slot:
            self.counts.duplicates[sym] = self.counts.duplicates.get(sym, 0) + 1
            return
        slot[sym] = bar

    def _for_open_minute(self, sym: str, ts: int, bar: StreamBar, updated: bool) -> bool:
        """True for a bar of a minute still open (a later one, or a joining symbol's); the
        others counted (lock held): an unknown symbol, outside the hours, a revision, late."""
        joining = self._joining
        if sym not in self._symbols and sym not in joining:
            self.counts.unknown += 1
        elif not self._lo <= ts < self._hi:
            self.counts.outside += 1
        elif updated:
            self.counts.revisions.append(bar)
        elif ts < self.next_ns or (joining and ts < joining.get(sym, 0)):
            self.counts.late[sym] = self.counts.late.get(sym, 0) + 1
        else:
            return True
        return False

    # -- symbols ---------------------------------------------------------------------------------
    def join(self, symbol: str, after: int = 0) -> int:
        """A symbol added mid-session: it counts from the next minute to close, or from ``after``
        when that is later (the minutes before it come from elsewhere: REST); that minute returned."""
        with self._cv:
            at = self._joining[symbol] = max(self.next_ns, after)
            return at

    def leave(self, symbol: str) -> None:
        """A symbol removed: it no longer holds a minute open."""
        with self._cv:
            self._symbols.discard(symbol)
            self._joining.pop(symbol, None)
            self._cv.notify_all()

    def skip_to(self, ns: int) -> None:
        """Before the first close: start at minute ``ns`` instead (the minutes before it come
        from elsewhere: REST); bars already in for them are let go, not counted late."""
        with self._cv:
            if ns <= self.next_ns:
                return
            for ts in [t for t in self._pending if t < ns]:
                del self._pending[ts]
            self.next_ns = ns

    # -- the clock's side --------------------------------------------------------------------------
    def _expected(self) -> set[str]:
        return self._symbols | {s for s, t in self._joining.items() if t <= self.next_ns}

    def ready(self, now_ns: int) -> bool:
        """True when the next minute can close now."""
        with self._cv:
            return self._ready(now_ns)

    def _ready(self, now_ns: int) -> bool:
        have = self._pending.get(self.next_ns, {})
        if self._expected() <= have.keys():
            return True
        return now_ns >= self.next_ns + MINUTE_NS + self.grace_ns

    def close_next(self, now_ns: int) -> ClosedMinute:
        """Close the next minute (call when ``ready``): its bars; the one after becomes next."""
        with self._cv:
            return self._close_next()

    def _close_next(self) -> ClosedMinute:
        """``close_next`` with the lock held by the caller."""
        t = self.next_ns
        bars = self._pending.pop(t, {})
        expected = frozenset(self._expected())
        by_timeout = not expected <= bars.keys()
        self.next_ns = t + MINUTE_NS
        for sym, start in list(self._joining.items()):
            if start <= t:
                self._symbols.add(sym)
                del self._joining[sym]
        for late_ts in [ts for ts in self._pending if ts < self.next_ns]:  # cannot happen; be sure
            for sym in self._pending.pop(late_ts):
                self.counts.late[sym] = self.counts.late.get(sym, 0) + 1
        return ClosedMinute(t, bars, by_timeout, expected)

    def wait_next(self, now: Callable[[], int], timeout_s: float, ns_per_s: float) -> ClosedMinute | None:
        """Block until the next minute can close (bars in, or its deadline on the live clock
        ``now``), at most ``timeout_s`` wall seconds; the closed minute, or None on timeout.
        ``ns_per_s``: live-clock nanoseconds a wall second (the clock's speed × 1e9)."""
        import time

        end = time.monotonic() + timeout_s
        with self._cv:
            while True:
                t_now = now()
                if self._ready(t_now):
                    return self._close_next()
                left = end - time.monotonic()
                if left <= 0:
                    return None
                deadline_ns = self.next_ns + MINUTE_NS + self.grace_ns
                until_deadline = max(0.0, (deadline_ns - t_now) / ns_per_s)
                self._cv.wait(min(left, until_deadline + 0.001, 0.25))
