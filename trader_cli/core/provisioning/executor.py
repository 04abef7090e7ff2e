"""The provisioning executor: runs the planned steps in order, timing each; a failing step
undoes what the earlier ones did, so the session is left as it was before the command."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, Field

from trader_cli.core.errors import ProvisioningError, TraderCliError
from trader_cli.core.provisioning.requirements import ProvisioningRequirements
from trader_cli.core.provisioning.steps import AdditionContext

if TYPE_CHECKING:
    from trader_cli.core.engine import Engine


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


UNCHANGED = "; the session is unchanged"  # how a failed addition's line ends


def execute(engine: Engine, req: ProvisioningRequirements) -> ProvisioningReport:
    """Run ``req.provisioning_steps`` (the caller holds the symbol lock)."""
    report = ProvisioningReport(symbol=req.symbol, operation=req.operation, outcome=req.outcome, ok=True)
    ctx = AdditionContext(engine, req)
    undo: list[Callable[[], None]] = []
    started = time.perf_counter()
    for i, step in enumerate(req.provisioning_steps):
        t0 = time.perf_counter()
        try:
            outcome = step.apply(ctx)
        except (TraderCliError, OSError, ValueError, KeyError, IndexError, MemoryError) as err:
            report.steps.append(StepReport(step=step.label, status="failed", ms=_ms(t0), detail=str(err)))
            report.steps += [StepReport(step=s.label, status="skipped") for s in req.provisioning_steps[i + 1 :]]
            for restore in reversed(undo):
                restore()
            report.ok = False
            report.total_ms = _ms(started)
            report.message = f"{req.symbol}: step {step.label} failed: {err}{UNCHANGED}"
            raise ProvisioningError(report.message) from err
        except BaseException:  # Ctrl-C, or anything else mid-step: the session as it was, then on up
            for restore in reversed(undo):
                restore()
            raise
        if outcome.undo is not None:
            undo.append(outcome.undo)
        report.steps.append(
            StepReport(step=step.label, status="ok", rows=outcome.rows, ms=_ms(t0), detail=outcome.detail)
        )
    report.total_ms = _ms(started)
    return report


def _ms(t0: float) -> float:
    return round((time.perf_counter() - t0) * 1000, 3)
