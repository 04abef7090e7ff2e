"""SessionCoordinator: the one object every command talks to.

It owns the session lifecycle, the replay clock thread and every addition, each of which goes
analyze → validate → provision. All symbol mutations (including a replay minute) happen under
``session.lock``; the replay applies one minute for every symbol as one step under that lock,
so a concurrent addition sees the session between two minutes, never inside one.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from trader_cli.core.bars import OPEN_AFTER_MIDNIGHT_NS, Bars, aggregate, session_bars
from trader_cli.core.calendar import NS_PER_MINUTE, Clock, nyse, to_ny
from trader_cli.core.config import SessionConfig
from trader_cli.core.errors import ProvisioningError, SessionStateError, TraderCliError, ValidationFailed, few
from trader_cli.core.intervals import Interval
from trader_cli.core.lifecycle import SessionState, check_speed, check_transition
from trader_cli.core.provisioning.executor import ProvisioningReport, execute
from trader_cli.core.provisioning.requirements import (
    IndicatorPlan,
    Operation,
    ProvisioningRequirements,
    analyze_requirements,
)
from trader_cli.core.provisioning.validation import SymbolValidationResult, validate_symbol
from trader_cli.core.quality import IntervalQuality, expected_starts, measure
from trader_cli.core.replay import DayBook, bar_slots
from trader_cli.core.session import DayBlock, IndicatorSlot, SessionData, SymbolMetadata, SymbolSessionData
from trader_cli.core.store import DataManager, check_symbol
from trader_cli.core.streams import IndicatorHub

FEED_DAYS = 2  # days read at a time per symbol (memory: one day's 1m grid per day read ahead)
READ_BATCH = 64  # symbols whose read bars are put into the day grids in one go


@dataclass(frozen=True)
class Event:
    """Something the replay wants the trader to know (day start/end, additions, errors)."""

    kind: str
    text: str
    at_ns: int | None


@dataclass
class AdditionResult:
    """The outcome of one addition: the plan, the step report (None for a duplicate)."""

    requirements: ProvisioningRequirements
    report: ProvisioningReport | None

    def to_json(self) -> dict[str, Any]:
        """JSON data: the plan and the step report."""
        return {
            "requirements": self.requirements.model_dump(mode="json"),
            "report": self.report.model_dump(mode="json") if self.report else None,
            "message": self.requirements.message or (self.report.message if self.report else ""),
        }


@dataclass
class AdditionBatch:
    """Several additions in one command (``add symbol A B C``): each its own addition, in order;
    one that fails is listed with its reason and the others go on."""

    results: list[AdditionResult]
    failures: list[tuple[str, str]]

    @property
    def failed_text(self) -> str:
        """One line naming the failed additions ('' when none failed)."""
        if not self.failures:
            return ""
        total = len(self.results) + len(self.failures)
        return f"{len(self.failures)} of {total} addition(s) failed: " + few(
            (f"{s}: {why}" for s, why in self.failures), limit=3, sep="; "
        )

    def to_json(self) -> dict[str, Any]:
        """JSON data: each addition's plan and report, and the failures."""
        return {
            "additions": [r.to_json() for r in self.results],
            "failed": [{"symbol": s, "reason": why} for s, why in self.failures],
        }


@dataclass
class StartResult:
    """What ``system start`` did: validation of every config symbol and each one's provisioning."""

    validations: list[SymbolValidationResult]
    reports: list[ProvisioningReport]
    seconds: float

    def to_json(self) -> dict[str, Any]:
        """JSON data: validation of every config symbol and each provisioning report."""
        return {
            "validation": [v.model_dump(mode="json") for v in self.validations],
            "provisioning": [r.model_dump(mode="json") for r in self.reports],
            "seconds": round(self.seconds, 4),
        }


class SessionCoordinator:
    """Lifecycle, replay clock and provisioning for one session (see module doc)."""

    def __init__(self, store_factory: Callable[[Path], DataManager] = DataManager) -> None:
        self.store_factory = store_factory
        self.store: DataManager = store_factory(Path("data"))
        self.calendar = nyse()
        self.clock = Clock(simulated=True)
        self.state = SessionState.stopped
        self.session = SessionData()
        self.hub = IndicatorHub()
        self.book: DayBook | None = None
        self.config: SessionConfig | None = None
        self.days: list[dt.date] = []
        self.day_pos = 0
        self.speed = 0.0
        self.derived: set[str] = set()
        self.events: deque[Event] = deque(maxlen=1000)
        self.on_event: Callable[[Event], None] | None = None
        self.minutes_done = 0
        self.bars_replayed = 0
        self.replay_wall = 0.0
        self.exported_minutes: int | None = None  # minutes_done at the last export (None: never)
        self.days_without_data: dict[dt.date, list[str]] = {}  # replayed days some symbols had no bar on
        # Each change to the session's symbols counts, with the simulated time it took effect at
        # (a recording replays it at that minute, whatever the wall-clock timing was).
        self.changes = 0
        self.changed_at_ns: int | None = None
        self._today_read: dict[str, Bars] = {}
        # While one addition runs, the history it reads more than once (indicator seeds, quality).
        self._history_memo: dict[tuple[str, str], Bars] | None = None
        self._total_minutes = 0
        self._ahead: dict[int, DayBook] = {}  # day position -> that day's book, read ahead
        self.past: list[tuple[int, DayBook]] = []
        self._cutoffs: dict[tuple[dt.date, int, str], int] = {}
        self._slots: dict[tuple[str, dt.date], np.ndarray] = {}
        self._free_lanes: list[int] = []
        self._next_lane = 0
        self._want = 0
        self._pace_epoch = 0
        self._cv = threading.Condition()
        self._thread: threading.Thread | None = None
        self._finished = threading.Event()

    def _mark_change(self) -> None:
        """Count a change to the session at the current simulated time (caller holds the lock)."""
        self.changes += 1
        self.changed_at_ns = self.clock.now_ns()

    # -- events -----------------------------------------------------------------------------
    def emit(self, kind: str, text: str) -> None:
        """Record an event and hand it to the listener (the shell prints it above the prompt)."""
        ev = Event(kind, text, self.clock.now_ns())
        self.events.append(ev)
        if self.on_event is not None:
            self.on_event(ev)

    # -- locking ----------------------------------------------------------------------------
    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """Hold the symbol lock between two replay minutes (the replay yields to waiters)."""
        self._want += 1
        try:
            self.session.lock.acquire()
        finally:
            self._want -= 1
        try:
            yield
        finally:
            self.session.lock.release()

    # -- lifecycle --------------------------------------------------------------------------
    def _transition(self, target: SessionState) -> None:
        check_transition(self.state, target)
        self.state = target

    @property
    def session_day(self) -> dt.date:
        """The trading day being replayed."""
        if self.book is None:
            raise SessionStateError("no session (start one with: system start)")
        return self.book.day

    def start(
        self,
        config: SessionConfig,
        data_dir: Path,
        paused: bool = False,
        speed: float | None = None,
        progress: Callable[[int, int, str], None] | None = None,
    ) -> StartResult:
        """Validate and provision every config symbol, then start (or hold) the replay clock."""
        if config.mode != "backtest":
            raise SessionStateError(
                'live mode needs a broker connection, which this build does not have (set "mode": "backtest")'
            )
        assert config.backtest_config is not None
        days = self.calendar.trading_days(config.backtest_config.start_date, config.backtest_config.end_date)
        if not days:
            raise SessionStateError(
                f"no NYSE trading days between {config.backtest_config.start_date} and "
                f"{config.backtest_config.end_date} (check backtest_config)"
            )
        if self.state in (SessionState.running, SessionState.paused):
            raise SessionStateError(f"a session is already {self.state.value} (stop it first with: system stop)")
        pace = check_speed(config.backtest_config.speed_multiplier if speed is None else speed)
        t0 = time.perf_counter()
        self._reset()
        self._transition(SessionState.provisioning)
        self.config, self.days, self.day_pos = config, days, 0
        self._total_minutes = sum(self.calendar.expected_bars(d, "1m") for d in days)
        self.speed = pace
        self.store = self.store_factory(data_dir)
        sd = config.session_data_config
        self.derived = {iv for iv in sd.derived_intervals if iv != sd.base_interval}
        self.book = DayBook(self.calendar, days[0], [Interval.parse(x) for x in sorted(self.derived)], len(sd.symbols))
        self.clock.set(self.book.open_ns)
        try:
            validations, reports = self._provision_config_symbols(sd.symbols, progress)
        except BaseException:
            self._abandon_start()
            raise
        if not reports:
            self._transition(SessionState.stopped)
            self.book = None
            if not validations:
                raise ValidationFailed(
                    "the config lists no symbols; the session did not start "
                    '(add some to session_data_config.symbols, e.g. "symbols": ["AAPL"])'
                )
            raise ValidationFailed(
                f"every config symbol failed validation ({len(validations)}); the session did not start: "
                + few((f"{v.symbol}: {v.reason}" for v in validations), limit=3, sep="; ")
            )
        self._mark_change()
        self._transition(SessionState.paused if paused else SessionState.running)
        self.emit("day_start", f"session day {days[0]} (1 of {len(days)}), {len(reports)} symbol(s)")
        self._finished.clear()
        if not paused:
            self._start_thread()
        return StartResult(validations, reports, time.perf_counter() - t0)

    def _abandon_start(self) -> None:
        """Start-up failed part-way: back to stopped with nothing loaded."""
        self._reset()
        self.book = None
        if self.state != SessionState.stopped:
            self._transition(SessionState.stopped)

    def _reset(self) -> None:
        self.session.clear()
        self.past = []
        self._ahead = {}
        self._slots = {}
        self.hub = IndicatorHub()
        self._free_lanes.clear()
        self._next_lane = 0
        self.minutes_done = self.bars_replayed = 0
        self.replay_wall = 0.0
        self.exported_minutes = None
        self.days_without_data = {}
        self.events.clear()

    def _provision_config_symbols(
        self, symbols: list[str], progress: Callable[[int, int, str], None] | None = None
    ) -> tuple[list[SymbolValidationResult], list[ProvisioningReport]]:
        validations, reports = [], []
        unique = list(dict.fromkeys(symbols))
        for i, sym in enumerate(unique):
            if progress is not None:
                progress(i, len(unique), sym)
            req = self.analyze("symbol", sym, "config")
            validations.append(
                req.validation or SymbolValidationResult(symbol=sym, reason="; ".join(req.validation_errors))
            )
            if not req.can_proceed:
                self.emit("dropped", f"{sym} dropped: {validations[-1].reason}")
                continue
            try:
                with self.exclusive():
                    reports.append(self._execute(req))
            except ProvisioningError as err:  # e.g. a stored file that fails its checks: drop it
                reason = str(err).removeprefix(f"{sym}: ")
                validations[-1] = validations[-1].model_copy(update={"can_proceed": False, "reason": reason})
                self.emit("dropped", f"{sym} dropped: {reason}")
        return validations, reports

    def _start_thread(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._thread = threading.Thread(target=self._run_clock, name="replay-clock", daemon=True)
        self._thread.start()

    def pause(self) -> None:
        """Hold the replay clock."""
        with self._cv:
            self._transition(SessionState.paused)
            self._cv.notify_all()

    def resume(self) -> None:
        """Let the replay clock run again."""
        if self.state == SessionState.running:
            raise SessionStateError(f"the session is already running (at {self.status()['time']})")
        with self._cv:
            self._transition(SessionState.running)
            self._cv.notify_all()
        self._start_thread()

    def set_speed(self, speed: float) -> float:
        """Change the replay speed, also while the clock runs (pacing restarts from now)."""
        if self.state not in (SessionState.running, SessionState.paused):
            raise SessionStateError(f"no active session (state: {self.state.value}; start one with: system start)")
        value = check_speed(speed)
        with self._cv:
            self.speed = value
            self._pace_epoch += 1
            self._cv.notify_all()
        return value

    def stop(self) -> None:
        """Stop the session and drop its data."""
        with self._cv:
            self._transition(SessionState.stopped)
            self._cv.notify_all()
        self._join()
        with self.exclusive():
            self._reset()
            self.book = None
        self._finished.set()

    def shutdown(self) -> None:
        """Stop the clock thread if one runs (leaving the program)."""
        with self._cv:
            if self.state in (SessionState.running, SessionState.paused):
                self._transition(SessionState.stopped)
            self._cv.notify_all()
        self._join()

    def _join(self) -> None:
        t = self._thread
        if t is not None and t is not threading.current_thread():
            t.join(timeout=10)
        self._thread = None

    def wait(self, timeout: float | None = None, on_progress: Callable[[], None] | None = None) -> bool:
        """Block until the backtest finishes (True) or ``timeout`` passes (False); SessionStateError
        when the clock stops for any other reason meanwhile (paused, stopped, halted by an error).
        ``on_progress`` is called about ten times a second."""
        if self.state == SessionState.paused:
            raise SessionStateError(
                "the session is paused; resume it first (system resume) or step it with: time advance"
            )
        if self.state not in (SessionState.running, SessionState.finished):
            raise SessionStateError(f"no running session to wait for (state: {self.state.value})")
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._finished.wait(0.1):
            if on_progress is not None:
                on_progress()
            if deadline is not None and time.monotonic() > deadline:
                return False
            if self.state not in (SessionState.running, SessionState.finished):
                raise SessionStateError(
                    f"the session was {self.state.value} while waiting (at {self.status()['time']})"
                )
            thread = self._thread
            if self.state == SessionState.running and (thread is None or not thread.is_alive()):
                raise SessionStateError(f"the replay clock stopped at {self.status()['time']} (see the error above)")
        return True

    # -- the clock ----------------------------------------------------------------------------
    def _run_clock(self) -> None:
        """The clock thread: any exception stops the clock with a message, never silently."""
        try:
            self._clock_loop()
        except Exception as err:  # the session pauses and the trader is told why
            self._halt(err)

    def _clock_loop(self) -> None:
        epoch = self._pace_epoch
        paced_from = (time.monotonic(), self.minutes_done)
        while True:
            with self._cv:
                while self.state == SessionState.paused:
                    self._cv.wait(0.5)
                    paced_from = (time.monotonic(), self.minutes_done)
                if self.state != SessionState.running:
                    break
            if self._want:
                time.sleep(0.0005)  # let a waiting command take the lock between two minutes
            with self.session.lock:
                if self.state != SessionState.running:
                    continue
                t = time.perf_counter()
                try:
                    self._step()
                except Exception as err:  # the clock stops and the trader is told why
                    self._halt(err)
                    break
                self.replay_wall += time.perf_counter() - t
            if epoch != self._pace_epoch:  # the speed changed: pace from this minute on
                epoch, paced_from = self._pace_epoch, (time.monotonic(), self.minutes_done)
            self._sleep_until_due(paced_from, epoch)

    def _sleep_until_due(self, paced_from: tuple[float, int], epoch: int) -> None:
        """Hold the clock until the next minute is due at the current speed (returns early when
        the state or the speed changes)."""
        while self.speed > 0 and self.state == SessionState.running and epoch == self._pace_epoch:
            due = paced_from[0] + (self.minutes_done - paced_from[1]) * 60.0 / self.speed
            delay = due - time.monotonic()
            if delay <= 0:
                return
            with self._cv:
                self._cv.wait(min(delay, 1.0))

    def _halt(self, err: BaseException, retry: str = "system resume retries") -> None:
        """A replay step failed: hold the clock (paused) and say why; the session is intact."""
        self.emit("error", f"the replay stopped at {self.status()['time']}: {err} ({retry})")  # before waiters wake
        with self._cv:
            if self.state == SessionState.running:
                self._transition(SessionState.paused)
            self._cv.notify_all()

    def _step(self) -> None:
        """One minute for every symbol (caller holds the lock)."""
        book = self.book
        assert book is not None
        if book.done:
            self._roll_day()
            return
        k, completed = book.step()
        self.hub.on_bar("1m", book.base, k)
        for g, j in completed:
            self.hub.on_bar(g.interval.name, g, j)
        self.clock.set(book.now_ns)
        self.minutes_done += 1
        self.bars_replayed += int(np.count_nonzero(~np.isnan(book.base.cols["close"][k])))
        if book.done:
            missing = self._symbols_without_bars(book)
            note = ""
            if missing:
                self.days_without_data[book.day] = missing
                every = len(missing) == len(self.session.symbols)
                note = "; no bars for " + ("any symbol" if every else few(missing))
            self.emit("day_end", f"session day {book.day} closed ({self.day_pos + 1} of {len(self.days)}){note}")
            if self.day_pos + 1 >= len(self.days):
                self._finish()

    def _symbols_without_bars(self, book: DayBook) -> list[str]:
        """The session's symbols that had no bar at all on the book's day."""
        counts = np.count_nonzero(~np.isnan(book.base.cols["close"]), axis=0)
        return sorted(s for s, d in self.session.symbols.items() if d.lane < len(counts) and counts[d.lane] == 0)

    def _finish(self) -> None:
        with self._cv:
            self._transition(SessionState.finished)
            self._cv.notify_all()
        rate = self.bars_replayed / self.replay_wall if self.replay_wall else 0.0
        gaps = ""
        if self.days_without_data:
            n = len(self.session.symbols)
            gaps = f"; days without bars ({len(self.days_without_data)}): " + few(
                f"{d} ({'every symbol' if len(syms) == n else few(syms, limit=3)})"
                for d, syms in sorted(self.days_without_data.items())
            )
        self.emit(
            "finished",
            f"backtest finished: {len(self.days)} day(s), {self.bars_replayed:,} bars, "
            f"{len(self.session.symbols)} symbol(s), {self.replay_wall:.2f} s replay, {rate:,.0f} bars/s{gaps}",
        )
        self._finished.set()

    def _roll_day(self) -> None:
        """Move to the next session day. The finished day's grids join ``past`` whole (all
        symbols at once), so the roll costs nothing per symbol; trailing windows are applied when
        a symbol's history is read (``history``). What leaves every trailing window is let go
        first, so the new day's bars never sit in memory beside a day already gone (were the new
        day to fail, the finished day would show one day less of history until the retry). The
        finished day joins ``past`` only once the new day is built, and the new book is swapped
        in whole (readers without the lock never see half)."""
        old = self.book
        assert old is not None
        pos = self.day_pos + 1
        day = self.days[pos]
        depths: dict[str, int] = {}
        for d in self.session.symbols.values():
            for iv, n in d.history_days.items():
                depths[iv] = max(depths.get(iv, 0), n)
        depth = max(depths.values(), default=0)
        self._drop_history_before(day)
        # Past days the new day's windows no longer reach go now; the ones kept hold only the
        # intervals whose windows still reach them (a 200-day daily window keeps daily bars,
        # not 200 days of minutes). ``old`` will be the most recent, one day back.
        self.past = self.past[-(depth - 1) :] if depth > 1 else []
        for back, (_, b) in enumerate(reversed(self.past), start=2):
            b.keep_only({iv for iv, n in depths.items() if n >= back})
        book = self._next_book(pos)
        if depth:
            old.keep_only({iv for iv, n in depths.items() if n >= 1})
            self.past.append((self.day_pos, old))
        self.day_pos = pos
        self.book = book
        self.hub.reset_day({iv: len(g.ts) for iv, g in book.derived.items()} | {"1m": book.n_min})
        self.clock.set(book.open_ns)
        self.emit("day_start", f"session day {day} ({pos + 1} of {len(self.days)})")

    def _drop_history_before(self, day: dt.date) -> None:
        """Let go of loaded history outside the symbols' trailing windows at ``day``."""
        for data in self.session.symbols.values():
            for iv, chunks in data.loaded.items():
                cut = self._cutoff(day, data.history_days.get(iv, 0), iv)
                while chunks and chunks[0].last_ns < cut:
                    del chunks[0]

    def history(self, data: SymbolSessionData, interval: str) -> Bars:
        """A symbol's historical bars of an interval: its trailing window of trading days before
        the session day, from what was loaded plus the days replayed since."""
        assert self.book is not None
        memo, key = self._history_memo, (data.symbol, interval)
        if memo is not None and key in memo:
            return memo[key]
        cut = self._cutoff(self.book.day, data.history_days.get(interval, 0), interval)
        parts = [b.bars(cut if b.ts[0] < cut else None) for b in data.loaded.get(interval, []) if b.last_ns >= cut]
        for pos, book in self.past:
            if pos >= data.since_pos and book.close_ns > cut and book.has(interval):
                parts.append(book.session_bars(data.lane, interval))
        out = Bars.concat(parts)
        if memo is not None:
            memo[key] = out
        return out

    def _slot_ts(self, interval: Interval, day: dt.date) -> np.ndarray:
        """Bar start times of ``interval`` on ``day`` (one array shared by every symbol)."""
        key = (interval.name, day)
        ts = self._slots.get(key)
        if ts is None:
            o, c = self.calendar.open_close(day)
            ts = self._slots[key] = bar_slots(interval, o, (c - o) // NS_PER_MINUTE)[3]
        return ts

    # -- the feed: upcoming days' bars, read ahead ---------------------------------------------
    # Reading one day for every symbol costs one file read per symbol, whatever the number of
    # days in it, so bars are read FEED_DAYS days at a time in one read per symbol, at the roll
    # into the next window (the first day comes with the history read at provisioning). Each
    # day read goes straight into its book's 1m grid (no per-symbol copies are kept).
    # Measured on 2 cores: reading in a background thread cost more than it hid (the reader and
    # the replay fight for the GIL).
    def _feed_end_ns(self) -> int:
        """Close of the last day read so far (today, or the last day read ahead)."""
        return self.calendar.open_close(self.days[max(self._ahead, default=self.day_pos)])[1]

    def _next_book(self, pos: int) -> DayBook:
        """Day ``pos``'s book with every symbol's bars in it, reading the next window first
        when that day has not been read yet."""
        book = self._ahead.get(pos)
        if book is None:
            self._read_window(pos)
            book = self._ahead[pos]
        assert self.book is not None
        book.ensure_capacity(self.book.capacity)
        for iv in sorted(self.derived):
            book.add_derived(Interval.parse(iv))
        del self._ahead[pos]
        return book

    def _read_window(self, first: int) -> None:
        """Every symbol's bars of days ``first`` .. ``first + FEED_DAYS - 1``, one read each,
        into new books for those days. A symbol whose bars cannot be read gets empty lanes for
        the days and an error event (quality shows the missing days)."""
        assert self.book is not None
        last = min(first + FEED_DAYS - 1, len(self.days) - 1)
        books = [DayBook(self.calendar, self.days[p], [], self.book.capacity) for p in range(first, last + 1)]
        o, c = books[0].open_ns, books[-1].close_ns
        lanes: list[int] = []
        parts: list[Bars] = []

        def flush() -> None:  # a batch of symbols into the books, one scatter per field
            if parts:
                lane_of = np.repeat(np.array(lanes, dtype=np.int64), [len(p) for p in parts])
                batch = Bars.concat(parts, copy=True)
                for b in books:
                    b.fill_fresh(lane_of, batch)
            lanes.clear()
            parts.clear()

        for data in self.session.symbols.values():
            try:
                parts.append(self.store.read(data.symbol, "1m", o, c))
            except TraderCliError as err:
                span = f"{books[0].day}" + (f"..{books[-1].day}" if len(books) > 1 else "")
                self.emit("error", f"{data.symbol}: no bars for {span}: {err}")
                continue
            lanes.append(data.lane)
            if len(parts) == READ_BATCH:
                flush()
        flush()
        self._ahead.update({first + i: b for i, b in enumerate(books)})

    def _cutoff(self, day: dt.date, depth: int, interval: str) -> int:
        """Earliest bar start kept for ``depth`` trading days of history before ``day``."""
        key = (day, depth, interval)
        hit = self._cutoffs.get(key)
        if hit is None:
            hit = self._cutoffs[key] = self._compute_cutoff(day, depth, interval)
        return hit

    def _compute_cutoff(self, day: dt.date, depth: int, interval: str) -> int:
        back = self.calendar.trading_days_back(day, depth) if depth else []
        if not back:
            return self.calendar.open_close(day)[0]
        first_open = self.calendar.open_close(back[0])[0]
        return first_open - OPEN_AFTER_MIDNIGHT_NS if Interval.parse(interval).is_daily else first_open

    # -- stepping a paused session ------------------------------------------------------------
    def advance(self, minutes: int, should_stop: Callable[[], bool] | None = None) -> int:
        """Step a paused session ``minutes`` trading minutes (a close rolls to the next open
        without counting; stops early at the end of the backtest); returns the minutes stepped."""
        self._require_paused("time advance")
        done = 0
        while done < minutes and self.state == SessionState.paused:
            if should_stop is not None and should_stop():
                break
            done += self._step_paused()
        return done

    def advance_to(self, target_ns: int, should_stop: Callable[[], bool] | None = None) -> int:
        """Step a paused session until the clock reaches ``target_ns``; a target outside the
        session hours stops at the last close before it. Returns the minutes stepped."""
        self._require_paused("time until")
        book = self.book
        assert book is not None
        if target_ns <= book.now_ns:
            raise SessionStateError(
                f"{to_ny(target_ns):%Y-%m-%d %H:%M} is not after now ({to_ny(book.now_ns):%Y-%m-%d %H:%M} ET)"
            )
        done = 0
        while self.state == SessionState.paused and self.book is not None and self.book.now_ns < target_ns:
            if should_stop is not None and should_stop():
                break
            if self.book.done and self._open_of(self.day_pos + 1) > target_ns:
                break  # the target falls between two sessions: stop at this close
            done += self._step_paused()
        return done

    def _step_paused(self) -> int:
        """One step of a paused session under the lock; the minutes it moved (0 for a roll)."""
        with self.exclusive():
            t = time.perf_counter()
            before = self.minutes_done
            try:
                self._step()
            except Exception as err:  # stepping stops where it is and the trader is told why
                self._halt(err, "time advance retries")
                raise SessionStateError(
                    f"the replay stopped at {self.status()['time']}: {err} (time advance retries)"
                ) from err
            self.replay_wall += time.perf_counter() - t
            return self.minutes_done - before

    def _require_paused(self, command: str) -> None:
        if self.state != SessionState.paused:
            hint = (
                "pause it first with: system pause"
                if self.state == SessionState.running
                else "start one with: system start"
            )
            raise SessionStateError(f"{command} steps a paused session (state: {self.state.value}; {hint})")

    def _open_of(self, pos: int) -> int:
        """Open of backtest day ``pos`` (past the last day: no open, so the largest time)."""
        if pos >= len(self.days):
            return 2**63 - 1
        return self.calendar.open_close(self.days[pos])[0]

    def session_target(self, sessions: int) -> int:
        """Where ``time advance N session(s)`` goes: the same time of day N sessions on (that
        session's close when it closes earlier), or, from a close, the open N sessions on; the
        backtest's last close when that is beyond it."""
        book = self.book
        if book is None:
            raise SessionStateError("no session (start one with: system start)")
        pos = self.day_pos + sessions
        if pos >= len(self.days):
            return self.calendar.open_close(self.days[-1])[1]
        o, c = self.calendar.open_close(self.days[pos])
        if book.done:
            return o
        return min(c, o + (book.now_ns - book.open_ns))

    def named_target(self, name: str) -> int:
        """``open`` (the next session open after now), ``close`` (the next close), ``next-open``
        (the open of the session after the current one)."""
        book = self.book
        if book is None:
            raise SessionStateError("no session (start one with: system start)")
        nxt = self.day_pos + 1
        if name == "close":
            return book.close_ns if not book.done else self._bound(nxt, 1)
        if name == "open" and book.cursor == 0:
            raise SessionStateError(
                f"already at the open of {book.day} (time until next-open goes to the next session's open)"
            )
        return self._bound(nxt, 0)

    def _bound(self, pos: int, which: int) -> int:
        """Open (0) or close (1) of backtest day ``pos``; SessionStateError past the last day."""
        if pos >= len(self.days):
            raise SessionStateError(
                f"the backtest ends with the session of {self.days[-1]} (system wait or time advance runs to its end)"
            )
        return self.calendar.open_close(self.days[pos])[which]

    # -- additions ------------------------------------------------------------------------------
    def _require_session(self) -> None:
        if self.state not in (SessionState.running, SessionState.paused, SessionState.provisioning):
            raise SessionStateError(f"no active session (state: {self.state.value}; start one with: system start)")

    def analyze(self, operation: Operation, symbol: str, source: str, **kw: Any) -> ProvisioningRequirements:
        """Phases 1 and 2 (analyze, validate) for an addition; changes nothing."""
        self._require_session()
        assert self.config is not None and self.book is not None
        sym = check_symbol(symbol)
        existing = self.session.get(sym)
        req = analyze_requirements(
            operation,
            sym,
            source,
            existing=existing,
            config=self.config.session_data_config,
            session_day=self.book.day,
            calendar=self.calendar,
            **kw,
        )
        if req.outcome in ("rejected",):
            req.can_proceed = False
            return req
        if req.outcome == "duplicate":
            req.can_proceed = True
            return req
        cfg_iv = [iv.name for iv in self.config.intervals()] if operation == "symbol" else None
        v = validate_symbol(
            self.store, self.calendar, sym, req.required_intervals, self.book.day, req.history_first_day, cfg_iv
        )
        req.validation = v
        req.can_proceed = v.can_proceed
        if not v.can_proceed:
            req.validation_errors.append(v.reason)
        elif not v.has_historical_data and req.historical_days:
            req.warnings.append(v.reason)
        return req

    def add(self, operation: Operation, symbol: str, source: str, **kw: Any) -> AdditionResult:
        """Analyze → validate → provision one addition (symbol, bar or indicator)."""
        with self.exclusive():
            req = self.analyze(operation, symbol, source, **kw)
            if not req.can_proceed:
                raise ValidationFailed(f"cannot add {operation} for {req.symbol}: {'; '.join(req.validation_errors)}")
            if req.outcome == "duplicate":
                return AdditionResult(req, None)
            report = self._execute(req)
            self._mark_change()
        self.emit("added", f"{req.operation} {req.symbol}: {req.outcome} ({report.total_ms:.1f} ms)")
        return AdditionResult(req, report)

    def add_many(self, operation: Operation, symbols: list[str], source: str, **kw: Any) -> AdditionBatch:
        """``add`` for several symbols, one after another; failures are collected, not raised."""
        self._require_session()
        results: list[AdditionResult] = []
        failures: list[tuple[str, str]] = []
        for sym in symbols:
            try:
                results.append(self.add(operation, sym, source, **kw))
            except TraderCliError as err:
                failures.append((sym.strip().upper(), str(err)))
        return AdditionBatch(results, failures)

    def remove_symbol(self, symbol: str) -> SymbolSessionData:
        """Remove a symbol and everything it holds."""
        self._require_session()
        with self.exclusive():
            data = self.session.require(check_symbol(symbol))
            self._drop_symbol(data.symbol)
            self._mark_change()
        self.emit("removed", f"{data.symbol} removed")
        return data

    def _execute(self, req: ProvisioningRequirements) -> ProvisioningReport:
        self._history_memo = {}
        try:
            return execute(self, req)
        finally:
            self._today_read.clear()
            self._history_memo = None

    # -- provisioning steps (called by the executor under the lock) ------------------------------
    def _alloc_lane(self) -> int:
        if self._free_lanes:
            return self._free_lanes.pop()
        lane = self._next_lane
        self._next_lane += 1
        assert self.book is not None
        self.book.ensure_capacity(self._next_lane)
        return lane

    def _create_symbol(self, req: ProvisioningRequirements) -> None:
        started = self.state in (SessionState.running, SessionState.paused)
        meta = SymbolMetadata(**req.metadata, added_at=self.clock.now_ns() if started else None)
        data = SymbolSessionData(
            symbol=req.symbol, base_interval=req.base_interval, metadata=meta, lane=self._alloc_lane()
        )
        self.session.symbols[req.symbol] = data

    def _drop_symbol(self, symbol: str) -> None:
        data = self.session.symbols.pop(symbol, None)
        if self._history_memo is not None:
            self._history_memo.clear()
        if data is None:
            return
        for key in list(data.indicators):
            self.hub.unregister(key, data.lane)
        for book in (self.book, *self._ahead.values()):
            if book is not None:
                book.clear_lane(data.lane)
        self._free_lanes.append(data.lane)

    def _upgrade_symbol(self, req: ProvisioningRequirements) -> Callable[[], None]:
        data = self.session.require(req.symbol)
        before = SymbolMetadata(**vars(data.metadata))
        data.metadata.meets_session_config_requirements = True
        data.metadata.upgraded_from_adhoc = True
        data.metadata.added_by = req.source  # type: ignore[assignment]

        def restore() -> None:
            data.metadata = before

        return restore

    def _add_interval(self, symbol: str, interval: str) -> Callable[[], None]:
        data = self.session.require(symbol)
        if interval not in data.intervals:
            data.intervals.append(interval)
            data.intervals.sort(key=lambda n: Interval.parse(n).seconds)
        if interval != data.base_interval and interval not in self.derived:
            assert self.book is not None
            self.derived.add(interval)
            self.book.add_derived(Interval.parse(interval))

        def restore() -> None:
            if interval in data.intervals:
                data.intervals.remove(interval)
            data.loaded.pop(interval, None)

        return restore

    def _load_history(self, req: ProvisioningRequirements) -> tuple[int, Callable[[], None]]:
        if self._history_memo is not None:
            self._history_memo.clear()
        data = self.session.require(req.symbol)
        assert self.book is not None
        old_hist = {iv: list(chunks) for iv, chunks in data.loaded.items()}
        old_days, old_since = dict(data.history_days), data.since_pos
        wanted = {
            iv: max(req.history_days_by_interval.get(iv, 0), data.history_days.get(iv, 0)) for iv in data.intervals
        }
        deepest = max(wanted.values(), default=0)
        day = self.book.day
        # One read serves the history, today's bars (kept for load_session) and the days read ahead.
        end = max(self.book.close_ns, self._feed_end_ns())
        both = self.store.read(data.symbol, "1m", self._cutoff(day, deepest, "1m"), end)
        split = int(np.searchsorted(both.ts, self.book.open_ns))
        ahead = int(np.searchsorted(both.ts, self.book.close_ns))
        self._today_read[data.symbol] = both.slice(split, ahead)
        for b in self._ahead.values():
            b.fill_lane(data.lane, both.window(b.open_ns, b.close_ns))
        base = session_bars(both.slice(0, split), self.calendar) if deepest else Bars.empty()
        rows = 0
        loaded: dict[str, list[DayBlock]] = {}
        for iv, n in wanted.items():  # everything is read before anything changes
            ivl = Interval.parse(iv)
            if not n:
                hist = Bars.empty()
            elif ivl.is_daily and self.store.has(data.symbol, "1d"):
                hist = self.store.read(
                    data.symbol, "1d", self._cutoff(day, n, iv), self.book.open_ns - OPEN_AFTER_MIDNIGHT_NS
                )
            else:
                part = base.slice(int(np.searchsorted(base.ts, self._cutoff(day, n, "1m"))))
                hist = part if iv == "1m" else aggregate(part, ivl, self.calendar)  # the blocks copy
            loaded[iv] = self._blocks(hist, ivl, day, n)
            rows += len(hist)
        data.loaded.update(loaded)
        data.history_days.update(wanted)
        data.since_pos = self.day_pos

        def restore() -> None:
            data.loaded, data.history_days, data.since_pos = old_hist, old_days, old_since
            if self._history_memo is not None:
                self._history_memo.clear()

        return rows, restore

    def _blocks(self, bars: Bars, interval: Interval, day: dt.date, n: int) -> list[DayBlock]:
        """``bars`` of the ``n`` trading days before ``day`` as a block per day (days without a
        bar are left out)."""
        if not len(bars):
            return []
        days = self.calendar.trading_days_back(day, n)
        slots = [self._slot_ts(interval, d) for d in days]
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

    def _load_session(self, symbol: str) -> int:
        data = self.session.require(symbol)
        book = self.book
        assert book is not None
        today = self._today_read.pop(symbol, None)
        if today is None:
            today = self.store.read(symbol, "1m", book.open_ns, book.close_ns)
        book.fill_lane(data.lane, today)
        return book.session_count(data.lane, "1m")

    def _register_indicator(self, symbol: str, plan: IndicatorPlan) -> Callable[[], None]:
        from trader_cli.core.indicators import IndicatorRequest

        data = self.session.require(symbol)
        book = self.book
        assert book is not None
        request = IndicatorRequest.parse(plan.name, plan.params, Interval.parse(plan.interval))
        grid = book.grid(plan.interval)
        blane = self.hub.register(
            request, data.lane, self.history(data, plan.interval), book.session_bars(data.lane, plan.interval), grid
        )
        data.indicators[request.key] = IndicatorSlot(request, blane)

        def restore() -> None:
            self.hub.unregister(request.key, data.lane)
            data.indicators.pop(request.key, None)

        return restore

    # -- reading --------------------------------------------------------------------------------
    def bars(self, symbol: str, interval: str) -> tuple[Bars, Bars]:
        """(historical, session) bars of a symbol's interval, read between two minutes."""
        with self.exclusive():
            return self._bars(symbol, interval)

    def _bars(self, symbol: str, interval: str) -> tuple[Bars, Bars]:
        data = self.session.require(check_symbol(symbol))
        iv = Interval.parse(interval).name
        if iv not in data.intervals:
            raise SessionStateError(
                f"{data.symbol} has no {iv} bars (it has {', '.join(data.intervals)}; "
                f"add them with: add bar {data.symbol} {iv})"
            )
        assert self.book is not None
        return self.history(data, iv), self.book.session_bars(data.lane, iv)

    def quality_of(self, symbol: str) -> list[IntervalQuality]:
        """Bars present ÷ expected for each interval of a symbol, with gaps (between two minutes)."""
        with self.exclusive():
            return self._quality_of(symbol)

    def _quality_of(self, symbol: str) -> list[IntervalQuality]:
        data = self.session.require(symbol)
        assert self.book is not None
        out = []
        for iv in data.intervals:
            ivl = Interval.parse(iv)
            hist, today = self.bars(symbol, iv)
            days = self.calendar.trading_days_back(self.book.day, data.history_days.get(iv, 0))
            exp = np.concatenate(
                [
                    *(self._slot_ts(ivl, d) for d in days),
                    expected_starts(self.calendar, [self.book.day], ivl, self.book.now_ns),
                ]
            )
            out.append(measure(Bars.concat([hist, today]), exp, ivl))
        return out

    def status(self) -> dict[str, Any]:
        """State, simulated time, trading day, progress, speed and symbol count."""
        book = self.book
        total_min = self._total_minutes
        return {
            "state": self.state.value,
            "mode": self.config.mode if self.config else None,
            "config": self.config.name if self.config else None,
            "trading_day": str(book.day) if book else None,
            "day": f"{self.days.index(book.day) + 1} of {len(self.days)}" if book and self.days else None,
            "time": f"{to_ny(book.now_ns):%Y-%m-%d %H:%M} ET" if book else None,
            "minutes_replayed": self.minutes_done,
            "minutes_total": total_min,
            "progress_pct": round(100.0 * self.minutes_done / total_min, 2) if total_min else 0.0,
            "bars_replayed": self.bars_replayed,
            "speed": self.speed,
            "symbols": len(self.session.symbols),
        }
