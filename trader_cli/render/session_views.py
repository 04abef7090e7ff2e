"""Tables for the session: plans, step reports, validation, the session table, bars, quality."""

from __future__ import annotations

from typing import Any

from rich.console import RenderableType

from trader_cli.core.calendar import to_ny
from trader_cli.core.coordinator import AdditionResult, StartResult
from trader_cli.core.provisioning.executor import ProvisioningReport
from trader_cli.core.provisioning.requirements import ProvisioningRequirements
from trader_cli.core.provisioning.validation import SymbolValidationResult
from trader_cli.core.queries import SessionStatus
from trader_cli.core.results import Message, Tabular
from trader_cli.render.views import register_view, renderables, table_of, typed_rows


def ny(ts: int | None) -> str | None:
    """A UTC ns time as New York wall-clock text."""
    return None if ts is None else f"{to_ny(ts):%Y-%m-%d %H:%M}"


def _indicator_text(key: str, warmup: int, converge: int, days: int) -> str:
    """'sma_20_5m (warmup 20 bars = 1 day(s))', 'ema_20_1m (warmup 20, converged after 251 bars = 1 day(s))'."""
    if converge == warmup:
        return f"{key} (warmup {warmup:,} bars = {days} day(s))"
    return f"{key} (warmup {warmup:,}, converged after {converge:,} bars = {days} day(s))"


def plan_table(req: ProvisioningRequirements) -> Tabular:
    """The requirements of one addition and the steps it would take."""
    ind = ", ".join(_indicator_text(p.key, p.warmup_bars, p.converge_bars, p.historical_days) for p in req.indicators)
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
        ["history in the store", req.validation.history_text if req.validation else None],
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


def _addition_csv(res: AdditionResult) -> list[Tabular]:
    """The plan and the step report as typed rows (their JSON fields)."""
    data = res.to_json()
    return [typed_rows([data["requirements"]]), *([typed_rows([data["report"]])] if data["report"] else [])]


def _start_csv(res: StartResult) -> list[Tabular]:
    """Validation (a row a symbol) and provisioning (a row a symbol) as typed rows."""
    data = res.to_json()
    return [typed_rows(data["validation"]), typed_rows(data["provisioning"])]


register_view(AdditionResult, _addition_view, _addition_csv)
register_view(StartResult, _start_view, _start_csv)
register_view(ProvisioningRequirements, lambda r: [table_of(plan_table(r))], lambda r: [typed_rows([r])])


def status_table(status: SessionStatus) -> Tabular:
    """The session status as key/value rows (times in New York)."""
    rows: list[list[Any]] = [[k, v] for k, v in status.model_dump().items()]
    shown: dict[str, Any] = {"state": status.state.value, "time": status.time_text, "day": status.day_text}
    if status.equity is not None:  # dollars and cents, as account shows them
        shown["equity"] = f"{status.equity:,.2f}"
        shown["day_pnl"] = f"{status.day_pnl or 0.0:+,.2f}"
    if status.live is not None:
        shown["live"] = str(status.live)
    rows = [[k, shown.get(k, v)] for k, v in rows if k != "days"]
    return Tabular(title="status", columns=["key", "value"], rows=rows, show_header=False)
