"""Tables for the session: plans, step reports, validation, the session table, bars, quality."""

from __future__ import annotations

import datetime as dt
from typing import Any

from rich.console import RenderableType

from trader_cli.core.calendar import iso_utc, to_ny
from trader_cli.core.coordinator import AdditionResult, SessionCoordinator, StartResult
from trader_cli.core.provisioning.executor import ProvisioningReport
from trader_cli.core.provisioning.requirements import ProvisioningRequirements
from trader_cli.core.provisioning.validation import SymbolValidationResult
from trader_cli.core.queries import SessionStatus
from trader_cli.core.results import Message, Tabular
from trader_cli.render.tables import FitTabular
from trader_cli.render.views import register_view, renderables, table_of

# What a narrow screen leaves out first (the columns that say least about the data held).
SESSION_DROP_FIRST = ["upgraded", "auto", "intervals", "load", "added_at", "added_by", "indicators"]
BARS_DROP_FIRST = ["timestamp", "part"]  # new_york says when, as the prompt does


def ny(ts: int | None) -> str | None:
    """A UTC ns time as New York wall-clock text."""
    return None if ts is None else f"{to_ny(ts):%Y-%m-%d %H:%M}"


def ny_of_iso(text: str | None) -> str | None:
    """An ISO 8601 UTC time (as the export writes it) as New York wall-clock text."""
    if text is None:
        return None
    stamp = dt.datetime.fromisoformat(text)
    return ny(int(stamp.timestamp()) * 1_000_000_000 + stamp.microsecond * 1000)


def plan_table(req: ProvisioningRequirements) -> Tabular:
    """The requirements of one addition and the steps it would take."""
    ind = ", ".join(f"{p.key} (warmup {p.warmup_bars} bars = {p.historical_days} day(s))" for p in req.indicators)
    rows: list[list[Any]] = [
        ["operation", f"add {req.operation}"],
        ["symbol", req.symbol],
        ["source", req.source],
        ["outcome", req.outcome],
        ["symbol exists", req.symbol_exists],
        ["intervals", ", ".join(req.required_intervals)],
        ["base interval", req.base_interval],
        [
            "history",
            f"{req.historical_days} trading day(s)"
            + (
                f" ({req.history_first_day} .. {req.history_last_day}, ~{req.historical_bars:,} bars)"
                if req.history_first_day
                else ""
            ),
        ],
        ["indicators", ind or "—"],
        ["can proceed", req.can_proceed],
        ["steps", " → ".join(req.step_labels) or "none"],
    ]
    if req.metadata:
        rows.append(["metadata", ", ".join(f"{k}={v}" for k, v in req.metadata.items())])
    for e in req.validation_errors:
        rows.append(["error", e])
    for w in req.warnings:
        rows.append(["warning", w])
    return Tabular(
        title=f"plan: add {req.operation} {req.symbol}", columns=["item", "plan"], rows=rows, show_header=False
    )


def report_table(rep: ProvisioningReport) -> Tabular:
    """Each executed step with status, rows and time."""
    rows: list[list[Any]] = [[s.step, s.status, s.rows, f"{s.ms:.2f}", s.detail] for s in rep.steps]
    return Tabular(
        title=f"provisioned {rep.symbol} ({rep.outcome})",
        columns=["step", "status", "rows", "ms", "detail"],
        rows=rows,
        caption=f"total {rep.total_ms:.1f} ms",
    )


def validation_table(vals: list[SymbolValidationResult]) -> Tabular:
    """Validation of several symbols."""
    rows: list[list[Any]] = [
        [v.symbol, v.can_proceed, v.reason, v.data_source, ", ".join(v.intervals_supported), v.history_text]
        for v in vals
    ]
    return Tabular(
        title="validation", columns=["symbol", "can proceed", "reason", "source", "intervals", "history"], rows=rows
    )


def _addition_tables(res: AdditionResult) -> list[Tabular]:
    out = [plan_table(res.requirements)]
    if res.report is not None:
        out.append(report_table(res.report))
    return out


def _addition_view(res: AdditionResult) -> list[RenderableType]:
    if res.report is None:
        return renderables(Message(text=res.requirements.message or "nothing to do", level="ok"))
    return [table_of(t) for t in _addition_tables(res)]


def _start_tables(res: StartResult) -> list[Tabular]:
    rows = [[r.symbol, r.outcome, len(r.steps), sum(s.rows for s in r.steps), f"{r.total_ms:.1f}"] for r in res.reports]
    return [
        validation_table(res.validations),
        Tabular(
            title="provisioning",
            columns=["symbol", "outcome", "steps", "rows", "ms"],
            rows=rows,
            caption=f"started in {res.seconds:.2f} s",
        ),
    ]


MANY_SYMBOLS = 12  # a start with more lists the dropped and partial symbols, then one summary line


def _start_view(res: StartResult) -> list[RenderableType]:
    out: list[RenderableType] = []
    if len(res.validations) <= MANY_SYMBOLS:
        out = [table_of(t) for t in _start_tables(res)]
    else:
        # Many symbols: the ones that need attention first (dropped, then partial), then the rest in a line.
        odd = sorted((v for v in res.validations if v.reason != "ok"), key=lambda v: v.can_proceed)
        if odd:
            out.append(table_of(validation_table(odd)))
        fine = len(res.validations) - len(odd)
        per = res.seconds * 1000 / max(1, len(res.reports))
        line = f"{fine:,} more symbol(s) validated ok; {len(res.reports):,} provisioned in {res.seconds:.2f} s"
        out += renderables(Message(text=f"{line} ({per:.1f} ms a symbol)", level="ok"))
    gaps = res.gaps_text()
    if gaps:
        out += renderables(Message(text=gaps, level="warn"))
    return out


register_view(AdditionResult, _addition_view, _addition_tables)
register_view(StartResult, _start_view, _start_tables)
register_view(ProvisioningRequirements, lambda r: [table_of(plan_table(r))], lambda r: [plan_table(r)])


def session_table(coord: SessionCoordinator) -> Tabular:
    """One row per symbol: provenance, intervals, bar counts, indicators, quality."""
    rows = []
    with coord.exclusive():
        for sym in sorted(coord.session.symbols):
            d = coord.session.symbols[sym]
            counts = []
            for iv in d.intervals:
                h, s = coord.bars(sym, iv)
                counts.append(f"{iv}:{len(h):,}+{len(s):,}")
            q = coord.quality_of(sym)
            qmin = min((x.ratio for x in q), default=1.0)
            m = d.metadata
            rows.append(
                [
                    sym,
                    m.added_by,
                    "full" if m.meets_session_config_requirements else "adhoc",
                    m.auto_provisioned,
                    m.upgraded_from_adhoc,
                    ny(m.added_at) or "—",
                    " ".join(d.intervals),
                    " ".join(counts),
                    " ".join(d.indicators) or "—",
                    f"{qmin:.1%}",
                ]
            )
        st = coord.status()
    caption = f"{st.state.value} · {st.time_text or '—'} · bars shown as history+session"
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


def status_table(status: SessionStatus) -> Tabular:
    """The session status as key/value rows (times in New York)."""
    rows: list[list[Any]] = [[k, v] for k, v in status.model_dump().items()]
    shown = {"state": status.state.value, "time": status.time_text, "day": status.day_text}
    rows = [[k, shown.get(k, v)] for k, v in rows if k != "days"]
    return Tabular(title="status", columns=["key", "value"], rows=rows, show_header=False)


def bars_table(symbol: str, interval: str, hist: Any, sess: Any, last: int) -> Tabular:
    """The last ``last`` bars (history then session) as a table."""
    from trader_cli.core.bars import Bars

    both = Bars.concat([hist, sess])
    n_hist = len(hist)
    start = max(0, len(both) - last)
    rows = []
    for i in range(start, len(both)):
        rows.append(
            [
                iso_utc(int(both.ts[i])),
                ny(int(both.ts[i])),
                float(both.open[i]),
                float(both.high[i]),
                float(both.low[i]),
                float(both.close[i]),
                float(both.volume[i]),
                "history" if i < n_hist else "session",
            ]
        )
    return FitTabular(
        title=f"{symbol} {interval} bars",
        columns=["timestamp", "new_york", "open", "high", "low", "close", "volume", "part"],
        rows=rows,
        caption=f"{len(hist):,} historical + {len(sess):,} session bars; showing {len(rows):,}",
        drop_first=BARS_DROP_FIRST,
    )


class SymbolDetail:
    """``data symbol S``: the symbol's export entry; tables on a terminal, the entry as JSON."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data

    def to_json(self) -> dict[str, Any]:
        """The export's entry for this symbol."""
        return self.data

    def tables(self) -> list[Tabular]:
        """Metadata, intervals (with quality; first and last bar start in New York time) and
        indicators (with latest values)."""
        d = self.data
        sym = d["symbol"]
        meta = Tabular(
            title=f"{sym} — metadata",
            columns=["field", "value"],
            show_header=False,
            rows=[[k, v] for k, v in d["metadata"].items()] + [["base_interval", d["base_interval"]]],
        )
        q = d["quality"]
        ivs = Tabular(
            title=f"{sym} — intervals",
            columns=["interval", "history", "session", "first", "last", "quality", "gaps"],
            rows=[
                [
                    iv,
                    e["historical_bars"],
                    e["session_bars"],
                    ny_of_iso(e["first"]),
                    ny_of_iso(e["last"]),
                    f"{q[iv]['ratio']:.2%}" if iv in q else None,
                    len(q[iv]["gaps"]) if iv in q else None,
                ]
                for iv, e in d["intervals"].items()
            ],
        )
        rows = []
        for key, ind in d["indicators"].items():
            latest = ", ".join(f"{k}={v:.6g}" for k, v in (ind["latest"] or {}).items()) or "not ready"
            rows.append([key, ind["interval"], ind["ready"], latest])
        inds = Tabular(title=f"{sym} — indicators", columns=["key", "interval", "ready", "latest"], rows=rows)
        return [meta, ivs, inds]


register_view(SymbolDetail, lambda r: [table_of(t) for t in r.tables()], lambda r: r.tables())
