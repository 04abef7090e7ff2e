"""The table of several additions made by one command (``add symbol A B C``)."""

from __future__ import annotations

from typing import Any

from rich.console import RenderableType

from trader_cli.core.coordinator import AdditionBatch
from trader_cli.core.results import Tabular
from trader_cli.render.views import register_view, table_of


def batch_table(batch: AdditionBatch) -> Tabular:
    """One row per symbol: what the addition did (or why it failed), steps, rows loaded, time."""
    rows: list[list[Any]] = []
    for res in batch.results:
        rep = res.report
        if rep is None:
            rows.append([res.requirements.symbol, "duplicate", 0, 0, 0.0, res.requirements.message])
            continue
        loaded = sum(s.rows for s in rep.steps)
        rows.append([rep.symbol, rep.outcome, len(rep.steps), loaded, round(rep.total_ms, 1), "ok"])
    rows += [[sym, "failed", 0, 0, 0.0, why] for sym, why in batch.failures]
    done = len(batch.results)
    return Tabular(
        title=f"added {done} of {done + len(batch.failures)} symbol(s)",
        columns=["symbol", "outcome", "steps", "rows", "ms", "note"],
        rows=rows,
    )


def _view(batch: AdditionBatch) -> list[RenderableType]:
    return [table_of(batch_table(batch))]


register_view(AdditionBatch, _view, lambda b: [batch_table(b)])
