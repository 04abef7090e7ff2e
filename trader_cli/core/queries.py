"""The read side: what commands, tables, charts and the export ask of a session, as typed values
built under the symbol lock (a consistent snapshot between two replay minutes).

Bars: ``bars`` is a symbol's trailing history and today's bars so far (what an indicator sees);
``series`` is everything it held since its first history bar (the whole run). Quality compares
the whole run with the calendar. Nothing here changes the session.
"""

from __future__ import annotations

import datetime as dt
import os
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import BaseModel, Field

from trader_cli.core.bars import Bars
from trader_cli.core.broker.models import Money
from trader_cli.core.calendar import iso_utc, to_ny
from trader_cli.core.config import ALPACA_KEY_VARS
from trader_cli.core.errors import SessionStateError, few
from trader_cli.core.intervals import Interval
from trader_cli.core.jsonsafe import finite
from trader_cli.core.lifecycle import NO_SESSION, SessionState
from trader_cli.core.quality import IntervalQuality, expected_starts, measure
from trader_cli.core.session import SymbolSessionData

if TYPE_CHECKING:
    from trader_cli.core.engine import Engine


class LiveStatus(BaseModel):
    """A live session's stream: its feed and clock, and what the minute assembler saw."""

    feed: str
    clock_speed: float
    market_time: str = ""  # HH:MM:SS, New York: the live clock (the session's time is the last bar stepped)
    before_open: bool = False  # the market has not opened yet: the session steps from 09:30
    minutes_closed: int  # by the stream's minute assembler
    minutes_from_rest: int = 0  # stepped from today's REST bars (a session started after the open)
    closed_by_timeout: int  # minutes some symbol had no streamed bar for by the deadline
    backfilled: int  # bars that came over REST for minutes the stream missed
    late_bars: int  # bars for minutes already closed (dropped)
    extended_hours_bars: int = 0  # streamed bars outside the regular session (not stepped)
    revisions: int  # updatedBars corrections (kept, never re-stepped)
    silent_since: str | None = None  # HH:MM: the stream has sent nothing since (a warning)
    late_by_symbol: dict[str, int] = Field(default_factory=dict)
    revisions_by_symbol: dict[str, int] = Field(default_factory=dict)

    def __str__(self) -> str:
        return (
            f"{self.feed} stream, market clock {self.market_time} x{self.clock_speed:g}"
            + (" (before the open: the session steps from the opening bell)" if self.before_open else "")
            + "; "
            + (f"{self.minutes_from_rest} minute(s) from REST at start, " if self.minutes_from_rest else "")
            + f"{self.minutes_closed} minute(s) closed "
            f"({self.closed_by_timeout} by timeout), {self.backfilled} bar(s) backfilled over REST, "
            f"{self.late_bars} late bar(s) dropped, {self.revisions} revision(s)"
            + (f", {self.extended_hours_bars} extended-hours bar(s) left out" if self.extended_hours_bars else "")
            + (f"; WARNING: the stream has sent nothing since {self.silent_since}" if self.silent_since else "")
        )


class SessionStatus(BaseModel):
    """Where the session is: state, simulated time (New York), day, progress, speed, symbols."""

    state: SessionState
    mode: str | None
    config: str | None
    trading_day: dt.date | None
    day: int | None  # 1-based position of the trading day in the backtest
    days: int
    time: dt.datetime | None
    minutes_replayed: int
    minutes_total: int
    progress_pct: float
    bars_replayed: int
    speed: float
    symbols: int
    equity: Money | None = None  # the broker's: cash plus positions at their marks (None without a session)
    day_pnl: Money | None = None  # rounded as the account's (float sums are not exact)
    alpaca_keys: Literal["set", "not set"] = Field(
        "not set", description="APCA_API_KEY_ID and APCA_API_SECRET_KEY in the environment (never their values)"
    )
    live: LiveStatus | None = Field(None, description="a live session's stream (null in a backtest)")
    plugins: list[str] = Field(default_factory=list, description="the running strategies and scanners")

    @property
    def time_text(self) -> str | None:
        """'2024-12-02 09:30 ET' (None without a session)."""
        return None if self.time is None else f"{self.time:%Y-%m-%d %H:%M} ET"

    @property
    def day_text(self) -> str | None:
        """'1 of 2' (None without a session)."""
        return None if self.day is None else f"{self.day} of {self.days}"


def status(eng: Engine) -> SessionStatus:
    """The session's status (cheap: no bars are read)."""
    book = eng.replay.book
    tl = eng.timeline
    total = tl.total_minutes if book is not None else 0
    done = eng.clock.minutes_done
    cfg = eng.config
    equity, day_start = eng.broker.snapshot() if book is not None else (None, 0.0)
    live = live_status(eng, done)
    return SessionStatus(
        state=eng.clock.state,
        mode=cfg.mode if cfg else None,
        config=cfg.name if cfg else None,
        trading_day=book.day if book else None,
        day=tl.pos + 1 if book else None,
        days=len(tl.days) if book else 0,
        time=to_ny(book.now_ns) if book else None,
        minutes_replayed=done,
        minutes_total=total,
        progress_pct=round(100.0 * done / total, 2) if total else 0.0,
        bars_replayed=eng.replay.bars_replayed,
        speed=live.clock_speed if live is not None else eng.clock.speed,
        symbols=len(eng.session.symbols),
        equity=equity,
        day_pnl=equity - day_start if equity is not None else None,
        alpaca_keys="set" if all(os.environ.get(k, "").strip() for k in ALPACA_KEY_VARS) else "not set",
        live=live,
        plugins=[s.name for s in list(eng.plugins.slots.values()) if s.state == "running"],
    )


def live_status(eng: Engine, done: int) -> LiveStatus | None:
    """The live counts; read without the lock, so a minute the feed has taken but the step has
    not finished is not counted as stepped from REST yet (``done``: the minutes stepped)."""
    counts = eng.feed.live_counts()
    if counts is None:
        return None
    counts["minutes_from_rest"] = min(counts["minutes_from_rest"], done)
    return LiveStatus(**counts)


def need_session(eng: Engine) -> None:
    """SessionStateError (NO_SESSION) when no session is held (none started, or stopped)."""
    if eng.replay.book is None:
        raise SessionStateError(NO_SESSION)


def symbol_data(eng: Engine, symbol: str) -> SymbolSessionData:
    """A symbol of the session; SessionStateError without a session, or naming the loaded
    symbols (and how to add it, while additions are possible) when it is not one of them."""
    from trader_cli.core.store import check_symbol

    need_session(eng)
    sym = check_symbol(symbol)
    if sym in eng.session.symbols or eng.clock.active:
        return eng.session.require(sym)
    raise SessionStateError(
        f"{sym} is not in the session (loaded: {few(sorted(eng.session.symbols))}); the session is "
        f"{eng.clock.state.value}, so nothing can be added (start a new one with: system start)"
    )


def holding(eng: Engine, symbol: str, interval: str) -> tuple[SymbolSessionData, Interval]:
    """The symbol's data and the interval, when it holds that interval (SessionStateError saying
    what it has and how to add it otherwise)."""
    data = symbol_data(eng, symbol)
    iv = Interval.parse(interval)
    if iv not in data.intervals:
        raise SessionStateError(
            f"{data.symbol} has no {iv} bars (it has {', '.join(data.intervals)}; "
            f"add them with: add bar {data.symbol} {iv})"
        )
    return data, iv


def bars(eng: Engine, data: SymbolSessionData, interval: Interval) -> tuple[Bars, Bars]:
    """(trailing history, today's completed bars) of a symbol's interval."""
    book = eng.replay.book
    assert book is not None
    return eng.history.window(data, interval, book.day), book.session_bars(data.lane, interval)


def series(eng: Engine, data: SymbolSessionData, interval: Interval) -> Bars:
    """Every bar of a symbol's interval since its first history bar, today's included."""
    book = eng.replay.book
    assert book is not None
    return Bars.concat([eng.history.whole(data, interval), book.session_bars(data.lane, interval)])


def expected(eng: Engine, data: SymbolSessionData, interval: Interval) -> np.ndarray:
    """Every bar start the calendar expects in what the symbol holds: its history days before
    the day it joined, the days replayed since, and today up to now."""
    book = eng.replay.book
    assert book is not None
    tl = eng.timeline
    joined = tl.days[data.since_pos]
    wanted = eng.calendar.trading_days_back(joined, data.history_days.get(interval, 0))
    days = _could_hold(eng, data, interval, wanted) + tl.days[data.since_pos : tl.pos]
    return np.concatenate(
        [*(tl.slot_ts(interval, d) for d in days), expected_starts(eng.calendar, [book.day], interval, book.now_ns)]
    )


def _could_hold(eng: Engine, data: SymbolSessionData, interval: Interval, days: list[dt.date]) -> list[dt.date]:
    """The history days the source could hold bars on: from the first it has bars on, unless it
    holds bars from before them all. Days before a symbol's stored bars begin are a shorter
    history (validation and the warmups say so), not missing bars: an indicator whose warmup
    reaches further back does not make its interval's bars look gappier than their 1m bars."""
    if not days:
        return days
    from trader_cli.core.errors import StoreError

    feed, cal = eng.feed, eng.calendar
    src = interval if str(interval) in feed.intervals_for(data.symbol) else data.base_interval
    try:
        if feed.has_bars(data.symbol, src, -(2**62), cal.open_close(days[0])[0]):
            return days
        for k, d in enumerate(days):
            if feed.has_bars(data.symbol, src, *cal.open_close(d)):
                return days[k:]
    except StoreError:  # its file is gone or unreadable since: every day it wanted is missing
        return days
    return []


def quality(eng: Engine, symbol: str) -> list[IntervalQuality]:
    """Bars present ÷ expected for each interval of a symbol over the whole run, with the gaps."""
    data = symbol_data(eng, symbol)
    book = eng.replay.book
    assert book is not None
    out = []
    for iv in data.intervals:
        g = book.grid(iv)
        rows = book.cursor if g is book.base else g.completed
        today = g.ts[:rows][~np.isnan(g.cols["close"][:rows, data.lane])]
        held = np.concatenate([eng.history.whole_ts(data, iv), today])
        out.append(measure(held, expected(eng, data, iv), iv))
    return out


# -- indicator values over the whole run -----------------------------------------------------------
def indicator_series(eng: Engine, data: SymbolSessionData, key: str) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """A symbol's indicator over the whole run, at every bar of its interval held: bar start
    times and each output (NaN where not ready): NaN over the bars held from before the history
    it was seeded with, that history (batch path), then every replayed day since, then today."""
    from trader_cli.core.indicators import get_indicator

    req = data.indicators[key].request
    iv = req.interval
    seeded = eng.hub.seeded(key, data.lane)
    held = eng.history.whole(data, iv)
    first = seeded.end_ns if seeded.first_ns is None else seeded.first_ns
    earlier = held.window(-(2**62), first).ts  # held, but before what it was computed from
    seed = held.window(first, seeded.end_ns)
    values = get_indicator(req.name).batch(seed, req.params)
    times: list[np.ndarray] = [earlier, seed.ts]
    parts: list[dict[str, np.ndarray]] = [{o: np.full(len(earlier), np.nan) for o in values}, values]
    for pos, day_book in eng.history.past:
        if pos < seeded.pos:
            continue
        record = eng.hub.past_day(key, data.lane, pos)
        if record is None:
            continue
        have = eng.history.present(pos, day_book, data.lane, iv)
        times.append(eng.timeline.slot_ts(iv, day_book.day)[have])
        parts.append({o: v[: len(have)][have] for o, v in record.items()})
    book = eng.replay.book
    assert book is not None
    g = book.grid(iv)
    rows = book.cursor if g is book.base else g.completed
    have = ~np.isnan(g.cols["close"][:rows, data.lane])
    times.append(g.ts[:rows][have])
    parts.append({o: v[have] for o, v in eng.hub.today(key, data.lane, rows).items()})
    outputs = list(parts[0])
    return np.concatenate(times), {o: np.concatenate([p[o] for p in parts]) for o in outputs}


class IndicatorInfo(BaseModel):
    """An indicator of a symbol: what it is, its latest outputs (None while not ready), and how
    far it has come: ``ready`` once it has values, ``converged`` once it has seen the bars after
    which its values no longer depend on where its series started."""

    key: str
    name: str
    params: list[float | int]
    interval: Interval
    ready: bool
    latest: dict[str, float] | None
    converged: bool
    bars_seen: int
    warmup_bars: int
    converge_bars: int

    @property
    def progress_text(self) -> str:
        """'ready', 'not ready (12 of 20 warmup bars)', 'ready, not converged (300 of 438 bars)'."""
        if not self.ready:
            return f"not ready ({self.bars_seen:,} of {self.warmup_bars:,} warmup bars)"
        if not self.converged:
            return f"ready, not converged ({self.bars_seen:,} of {self.converge_bars:,} bars)"
        return "ready"


def indicator_info(eng: Engine, data: SymbolSessionData, key: str) -> IndicatorInfo:
    """One of a symbol's indicators (cheap: no values are read)."""
    req = data.indicators[key].request
    seen, warmup, converge = eng.hub.progress(key, data.lane)
    latest = eng.hub.latest(key, data.lane)
    return IndicatorInfo(
        key=key,
        name=req.name,
        params=list(req.params),
        interval=req.interval,
        ready=latest is not None,
        latest=latest,
        converged=seen >= converge,
        bars_seen=seen,
        warmup_bars=warmup,
        converge_bars=converge,
    )


def computed_from(eng: Engine, data: SymbolSessionData, key: str) -> str | None:
    """The first bar an indicator's values were computed from, as ISO UTC (``indicator_series`` is NaN
    before it: bars held from earlier were loaded after it was registered); None: no bar yet."""
    seeded = eng.hub.seeded(key, data.lane)
    iv = data.indicators[key].request.interval
    first = seeded.end_ns if seeded.first_ns is None else seeded.first_ns
    held = eng.history.whole(data, iv).ts
    at = int(np.searchsorted(held, first, "left"))
    if at < len(held):
        return iso_utc(int(held[at]))
    book = eng.replay.book
    today = book.session_bars(data.lane, iv).ts if book is not None else held[:0]
    return iso_utc(int(today[0])) if len(today) else None


def live_export(eng: Engine) -> dict[str, Any] | None:
    """The export's ``session.live`` (export.LiveOut): the status's figures and the revised bars; None in a backtest."""
    status = live_status(eng, eng.clock.minutes_done)
    if status is None:
        return None
    revised = [
        {"symbol": sym, "timestamp": iso_utc(ts), "open": o, "high": h, "low": lo, "close": c, "volume": v}
        for sym, ts, o, h, lo, c, v in eng.feed.revised_bars()
    ]
    out: dict[str, Any] = finite({**status.model_dump(mode="json"), "revised_bars": revised})
    return out
