"""The live bar source: history from the store (warmed up over REST at start, cached there),
today's bars so far over REST, then Alpaca's minute bars from ``StockDataStream`` through the
minute assembler — behind the same ``BarSource`` protocol as the Parquet replay, so validation,
provisioning, derived bars, indicators, the broker and the plugins run unchanged. The stream
itself (its thread, its log watched for fatal errors) is live/stream.py.
"""

from __future__ import annotations

import datetime as dt
import threading
from array import array
from collections.abc import Callable, Iterable
from itertools import repeat
from typing import Any

import numpy as np

from trader_cli.core.bars import Bars
from trader_cli.core.config import LiveConfig
from trader_cli.core.errors import DataError
from trader_cli.core.feed import ParquetFeed
from trader_cli.core.intervals import BASE_1M, Interval
from trader_cli.core.replay import PRICE_FIELDS, DayBook
from trader_cli.live.assembler import MINUTE_NS, ClosedMinute, MinuteAssembler, StreamBar
from trader_cli.live.clock import LiveClock
from trader_cli.live.stream import BarStream

SILENT_MINUTES = 3  # minutes without a streamed bar (market open) before the status warns
BEHIND_WALL_S = 2.0  # a backlog (LiveFeed._behind) is also this many wall seconds behind


class LiveFeed:
    """See the module doc."""

    name = "alpaca"

    def __init__(
        self,
        parquet: ParquetFeed,
        live: LiveConfig,
        clock: LiveClock,
        keys: tuple[str, str],
        emit: Callable[[str, str], None],
    ) -> None:
        self.parquet = parquet
        self.live = live
        self.clock = clock
        self.keys = keys
        self.emit = emit
        self.where = f"on Alpaca ({live.feed} feed)"
        self.assembler: MinuteAssembler | None = None
        self._ready: list[ClosedMinute] = []
        self._stream: BarStream | None = None
        self._lane_sym: dict[int, str] = {}
        self._sym_lane: dict[str, int] = {}  # the same, the other way
        self._looked_up: set[str] = set()  # symbols asked of Alpaca once (intervals_for)
        self.assets: Any = None  # the trading API's asset look-up (live/trading.py AlpacaOrders)
        self._rest_upto: dict[str, int] = {}  # symbol -> end of its REST bars of today known whole
        self.day: dt.date | None = None
        self.minutes_closed = 0
        self.closed_by_timeout = 0
        self.stream_from_ns = 0  # the first minute the stream closes (the ones before: REST at start)
        self._next_ns = 0  # the next minute the session steps
        self.minutes_from_rest = 0  # minutes stepped from today's REST bars (a start after the open)
        self._stale_said = False  # the catching-up warning of stale_orders said (until current again)
        self._refused = False  # the stream stopped on a fatal error: the next wait connects again
        self._stream_lock = threading.Lock()  # who holds the stream: a reconnect, a join, a stop
        self._epoch = 0  # a stop (reset) counts up: a reconnect that outlived it lets its stream go
        self.backfilled = 0  # bars that came over REST for minutes the stream missed
        self._silent = 0  # minutes in a row the stream sent nothing for
        self.silent_since: int | None = None  # set once the stream is silent (status warning)

    @property
    def timeline(self) -> Any:
        return self.parquet.timeline

    @property
    def store(self) -> Any:
        return self.parquet.store

    # -- coverage: the store, plus today (live) -----------------------------------------------------
    def intervals_for(self, symbol: str) -> list[str]:
        """What the store holds (1m after the warmup fetch); a symbol the store has no 1m bars
        of (a mid-session add) is looked up at Alpaca first: its last session's bars fetched."""
        if self.assets is not None:  # the trading API says whether it is an active, tradable asset
            from trader_cli.core.broker.remote import RemoteError

            try:
                why = self.assets.asset_problem(symbol)
            except RemoteError as err:
                raise DataError(f"cannot check {symbol} with Alpaca's trading API: {err}") from None
            if why is not None:
                raise DataError(why)
        stored = self.parquet.intervals_for(symbol)
        if "1m" not in stored and symbol not in self._looked_up and self.day is not None:
            prev = self.parquet.calendar.previous_trading_day(self.day)
            if prev is not None:
                self._fetch(symbol, [prev])  # a failed fetch is not a look-up: a retry asks again
                stored = self.parquet.intervals_for(symbol)
            self._looked_up.add(symbol)
        return stored

    def _fetch(self, symbol: str, days: list[dt.date]) -> None:
        """History days of a symbol over REST into the store (only those it lacks)."""
        from trader_cli.live.fetch import fetch

        live = self.live
        fetch(self.parquet.store, [symbol], "1m", min(days), max(days), live.feed, live.data_url, keys=self.keys)

    def universe(self, interval: Interval) -> list[str]:
        """The stored symbols (what scanners look over)."""
        return self.parquet.universe(interval)

    def has_bars(self, symbol: str, interval: Interval, start_ns: int, end_ns: int) -> bool:
        """Stored bars in [start, end), or a window reaching today (streamed)."""
        if self.day is not None and end_ns > self.parquet.calendar.open_close(self.day)[0]:
            return True
        return self.parquet.has_bars(symbol, interval, start_ns, end_ns)

    def days_with_bars(self, symbol: str, interval: Interval, days: list[dt.date]) -> list[dt.date]:
        """The stored days, and today (it streams); history days the store lacks are fetched
        first (a mid-session add's warmup; at start they were fetched already)."""
        past = [d for d in days if d != self.day]
        have = set(self.parquet.days_with_bars(symbol, interval, past))
        lacking = [d for d in past if d not in have]
        if lacking and interval == BASE_1M and self.day is not None:
            self._fetch(symbol, lacking)
            have = set(self.parquet.days_with_bars(symbol, interval, past))
        return [d for d in days if d in have or d == self.day]

    def span_text(self, symbol: str) -> str:
        """What the store holds, and the live stream."""
        return f"{self.parquet.span_text(symbol)}; live: {self.live.feed} stream"

    # -- reading -----------------------------------------------------------------------------------------
    def read(self, symbol: str, interval: Interval, start_ns: int | None, end_ns: int | None) -> Bars:
        """A window of stored bars (history)."""
        return self.parquet.read(symbol, interval, start_ns, end_ns)

    def read_through(self, symbol: str, start_ns: int) -> Bars:
        """The stored 1m bars from ``start_ns`` to today's open, then today's so far over REST."""
        assert self.day is not None
        open_ns = self.parquet.calendar.open_close(self.day)[0]
        hist = (
            self.parquet.store.read(symbol, BASE_1M, start_ns, open_ns)
            if self.parquet.store.has(symbol, BASE_1M)
            else Bars.empty()
        )
        return Bars.concat([hist, self.today_so_far([symbol]).get(symbol, Bars.empty())])

    def today_so_far(self, symbols: list[str]) -> dict[str, Bars]:
        """Today's 1m bars of the minutes that have ended by the live clock, over REST."""
        assert self.day is not None
        open_ns, close_ns = self.parquet.calendar.open_close(self.day)
        now = min(self.clock.now_ns(), close_ns)
        if self.assembler is not None:  # every minute closed already (a clock a little behind the server's)
            now = max(now, self.assembler.next_ns)
        last_ended = (now - open_ns) // MINUTE_NS  # minutes fully ended since the open
        if last_ended <= 0:
            return {}
        upto = open_ns + last_ended * MINUTE_NS
        got = self._rest_1m(symbols, open_ns, upto - MINUTE_NS)
        out = {s: bars.window(open_ns, upto) for s, bars in got.items()}
        sure = min(upto, self._settled(now, open_ns))  # a minute that only just ended may not be on REST yet
        for s in symbols:
            self._rest_upto[s] = sure
        return out

    def _settled(self, now_ns: int, open_ns: int) -> int:
        """The first minute whose deadline (its end + grace) has not passed at ``now_ns`` (the
        open at least): REST surely has the minutes before it (Alpaca serves a minute's bars a
        moment after it ends; the assembler leaves a missing bar to REST from its deadline too)."""
        grace = int(self.live.grace_seconds * 1e9)
        return max(open_ns, (now_ns - grace) // MINUTE_NS * MINUTE_NS)

    def _rest_1m(self, symbols: list[str], start_ns: int, end_ns: int) -> dict[str, Bars]:
        """Each symbol's 1m bars over REST from ``start_ns`` through ``end_ns`` (as Alpaca's
        ``end``: inclusive), every call bounded."""
        from trader_cli.live.fetch import DEFAULT_TIMEOUT_S, client, request_bars, to_bars

        c, _ = client(self.live.data_url, DEFAULT_TIMEOUT_S, self.keys)
        start = dt.datetime.fromtimestamp(start_ns / 1e9, tz=dt.UTC)
        end = dt.datetime.fromtimestamp(end_ns / 1e9, tz=dt.UTC)
        raw = request_bars(c, symbols, BASE_1M, start, end, self.live.feed, self.live.data_url, DEFAULT_TIMEOUT_S)
        return {s: to_bars(s, raw.get(s) or [], BASE_1M) for s in symbols}

    def join(self, lane: int, bars: Bars, symbol: str) -> None:
        """A symbol joins: subscribed, and counted by the assembler from its next minute."""
        before = self._lane_sym.get(lane)
        if before is not None and self._sym_lane.get(before) == lane:
            del self._sym_lane[before]
        self._lane_sym[lane] = symbol
        self._sym_lane[symbol] = lane
        if self.assembler is None:  # at start: the stream opens with every symbol afterwards
            return
        self.assembler.join(symbol, self._rest_upto.get(symbol, 0))
        with self._stream_lock:  # a reconnect under way subscribes it once its stream is up
            if self._stream is not None:
                self._stream.subscribe(symbol)

    def leave(self, lane: int) -> None:
        """A symbol left: no minute waits for it any more."""
        sym = self._lane_sym.pop(lane, None)
        if sym is not None and self._sym_lane.get(sym) == lane:
            del self._sym_lane[sym]
        if sym is not None and self.assembler is not None:
            self.assembler.leave(sym)

    # -- the day ---------------------------------------------------------------------------------------
    def next_book(self, pos: int, capacity: int, derived: Iterable[Interval], lanes: dict[str, int]) -> DayBook:
        """Only today is live: a session does not roll into another day."""
        raise DataError("a live session covers one market day; start a new one tomorrow")

    def wait_ready(self, timeout_s: float) -> bool:
        """True once the next minute has closed (its bars in, or its deadline passed)."""
        if self._ready or self._next_ns < self.stream_from_ns:  # the minutes before: in the book
            return True
        if self._refused:  # resumed after the stream stopped: connect again (or stay paused, said)
            self._reconnect()
        elif self._stream is not None and self._stream.fatal is not None:
            self._refused = True
            raise DataError(f"the Alpaca stream stopped: {self._stream.fatal}")
        assert self.assembler is not None
        m = self.assembler.wait_next(self.clock.now_ns, timeout_s, self.clock.ns_per_s)
        if m is None:
            return False
        self._note_silence(m)
        if m.by_timeout:  # symbols without a streamed bar: ask REST (a drop, a reconnect, a race)
            self._backfill(m)
        self._ready.append(m)
        return True

    def _note_silence(self, m: ClosedMinute) -> None:
        """A stream that has sent no bar for SILENT_MINUTES minutes while the market is open is
        a status warning (once, until bars come again): the session goes on from REST."""
        if m.bars:
            if self.silent_since is not None:
                self.emit("warning", f"the Alpaca stream sends bars again (from {to_ny_text(m.ts_ns)})")
            self._silent, self.silent_since = 0, None
            return
        self._silent += 1
        if self._silent == SILENT_MINUTES:
            self.silent_since = m.ts_ns - (SILENT_MINUTES - 1) * MINUTE_NS
            self.emit(
                "warning",
                f"the Alpaca stream has sent no bar for {SILENT_MINUTES} minutes (since "
                f"{to_ny_text(self.silent_since)}); minutes close at their deadline and come over REST",
            )

    def _backfill(self, m: ClosedMinute) -> None:
        """The bars of minute ``m`` that did not stream, over REST (none: the symbol did not trade)."""
        missing = sorted(m.expected - m.bars.keys())
        if not missing:
            return
        try:
            got = self.minute_bars(missing, m.ts_ns)
        except DataError as err:  # the session goes on: the minute is missing for them, and said
            self.emit("warning", f"REST backfill of {to_ny_text(m.ts_ns)} failed: {err}")
            return
        for sym, b in got.items():
            m.bars[sym] = b
        self.backfilled += len(got)

    def minute_bars(self, symbols: list[str], ts_ns: int) -> dict[str, StreamBar]:
        """One minute's bars of ``symbols`` over REST."""
        out = {}
        for s, got in self._rest_1m(symbols, ts_ns, ts_ns + MINUTE_NS - 1_000_000_000).items():
            bars = got.window(ts_ns, ts_ns + MINUTE_NS)
            if len(bars):
                out[s] = StreamBar(
                    s, int(bars.ts[0]), float(bars.open[0]), float(bars.high[0]), float(bars.low[0]),
                    float(bars.close[0]), float(bars.volume[0]),
                )  # fmt: skip
        return out

    def next_minute(self, book: DayBook) -> None:
        """Put the closed minute's streamed bars into the book's row for it."""
        if book.now_ns < self.stream_from_ns:  # the morning so far: its REST bars are in the book
            self._next_ns = book.now_ns + MINUTE_NS
            self.minutes_from_rest += 1
            return
        if not self._ready:
            raise DataError("no closed minute to step (the live clock waits for the stream)")
        m = self._ready.pop(0)
        row = (m.ts_ns - book.open_ns) // MINUTE_NS
        if row != book.cursor:
            raise DataError(f"the stream's minute {m.ts_ns} is not the session's next ({book.now_ns})")
        self._next_ns = m.ts_ns + MINUTE_NS
        if self._stale_said and not self._behind(self.clock.now_ns()):  # caught up: a next fall behind is said
            self._stale_said = False
        self.minutes_closed += 1
        self.closed_by_timeout += int(m.by_timeout)
        lanes = self._sym_lane
        # A symbol that joined while this minute was closing: neither its REST bars of today
        # (they end before this minute) nor the stream (it counts from the next) hold it.
        upto = self._rest_upto
        between = sorted(s for s in lanes.keys() - m.expected if upto.get(s, m.ts_ns + 1) <= m.ts_ns)
        if between:
            try:
                m.bars.update(self.minute_bars(between, m.ts_ns))
            except DataError as err:  # the minute stays missing for them, and is said
                self.emit("warning", f"REST backfill of {to_ny_text(m.ts_ns)} failed: {err}")
        if not m.bars:
            return
        # Hundreds of bars a minute, on the way to the callback: array.array takes a tuple of
        # floats in a fifth of np.array's time.
        n = len(m.bars)
        at = np.frombuffer(array("q", map(lanes.get, m.bars, repeat(-1, n))), np.int64)
        ok = (at >= 0) & (at < book.capacity)
        _, _, *fields = zip(*m.bars.values(), strict=True)  # StreamBar: symbol, ts, open … volume
        cols = book.base.cols
        every = bool(ok.all())
        for f, values in zip(PRICE_FIELDS, fields, strict=True):
            got = np.frombuffer(array("d", values))
            cols[f][row, at if every else at[ok]] = got if every else got[ok]

    def _behind(self, now_ns: int) -> bool:
        """True while the session catches up: the bar it is at ended more than a minute and the
        grace ago on the live clock — a bar of the morning stepped from REST at a start after
        the open, or a streamed one that is also more than BEHIND_WALL_S wall seconds old (the
        backlog after a resume, a session slower than the market; a fast demo clock's hiccup
        is not one)."""
        lag = now_ns - self._next_ns
        if lag <= MINUTE_NS + int(self.live.grace_seconds * 1e9):
            return False
        return self._next_ns <= self.stream_from_ns or lag > BEHIND_WALL_S * self.clock.ns_per_s

    def stale_orders(self) -> str | None:
        """Why a plugin's order placed now is not sent to Alpaca (``_behind``), or None; said
        once as a warning each time the session falls behind."""
        now = self.clock.now_ns()
        if not self._behind(now):
            return None
        bar = self._next_ns - MINUTE_NS  # the bar the callbacks see
        if not self._stale_said:
            self._stale_said = True
            self.emit(
                "warning",
                f"the live session is catching up (at the {to_ny_text(bar)} bar, the market at {to_ny_text(now)}): "
                "the strategies' orders are not sent to Alpaca until it has",
            )
        return (
            f"not sent to Alpaca (placed on the {to_ny_text(bar)} bar while the live session caught up; "
            f"the market was at {to_ny_text(now)})"
        )

    def live_counts(self) -> dict[str, Any] | None:
        """The stream's figures for ``system status`` (queries.LiveStatus)."""
        a = self.assembler
        if a is None:
            return None
        from trader_cli.core.calendar import to_ny

        now = self.clock.now_ns()
        opens = self.parquet.calendar.open_close(self.day)[0] if self.day is not None else None
        return {
            "feed": self.live.feed,
            "clock_speed": self.clock.speed,
            "market_time": f"{to_ny(now):%H:%M:%S}",
            "before_open": opens is not None and now < opens,
            "minutes_closed": self.minutes_closed,
            "minutes_from_rest": self.minutes_from_rest,
            "closed_by_timeout": self.closed_by_timeout,
            "backfilled": self.backfilled,
            "late_bars": sum(a.counts.late.values()),
            "extended_hours_bars": a.counts.outside,
            "revisions": len(a.counts.revisions),
            "silent_since": to_ny_text(self.silent_since) if self.silent_since is not None else None,
            "late_by_symbol": dict(a.counts.late),
            "revisions_by_symbol": _per_symbol(a.counts.revisions),
        }

    def revised_bars(self) -> list[tuple[str, int, float, float, float, float, float]]:
        """The stream's updatedBars so far (core/feed.BarSource.revised_bars)."""
        a = self.assembler
        if a is None:
            return []
        return list(a.counts.revisions)  # one copy under the GIL: the stream's thread only appends

    def reset(self) -> None:
        """Stop the stream and forget the day."""
        self.close()
        self.assembler = None
        self._refused = False
        self._ready = []
        self._lane_sym = {}
        self._sym_lane = {}
        self._rest_upto = {}
        self.day = None

    # -- the stream ---------------------------------------------------------------------------------------
    def open(self, day: dt.date, symbols: list[str], book: DayBook) -> None:
        """Start the assembler at the earliest minute whose deadline has not passed (the minutes
        before it come from today's REST bars, into ``book``) and the stream for ``symbols``;
        DataError (one line) when the stream does not connect within 10 s or refuses (keys,
        limit, plan)."""
        open_ns = book.open_ns
        first = self._settled(min(self.clock.now_ns(), book.close_ns), open_ns)  # the stream's first minute
        self.stream_from_ns, self._next_ns = first, open_ns
        grace = int(self.live.grace_seconds * 1e9)
        self.assembler = MinuteAssembler(set(symbols), first, grace, (open_ns, book.close_ns))
        self._stream = BarStream(self.keys, self.live, self.assembler.add_many)
        self._stream.start(symbols)
        # Connecting takes a while (seconds at worst: minutes of a fast demo clock): the minutes
        # whose deadline passed meanwhile come from REST too, not one by one at their close.
        first = max(first, self._settled(min(self.clock.now_ns(), book.close_ns), open_ns))
        self.assembler.skip_to(first)
        self.stream_from_ns = first
        self._fill_morning(book, symbols, first)

    def _fill_morning(self, book: DayBook, symbols: list[str], first: int) -> None:
        """The minutes before ``first`` (the first the stream closes: the earliest whose deadline
        has not passed) from REST, into the book. Each symbol's REST bars of today went in when
        it was provisioned; the minutes that ended since, or only just before (REST may not have
        had them), come in one call once the stream is subscribed, so the session steps the
        morning so far from the book, not minute by minute over REST. The bars already there
        stay (the same values)."""
        open_ns = book.open_ns
        upto = self._rest_upto
        behind = [s for s in symbols if upto.get(s, open_ns) < first and s in self._sym_lane]
        if behind:
            got = self._rest_1m(behind, min(upto.get(s, open_ns) for s in behind), first - MINUTE_NS)
            part = {s: got[s].window(upto.get(s, open_ns), first) for s in behind}
            lanes = np.concatenate([np.full(len(b), self._sym_lane[s], np.int64) for s, b in part.items()])
            book.fill_fresh(lanes, Bars.concat(list(part.values())))
            for s in behind:
                upto[s] = first

    def _reconnect(self) -> None:
        """A new stream for the session's symbols after the old one stopped on a fatal error;
        DataError (and still refused) when this one does not connect either. The minutes of
        the downtime close at their deadline, over REST, in order."""
        with self._stream_lock:
            old, self._stream, epoch = self._stream, None, self._epoch
        if old is not None:
            old.close()
        assembler = self.assembler
        assert assembler is not None
        stream = BarStream(self.keys, self.live, assembler.add_many)
        symbols = sorted(self._sym_lane)
        stream.start(symbols)  # up to 10 s, without the lock: a join meanwhile is subscribed below
        with self._stream_lock:
            current = epoch == self._epoch  # else the session stopped meanwhile: not its stream
            if current:
                self._stream, self._refused = stream, False
                for sym in sorted(set(self._sym_lane) - set(symbols)):
                    stream.subscribe(sym)
        if not current:
            stream.close()
            return
        self.emit("warning", "the Alpaca stream is connected again; the minutes it missed come over REST")

    def close(self) -> None:
        """Stop the stream (the SDK takes up to 5 s)."""
        with self._stream_lock:
            stream, self._stream = self._stream, None
            self._epoch += 1
        if stream is not None:
            stream.close()


def _per_symbol(bars: list[StreamBar]) -> dict[str, int]:
    out: dict[str, int] = {}
    for b in bars:
        out[b.symbol] = out.get(b.symbol, 0) + 1
    return out


def to_ny_text(ts_ns: int) -> str:
    from trader_cli.core.calendar import to_ny

    return f"{to_ny(ts_ns):%H:%M}"
