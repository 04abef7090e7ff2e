"""Tables for the session reports (core/reports.py): the session table, a symbol in detail, bars,
quality, an indicator series. JSON is the models themselves; CSV is the one table of each."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from trader_cli.core.reports import BarsView, IndicatorView, QualityReport, SessionTable, SymbolDetail
from trader_cli.core.results import Tabular
from trader_cli.render.tables import FitTabular
from trader_cli.render.views import register_view, table_of

# What a narrow screen leaves out first (the columns that say least about the data held).
SESSION_DROP_FIRST = ["upgraded", "auto", "intervals", "load", "added_at", "added_by", "indicators"]
BARS_DROP_FIRST = ["part"]  # the time says when, as the prompt does


def ny(when: dt.datetime | None) -> str | None:
    """A New York time as the prompt shows it ('2024-12-02 11:00'; None stays None)."""
    return None if when is None else f"{when:%Y-%m-%d %H:%M}"


def _joined(items: Iterable[Any]) -> str | None:
    text = " ".join(str(i) for i in items)
    return text or None


def _pct(value: float | None, decimals: int = 1) -> str | None:
    return None if value is None else f"{value:.{decimals}f}%"


# -- data session ------------------------------------------------------------------------------------
def session_tabular(t: SessionTable) -> Tabular:
    """One row per symbol: provenance, intervals, bar counts (history+session), indicators, quality."""
    rows = [
        [
            s.symbol,
            s.added_by.value,
            "full" if s.full else "adhoc",
            s.auto_provisioned,
            s.upgraded_from_adhoc,
            ny(s.added_at),
            _joined(s.intervals),
            " ".join(f"{b.interval}:{b.history:,}+{b.session:,}" for b in s.bars),
            _joined(s.indicators),
            _pct(s.quality_pct),
        ]
        for s in t.symbols
    ]
    caption = f"{t.status.state.value} · {t.status.time_text or '—'} · bars shown as history+session"
    return FitTabular(
        title="session",
        columns=[
            "symbol",
            "added_by",
            "load",
            "auto",
            "upgraded",
            "added_at",
            "intervals",
            "bars",
            "indicators",
            "quality",
        ],
        rows=rows,
        caption=caption,
        drop_first=SESSION_DROP_FIRST,
    )


def session_csv(t: SessionTable) -> Tabular:
    """The session as one CSV table: typed cells, lists space-separated, times ISO 8601."""
    rows = [
        [
            s.symbol,
            s.added_by.value,
            s.full,
            s.auto_provisioned,
            s.upgraded_from_adhoc,
            s.added_at.isoformat() if s.added_at else None,
            _joined(s.intervals),
            _joined(f"{b.interval}:{b.history}+{b.session}" for b in s.bars),
            _joined(s.indicators),
            s.quality_pct,
        ]
        for s in t.symbols
    ]
    cols = ["symbol", "added_by", "full", "auto_provisioned", "upgraded_from_adhoc", "added_at", "intervals"]
    return Tabular(columns=[*cols, "bars", "indicators", "quality_pct"], rows=rows)


# -- data quality ------------------------------------------------------------------------------------
def _gap_text(start: dt.datetime, end: dt.datetime, missing: int) -> str:
    """'11-22 09:36 (1)', '11-22 09:36–09:40 (5)', or over days '11-20 09:30–11-21 15:55 (156)'."""
    if start == end:
        span = f"{start:%m-%d %H:%M}"
    elif start.date() == end.date():
        span = f"{start:%m-%d %H:%M}–{end:%H:%M}"
    else:  # a gap through a close: its end's day too
        span = f"{start:%m-%d %H:%M}–{end:%m-%d %H:%M}"
    return f"{span} ({missing})"


def quality_tabular(r: QualityReport) -> Tabular:
    """One row per symbol and interval, the first gaps in New York time."""
    rows = []
    for q in r.rows:
        shown = "; ".join(_gap_text(g.start, g.end, g.missing) for g in q.first_gaps)
        more = f" +{q.gaps - len(q.first_gaps)} more" if q.gaps > len(q.first_gaps) else ""
        rows.append(
            [q.symbol, q.interval.name, q.present, q.expected, _pct(q.quality_pct, 2), q.gaps, (shown + more) or None]
        )
    caption = None
    if r.late_bars is not None:
        late = ", ".join(f"{s} {n}" for s, n in sorted(r.late_bars.items())) or "none"
        fixed = ", ".join(f"{s} {n}" for s, n in sorted((r.revisions or {}).items())) or "none"
        caption = f"live: late bars dropped (minute closed): {late}; corrections kept (not re-stepped): {fixed}"
    return Tabular(
        title="data quality",
        columns=["symbol", "interval", "present", "expected", "quality", "gaps", "first gaps"],
        rows=rows,
        caption=caption,
    )


def quality_csv(r: QualityReport) -> Tabular:
    """Quality as one CSV table (gaps as 'start..end:missing', ISO 8601, space-separated)."""
    rows = [
        [
            q.symbol,
            q.interval.name,
            q.present,
            q.expected,
            q.quality_pct,
            q.gaps,
            _joined(f"{g.start.isoformat()}..{g.end.isoformat()}:{g.missing}" for g in q.first_gaps),
        ]
        for q in r.rows
    ]
    return Tabular(
        columns=["symbol", "interval", "present", "expected", "quality_pct", "gaps", "first_gaps"], rows=rows
    )


# -- data symbol -------------------------------------------------------------------------------------
def symbol_tables(d: SymbolDetail) -> list[Tabular]:
    """Metadata, intervals (first/last in New York time, quality) and indicators (latest values,
    readiness: k of n warmup bars, converged or not)."""
    m = d.metadata
    meta = Tabular(
        title=f"{d.symbol} — metadata",
        columns=["field", "value"],
        show_header=False,
        rows=[
            ["meets_session_config_requirements", m.meets_session_config_requirements],
            ["added_by", m.added_by.value],
            ["auto_provisioned", m.auto_provisioned],
            ["added_at", ny(m.added_at)],
            ["upgraded_from_adhoc", m.upgraded_from_adhoc],
            *([["added by plugin", f"{m.plugin} ({m.rule})" if m.rule else m.plugin]] if m.plugin else []),
            ["base_interval", d.base_interval.name],
        ],
    )
    ivs = Tabular(
        title=f"{d.symbol} — intervals",
        columns=["interval", "history", "session", "first", "last", "quality", "gaps"],
        rows=[
            [i.interval.name, i.history, i.session, ny(i.first), ny(i.last), _pct(i.quality_pct, 2), i.gaps]
            for i in d.intervals
        ],
        caption="history: the bars held before today (loaded when added, and every session day replayed since)",
    )
    rows = []
    for ind in d.indicators:
        latest = ", ".join(f"{k}={v:.6g}" for k, v in (ind.latest or {}).items()) or None
        rows.append([ind.key, ind.interval.name, ind.progress_text, latest])
    inds = Tabular(title=f"{d.symbol} — indicators", columns=["key", "interval", "state", "latest"], rows=rows)
    return [meta, ivs, inds]


def symbol_csv(d: SymbolDetail) -> list[Tabular]:
    """``symbol_tables`` typed for CSV: times ISO 8601 with the New York offset, quality in
    percent as a number, each indicator output a row of its own (empty while not ready)."""
    m = d.metadata

    def iso(t: dt.datetime | None) -> str | None:
        return t.isoformat() if t is not None else None

    meta = Tabular(
        columns=["field", "value"],
        rows=[
            ["meets_session_config_requirements", m.meets_session_config_requirements],
            ["added_by", m.added_by.value],
            ["auto_provisioned", m.auto_provisioned],
            ["added_at", iso(m.added_at)],
            ["upgraded_from_adhoc", m.upgraded_from_adhoc],
            ["plugin", m.plugin],
            ["rule", m.rule],
            ["base_interval", d.base_interval.name],
        ],
    )
    ivs = Tabular(
        columns=["interval", "history", "session", "first", "last", "quality_pct", "gaps"],
        rows=[
            [i.interval.name, i.history, i.session, iso(i.first), iso(i.last), i.quality_pct, i.gaps]
            for i in d.intervals
        ],
    )
    rows = []
    for ind in d.indicators:
        values = ind.latest or {}
        for output in values or [None]:
            rows.append(
                [ind.key, ind.interval.name, ind.ready, ind.converged, ind.bars_seen, ind.warmup_bars,
                 ind.converge_bars, output, values.get(output) if output is not None else None]
            )  # fmt: skip
    cols = ["key", "interval", "ready", "converged", "bars_seen", "warmup_bars", "converge_bars", "output", "value"]
    return [meta, ivs, Tabular(columns=cols, rows=rows)]


# -- data bars and data indicator --------------------------------------------------------------------------
def bars_tabular(v: BarsView) -> Tabular:
    """The bars, their start in New York time."""
    rows = [[ny(b.time), b.open, b.high, b.low, b.close, b.volume, b.part] for b in v.bars]
    return FitTabular(
        title=f"{v.symbol} {v.interval} bars",
        columns=["new_york", "open", "high", "low", "close", "volume", "part"],
        rows=rows,
        caption=v.note or None,
        drop_first=BARS_DROP_FIRST,
    )


def bars_csv(v: BarsView) -> Tabular:
    """The bars as one CSV table (times ISO 8601 with the New York offset)."""
    rows = [[b.time.isoformat(), b.open, b.high, b.low, b.close, b.volume, b.part] for b in v.bars]
    return Tabular(columns=["time", "open", "high", "low", "close", "volume", "part"], rows=rows)


def indicator_tabular(v: IndicatorView, iso: bool = False) -> Tabular:
    """One row per bar: its time and each output."""
    outputs = list(v.points[0].values) if v.points else []
    rows = [[p.time.isoformat() if iso else ny(p.time), *(p.values[o] for o in outputs)] for p in v.points]
    ind = v.indicator
    return Tabular(
        title=f"{v.symbol} {ind.key}",
        columns=["time", *outputs],
        rows=rows,
        caption=f"{ind.progress_text}; showing {len(rows):,} of {v.total:,} bars",
    )


def _one(make: Any) -> Any:
    """The CSV tables of a report that is one table."""
    return lambda r: [make(r)]


register_view(SessionTable, lambda r: [table_of(session_tabular(r))], _one(session_csv))
register_view(QualityReport, lambda r: [table_of(quality_tabular(r))], _one(quality_csv))
register_view(SymbolDetail, lambda r: [table_of(t) for t in symbol_tables(r)], symbol_csv)
register_view(BarsView, lambda r: [table_of(bars_tabular(r))], _one(bars_csv))
register_view(IndicatorView, lambda r: [table_of(indicator_tabular(r))], lambda r: [indicator_tabular(r, iso=True)])
