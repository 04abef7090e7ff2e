"""Session export: JSON (schema: ``SessionExport``) and CSV, streamed into one atomic temp file.

The export is taken under the symbol lock (a consistent snapshot between two replay minutes) and
written symbol by symbol — bars and indicator values a chunk at a time — into the temp file of
``core/atomic.py``, which replaces PATH in one rename once it is complete; a failed export
leaves PATH as it was. The whole document is never held in memory.

The format is ``--format`` when given, else the file's extension (``.json``, ``.csv``), else
JSON; a ``--format`` that contradicts a ``.json`` / ``.csv`` name is refused.

JSON: one ``SessionExport`` object (``session schema`` prints its JSON Schema). A symbol's
bars and values are the whole run: the history loaded when it was added, every session day
replayed since, and today up to now. With ``--bars`` each interval carries ``bars`` and each
indicator ``values`` (its value at each of those bars of its interval; null while not ready).

CSV: one file of tables separated by a blank line, each with a header row:

1. the symbols, one row a symbol: ``symbol, base_interval, intervals, bars, indicators,
   quality_min, meets_session_config_requirements, added_by, auto_provisioned, added_at,
   upgraded_from_adhoc, plugin, rule``;
2. with ``--bars``, every bar held over the whole run (history, replayed days, today), long format:
   ``symbol, interval, timestamp, open, high, low, close, volume``;
3. with ``--bars``, the indicator values at those bars, long format:
   ``symbol, indicator, interval, timestamp, output, value`` (``output`` is ``value`` for a
   one-output indicator such as sma, else the output's name: macd, signal, histogram);
4. then always the trading tables (core/export_trading.py): orders, fills, positions, account
   (one row), equity (one row a session minute), the report's figures and its P&L breakdown.

JSON also carries ``plugins``: each strategy and scanner loaded (file, class, params, state,
counters); each order's ``origin`` names the plugin that placed it. ``session.live`` is a live
session's stream as ``system status`` gives it (late bars dropped and revisions by symbol) with
the revised bars themselves (null in a backtest).

Timestamps are bar starts in ISO 8601 UTC (``2024-12-02T14:30:00Z``). A number that is not
finite (NaN, ±inf) is null in JSON and an empty cell in CSV.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Callable, Iterator
from itertools import repeat
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from trader_cli.core import queries
from trader_cli.core.atomic import atomic_open, write_atomic
from trader_cli.core.bars import Bars
from trader_cli.core.broker.models import Account, EquityPoint, Fill, Order, Position, Report
from trader_cli.core.calendar import iso_utc
from trader_cli.core.errors import SessionStateError, UsageError
from trader_cli.core.export_trading import trading_document, write_trading_csv
from trader_cli.core.jsonsafe import finite, finite_list
from trader_cli.core.jsonstream import LazyArray, LazyObject, materialize, write_json
from trader_cli.core.plugins.views import PluginStatus, plugins_view
from trader_cli.core.quality import IntervalQuality
from trader_cli.core.queries import LiveStatus
from trader_cli.core.results import ExportFormat, ExportReport

if TYPE_CHECKING:
    from trader_cli.core.coordinator import SessionCoordinator
    from trader_cli.core.engine import Engine

__all__ = [
    "CSV_COLUMNS",
    "SessionExport",
    "build_export",
    "export_format",
    "export_schema",
    "export_session",
    "symbol_detail",
    "write_atomic",
]

SCHEMA_VERSION = 1
FORMATS = ("json", "csv")
CHUNK = 4096  # bars (or indicator values) per write: bounds the memory of one step
Progress = Callable[[int, int, str], None]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BarOut(_Model):
    """One bar: its start time (ISO 8601 UTC), prices and volume."""

    timestamp: str
    open: float
    high: float
    low: float
    close: float
    volume: float


class IntervalOut(_Model):
    """One bar interval of a symbol over the whole run: the bars held before today (the history
    loaded when it was added and every session day replayed since) and today's session bars, the
    first and last bar start (ISO 8601 UTC), and every one of those bars when exported with --bars."""

    historical_bars: int
    session_bars: int
    first: str | None
    last: str | None
    bars: list[BarOut] | None = None


class IndicatorOut(_Model):
    """An indicator of a symbol: name, parameters and interval; whether it has values yet
    (``ready``) and whether they no longer depend on where its series started (``converged``:
    it has seen ``converge_bars`` bars; ``bars_seen`` of them so far); its latest outputs (null
    while not ready); with --bars, its value at every bar of its interval the symbol holds, from
    its first history bar on (null where not ready, and before ``computed_from``)."""

    name: str
    params: list[float | int]
    interval: str
    ready: bool
    latest: dict[str, float | None] | None
    converged: bool
    bars_seen: int
    warmup_bars: int
    converge_bars: int
    computed_from: str | None = Field(
        None,
        description="the first bar its values were computed from, as the session computed them (bars held from "
        "before it, history loaded later by an upgrade or a longer warmup on its interval, have null values)",
    )
    values: list[dict[str, str | float | None]] | None = None


class MetadataOut(_Model):
    """Where a symbol came from: loaded as the session config asks (full) or not (adhoc), who added
    it, whether it was auto-provisioned for a bar or an indicator, when it was added (simulated
    time, ISO 8601 UTC; null for the config's symbols) and whether it was upgraded from adhoc."""

    meets_session_config_requirements: bool
    added_by: Literal["config", "strategy", "scanner", "adhoc"]
    auto_provisioned: bool
    added_at: str | None
    upgraded_from_adhoc: bool
    plugin: str | None = Field(default=None, description="the plugin that added it (scanner:NAME, strategy:NAME)")
    rule: str | None = Field(default=None, description="that plugin's reason for the addition")


class SymbolOut(_Model):
    """Everything exported for one symbol: its intervals, indicators, data quality and provenance."""

    symbol: str
    base_interval: str
    intervals: dict[str, IntervalOut]
    indicators: dict[str, IndicatorOut]
    quality: dict[str, IntervalQuality]
    metadata: MetadataOut


class RevisedBarOut(_Model):
    """A live stream's correction of a closed minute (updatedBars): kept, never re-stepped."""

    symbol: str
    timestamp: str
    open: float | None
    high: float | None
    low: float | None
    close: float | None
    volume: float | None


class LiveOut(LiveStatus):
    """A live session's stream figures (as ``system status`` gives them) and its revised bars."""

    revised_bars: list[RevisedBarOut] = Field(default_factory=list)


class SessionOut(_Model):
    """The session at export time: mode, lifecycle state, simulated time, trading day, config
    name, and a live session's stream figures (null in a backtest)."""

    mode: str | None
    state: str
    current_time: str | None
    trading_date: str | None
    config: str | None
    live: LiveOut | None = Field(
        None,
        description="a live session's stream: minutes closed, late bars dropped and revisions by symbol, "
        "the revised bars (null in a backtest)",
    )


class SessionExport(_Model):
    """A trading session as ``session export`` writes it."""

    schema_version: int = SCHEMA_VERSION
    exported_at: str
    session: SessionOut
    symbols: dict[str, SymbolOut] = Field(default_factory=dict)
    orders: list[Order] = Field(default_factory=list)
    fills: list[Fill] = Field(default_factory=list)
    positions: list[Position] = Field(default_factory=list)
    account: Account | None = None
    equity: list[EquityPoint] = Field(default_factory=list)
    report: Report | None = None
    plugins: list[PluginStatus] = Field(default_factory=list, description="the strategies and scanners loaded")


def export_schema() -> dict[str, Any]:
    """JSON Schema of the export (generated from the models): every top-level key is always
    written (empty lists, null account and report before any trading), so each is required."""
    schema = SessionExport.model_json_schema()
    schema["required"] = list(schema["properties"])
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}


def export_format(path: Path, fmt: str | None) -> ExportFormat:
    """The format of an export to ``path``: ``fmt`` when given, else the file's extension (.json,
    .csv), else json. UsageError for an unknown ``fmt`` or one the file name contradicts."""
    ext = path.suffix.lower().removeprefix(".")
    named: ExportFormat | None = "json" if ext == "json" else "csv" if ext == "csv" else None
    if fmt is None:
        return named or "json"
    if fmt not in FORMATS:
        raise UsageError(f"unknown export format '{fmt}' (use json or csv)")
    if named is not None and named != fmt:
        raise UsageError(
            f"{path.name} ends in .{named} but --format {fmt} was given "
            f"(name the file {path.stem}.{fmt}, or leave out --format)"
        )
    return "json" if fmt == "json" else "csv"


# -- the document ------------------------------------------------------------------------------
def _iso(ts: np.ndarray) -> list[str]:
    return [s + "Z" for s in np.datetime_as_string(ts.astype("datetime64[ns]"), unit="s").tolist()]


def _bar_chunks(bars: Bars) -> Iterator[list[dict[str, Any]]]:
    for lo in range(0, len(bars), CHUNK):
        part = slice(lo, lo + CHUNK)
        cols = [finite_list(getattr(bars, f)[part]) for f in ("open", "high", "low", "close", "volume")]
        yield [
            {"timestamp": t, "open": o, "high": h, "low": lo_, "close": c, "volume": v}
            for t, o, h, lo_, c, v in zip(_iso(bars.ts[part]), *cols, strict=True)
        ]


def _value_chunks(ts: np.ndarray, vals: dict[str, np.ndarray]) -> Iterator[list[dict[str, Any]]]:
    names = list(vals)
    for lo in range(0, len(ts), CHUNK):
        part = slice(lo, lo + CHUNK)
        stamps = _iso(ts[part])
        if len(names) == 1:
            yield [{"timestamp": t, "value": v} for t, v in zip(stamps, finite_list(vals[names[0]][part]), strict=True)]
        else:
            cols = [finite_list(vals[n][part]) for n in names]
            yield [
                {"timestamp": t, **dict(zip(names, row, strict=True))} for t, *row in zip(stamps, *cols, strict=True)
            ]


def _symbol_out(eng: Engine, sym: str, with_bars: bool) -> dict[str, Any]:
    """One symbol's entry (bars and values as lazy arrays); call under the symbol lock."""
    data = eng.session.symbols[sym]
    book = eng.replay.book
    assert book is not None
    intervals: dict[str, Any] = {}
    for iv in data.intervals:
        held = eng.history.whole(data, iv)
        today = book.session_bars(data.lane, iv)
        first = held.ts[0] if len(held) else (today.ts[0] if len(today) else None)
        last = today.ts[-1] if len(today) else (held.ts[-1] if len(held) else None)
        entry: dict[str, Any] = {
            "historical_bars": len(held),
            "session_bars": len(today),
            "first": iso_utc(int(first)) if first is not None else None,
            "last": iso_utc(int(last)) if last is not None else None,
        }
        if with_bars:
            entry["bars"] = LazyArray(_bar_chunks(Bars.concat([held, today])))
        intervals[iv] = entry
    indicators: dict[str, Any] = {}
    for key in data.indicators:
        info = queries.indicator_info(eng, data, key)
        ind: dict[str, Any] = {
            "name": info.name,
            "params": info.params,
            "interval": info.interval.name,
            "ready": info.ready,
            "latest": finite(info.latest),
            "converged": info.converged,
            "bars_seen": info.bars_seen,
            "warmup_bars": info.warmup_bars,
            "converge_bars": info.converge_bars,
            "computed_from": queries.computed_from(eng, data, key),
        }
        if with_bars:
            ind["values"] = LazyArray(_value_chunks(*queries.indicator_series(eng, data, key)))
        indicators[key] = ind
    meta = data.metadata
    return {
        "symbol": sym,
        "base_interval": data.base_interval,
        "intervals": intervals,
        "indicators": indicators,
        "quality": {q.interval: finite(q.model_dump(mode="json")) for q in queries.quality(eng, sym)},
        "metadata": {
            "meets_session_config_requirements": meta.meets_session_config_requirements,
            "added_by": meta.added_by,
            "auto_provisioned": meta.auto_provisioned,
            "added_at": iso_utc(meta.added_at) if meta.added_at is not None else None,
            "upgraded_from_adhoc": meta.upgraded_from_adhoc,
            "plugin": meta.plugin,
            "rule": meta.rule,
        },
    }


def _document(coord: SessionCoordinator, with_bars: bool, progress: Progress | None) -> dict[str, Any]:
    """The export with its symbols as a lazy object; consume it under the symbol lock."""
    eng = coord.engine
    book = eng.replay.book
    now = coord.now_ns() if book is not None else None

    def symbols() -> Iterator[tuple[str, Any]]:
        names = sorted(coord.session.symbols)
        for i, sym in enumerate(names):
            if progress is not None:
                progress(i, len(names), sym)
            yield sym, _symbol_out(eng, sym, with_bars)

    return {
        "schema_version": SCHEMA_VERSION,
        "exported_at": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "session": {
            "mode": coord.config.mode if coord.config else None,
            "state": coord.state.value,
            "current_time": iso_utc(now) if now is not None else None,
            "trading_date": str(book.day) if book else None,
            "config": coord.config.name if coord.config else None,
            "live": queries.live_export(eng),
        },
        "symbols": LazyObject(symbols()),
        **trading_document(eng),
        "plugins": [finite(p.model_dump(mode="json")) for p in plugins_view(eng, unloaded=True).plugins],
    }


def build_export(
    coord: SessionCoordinator, with_bars: bool = False, progress: Progress | None = None
) -> dict[str, Any]:
    """The whole export as plain JSON data, in memory (taken under the symbol lock). Files are
    written by ``export_session``, which streams the same document instead."""
    with coord.exclusive():
        return dict(materialize(_document(coord, with_bars, progress)))


def symbol_detail(coord: SessionCoordinator, symbol: str) -> dict[str, Any]:
    """One symbol as it appears in the export (without bars), taken under the symbol lock."""
    with coord.exclusive():
        coord.session.require(symbol)
        return dict(materialize(_symbol_out(coord.engine, symbol, with_bars=False)))


# -- CSV writer -------------------------------------------------------------------------------
CSV_COLUMNS = [
    "symbol",
    "base_interval",
    "intervals",
    "bars",
    "indicators",
    "quality_min",
    "meets_session_config_requirements",
    "added_by",
    "auto_provisioned",
    "added_at",
    "upgraded_from_adhoc",
    "plugin",
    "rule",
]
CSV_BAR_COLUMNS = ["symbol", "interval", "timestamp", "open", "high", "low", "close", "volume"]
CSV_VALUE_COLUMNS = ["symbol", "indicator", "interval", "timestamp", "output", "value"]


def _csv_symbol_row(s: dict[str, Any]) -> list[Any]:
    """The symbols-table row of one symbol's export entry (without bars)."""
    m = s["metadata"]
    bars = sum(v["historical_bars"] + v["session_bars"] for v in s["intervals"].values())
    ratios = [q["ratio"] for q in s["quality"].values() if q["ratio"] is not None]
    return [
        s["symbol"],
        s["base_interval"],
        " ".join(s["intervals"]),
        bars,
        " ".join(s["indicators"]),
        min(ratios, default=None),
        m["meets_session_config_requirements"],
        m["added_by"],
        m["auto_provisioned"],
        m["added_at"] or "",
        m["upgraded_from_adhoc"],
        m["plugin"] or "",
        m["rule"] or "",
    ]


def _write_csv(fh: IO[str], coord: SessionCoordinator, with_bars: bool, progress: Progress | None) -> None:
    """The symbols table, then (with bars) the bars and indicator-values tables; under the lock."""
    w = csv.writer(fh, lineterminator="\n")
    names = sorted(coord.session.symbols)
    total = len(names) * (3 if with_bars else 1)

    def step(done: int, sym: str) -> None:
        if progress is not None:
            progress(done, total, sym)

    w.writerow(CSV_COLUMNS)
    for i, sym in enumerate(names):
        step(i, sym)
        w.writerow(_csv_symbol_row(materialize(_symbol_out(coord.engine, sym, with_bars=False))))
    if not with_bars:
        write_trading_csv(fh, coord.engine)
        return
    fh.write("\n")
    w.writerow(CSV_BAR_COLUMNS)
    for i, sym in enumerate(names):
        step(len(names) + i, sym)
        data = coord.session.symbols[sym]
        for iv in data.intervals:
            both = queries.series(coord.engine, data, iv)
            for lo in range(0, len(both), CHUNK):
                part = slice(lo, lo + CHUNK)
                cols = [finite_list(getattr(both, f)[part]) for f in ("open", "high", "low", "close", "volume")]
                w.writerows(zip(repeat(sym), repeat(iv), _iso(both.ts[part]), *cols))
    fh.write("\n")
    w.writerow(CSV_VALUE_COLUMNS)
    for i, sym in enumerate(names):
        step(2 * len(names) + i, sym)
        data = coord.session.symbols[sym]
        for key, slot in data.indicators.items():
            iv = slot.request.interval
            ts, vals = queries.indicator_series(coord.engine, data, key)
            single = len(vals) == 1
            for out, col in vals.items():
                label = "value" if single else out
                for lo in range(0, len(ts), CHUNK):
                    part = slice(lo, lo + CHUNK)
                    w.writerows(
                        zip(repeat(sym), repeat(key), repeat(iv), _iso(ts[part]), repeat(label), finite_list(col[part]))
                    )
    write_trading_csv(fh, coord.engine)


def export_session(
    coord: SessionCoordinator,
    path: Path,
    fmt: str | None = None,
    with_bars: bool = False,
    progress: Progress | None = None,
) -> ExportReport:
    """Stream the export into ``path``'s temp file and rename it into place (atomic; the format
    from ``fmt`` or the file name, see ``export_format``)."""
    fmt = export_format(path, fmt)
    if coord.engine.replay.book is None:  # nothing to write: never an empty file over a good one
        state = coord.engine.clock.state.value
        raise SessionStateError(
            f"no session to export (state: {state}; system stop drops the session: export before stopping)"
        )
    with atomic_open(path, "wb") as raw, coord.exclusive():
        # newline="": the CSV's and JSON's "\n" are written as they are on every platform.
        fh = io.TextIOWrapper(raw, encoding="utf-8", newline="")
        try:
            if fmt == "json":
                write_json(fh.write, _document(coord, with_bars, progress), None if with_bars else 1)
            else:
                _write_csv(fh, coord, with_bars, progress)
            fh.flush()
        finally:
            fh.detach()  # the atomic writer owns the file: it fsyncs and renames it
        count = len(coord.session.symbols)
    coord.exported_minutes = coord.minutes_done
    text = f"exported {count} symbol(s) to {path} ({fmt}{', with bars' if with_bars else ''})"
    return ExportReport(text=text, level="ok", path=str(path), format=fmt, with_bars=with_bars, symbols=count)
