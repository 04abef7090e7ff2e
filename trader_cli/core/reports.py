"""What the session commands show, as typed values built from the read side (core/queries.py)
under the symbol lock: ``data session``, ``data symbol``, ``data bars``, ``data quality`` and
``data indicator``. Their ``--output json`` is these models as they are: numbers as numbers
(quality in percent), times as ISO 8601 with the New York offset, null for missing, lists as
arrays; ``render/`` turns the same values into tables.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal
from zoneinfo import ZoneInfo

import numpy as np
from pydantic import BaseModel

from trader_cli.core import queries
from trader_cli.core.bars import OPEN_AFTER_MIDNIGHT_NS, Bars
from trader_cli.core.calendar import to_ny
from trader_cli.core.errors import DataError, IndicatorError, UsageError
from trader_cli.core.intervals import Interval
from trader_cli.core.provenance import Source
from trader_cli.core.quality import IntervalQuality
from trader_cli.core.queries import IndicatorInfo, SessionStatus
from trader_cli.core.session import SymbolSessionData
from trader_cli.core.store import check_symbol

if TYPE_CHECKING:
    from trader_cli.core.engine import Engine

NEW_YORK = ZoneInfo("America/New_York")


def _ny(ts: int | None) -> dt.datetime | None:
    return None if ts is None else to_ny(int(ts))


def _pct(ratio: float | None) -> float | None:
    return None if ratio is None else round(100.0 * ratio, 2)


# -- data session ----------------------------------------------------------------------------------
class BarCount(BaseModel):
    """Bars of one interval: the trailing history an indicator sees, and today's so far."""

    interval: Interval
    history: int
    session: int


class SymbolSummary(BaseModel):
    """One symbol of the session: provenance, intervals, bar counts, indicators, worst quality."""

    symbol: str
    added_by: Source
    full: bool  # loaded as the session config asks (else adhoc)
    auto_provisioned: bool
    upgraded_from_adhoc: bool
    added_at: dt.datetime | None  # simulated time; None for the config's symbols
    intervals: list[Interval]
    bars: list[BarCount]
    indicators: list[str]
    quality_pct: float | None  # the lowest of its intervals, over the whole run


class SessionTable(BaseModel):
    """``data session``: every symbol, and where the session is."""

    status: SessionStatus
    symbols: list[SymbolSummary]


def session_table(eng: Engine) -> SessionTable:
    """One summary per symbol, sorted by ticker."""
    rows = []
    book = eng.replay.book
    for sym in sorted(eng.session.symbols):
        assert book is not None  # symbols are held only while a session's day is open
        d = eng.session.symbols[sym]
        held = eng.history.window_count
        counts = [  # counted, not built: a 500-symbol table reads no prices
            BarCount(interval=iv, history=held(d, iv, book.day), session=book.session_count(d.lane, iv))
            for iv in d.intervals
        ]
        worst = min((q.ratio for q in queries.quality(eng, sym)), default=None)
        m = d.metadata
        rows.append(
            SymbolSummary(
                symbol=sym,
                added_by=m.added_by,
                full=m.meets_session_config_requirements,
                auto_provisioned=m.auto_provisioned,
                upgraded_from_adhoc=m.upgraded_from_adhoc,
                added_at=_ny(m.added_at),
                intervals=list(d.intervals),
                bars=counts,
                indicators=list(d.indicators),
                quality_pct=_pct(worst),
            )
        )
    return SessionTable(status=queries.status(eng), symbols=rows)


# -- data quality ------------------------------------------------------------------------------------
class GapOut(BaseModel):
    """A run of missing bars: the first and last missing bar start, and how many."""

    start: dt.datetime
    end: dt.datetime
    missing: int


class QualityRow(BaseModel):
    """Bars present ÷ expected for one symbol's interval over the whole run, with the gaps."""

    symbol: str
    interval: Interval
    present: int
    expected: int
    quality_pct: float | None
    gaps: int
    first_gaps: list[GapOut]


class QualityReport(BaseModel):
    """``data quality``: one row per symbol and interval; live, also the stream's late bars
    (for minutes already closed: counted and dropped) and corrections (kept, never re-stepped)."""

    rows: list[QualityRow]
    late_bars: dict[str, int] | None = None  # live only: per symbol
    revisions: dict[str, int] | None = None  # live only: updatedBars per symbol


def _gaps(q: IntervalQuality, limit: int) -> list[GapOut]:
    return [
        GapOut(
            start=dt.datetime.fromisoformat(g.start.replace("Z", "+00:00")).astimezone(NEW_YORK),
            end=dt.datetime.fromisoformat(g.end.replace("Z", "+00:00")).astimezone(NEW_YORK),
            missing=g.missing,
        )
        for g in q.gaps[:limit]
    ]


def quality_report(eng: Engine, symbols: list[str] | None = None, gaps: int = 3) -> QualityReport:
    """Quality of the given symbols (default: all), the first ``gaps`` gaps of each interval;
    SessionStateError without a session (an empty table would read as nothing wrong)."""
    queries.need_session(eng)
    names = [check_symbol(s) for s in symbols] if symbols else sorted(eng.session.symbols)
    rows = []
    for sym in names:
        queries.symbol_data(eng, sym)
        for q in queries.quality(eng, sym):
            rows.append(
                QualityRow(
                    symbol=sym,
                    interval=Interval.parse(q.interval),
                    present=q.present,
                    expected=q.expected,
                    quality_pct=_pct(q.ratio),
                    gaps=len(q.gaps),
                    first_gaps=_gaps(q, gaps),
                )
            )
    live = eng.feed.live_counts()
    if live is None:
        return QualityReport(rows=rows)
    late = {s: n for s, n in live.get("late_by_symbol", {}).items() if s in names}
    revised = {s: n for s, n in live.get("revisions_by_symbol", {}).items() if s in names}
    return QualityReport(rows=rows, late_bars=late, revisions=revised)


# -- data symbol ------------------------------------------------------------------------------------
class MetadataView(BaseModel):
    """A symbol's provenance."""

    meets_session_config_requirements: bool
    added_by: Source
    auto_provisioned: bool
    added_at: dt.datetime | None
    upgraded_from_adhoc: bool
    plugin: str | None = None  # the plugin that added it, if one did
    rule: str | None = None  # and why


class IntervalDetail(BaseModel):
    """One interval of a symbol over the whole run: bars before today and today's, the first and
    last bar start, quality."""

    interval: Interval
    history: int
    session: int
    first: dt.datetime | None
    last: dt.datetime | None
    quality_pct: float | None
    gaps: int


class SymbolDetail(BaseModel):
    """``data symbol S``: metadata, intervals and indicators."""

    symbol: str
    base_interval: Interval
    metadata: MetadataView
    intervals: list[IntervalDetail]
    indicators: list[IndicatorInfo]


def symbol_detail(eng: Engine, symbol: str) -> SymbolDetail:
    """One symbol in detail."""
    data = queries.symbol_data(eng, symbol)
    book = eng.replay.book
    assert book is not None
    quality = {q.interval: q for q in queries.quality(eng, data.symbol)}
    ivs = []
    for iv in data.intervals:
        held = eng.history.whole(data, iv)
        today = book.session_bars(data.lane, iv)
        both = Bars.concat([held, today])
        q = quality.get(iv)
        ivs.append(
            IntervalDetail(
                interval=iv,
                history=len(held),
                session=len(today),
                first=_ny(int(both.ts[0])) if len(both) else None,
                last=_ny(int(both.ts[-1])) if len(both) else None,
                quality_pct=_pct(q.ratio) if q else None,
                gaps=len(q.gaps) if q else 0,
            )
        )
    m = data.metadata
    meta = MetadataView(
        meets_session_config_requirements=m.meets_session_config_requirements,
        added_by=m.added_by,
        auto_provisioned=m.auto_provisioned,
        added_at=_ny(m.added_at),
        upgraded_from_adhoc=m.upgraded_from_adhoc,
        plugin=m.plugin,
        rule=m.rule,
    )
    inds = [queries.indicator_info(eng, data, key) for key in data.indicators]
    return SymbolDetail(
        symbol=data.symbol, base_interval=data.base_interval, metadata=meta, intervals=ivs, indicators=inds
    )


# -- data bars ---------------------------------------------------------------------------------------
class BarRow(BaseModel):
    """One bar: its start (New York time), prices, volume, and where it is from."""

    time: dt.datetime
    open: float | None
    high: float | None
    low: float | None
    close: float | None
    volume: int | None
    part: Literal["history", "session", "store"]


class BarsView(BaseModel):
    """``data bars``: the latest bars of one symbol's interval."""

    symbol: str
    interval: Interval
    total: int  # bars there are to show from
    bars: list[BarRow]
    note: str = ""


def bar_rows(bars: Bars, parts: list[str], last: int) -> list[BarRow]:
    """The last ``last`` bars as rows (``parts``: each bar's part, same length as ``bars``)."""
    start = max(0, len(bars) - last)
    cols = [getattr(bars, f)[start:].tolist() for f in ("ts", "open", "high", "low", "close", "volume")]
    return [
        BarRow(time=to_ny(t), open=o, high=h, low=lo, close=c, volume=None if v != v else int(v), part=p)
        for t, o, h, lo, c, v, p in zip(*cols, parts[start:], strict=True)
    ]


def bars_view(eng: Engine, symbol: str, interval: str | None, last: int) -> BarsView:
    """A symbol's latest bars of an interval: its trailing history, then today's."""
    data = queries.symbol_data(eng, symbol)
    data, iv = queries.holding(eng, data.symbol, interval or data.base_interval)
    hist, sess = queries.bars(eng, data, iv)
    both = Bars.concat([hist, sess])
    parts = ["history"] * len(hist) + ["session"] * len(sess)
    rows = bar_rows(both, parts, last)
    note = f"{len(hist):,} historical + {len(sess):,} session bars; showing {len(rows):,}"
    return BarsView(symbol=data.symbol, interval=iv, total=len(both), bars=rows, note=note)


# -- data indicator ------------------------------------------------------------------------------------
class IndicatorPoint(BaseModel):
    """An indicator's outputs at one bar (None where it had no value yet)."""

    time: dt.datetime
    values: dict[str, float | None]


class IndicatorView(BaseModel):
    """``data indicator S KEY``: one indicator of a symbol as a series over the whole run."""

    symbol: str
    indicator: IndicatorInfo
    total: int
    points: list[IndicatorPoint]


def indicator_view(
    eng: Engine, symbol: str, key: str, last: int | None, start: dt.date | None, end: dt.date | None
) -> IndicatorView:
    """The indicator's values at the bars of its interval: the last ``last``, or those on the New
    York dates ``start``..``end`` (both inclusive)."""
    data = queries.symbol_data(eng, symbol)
    if key not in data.indicators:
        held = ", ".join(data.indicators) or "none"
        raise IndicatorError(f"{data.symbol} has no indicator '{key}' (its indicators: {held})")
    ts, values = queries.indicator_series(eng, data, key)
    sel = _selection(ts, last, start, end)
    names = list(values)
    cols = [values[n][sel].tolist() for n in names]
    points = [
        IndicatorPoint(time=to_ny(t), values={n: (None if v != v else v) for n, v in zip(names, row, strict=True)})
        for t, *row in zip(ts[sel].tolist(), *cols, strict=True)
    ]
    return IndicatorView(
        symbol=data.symbol, indicator=queries.indicator_info(eng, data, key), total=len(ts), points=points
    )


def _selection(ts: np.ndarray, last: int | None, start: dt.date | None, end: dt.date | None) -> slice:
    if start is None and end is None:
        n = 20 if last is None else last
        return slice(max(0, len(ts) - n), len(ts))
    if last is not None:
        raise UsageError("give --last N or --from/--to, not both")
    lo = 0 if start is None else int(np.searchsorted(ts, _midnight_ns(start)))
    hi = len(ts) if end is None else int(np.searchsorted(ts, _midnight_ns(end + dt.timedelta(days=1))))
    return slice(lo, hi)


def _midnight_ns(day: dt.date) -> int:
    return int(dt.datetime(day.year, day.month, day.day, tzinfo=NEW_YORK).timestamp()) * 1_000_000_000


# -- data chart -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ChartLine:
    """One indicator's outputs at each charted bar (NaN where it has no value)."""

    key: str
    name: str  # the family (sma, rsi, …): price-scale families are drawn over the candles
    outputs: dict[str, np.ndarray]


@dataclass(frozen=True)
class ChartData:
    """What a chart shows: the latest bars of one interval over the whole run and the chosen
    indicators' values at those bars."""

    symbol: str
    interval: Interval
    bars: Bars
    session_start: int  # index of the first bar of today in ``bars`` (== len when none)
    lines: list[ChartLine]
    fills: list[ChartFill]


@dataclass(frozen=True)
class ChartFill:
    """A fill of the charted symbol, at the index of the bar it falls in."""

    bar: int
    side: str
    qty: int
    price: float


def _chart_fills(eng: Engine, symbol: str, bars: Bars, interval: Interval) -> list[ChartFill]:
    """The broker's fills of ``symbol`` inside the charted bars, each at its bar's index."""
    if not len(bars):
        return []
    end = int(bars.ts[-1]) + interval.seconds * 1_000_000_000
    out = []
    for f in eng.broker.fills:
        if f.symbol != symbol:
            continue
        t = int(f.time.timestamp()) * 1_000_000_000  # fills happen at whole minutes
        if int(bars.ts[0]) <= t < end:
            out.append(ChartFill(int(np.searchsorted(bars.ts, t, side="right")) - 1, f.side, f.qty, f.price))
    return out


def chart_data(eng: Engine, symbol: str, interval: str | None, last: int, keys: list[str]) -> ChartData:
    """The latest ``last`` bars of a symbol's interval (history, replayed days, today) and the
    values of the indicators ``keys`` (each computed on that interval) at those bars."""
    data = queries.symbol_data(eng, symbol)
    data, iv = queries.holding(eng, data.symbol, interval or data.base_interval)
    for key in keys:
        _check_chartable(data, key, iv)
    held = queries.series(eng, data, iv)
    if not len(held):
        raise DataError(f"{data.symbol} has no {iv} bars yet; advance the clock first (time advance)")
    book = eng.replay.book
    assert book is not None
    start = max(0, len(held) - last)
    shown = held.slice(start)
    today = int(np.searchsorted(shown.ts, book.open_ns if iv.is_intraday else book.open_ns - OPEN_AFTER_MIDNIGHT_NS))
    lines = []
    for key in keys:
        ts, values = queries.indicator_series(eng, data, key)
        lines.append(ChartLine(key, data.indicators[key].request.name, _at_bars(ts, values, shown.ts)))
    return ChartData(data.symbol, iv, shown, today, lines, _chart_fills(eng, data.symbol, shown, iv))


def _check_chartable(data: SymbolSessionData, key: str, interval: Interval) -> None:
    """IndicatorError unless the symbol has indicator ``key`` computed on ``interval``."""
    slot = data.indicators.get(key)
    if slot is None:
        held = ", ".join(data.indicators)
        add = f"add indicator {data.symbol} sma 20 --interval {interval}"
        hint = f"its indicators: {held}" if held else f"it has none; add one with: {add}"
        raise IndicatorError(f"{data.symbol} has no indicator '{key}' ({hint})")
    on = slot.request.interval
    if on != interval:
        raise IndicatorError(
            f"{key} is computed on {on} bars, not {interval}; chart it with: data chart {data.symbol} {on} --with {key}"
        )


def _at_bars(ts: np.ndarray, values: dict[str, np.ndarray], at: np.ndarray) -> dict[str, np.ndarray]:
    """Each output at the bar times ``at`` (NaN where the series has no value there)."""
    if not len(ts):
        return {o: np.full(len(at), np.nan) for o in values}
    pos = np.minimum(np.searchsorted(ts, at), len(ts) - 1)
    found = ts[pos] == at
    return {o: np.where(found, v[pos], np.nan) for o, v in values.items()}
