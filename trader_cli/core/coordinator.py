"""SessionCoordinator: the one object every command talks to — a thin facade that wires the
engine's parts (core/engine.py) and hands each command to the module that owns it: start-up
(core/startup.py), the three-phase pipeline (core/provisioning/pipeline.py), stepping
(core/stepping.py) and the read side (core/queries.py). All symbol mutations (a replay minute
included) happen under the symbol lock, so an addition sees the session between two minutes.
"""

from __future__ import annotations

import datetime as dt
import gc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from trader_cli.core import queries, startup, stepping
from trader_cli.core.bars import Bars
from trader_cli.core.broker.models import Order, OrderRequest
from trader_cli.core.calendar import nyse
from trader_cli.core.config import SessionConfig
from trader_cli.core.engine import Engine, Event
from trader_cli.core.errors import PluginError, SessionStateError
from trader_cli.core.feed import ParquetFeed
from trader_cli.core.lifecycle import SessionState
from trader_cli.core.provenance import Source
from trader_cli.core.provisioning import pipeline
from trader_cli.core.provisioning.requirements import Operation, ProvisioningRequirements
from trader_cli.core.quality import IntervalQuality
from trader_cli.core.results import AdditionBatch, AdditionResult, StartResult
from trader_cli.core.session import SessionData, SymbolSessionData
from trader_cli.core.store import DataManager
from trader_cli.core.timeline import Timeline

if TYPE_CHECKING:
    from trader_cli.core.plugins.api import Schedule
    from trader_cli.core.plugins.host import Kind, Slot

R = TypeVar("R")
LIVE_PACE = "a live session runs on the market's clock (its pace is live_config.clock.speed, for demos and tests)"

__all__ = ["AdditionBatch", "AdditionResult", "Event", "SessionCoordinator", "StartResult"]


class SessionCoordinator:
    """One session: its lifecycle, clock and additions (see the module doc)."""

    engine: Engine

    def __init__(self, store_factory: Callable[[Path], DataManager] = DataManager) -> None:
        self.store_factory = store_factory
        self.store: DataManager = store_factory(Path("data"))
        self.feed = ParquetFeed(
            self.store, nyse(), Timeline(nyse()), lambda text: self.engine.events.emit("error", text)
        )
        self.engine = Engine.wired(self.feed, on_last_minute=lambda: startup.finish(self.engine))
        self.exported_minutes: int | None = None  # minutes replayed at the last export (None: never)
        # Each change to the session's symbols counts, with the simulated time it took effect at
        # (a recording replays it at that minute, whatever the wall-clock timing was).
        self.changes = 0
        self.changed_at_ns: int | None = None

    # -- what commands may read -----------------------------------------------------------------
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
    def days(self) -> list[dt.date]:
        """The backtest's trading days."""
        return self.engine.timeline.days

    @property
    def session_day(self) -> dt.date:
        """The trading day being replayed."""
        return stepping.book_of(self.engine).day

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
        """The listener events go to (the shell prints them above the prompt)."""
        return self.engine.events.listener

    @on_event.setter
    def on_event(self, listener: Callable[[Event], None] | None) -> None:
        self.engine.events.listener = listener

    def now_ns(self) -> int | None:
        """The simulated time (None without a session)."""
        return self.engine.replay.now_ns()

    @contextmanager
    def exclusive(self, waiting: Callable[[], object] | None = None) -> Iterator[None]:
        """Hold the symbol lock between two replay minutes (``waiting``: ReplayClock.exclusive's)."""
        with self.engine.clock.exclusive(waiting):
            yield

    def _mark_change(self) -> None:  # the caller holds the lock: the time is the change's
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
        if not self.engine.clock.active:  # a running session keeps its store (start refuses)
            self.store = self.feed.store = self.store_factory(data_dir)
            self.feed.where = f"in {self.store.data_dir}"
        self.exported_minutes = None
        with self.exclusive():
            if config.mode == "live":
                from trader_cli.live.session import start_live

                if speed is not None:
                    raise SessionStateError(LIVE_PACE)

                result = start_live(self.engine, self.feed, config, paused, progress)
            else:
                self._end_live()
                result = startup.start(self.engine, config, paused, speed, progress)
            self._mark_change()
        # What start-up made lives as long as the session: the collector's full passes skip it
        # from now on (a replay makes many small objects, orders and fills; full collections
        # over everything start-up made were pauses of 50-150 ms). Undone when the session stops.
        gc.freeze()
        return result

    def pause(self) -> None:
        """Hold the replay clock."""
        self.engine.clock.pause()

    def resume(self) -> None:
        """Let the replay clock run again."""
        self.engine.clock.resume()

    def set_speed(self, speed: float) -> float:
        """Change the replay speed (also while running); a live session runs on the market's clock."""
        cfg = self.engine.config
        if cfg is not None and cfg.mode == "live" and self.engine.clock.active:
            raise SessionStateError(LIVE_PACE)
        return self.engine.clock.set_speed(speed)

    def stop(self) -> None:
        """Stop the session and drop its data (a plugin callback stuck in the running clock is
        stopped first: it holds the session)."""
        self.engine.plugins.interrupt_stuck()
        remote = self.engine.broker.remote
        if remote is not None and self.engine.replay.book is not None:
            with self.exclusive():
                remote.stopping(self.engine.broker)  # what stays open at Alpaca, said before it is dropped
        startup.stop(self.engine)
        self._end_live()
        self.exported_minutes = None
        gc.unfreeze()

    def _end_live(self) -> None:
        """A live session's stream stopped and the store's feed back in the engine."""
        if self.engine.feed is not self.feed:
            from trader_cli.live.session import end_live

            end_live(self.engine, self.feed)

    def shutdown(self) -> None:
        """Stop the clock thread if one runs (leaving the program)."""
        self.engine.plugins.interrupt_stuck()
        self.engine.clock.shutdown()
        self._end_live()
        gc.unfreeze()

    def wait(
        self,
        timeout: float | None = None,
        on_progress: Callable[[], None] | None = None,
        until_ns: int | None = None,
    ) -> bool:
        """Block until the backtest finishes, or the session's clock reaches ``until_ns`` (see
        ReplayClock.wait)."""
        if until_ns is None:
            return self.engine.clock.wait(timeout, on_progress)
        return self.engine.clock.wait(timeout, on_progress, lambda: (self.engine.replay.now_ns() or 0) >= until_ns)

    # -- stepping a paused session --------------------------------------------------------------
    def advance(self, minutes: int, should_stop: Callable[[], bool] | None = None) -> int:
        """Step ``minutes`` trading minutes (see core/stepping.py)."""
        return stepping.advance(self.engine, minutes, should_stop)

    def advance_to(
        self, target_ns: int, should_stop: Callable[[], bool] | None = None, command: str = "time until"
    ) -> int:
        """Step until the clock reaches ``target_ns`` (see core/stepping.py)."""
        return stepping.advance_to(self.engine, target_ns, should_stop, command)

    def session_target(self, sessions: int) -> int:
        """Where ``time advance N session(s)`` goes (see Timeline.session_target)."""
        return self.engine.timeline.session_target(stepping.book_of(self.engine), sessions)

    def sessions_left(self) -> int:
        """The backtest's sessions after the current one."""
        tl = self.engine.timeline
        return len(tl.days) - 1 - tl.pos

    def named_target(self, name: str) -> int:
        """Where ``time until open|close|next-open`` goes (see Timeline.named_target)."""
        return self.engine.timeline.named_target(stepping.book_of(self.engine), name)

    # -- additions ------------------------------------------------------------------------------
    def analyze(self, operation: Operation, symbol: str, source: Source | str, **kw: Any) -> ProvisioningRequirements:
        """Phases 1 and 2 (analyze, validate) for an addition; changes nothing."""
        return pipeline.analyze(self.engine, operation, symbol, source, **kw)

    def add(self, operation: Operation, symbol: str, source: Source | str, **kw: Any) -> AdditionResult:
        """Analyze → validate → provision one addition (symbol, bar or indicator)."""
        with self.exclusive():
            result = pipeline.add(self.engine, operation, symbol, source, **kw)
            if result.report is not None:
                self._mark_change()
        return result

    def add_many(self, operation: Operation, symbols: list[str], source: Source | str, **kw: Any) -> AdditionBatch:
        """``add`` for several symbols, one after another; failures are collected, not raised."""
        with self.exclusive():
            batch = pipeline.add_many(self.engine, operation, symbols, source, **kw)
            if any(r.report is not None for r in batch.results):
                self._mark_change()
        return batch

    def submit(self, req: OrderRequest) -> Order:
        """Place an order with the session's broker (checked; a refused one is recorded rejected)."""
        with self.exclusive():
            self._mark_change()
            return self.engine.broker.submit(req).model()

    def cancel(self, order_id: str) -> Order:
        """Cancel an open order."""
        with self.exclusive():
            self._mark_change()
            return self.engine.broker.cancel(order_id).model()

    # -- plugins ----------------------------------------------------------------------------------
    def load_plugin(
        self,
        kind: Kind,
        spec: str,
        params: dict[str, Any],
        schedule: Schedule | dict[str, Any] | None = None,
        as_name: str | None = None,
    ) -> Slot:
        """Load a strategy or scanner file (relative paths: from the working dir) into the session."""
        with self.exclusive():
            slot = self.engine.plugins.load(kind, spec, params, schedule, as_name=as_name)
            self._mark_change()
        return slot

    def control_plugin(self, kind: Kind, action: str, name: str) -> Slot:
        """``stop``, ``start``, ``reload`` or ``unload`` a loaded plugin. A plugin whose callback
        has not returned for a second or more holds the running clock (and the session): stopping
        or unloading it stops that callback first."""
        host = self.engine.plugins
        waiting = None
        host.get(name, kind)  # one line if there is no such plugin (before a reload's failure says it runs on)
        if action in ("stop", "unload"):
            host.interrupt_stuck(name)  # stuck already: stopped before the wait looks at who holds the session
            waiting = partial(host.interrupt_stuck, name)  # one that reaches a second while this waits, too
        with self.exclusive(waiting):
            try:
                slot: Slot = getattr(host, action)(name, kind)
            except PluginError as err:  # a reload that fails (an edited file that no longer imports, …)
                if action != "reload" or "runs on" in str(err):
                    raise
                raise PluginError(f"{err} (not reloaded: the one loaded runs on)") from None
            self._mark_change()
        return slot

    def remove_symbol(self, symbol: str) -> SymbolSessionData:
        """Remove a symbol and everything it holds."""
        with self.exclusive():
            data = pipeline.remove(self.engine, symbol)
            self._mark_change()
        return data

    # -- reading (queries under the lock) -------------------------------------------------------
    def status(self) -> queries.SessionStatus:
        """State, simulated time, trading day, progress, speed and symbol count."""
        return queries.status(self.engine)

    def bars(self, symbol: str, interval: str) -> tuple[Bars, Bars]:
        """(trailing history, today's completed bars) of a symbol's interval."""
        with self.exclusive():
            return queries.bars(self.engine, *queries.holding(self.engine, symbol, interval))

    def series(self, symbol: str, interval: str) -> Bars:
        """Every bar of a symbol's interval since its first history bar (the whole run)."""
        with self.exclusive():
            return queries.series(self.engine, *queries.holding(self.engine, symbol, interval))

    def quality_of(self, symbol: str) -> list[IntervalQuality]:
        """Bars present ÷ expected for each interval of a symbol, with gaps."""
        with self.exclusive():
            return queries.quality(self.engine, symbol)

    def read(self, report: Callable[..., R], *args: Any) -> R:
        """A report of the read side (core/reports.py), built under the symbol lock:
        ``coord.read(reports.session_table)``."""
        with self.exclusive():
            return report(self.engine, *args)
