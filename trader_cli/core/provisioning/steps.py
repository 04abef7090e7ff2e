"""Provisioning steps as typed values: each ``apply``s itself to the engine and returns the rows
it loaded, a detail and an undo. The steps of one addition share an ``AdditionContext`` (the one
store read that serves history, today and the days read ahead; the bars held before today,
read once for every indicator it seeds).

    create_symbol · upgrade_symbol · add_interval · load_historical · load_session
    · register_indicator · calculate_quality
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, computed_field

from trader_cli.core.bars import OPEN_AFTER_MIDNIGHT_NS, Bars, aggregate, session_bars
from trader_cli.core.intervals import BASE_1M, DAILY, Interval
from trader_cli.core.lifecycle import SessionState
from trader_cli.core.provenance import SymbolMetadata
from trader_cli.core.session import DayBlock, IndicatorSlot, SymbolSessionData

if TYPE_CHECKING:
    from trader_cli.core.engine import Engine
    from trader_cli.core.provisioning.requirements import ProvisioningRequirements
    from trader_cli.core.timeline import Timeline


class IndicatorPlan(BaseModel):
    """One indicator to register, with its warmup turned into trading days."""

    key: str
    name: str
    params: list[float | int]
    interval: Interval
    base_interval: Interval
    warmup_bars: int  # bars before its first value
    converge_bars: int  # bars before its value no longer depends on where the series starts
    historical_days: int  # trading days holding converge_bars (those loaded as history)


@dataclass
class StepOutcome:
    """What a step did: rows loaded, a detail for the report, how to undo it."""

    rows: int = 0
    detail: str = ""
    undo: Callable[[], None] | None = None


@dataclass
class AdditionContext:
    """What the steps of one addition share (nothing outlives the addition)."""

    engine: Engine
    req: ProvisioningRequirements
    today: Bars | None = None  # the symbol's bars of today, from load_historical's read
    held: dict[tuple[str, Interval], Bars] = field(default_factory=dict)  # bars before today, by (symbol, iv)

    def data(self) -> SymbolSessionData:
        """The symbol being provisioned."""
        return self.engine.session.require(self.req.symbol)

    def held_before_today(self, data: SymbolSessionData, interval: Interval) -> Bars:
        """Every bar of ``interval`` the symbol holds before today (its history blocks and the
        days replayed since it joined), read once per addition: what an indicator is seeded
        with, so it has seen every bar it has a value at."""
        key = (data.symbol, interval)
        hit = self.held.get(key)
        if hit is None:
            hit = self.held[key] = self.engine.history.whole(data, interval)
        return hit


class _Step(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    @computed_field  # type: ignore[prop-decorator]
    @property
    def label(self) -> str:
        """The step as the report names it."""
        return str(getattr(self, "kind", ""))

    def apply(self, ctx: AdditionContext) -> StepOutcome:
        """Do the step (the caller holds the symbol lock)."""
        raise NotImplementedError


class CreateSymbol(_Step):
    """A new symbol with its provenance, on a lane of its own."""

    kind: Literal["create_symbol"] = "create_symbol"

    def apply(self, ctx: AdditionContext) -> StepOutcome:
        """Create the symbol (undo: drop it and everything it got)."""
        eng, req = ctx.engine, ctx.req
        started = eng.clock.state in (SessionState.running, SessionState.paused)
        meta = SymbolMetadata(**req.metadata, added_at=eng.replay.now_ns() if started else None)
        data = SymbolSessionData(
            symbol=req.symbol, base_interval=req.base_interval, metadata=meta, lane=eng.lanes.allocate()
        )
        data.since_pos = eng.timeline.pos
        eng.session.symbols[req.symbol] = data
        eng.session.generation += 1

        def undo() -> None:
            drop_symbol(eng, req.symbol)
            ctx.held.clear()

        return StepOutcome(detail=f"lane {data.lane}", undo=undo)


class UpgradeSymbol(_Step):
    """An adhoc symbol becomes a full one (scenario 4 of the design notes)."""

    kind: Literal["upgrade_symbol"] = "upgrade_symbol"

    def apply(self, ctx: AdditionContext) -> StepOutcome:
        """Mark the symbol full, added by this source (undo: its metadata as it was)."""
        data = ctx.data()
        before = data.metadata.copy()
        data.metadata.meets_session_config_requirements = True
        data.metadata.upgraded_from_adhoc = True
        data.metadata.added_by = ctx.req.source

        def undo() -> None:
            data.metadata = before

        return StepOutcome(detail=f"added_by={ctx.req.source}", undo=undo)


class AddInterval(_Step):
    """A bar interval for the symbol (a derived one is built in the day's book for every lane)."""

    kind: Literal["add_interval"] = "add_interval"
    interval: Interval

    @computed_field  # type: ignore[prop-decorator]
    @property
    def label(self) -> str:
        """``add_interval_5m``."""
        return f"add_interval_{self.interval}"

    def apply(self, ctx: AdditionContext) -> StepOutcome:
        """Add the interval (undo: take it off the symbol)."""
        eng, iv = ctx.engine, self.interval
        data = ctx.data()
        if iv not in data.intervals:
            data.intervals.append(iv)
            data.intervals.sort()
        if iv != data.base_interval and iv not in eng.replay.derived:
            book = eng.replay.book
            assert book is not None
            eng.replay.derived.add(iv)
            book.add_derived(iv)

        def undo() -> None:
            if iv in data.intervals:
                data.intervals.remove(iv)
            data.loaded.pop(iv, None)

        return StepOutcome(detail=iv.name, undo=undo)


class LoadHistory(_Step):
    """The trailing days of history for every interval of the symbol. A symbol joining today
    gets them from one store read that also brings today's bars (for load_session) and the days
    read ahead. A symbol already in the session keeps every bar it holds: only the days before
    its earliest ones are read, when the addition asks for more (``history_days`` counts the
    days before the day it joined, so a need of N days before today is covered by N days before
    that day, the days replayed since included)."""

    kind: Literal["load_historical"] = "load_historical"

    def apply(self, ctx: AdditionContext) -> StepOutcome:
        """Read and keep the history (undo: the history the symbol had before)."""
        eng, req = ctx.engine, ctx.req
        data = ctx.data()
        book = eng.replay.book
        assert book is not None
        ctx.held.clear()
        old = ({iv: list(b) for iv, b in data.loaded.items()}, dict(data.history_days))
        had = {iv: data.history_days.get(iv, 0) for iv in data.intervals}
        wanted = {iv: max(req.history_days_by_interval.get(iv, 0), had[iv]) for iv in data.intervals}
        grow = [iv for iv in data.intervals if wanted[iv] > had[iv]]
        tl = eng.timeline
        joined = tl.days[data.since_pos]  # today, for a symbol created by this addition
        start = tl.cutoff(joined, max((wanted[iv] for iv in grow), default=0), BASE_1M)
        fresh = req.outcome == "create"
        if fresh:
            both = eng.feed.read_through(data.symbol, start)
            split = int(np.searchsorted(both.ts, book.open_ns))
            ctx.today = both.slice(split, int(np.searchsorted(both.ts, book.close_ns)))
            eng.feed.join(data.lane, both, data.symbol)
            before = both.slice(0, split)
        elif grow:  # only the days before what it holds: the bars it has stay as they are
            end = tl.cutoff(joined, min(had[iv] for iv in grow), BASE_1M)
            before = eng.feed.read(data.symbol, BASE_1M, start, end)
        else:
            before = Bars.empty()
        base = session_bars(before, eng.calendar) if len(before) else Bars.empty()
        rows = 0
        loaded: dict[Interval, list[DayBlock]] = {iv: [] for iv in data.intervals if iv not in data.loaded}
        read: dict[Interval, Bars] = {}
        daily_stored = DAILY in eng.feed.intervals_for(data.symbol)
        for iv in grow:  # everything is read before anything changes
            n, k = wanted[iv], had[iv]
            if iv.is_daily and daily_stored:
                hist = eng.feed.read(data.symbol, DAILY, tl.cutoff(joined, n, iv), _end_before(tl, joined, k, iv))
            else:
                part = base.window(tl.cutoff(joined, n, BASE_1M), tl.cutoff(joined, k, BASE_1M))
                hist = part if iv == BASE_1M else aggregate(part, iv, eng.calendar)  # the blocks copy
            back = eng.calendar.trading_days_back(joined, n)
            older = back[: max(0, len(back) - k)]  # the k latest are held already
            loaded[iv] = eng.history.blocks(hist, iv, older) + data.loaded.get(iv, [])
            read[iv] = hist
            rows += len(hist)
        data.loaded.update(loaded)
        data.history_days.update(wanted)
        if fresh:
            # The history just read is all the symbol holds before today (no replayed day, no
            # earlier blocks): the indicators' seeds read it from here instead of the blocks.
            ctx.held.update({(data.symbol, iv): hist for iv, hist in read.items()})

        def undo() -> None:
            data.loaded, data.history_days = old
            ctx.held.clear()

        return StepOutcome(rows=rows, detail=f"{req.historical_days} trading day(s)", undo=undo)


def _end_before(tl: Timeline, joined: dt.date, depth: int, interval: Interval) -> int:
    """Where the history already held (``depth`` days before ``joined``) begins: the end of
    what an addition reads (a daily bar is stamped before the open, so the day's own is left out)."""
    end = tl.cutoff(joined, depth, interval)
    return end - OPEN_AFTER_MIDNIGHT_NS if interval.is_daily and not depth else end


class LoadSession(_Step):
    """Today's bars up to now into the symbol's lane of the day book."""

    kind: Literal["load_session"] = "load_session"

    def apply(self, ctx: AdditionContext) -> StepOutcome:
        """Fill the lane (the bars after now stay hidden behind the book's cursor)."""
        eng = ctx.engine
        data = ctx.data()
        book = eng.replay.book
        assert book is not None
        today = ctx.today
        if today is None:
            today = eng.feed.read(data.symbol, BASE_1M, book.open_ns, book.close_ns)
        book.fill_lane(data.lane, today)
        return StepOutcome(rows=book.session_count(data.lane, BASE_1M), detail="bars before now")


class RegisterIndicator(_Step):
    """An indicator on the symbol, seeded with its history and today's bars so far."""

    kind: Literal["register_indicator"] = "register_indicator"
    plan: IndicatorPlan

    @computed_field  # type: ignore[prop-decorator]
    @property
    def label(self) -> str:
        """``register_indicator sma_20_5m``."""
        return f"register_indicator {self.plan.key}"

    def apply(self, ctx: AdditionContext) -> StepOutcome:
        """Register and seed it (undo: unregister)."""
        from trader_cli.core.indicators import IndicatorRequest

        eng, plan = ctx.engine, self.plan
        data = ctx.data()
        book = eng.replay.book
        assert book is not None
        request = IndicatorRequest.parse(plan.name, plan.params, plan.interval)
        seed = ctx.held_before_today(data, plan.interval)
        today = book.session_bars(data.lane, plan.interval)
        blane = eng.hub.register(request, data.lane, seed, today, book.grid(plan.interval), eng.timeline.pos)
        data.indicators[request.key] = IndicatorSlot(request, blane)

        def undo() -> None:
            eng.hub.unregister(request.key, data.lane)
            data.indicators.pop(request.key, None)

        seen = eng.hub.progress(request.key, data.lane)[0]
        detail = plan.key if seen >= plan.converge_bars else f"{plan.key} ({seen} of {plan.converge_bars} bars)"
        return StepOutcome(detail=detail, undo=undo)


class CalculateQuality(_Step):
    """Bars present ÷ expected for each of the symbol's intervals."""

    kind: Literal["calculate_quality"] = "calculate_quality"

    def apply(self, ctx: AdditionContext) -> StepOutcome:
        """Measure (changes nothing)."""
        from trader_cli.core.queries import quality

        q = quality(ctx.engine, ctx.req.symbol)
        worst = min((x.ratio for x in q), default=1.0)
        return StepOutcome(detail=f"min {worst:.1%}")


ProvisioningStep = Annotated[
    CreateSymbol | UpgradeSymbol | AddInterval | LoadHistory | LoadSession | RegisterIndicator | CalculateQuality,
    Field(discriminator="kind"),
]


def drop_symbol(eng: Engine, symbol: str) -> SymbolSessionData | None:
    """Remove a symbol and everything it holds (indicators, lanes in today's and the read-ahead
    books); its lane is handed out again."""
    data = eng.session.symbols.pop(symbol, None)
    eng.session.generation += 1
    if data is None:
        return None
    for key in list(data.indicators):
        eng.hub.unregister(key, data.lane)
    if eng.replay.book is not None:
        eng.replay.book.clear_lane(data.lane)
    eng.feed.leave(data.lane)
    eng.lanes.release(data.lane)
    return data
