"""Session export: JSON (schema in ``SessionExport``) and CSV, written atomically."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from trader_cli.core.atomic import write_atomic
from trader_cli.core.bars import Bars
from trader_cli.core.calendar import iso_utc
from trader_cli.core.quality import IntervalQuality

if TYPE_CHECKING:
    from trader_cli.core.coordinator import SessionCoordinator

SCHEMA_VERSION = 1


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BarOut(_Model):
    """One bar; ``timestamp`` is the bar start, ISO 8601 UTC."""

    timestamp: str
    open: float
    high: float
    low: float
    close: float
    volume: float


class IntervalOut(_Model):
    """Bar counts of one interval (historical, then session bars)."""

    historical_bars: int
    session_bars: int
    first: str | None
    last: str | None
    bars: list[BarOut] | None = None


class IndicatorOut(_Model):
    """An indicator: its definition, readiness and latest outputs (``values`` with --bars)."""

    name: str
    params: list[float | int]
    interval: str
    ready: bool
    latest: dict[str, float] | None
    values: list[dict[str, str | float | None]] | None = None


class MetadataOut(_Model):
    """Provenance of a symbol, exactly the five fields of the design notes."""

    meets_session_config_requirements: bool
    added_by: Literal["config", "strategy", "scanner", "adhoc"]
    auto_provisioned: bool
    added_at: str | None
    upgraded_from_adhoc: bool


class SymbolOut(_Model):
    """Everything exported for one symbol."""

    symbol: str
    base_interval: str
    intervals: dict[str, IntervalOut]
    indicators: dict[str, IndicatorOut]
    quality: dict[str, IntervalQuality]
    metadata: MetadataOut


class SessionOut(_Model):
    """The session's lifecycle state and clock."""

    mode: str | None
    state: str
    current_time: str | None
    trading_date: str | None
    config: str | None


class SessionExport(_Model):
    """The JSON export of a session."""

    schema_version: int = SCHEMA_VERSION
    exported_at: str
    session: SessionOut
    symbols: dict[str, SymbolOut] = Field(default_factory=dict)


def export_schema() -> dict[str, Any]:
    """JSON Schema of the export (generated from the models)."""
    return SessionExport.model_json_schema()


def _iso(ts: np.ndarray) -> list[str]:
    return [s + "Z" for s in np.datetime_as_string(ts.astype("datetime64[ns]"), unit="s").tolist()]


def _bars_out(bars: Bars) -> list[dict[str, Any]]:
    cols = [bars.open.tolist(), bars.high.tolist(), bars.low.tolist(), bars.close.tolist(), bars.volume.tolist()]
    return [
        {"timestamp": t, "open": o, "high": h, "low": lo, "close": c, "volume": v}
        for t, o, h, lo, c, v in zip(_iso(bars.ts), *cols, strict=True)
    ]


def _clean(x: float) -> float | None:
    return None if x != x else x


def build_export(
    coord: SessionCoordinator, with_bars: bool = False, progress: Callable[[int, int, str], None] | None = None
) -> dict[str, Any]:
    """The export as plain JSON data (taken under the symbol lock: a consistent snapshot)."""
    with coord.exclusive():
        book = coord.book
        now = coord.clock.now_ns() if book is not None else None
        out: dict[str, Any] = {
            "schema_version": SCHEMA_VERSION,
            "exported_at": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "session": {
                "mode": coord.config.mode if coord.config else None,
                "state": coord.state.value,
                "current_time": iso_utc(now) if now is not None else None,
                "trading_date": str(book.day) if book else None,
                "config": coord.config.name if coord.config else None,
            },
            "symbols": {},
        }
        symbols = sorted(coord.session.symbols)
        for i, sym in enumerate(symbols):
            if progress is not None:
                progress(i, len(symbols), sym)
            out["symbols"][sym] = _symbol_out(coord, sym, with_bars)
    return out


def symbol_detail(coord: SessionCoordinator, symbol: str) -> dict[str, Any]:
    """One symbol as it appears in the export (without bars), taken under the symbol lock."""
    with coord.exclusive():
        coord.session.require(symbol)
        return _symbol_out(coord, symbol, with_bars=False)


def _symbol_out(coord: SessionCoordinator, sym: str, with_bars: bool) -> dict[str, Any]:
    data = coord.session.symbols[sym]
    book = coord.book
    assert book is not None
    intervals: dict[str, Any] = {}
    for iv in data.intervals:
        hist, today = coord.bars(sym, iv)
        both = Bars.concat([hist, today])
        entry: dict[str, Any] = {
            "historical_bars": len(hist),
            "session_bars": len(today),
            "first": iso_utc(int(both.ts[0])) if len(both) else None,
            "last": iso_utc(int(both.ts[-1])) if len(both) else None,
        }
        if with_bars:
            entry["bars"] = _bars_out(both)
        intervals[iv] = entry
    indicators: dict[str, Any] = {}
    for key, slot in data.indicators.items():
        req = slot.request
        latest = coord.hub.latest(key, data.lane)
        entry = {
            "name": req.name,
            "params": list(req.params),
            "interval": req.interval.name,
            "ready": latest is not None,
            "latest": latest,
        }
        if with_bars:
            entry["values"] = _values_out(coord, data.lane, key, req.interval.name)
        indicators[key] = entry
    meta = data.metadata
    return {
        "symbol": sym,
        "base_interval": data.base_interval,
        "intervals": intervals,
        "indicators": indicators,
        "quality": {q.interval: q.model_dump(mode="json") for q in coord.quality_of(sym)},
        "metadata": {
            "meets_session_config_requirements": meta.meets_session_config_requirements,
            "added_by": meta.added_by,
            "auto_provisioned": meta.auto_provisioned,
            "added_at": iso_utc(meta.added_at) if meta.added_at is not None else None,
            "upgraded_from_adhoc": meta.upgraded_from_adhoc,
        },
    }


def _values_out(coord: SessionCoordinator, lane: int, key: str, interval: str) -> list[dict[str, Any]]:
    """Today's values at each session bar of the indicator's interval (not-ready points null)."""
    book = coord.book
    assert book is not None
    g = book.grid(interval)
    rows = book.cursor if g is book.base else g.completed
    have = ~np.isnan(g.cols["close"][:rows, lane])
    vals = coord.hub.today(key, lane, rows)
    names = list(vals)
    single = len(names) == 1
    stamps = _iso(g.ts[:rows][have])
    cols = {n: vals[n][have].tolist() for n in names}
    out = []
    for i, t in enumerate(stamps):
        if single:
            out.append({"timestamp": t, "value": _clean(cols[names[0]][i])})
        else:
            out.append({"timestamp": t, **{n: _clean(cols[n][i]) for n in names}})
    return out


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
]


def csv_rows(export: dict[str, Any]) -> list[list[Any]]:
    """One row per symbol with the metadata columns."""
    rows = []
    for sym, s in export["symbols"].items():
        m = s["metadata"]
        bars = sum(v["historical_bars"] + v["session_bars"] for v in s["intervals"].values())
        qmin = min((q["ratio"] for q in s["quality"].values()), default=None)
        rows.append(
            [
                sym,
                s["base_interval"],
                " ".join(s["intervals"]),
                bars,
                " ".join(s["indicators"]),
                qmin,
                m["meets_session_config_requirements"],
                m["added_by"],
                m["auto_provisioned"],
                m["added_at"] or "",
                m["upgraded_from_adhoc"],
            ]
        )
    return rows


def export_session(
    coord: SessionCoordinator,
    path: Path,
    fmt: str = "json",
    with_bars: bool = False,
    progress: Callable[[int, int, str], None] | None = None,
) -> dict[str, Any]:
    """Write the export to ``path`` (atomically); returns the export data."""
    data = build_export(coord, with_bars, progress)
    if fmt == "json":
        write_atomic(path, json.dumps(data, indent=1 if not with_bars else None, allow_nan=False))
    else:
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(CSV_COLUMNS)
        w.writerows(csv_rows(data))
        write_atomic(path, buf.getvalue())
    coord.exported_minutes = coord.minutes_done
    return data
