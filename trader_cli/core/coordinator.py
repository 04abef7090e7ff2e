"""SessionCoordinator: the one object every command talks to — a thin facade over the engine's
parts (core/engine.py). Every addition goes analyze → validate → provision; all symbol
mutations (a replay minute included) happen under the symbol lock, so a concurrent addition
sees the session between two minutes, never inside one.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from trader_cli.core import queries
from trader_cli.core.bars import Bars
from trader_cli.core.calendar import nyse, to_ny
from trader_cli.core.clock import ReplayClock
from trader_cli.core.config import SessionConfig
from trader_cli.core.engine import Engine, Event, EventLog
from trader_cli.core.errors import ProvisioningError, SessionStateError, TraderCliError, ValidationFailed
from trader_cli.core.feed import ParquetFeed
from trader_cli.core.history import History
from trader_cli.core.intervals import Interval
from trader_cli.core.lanes import LaneAllocator
from trader_cli.core.lifecycle import SessionState, check_speed
from trader_cli.core.provenance import Source
from trader_cli.core.provisioning.executor import ProvisioningReport, execute
from trader_cli.core.provisioning.requirements import Operation, ProvisioningRequirements, analyze_requirements
from trader_cli.core.provisioning.steps import drop_symbol
from trader_cli.core.provisioning.validation import SymbolValidationResult, validate_symbol
from trader_cli.core.quality import IntervalQuality
from trader_cli.core.replay import DayBook
from trader_cli.core.results import AdditionBatch, AdditionResult, StartResult
from trader_cli.core.session import SessionData, SymbolSessionData
from trader_cli.core.step import Replay
from trader_cli.core.store import DataManager, check_symbol
from trader_cli.core.streams import IndicatorHub
from trader_cli.core.timeline import Timeline

__all__ = ["AdditionBatch", "AdditionResult", "Event", "SessionCoordinator", "StartResult"]


class SessionCoordinator:
    """One session: its lifecycle, clock and additions (see the module doc)."""

    def __init__(self, store_factory: Callable[[Path], DataManager] = DataManager) -> None:
        self.store_factory = store_factory
        self.store: DataManager = store_factory(Path("data"))
        calendar = nyse()
        session, timeline = SessionData(), Timeline(calendar)
        events = EventLog(now=lambda: self.engine.replay.now_ns())
        feed = ParquetFeed(self.store, calendar, timeline, lambda text: events.emit("error", text))
        history, hub = History(timeline), IndicatorHub()
        replay = Replay(timeline, feed, history, hub, session, events.emit, self._finish)
        clock = ReplayClock(session.lock, replay.advance, self._where, lambda text: events.emit("error", text))
        lanes = LaneAllocator(on_grow=lambda n: replay.book.ensure_capacity(n) if replay.book else None)
        self.engine = Engine(calendar, session, lanes, timeline, feed, history, hub, replay, clock, events)
        self.exported_minutes: int | None = None  # minutes replayed at the last export (None: never)
        # Each change to the session's symbols counts, with the simulated time it took effect at
        # (a recording replays it at that minute, whatever the wall-clock timing was).
        self.changes = 0
        self.changed_at_ns: int | None = None

    # -- the parts, for the commands ------------------------------------------------------------
    @property
    def state(self) -> SessionState:
        """The lifecycle state."""
        return self.engine.clock.state

    @property
    def session(self) -> SessionData:
        """The session's symbols."""
        return self.engine.session

    @property
    def config(self) -> SessionConfig | None:
        """The config the session started with."""
        return self.engine.config

    @property
    def book(self) -> DayBook | None:
        """The session day being replayed."""
        return self.engine.replay.book

    @property
    def hub(self) -> IndicatorHub:
        """The indicator streams."""
        return self.engine.hub

    @property
    def minutes_done(self) -> int:
        """Minutes replayed so far."""
        return self.engine.clock.minutes_done

    @property
    def events(self) -> list[Event]:
        """The latest events, oldest first."""
        return list(self.engine.events.events)

    @property
    def on_event(self) -> Callable[[Event], None] | None:
        """The listener events go to."""
        return self.engine.events.listener

    @on_event.setter
    def on_event(self, listener: Callable[[Event], None] | None) -> None:
        self.engine.events.listener = listener

    @property
    def days(self) -> list[dt.date]:
        """The backtest's trading days."""
        return self.engine.timeline.days

    @property
    def session_day(self) -> dt.date:
        """The trading day being replayed."""
        return self._book().day

    def now_ns(self) -> int | None:
        """The simulated time (None without a session)."""
        return self.engine.replay.now_ns()

    def emit(self, kind: str, text: str) -> None:
        """Tell the trader something (printed above the prompt)."""
        self.engine.events.emit(kind, text)

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """Hold the symbol lock between two replay minutes."""
        with self.engine.clock.exclusive():
            yield

    def _where(self) -> str | None:
        return queries.status(self.engine).time_text

    def _mark_change(self) -> None:
        self.changes += 1
        self.changed_at_ns = self.now_ns()

    # -- lifecycle ------------------------------------------------------------------------------
    def start(
        self,
        config: SessionConfig,
        data_dir: Path,
        paused: bool = False,
        speed: float | None = None,
        progress: Callable[[int, int, str], None] | None = None,
    ) -> StartResult:
        """Validate and provision every config symbol, then start (or hold) the replay clock."""
        eng = self.engine
        if config.mode != "backtest":
            raise SessionStateError(
                'live mode needs a broker connection, which this build does not have (set "mode": "backtest")'
            )
        assert config.backtest_config is not None
        bt = config.backtest_config
        days = eng.calendar.trading_days(bt.start_date, bt.end_date)
        if not days:
            raise SessionStateError(
                f"no NYSE trading days between {bt.start_date} and {bt.end_date} (check backtest_config)"
            )
        if eng.clock.active:
            raise SessionStateError(f"a session is already {self.state.value} (stop it first with: system stop)")
        pace = check_speed(bt.speed_multiplier if speed is None else speed)
        t0 = time.perf_counter()
        self._reset()
        eng.clock.transition(SessionState.provisioning)
        eng.config = config
        eng.timeline.start(days)
        self.store = self.store_factory(data_dir)
        assert isinstance(eng.feed, ParquetFeed)
        eng.feed.store = self.store
        eng.feed.where = f"in {self.store.data_dir}"
        sd = config.session_data_config
        derived = {Interval.parse(iv) for iv in sd.derived_intervals} - {Interval.parse(sd.base_interval)}
        eng.replay.reset(DayBook(eng.calendar, days[0], sorted(derived), len(sd.symbols)), derived)
        try:
            validations, reports = self._provision_config_symbols(sd.symbols, progress)
        except BaseException:
            self._abandon_start()
            raise
        if not reports:
            self._abandon_start()
            raise ValidationFailed(StartResult.nothing_started(validations))
        self._mark_change()
        eng.events.emit("day_start", f"session day {days[0]} (1 of {len(days)}), {len(reports)} symbol(s)")
        eng.clock.begin(pace, paused)
        return StartResult(validations, reports, time.perf_counter() - t0)

    def _provision_config_symbols(
        self, symbols: list[str], progress: Callable[[int, int, str], None] | None
    ) -> tuple[list[SymbolValidationResult], list[ProvisioningReport]]:
        validations, reports = [], []
        unique = list(dict.fromkeys(symbols))
        for i, sym in enumerate(unique):
            if progress is not None:
                progress(i, len(unique), sym)
            req = self.analyze("symbol", sym, Source.config)
            validations.append(
                req.validation or SymbolValidationResult(symbol=sym, reason="; ".join(req.validation_errors))
            )
            if not req.can_proceed:
                self.emit("dropped", f"{sym} dropped: {validations[-1].reason}")
                continue
            try:
                with self.exclusive():
                    reports.append(execute(self.engine, req))
            except ProvisioningError as err:  # e.g. a stored file that fails its checks: drop it
                reason = str(err).removeprefix(f"{sym}: ")
                validations[-1] = validations[-1].model_copy(update={"can_proceed": False, "reason": reason})
                self.emit("dropped", f"{sym} dropped: {reason}")
        return validations, reports

    def _reset(self) -> None:
        eng = self.engine
        eng.session.clear()
        eng.history.clear()
        eng.feed.reset()
        eng.hub.streams.clear()
        eng.lanes.reset()
        eng.clock.reset()
        eng.replay.reset(None, set())
        eng.events.events.clear()
        self.exported_minutes = None

    def _abandon_start(self) -> None:
        """Start-up failed part-way: back to stopped with nothing loaded."""
        self._reset()
        if self.state is not SessionState.stopped:
            self.engine.clock.transition(SessionState.stopped)

    def _finish(self) -> None:
        eng = self.engine
        eng.clock.finish()
        eng.events.emit("finished", eng.replay.finished_summary(len(eng.session.symbols), eng.clock.replay_wall))

    def pause(self) -> None:
        """Hold the replay clock."""
        self.engine.clock.pause()

    def resume(self) -> None:
        """Let the replay clock run again."""
        self.engine.clock.resume()

    def set_speed(self, speed: float) -> float:
        """Change the replay speed (also while running)."""
        return self.engine.clock.set_speed(speed)

    def stop(self) -> None:
        """Stop the session and drop its data."""
        self.engine.clock.stop()
        with self.exclusive():
            self._reset()

    def shutdown(self) -> None:
        """Stop the clock thread if one runs (leaving the program)."""
        self.engine.clock.shutdown()

    def wait(self, timeout: float | None = None, on_progress: Callable[[], None] | None = None) -> bool:
        """Block until the backtest finishes (see ReplayClock.wait)."""
        return self.engine.clock.wait(timeout, on_progress)

    # -- stepping a paused session --------------------------------------------------------------
    def advance(self, minutes: int, should_stop: Callable[[], bool] | None = None) -> int:
        """Step a paused session ``minutes`` trading minutes (a close rolls to the next open
        without counting; stops at the end of the backtest); returns the minutes stepped."""
        self._require_paused("time advance")
        clock, done = self.engine.clock, 0
        while done < minutes and clock.state == SessionState.paused and not (should_stop and should_stop()):
            done += clock.step_once()
        return done

    def advance_to(self, target_ns: int, should_stop: Callable[[], bool] | None = None) -> int:
        """Step a paused session until the clock reaches ``target_ns``; a target outside the
        session hours stops at the last close before it. Returns the minutes stepped."""
        self._require_paused("time until")
        eng = self.engine
        book = self._book()
        if target_ns <= book.now_ns:
            raise SessionStateError(
                f"{to_ny(target_ns):%Y-%m-%d %H:%M} is not after now ({to_ny(book.now_ns):%Y-%m-%d %H:%M} ET)"
            )
        done = 0
        while eng.clock.state == SessionState.paused and self._book().now_ns < target_ns:
            if (should_stop and should_stop()) or (
                self._book().done and eng.timeline.open_of(eng.timeline.pos + 1) > target_ns
            ):
                break  # interrupted, or the target falls between two sessions: stop at this close
            done += eng.clock.step_once()
        return done

    def session_target(self, sessions: int) -> int:
        """Where ``time advance N session(s)`` goes (see Timeline.session_target)."""
        return self.engine.timeline.session_target(self._book(), sessions)

    def named_target(self, name: str) -> int:
        """Where ``time until open|close|next-open`` goes (see Timeline.named_target)."""
        return self.engine.timeline.named_target(self._book(), name)

    def _require_paused(self, command: str) -> None:
        if self.state != SessionState.paused:
            hint = (
                "pause it first with: system pause"
                if self.state == SessionState.running
                else "start one with: system start"
            )
            raise SessionStateError(f"{command} steps a paused session (state: {self.state.value}; {hint})")

    def _book(self) -> DayBook:
        book = self.engine.replay.book
        if book is None:
            raise SessionStateError("no session (start one with: system start)")
        return book

    # -- additions ------------------------------------------------------------------------------
    def _require_session(self) -> None:
        if self.state not in (SessionState.running, SessionState.paused, SessionState.provisioning):
            raise SessionStateError(f"no active session (state: {self.state.value}; start one with: system start)")

    def analyze(self, operation: Operation, symbol: str, source: Source | str, **kw: Any) -> ProvisioningRequirements:
        """Phases 1 and 2 (analyze, validate) for an addition; changes nothing."""
        self._require_session()
        eng = self.engine
        assert eng.config is not None
        book = self._book()
        sym = check_symbol(symbol)
        req = analyze_requirements(
            operation, sym, Source(source), existing=eng.session.get(sym), config=eng.config.session_data_config,
            session_day=book.day, calendar=eng.calendar, **kw,
        )  # fmt: skip
        if req.outcome == "rejected":
            req.can_proceed = False
            return req
        if req.outcome == "duplicate":
            req.can_proceed = True
            return req
        cfg_iv = eng.config.intervals() if operation == "symbol" else None
        back = eng.calendar.trading_days_back(book.day, req.historical_days) if req.historical_days else []
        v = validate_symbol(eng.feed, eng.calendar, sym, req.required_intervals, book.day, back, cfg_iv)
        req.validation, req.can_proceed = v, v.can_proceed
        if not v.can_proceed:
            req.validation_errors.append(v.reason)
        elif v.reason != "ok":
            req.warnings.append(v.reason)
        return req

    def add(self, operation: Operation, symbol: str, source: Source | str, **kw: Any) -> AdditionResult:
        """Analyze → validate → provision one addition (symbol, bar or indicator)."""
        with self.exclusive():
            req = self.analyze(operation, symbol, source, **kw)
            if not req.can_proceed:
                raise ValidationFailed(f"cannot add {operation} for {req.symbol}: {'; '.join(req.validation_errors)}")
            if req.outcome == "duplicate":
                return AdditionResult(req, None)
            report = execute(self.engine, req)
            self._mark_change()
        self.emit("added", f"{req.operation} {req.symbol}: {req.outcome} ({report.total_ms:.1f} ms)")
        return AdditionResult(req, report)

    def add_many(self, operation: Operation, symbols: list[str], source: Source | str, **kw: Any) -> AdditionBatch:
        """``add`` for several symbols, one after another; failures are collected, not raised."""
        self._require_session()
        batch = AdditionBatch([], [])
        for sym in symbols:
            try:
                batch.results.append(self.add(operation, sym, source, **kw))
            except TraderCliError as err:
                batch.failures.append((sym.strip().upper(), str(err)))
        return batch

    def remove_symbol(self, symbol: str) -> SymbolSessionData:
        """Remove a symbol and everything it holds."""
        self._require_session()
        with self.exclusive():
            data = self.session.require(check_symbol(symbol))
            drop_symbol(self.engine, data.symbol)
            self._mark_change()
        self.emit("removed", f"{data.symbol} removed")
        return data

    # -- reading (queries under the lock) -------------------------------------------------------
    def status(self) -> queries.SessionStatus:
        """State, simulated time, trading day, progress, speed and symbol count."""
        return queries.status(self.engine)

    def bars(self, symbol: str, interval: str) -> tuple[Bars, Bars]:
        """(trailing history, today's completed bars) of a symbol's interval."""
        with self.exclusive():
            return queries.bars(self.engine, self._interval_of(symbol, interval), Interval.parse(interval))

    def series(self, symbol: str, interval: str) -> Bars:
        """Every bar of a symbol's interval since its first history bar (the whole run)."""
        with self.exclusive():
            return queries.series(self.engine, self._interval_of(symbol, interval), Interval.parse(interval))

    def quality_of(self, symbol: str) -> list[IntervalQuality]:
        """Bars present ÷ expected for each interval of a symbol, with gaps."""
        with self.exclusive():
            return queries.quality(self.engine, symbol)

    def _interval_of(self, symbol: str, interval: str) -> SymbolSessionData:
        data = self.session.require(check_symbol(symbol))
        iv = Interval.parse(interval)
        if iv not in data.intervals:
            raise SessionStateError(
                f"{data.symbol} has no {iv} bars (it has {', '.join(data.intervals)}; "
                f"add them with: add bar {data.symbol} {iv})"
            )
        return data
