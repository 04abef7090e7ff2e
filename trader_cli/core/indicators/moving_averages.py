"""Moving averages of the close: sma, ema (SMA-seeded, k = 2/(n+1)) and wma (weights 1..n)."""

from __future__ import annotations

import trader_cli.core.indicators.kernels as kernels
from trader_cli.core.bars import Bars
from trader_cli.core.indicators.bank import (
    BarColumns,
    IndexArray,
    IndicatorBank,
    Smoother,
    Window,
    lane_index,
)
from trader_cli.core.indicators.base import (
    FloatArray,
    Indicator,
    IntArray,
    Params,
    fade_bars,
    nan_prefixed,
    period,
    warmup_buffer,
)


def ema_k(n: int) -> float:
    """The EMA smoothing factor of an n-period EMA."""
    return 2.0 / (n + 1)


class SMA(Indicator):
    """Simple moving average of the close."""

    name = "sma"
    params = (period(default=20),)
    description = "simple moving average of the close"

    def _warmup(self, params: Params) -> int:
        return int(params[0])

    def _batch(self, bars: Bars, params: Params) -> dict[str, FloatArray]:
        n = int(params[0])
        out, valid = warmup_buffer(len(bars), n - 1)
        kernels.rolling_mean(bars.close, n, out=valid)
        return {"value": out}

    def _bank(self, params: Params, capacity: int) -> IndicatorBank:
        return SMABank(self, params, capacity)


class SMABank(IndicatorBank):
    """Streaming SMA: a ring buffer and a running sum per lane."""

    def _setup(self, capacity: int) -> None:
        self.window = Window(capacity, int(self.params[0]))
        self._parts = [self.window]

    def _step(self, lanes: IndexArray, c: IntArray, bar: BarColumns) -> None:
        self.window.push(lanes, c, bar.close)
        self._values["value"][lanes] = self.window.mean(lanes)

    def _seed(self, lane: int, bars: Bars) -> None:
        self.window.load(lane, bars.close)
        self._store_one(lane, value=float(self.window.mean(lane_index(lane))[0]))


class EMA(Indicator):
    """Exponential moving average of the close, seeded with the SMA of its first n closes."""

    name = "ema"
    params = (period(default=20),)
    description = "exponential moving average of the close (SMA-seeded, k = 2/(n+1))"

    def _warmup(self, params: Params) -> int:
        return int(params[0])

    def _horizon(self, params: Params) -> int:
        return fade_bars(ema_k(int(params[0])))

    def _batch(self, bars: Bars, params: Params) -> dict[str, FloatArray]:
        n = int(params[0])
        out, valid = warmup_buffer(len(bars), n - 1)
        kernels.seeded_ema(bars.close, n, ema_k(n), out=valid)
        return {"value": out}

    def _bank(self, params: Params, capacity: int) -> IndicatorBank:
        return EMABank(self, params, capacity)


class EMABank(IndicatorBank):
    """Streaming EMA: one smoothed value per lane."""

    def _setup(self, capacity: int) -> None:
        n = int(self.params[0])
        self.ema = Smoother(capacity, n, ema_k(n))
        self._parts = [self.ema]

    def _step(self, lanes: IndexArray, c: IntArray, bar: BarColumns) -> None:
        self._values["value"][lanes] = self.ema.push(lanes, c, bar.close)

    def _seed(self, lane: int, bars: Bars) -> None:
        value = smoother_state(bars.close, self.ema)
        self.ema.load(lane, value)
        self._store_one(lane, value=value)


class WMA(Indicator):
    """Linearly weighted moving average of the close (newest close weighs n, oldest 1)."""

    name = "wma"
    params = (period(default=20),)
    description = "weighted moving average of the close (weights 1..n, newest heaviest)"

    def _warmup(self, params: Params) -> int:
        return int(params[0])

    def _batch(self, bars: Bars, params: Params) -> dict[str, FloatArray]:
        n = int(params[0])
        return {"value": nan_prefixed(kernels.weighted_mean(bars.close, n), len(bars))}

    def _bank(self, params: Params, capacity: int) -> IndicatorBank:
        return WMABank(self, params, capacity)


class WMABank(IndicatorBank):
    """Streaming WMA: a ring buffer with running plain and weighted sums per lane."""

    def _setup(self, capacity: int) -> None:
        self.window = Window(capacity, int(self.params[0]), weighted=True)
        self._parts = [self.window]

    def _step(self, lanes: IndexArray, c: IntArray, bar: BarColumns) -> None:
        self.window.push(lanes, c, bar.close)
        self._values["value"][lanes] = self.window.wma(lanes)

    def _seed(self, lane: int, bars: Bars) -> None:
        self.window.load(lane, bars.close)
        self._store_one(lane, value=float(self.window.wma(lane_index(lane))[0]))


def smoother_state(x: FloatArray, smoother: Smoother) -> float:
    """The value a ``Smoother`` holds after being fed every value of ``x`` (batch math)."""
    n = smoother.period
    if len(x) == 0:
        return 0.0
    if len(x) <= n:
        return float(x.mean())
    return float(kernels.seeded_ema(x, n, smoother.k)[-1])
