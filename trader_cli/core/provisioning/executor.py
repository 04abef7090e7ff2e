"""The provisioning executor: runs the planned steps in order, timing each; a failing step
undoes what the earlier ones did, so the session is left as it was before the command."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, Field

from trader_cli.core.bars import Bars
from trader_cli.core.errors import ProvisioningError, TraderCliError
from trader_cli.core.provisioning.requirements import ProvisioningRequirements

if TYPE_CHECKING:
    from trader_cli.core.coordinator import SessionCoordinator


class StepReport(BaseModel):
    """One executed step."""

    step: str
    status: Literal["ok", "failed", "skipped"]
    rows: int = 0
    ms: float = 0.0
    detail: str = ""


class ProvisioningReport(BaseModel):
    """What provisioning did, step by step."""

    symbol: str
    operation: str
    outcome: str
    ok: bool
    steps: list[StepReport] = Field(default_factory=list)
    total_ms: float = 0.0
    message: str = ""


@dataclass
class _Run:
    req: ProvisioningRequirements
    undo: list[Callable[[], None]] = field(default_factory=list)
    history: dict[str, Bars] = field(default_factory=dict)


def execute(coord: SessionCoordinator, req: ProvisioningRequirements) -> ProvisioningReport:
    """Run ``req.provisioning_steps`` (the caller holds the symbol lock)."""
    report = ProvisioningReport(symbol=req.symbol, operation=req.operation, outcome=req.outcome, ok=True)
    run = _Run(req)
    started = time.perf_counter()
    for i, step in enumerate(req.provisioning_steps):
        t0 = time.perf_counter()
        try:
            rows, detail = _dispatch(coord, run, step)
        except (TraderCliError, OSError, ValueError, KeyError, IndexError) as err:
            report.steps.append(StepReport(step=step, status="failed", ms=_ms(t0), detail=str(err)))
            report.steps += [StepReport(step=s, status="skipped") for s in req.provisioning_steps[i + 1 :]]
            for undo in reversed(run.undo):
                undo()
            report.ok = False
            report.total_ms = _ms(started)
            report.message = f"{req.symbol}: step {step} failed: {err}; the session is unchanged"
            raise ProvisioningError(report.message) from err
        report.steps.append(StepReport(step=step, status="ok", rows=rows, ms=_ms(t0), detail=detail))
    report.total_ms = _ms(started)
    return report


def _ms(t0: float) -> float:
    return round((time.perf_counter() - t0) * 1000, 3)


def _dispatch(coord: SessionCoordinator, run: _Run, step: str) -> tuple[int, str]:
    req = run.req
    if step == "create_symbol":
        coord._create_symbol(req)
        run.undo.append(lambda: coord._drop_symbol(req.symbol))
        return 0, f"lane {coord.session.require(req.symbol).lane}"
    if step == "upgrade_symbol":
        restore = coord._upgrade_symbol(req)
        run.undo.append(restore)
        return 0, f"added_by={req.source}"
    if step.startswith("add_interval_"):
        iv = step.removeprefix("add_interval_")
        restore = coord._add_interval(req.symbol, iv)
        run.undo.append(restore)
        return 0, iv
    if step == "load_historical":
        rows, restore = coord._load_history(req)
        run.undo.append(restore)
        return rows, f"{req.historical_days} trading day(s)"
    if step == "load_session":
        rows = coord._load_session(req.symbol)
        return rows, "bars before now"
    if step.startswith("register_indicator "):
        key = step.split(" ", 1)[1]
        plan = next(p for p in req.indicators if p.key == key)
        restore = coord._register_indicator(req.symbol, plan)
        run.undo.append(restore)
        return 0, key
    if step == "calculate_quality":
        q = coord.quality_of(req.symbol)
        worst = min((x.ratio for x in q), default=1.0)
        return 0, f"min {worst:.1%}"
    raise ProvisioningError(f"unknown provisioning step '{step}'")
