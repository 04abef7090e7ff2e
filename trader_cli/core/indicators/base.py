"""What every indicator declares: its parameters (validated), outputs, warmup and its math.

An ``Indicator`` is a stateless description of one family (sma, rsi, …). ``batch`` computes a
whole series at once (history); ``new_bank`` makes the streaming state used by the replay.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import numpy as np
from numpy.typing import NDArray

from trader_cli.core.bars import Bars
from trader_cli.core.errors import IndicatorError

if TYPE_CHECKING:
    from trader_cli.core.indicators.bank import IndicatorBank

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
Param = int | float
Params = tuple[Param, ...]
RawParam = str | int | float

MAX_PERIOD = 100_000  # TA-Lib's upper bound for every period
CONVERGED = 1e-10  # a recursion has converged once its starting value weighs less than this


def fade_bars(k: float) -> int:
    """Bars until a start value smoothed by ``v += k (x - v)`` weighs less than CONVERGED:
    the least m with (1 - k)^m < CONVERGED."""
    if k >= 1.0:
        return 0
    return math.ceil(math.log(CONVERGED) / math.log1p(-k))


@dataclass(frozen=True)
class ParamSpec:
    """One indicator parameter: its name, type (int or float), default and inclusive bounds."""

    name: str
    kind: type
    default: int | float
    minimum: float
    maximum: float | None = None

    def convert(self, indicator: str, raw: RawParam) -> Param:
        """``raw`` as this parameter's type; IndicatorError (one actionable line) when it is not."""
        value = _as_number(raw)
        whole = self.kind is int
        if value is None or not math.isfinite(value) or (whole and value != int(value)):
            raise self._error(indicator, raw, f">= {format_param(self.minimum)}")
        if value < self.minimum:
            raise self._error(indicator, raw, f">= {format_param(self.minimum)}")
        if self.maximum is not None and value > self.maximum:
            raise self._error(indicator, raw, f"<= {format_param(self.maximum)}")
        return int(value) if whole else float(value)

    def _error(self, indicator: str, raw: RawParam, bound: str) -> IndicatorError:
        what = "a whole number" if self.kind is int else "a number"
        return IndicatorError(f"{indicator} {self.name} must be {what} {bound} (got {_shown(raw)})")


def period(name: str = "period", default: int = 20, minimum: int = 1) -> ParamSpec:
    """A whole-number period parameter (bounded by TA-Lib's maximum)."""
    return ParamSpec(name, int, default, minimum, MAX_PERIOD)


def _as_number(raw: RawParam) -> float | None:
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int | float):
        return float(raw)
    try:
        return float(str(raw).strip())
    except ValueError:
        return None


def _shown(raw: RawParam) -> str:
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        return format_param(raw)
    return str(raw)


def format_param(value: RawParam) -> str:
    """A parameter as text: whole-number floats without '.0' (2.0 -> '2'), others as typed."""
    if isinstance(value, float) and math.isfinite(value) and value == int(value):
        return str(int(value))
    return str(value)


class Indicator:
    """One indicator family: parameters, outputs, warmup, batch math and a streaming bank."""

    name: ClassVar[str] = ""
    params: ClassVar[tuple[ParamSpec, ...]] = ()
    outputs: ClassVar[tuple[str, ...]] = ("value",)
    description: ClassVar[str] = ""
    session_anchored: ClassVar[bool] = False  # resets every session (vwap): needs no history

    def resolve_params(self, raw: Sequence[RawParam]) -> Params:
        """Validate and convert positional params, filling defaults (IndicatorError if bad)."""
        if isinstance(raw, str | bytes):
            raw = [raw]  # type: ignore[list-item]
        raw = list(raw)
        if len(raw) > len(self.params):
            raise IndicatorError(
                f"{self.name} takes {self._arity_text()} (got {len(raw)}: {', '.join(_shown(r) for r in raw)})"
            )
        pairs = zip(self.params, raw, strict=False)
        values = tuple(spec.convert(self.name, r) for spec, r in pairs)
        values += tuple(spec.default for spec in self.params[len(raw) :])
        self._check(values)
        return values

    def _arity_text(self) -> str:
        if not self.params:
            return "no parameters"
        names = ", ".join(p.name for p in self.params)
        plural = "s" if len(self.params) > 1 else ""
        return f"at most {len(self.params)} parameter{plural} ({names})"

    def _check(self, params: Params) -> None:
        """Rules between parameters (macd: fast < slow); IndicatorError when broken."""

    def usage(self) -> str:
        """``name(param=default, …)`` for help text."""
        inner = ", ".join(f"{p.name}={format_param(p.default)}" for p in self.params)
        return f"{self.name}({inner})"

    def warmup_bars(self, params: Sequence[RawParam] = ()) -> int:
        """Bars of the indicator's interval needed before its first valid value (lookback + 1)."""
        return self._warmup(self.resolve_params(params))

    def converge_bars(self, params: Sequence[RawParam] = ()) -> int:
        """Bars after which the value no longer depends on where the series started: the
        warmup, plus for a recursive family (ema, rsi, atr, macd) the bars until the starting
        value weighs less than CONVERGED relative (window families: the warmup itself)."""
        resolved = self.resolve_params(params)
        return self._warmup(resolved) + self._horizon(resolved)

    def batch(self, bars: Bars, params: Sequence[RawParam] = ()) -> dict[str, FloatArray]:
        """Every output over the whole series (len(bars) each, NaN until warmup completes)."""
        resolved = self.resolve_params(params)
        n = len(bars)
        if n < self._warmup(resolved):
            return {name: np.full(n, np.nan) for name in self.outputs}
        return self._batch(bars, resolved)

    def new_bank(self, params: Sequence[RawParam] = (), capacity: int = 8) -> IndicatorBank:
        """Streaming state for many independent series (lanes) with these params."""
        return self._bank(self.resolve_params(params), capacity)

    def __repr__(self) -> str:
        return f"<Indicator {self.usage()}>"

    # -- what each family implements ---------------------------------------------------------
    def _warmup(self, params: Params) -> int:
        raise NotImplementedError

    def _horizon(self, params: Params) -> int:
        """Bars the starting value of a recursion takes to fade (0: no recursion)."""
        return 0

    def _batch(self, bars: Bars, params: Params) -> dict[str, FloatArray]:
        raise NotImplementedError

    def _bank(self, params: Params, capacity: int) -> IndicatorBank:
        raise NotImplementedError


def warmup_buffer(n: int, first: int) -> tuple[FloatArray, FloatArray]:
    """A length-``n`` output, NaN before index ``first``, and the view from ``first`` on to fill."""
    out = np.empty(n)
    out[:first] = np.nan
    return out, out[first:]


def nan_prefixed(values: FloatArray, n: int) -> FloatArray:
    """``values`` (the last len(values) positions of a length-``n`` series) with NaN before them."""
    out = np.empty(n)
    out[: n - len(values)] = np.nan
    out[n - len(values) :] = values
    return out
