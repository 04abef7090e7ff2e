"""A sweep's grid and its metric: ``--param`` text parsed into values, the combinations, and the
report keys a leaderboard can rank by.

``--param fast=5,10,20`` lists values, ``--param slow=30:120:30`` is a range (start:stop:step,
stop included); each NAME is given once (its values in that one ``--param``, each value once:
``5,5.0`` is one value twice); the grid is the product of the parameters' values.
"""

from __future__ import annotations

import itertools
import types
from typing import Annotated, Any, Union, get_args, get_origin

from trader_cli.core.errors import UsageError


def rankable() -> list[str]:
    """The report keys a leaderboard can rank by: the report's numeric ones."""
    from trader_cli.core.broker.models import Report

    def numeric(kind: Any) -> bool:
        parts = get_args(kind) if get_origin(kind) in (Union, types.UnionType) else (kind,)
        parts = tuple(get_args(p)[0] if get_origin(p) is Annotated else p for p in parts)  # Money: a float
        return all(p in (int, float, type(None)) for p in parts) and any(p in (int, float) for p in parts)

    return [name for name, field in Report.model_fields.items() if numeric(field.annotation)]


def check_metric(metric: str) -> str:
    """``metric`` if a leaderboard can rank by it, else UsageError listing the keys that can."""
    keys = rankable()
    if metric not in keys:
        raise UsageError(f"--metric {metric}: not a numeric report key; rank by one of {', '.join(keys)}")
    return metric


def parse_param(text: str) -> tuple[str, list[Any]]:
    """``fast=5,10,20`` or ``slow=30:120:30`` → (name, values)."""
    name, sep, values = text.partition("=")
    name = name.strip()
    if not sep or not name.isidentifier() or not values.strip():
        raise UsageError(f"--param '{text}': write NAME=V1,V2,… or NAME=START:STOP:STEP (e.g. fast=5,10,20)")
    if values.count(":") == 2:
        try:
            a, b, step = (float(x) for x in values.split(":"))
        except ValueError:
            raise UsageError(f"--param '{text}': START:STOP:STEP must be numbers, e.g. slow=30:120:30") from None
        if step <= 0 or b < a:
            raise UsageError(f"--param '{text}': give START <= STOP and a STEP above 0")
        n = int((b - a) / step + 1e-9) + 1
        if n > 10_000:
            raise UsageError(f"--param '{text}': {n:,} values; a sweep takes at most 10,000 a parameter")
        return name, [_number(a + k * step) for k in range(n)]
    out: list[Any] = []
    for v in values.split(","):
        if not v.strip():
            continue
        value = _value(v.strip())
        if value in out:  # 5,5 or 5,5.0: the same backtest twice
            raise UsageError(f"--param '{text}': {value} is given twice; give each value once")
        out.append(value)
    return name, out


def _number(x: float) -> int | float:
    return round(x) if abs(x - round(x)) < 1e-9 else round(x, 10)


def _value(text: str) -> Any:
    for cast in (int, float):
        try:
            return _number(cast(text))
        except ValueError:
            continue
    return text


def axes(params: list[str]) -> dict[str, list[Any]]:
    """Each parameter's values, in the order given; UsageError for a NAME given twice (a second
    ``--param`` of a name would silently replace the first's values)."""
    out: dict[str, list[Any]] = {}
    given: dict[str, str] = {}
    for text in params:
        name, values = parse_param(text)
        if name in out:
            raise UsageError(
                f"--param {name} given twice ('{given[name]}' and '{text}'): give all its values in one, "
                f"as {name}=V1,V2,… or {name}=START:STOP:STEP"
            )
        out[name], given[name] = values, text
    return out


def grid(params: list[str]) -> list[dict[str, Any]]:
    """Every combination of the parameters' values (UsageError when it is empty)."""
    by_name = axes(params)
    if not by_name:
        return [{}]
    combos = [dict(zip(by_name, values, strict=True)) for values in itertools.product(*by_name.values())]
    if not combos:
        raise UsageError("the grid is empty: give each --param at least one value")
    return combos
