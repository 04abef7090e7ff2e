"""The parts of one session's engine, wired together once (by the coordinator), and the event log.

    Engine
    ├── session    the symbols and the symbol lock          (core/session.py)
    ├── lanes      symbol ↔ lane of the cross-sectional arrays (core/lanes.py)
    ├── timeline   the backtest's days and position         (core/timeline.py)
    ├── feed       the bar source (Parquet; Alpaca live)     (core/feed.py)
    ├── history    trailing history and the whole run        (core/history.py)
    ├── hub        indicator streams                         (core/streams.py)
    ├── replay     the current day and the minute step       (core/step.py)
    ├── clock      the lifecycle and the replay thread       (core/clock.py)
    ├── broker     orders, fills, positions, the account     (core/broker/)
    ├── plugins    strategies and scanners, their stages      (core/plugins/)
    └── events     what the trader is told above the prompt

Provisioning steps (core/provisioning/steps.py) and the read side (core/queries.py) take an
``Engine``; nothing outside core reaches into its parts.
"""

from __future__ import annotations

import functools
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from trader_cli.core.broker.matching import match
from trader_cli.core.broker.sim import SimBroker
from trader_cli.core.calendar import MarketCalendar
from trader_cli.core.clock import ReplayClock
from trader_cli.core.config import BrokerConfig, SessionConfig
from trader_cli.core.feed import BarSource, ParquetFeed
from trader_cli.core.history import History
from trader_cli.core.lanes import LaneAllocator
from trader_cli.core.plugins.host import PluginHost
from trader_cli.core.secrets import redact, secret_values
from trader_cli.core.session import SessionData
from trader_cli.core.step import Replay
from trader_cli.core.streams import IndicatorHub
from trader_cli.core.timeline import Timeline


@dataclass(frozen=True)
class Event:
    """Something the replay wants the trader to know (day start/end, additions, errors)."""

    kind: str
    text: str
    at_ns: int | None


@dataclass
class EventLog:
    """The last events, and a listener (the shell prints them above the prompt)."""

    now: Callable[[], int | None]
    events: deque[Event] = field(default_factory=lambda: deque(maxlen=1000))
    listener: Callable[[Event], None] | None = None
    # the secret values to mask, read once (keys come from the environment the process started
    # with; reading it again per line would cost ~40 us on the order path's every event)
    secrets: list[str] = field(default_factory=secret_values)

    def emit(self, kind: str, text: str) -> None:
        """Record an event and hand it to the listener (secret values masked: a plugin's error
        text, a broker's answer, may hold one)."""
        ev = Event(kind, redact(text, self.secrets) if self.secrets else text, self.now())
        self.events.append(ev)
        if self.listener is not None:
            self.listener(ev)


@dataclass
class Engine:
    """One session's parts (see the module doc)."""

    calendar: MarketCalendar
    session: SessionData
    lanes: LaneAllocator
    timeline: Timeline
    feed: BarSource
    history: History
    hub: IndicatorHub
    replay: Replay
    clock: ReplayClock
    events: EventLog
    broker: SimBroker
    plugins: PluginHost = field(init=False)
    config: SessionConfig | None = None

    def __post_init__(self) -> None:
        from trader_cli.core.plugins.running import holding

        self.plugins = PluginHost(self)
        self.clock.held_by = lambda: holding(self.plugins)

    @classmethod
    def wired(cls, feed: ParquetFeed, on_last_minute: Callable[[], None]) -> Engine:
        """Every part, connected: the minute step runs open (pre-session scanners) → feed →
        match (the broker) → bars → indicators → mark (the broker) → scanners → strategies →
        events; the clock steps the replay under the session's lock."""
        from trader_cli.core import queries

        timeline = feed.timeline
        cal = timeline.calendar
        session, events = SessionData(), EventLog(now=lambda: replay.now_ns())
        history, hub = History(timeline), IndicatorHub()
        replay = Replay(timeline, feed, history, hub, session, events.emit, on_last_minute)
        clock = ReplayClock(
            session.lock, replay.advance, lambda: queries.status(eng).time_text, lambda t: events.emit("error", t)
        )
        lanes = LaneAllocator(on_grow=lambda n: replay.book.ensure_capacity(n) if replay.book else None)
        broker = SimBroker(BrokerConfig())
        eng = cls(cal, session, lanes, timeline, feed, history, hub, replay, clock, events, broker)
        broker.engine = eng
        replay.step.add("match", functools.partial(match, broker))  # orders submitted before this bar, against it
        replay.step.add("mark", broker.mark_stage)  # after the indicators: marks, equity, expiries
        replay.step.add("open", eng.plugins.open_stage)  # before a day's first bar
        replay.step.add("scanners", eng.plugins.scanner_stage)  # due at the clock
        replay.step.add("strategies", eng.plugins.strategy_stage)  # their orders wait for the next bar
        return eng
