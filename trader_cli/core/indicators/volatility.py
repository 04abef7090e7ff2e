"""Volatility: bbands (SMA ± nbdev population standard deviations) and atr (Wilder's ATR)."""

from __future__ import annotations

import numpy as np

import trader_cli.core.indicators.kernels as kernels
from trader_cli.core.bars import Bars
from trader_cli.core.indicators.bank import (
    BarColumns,
    IndexArray,
    IndicatorBank,
    Scalars,
    Smoother,
    Window,
    lane_index,
    started,
)
from trader_cli.core.indicators.base import (
    FloatArray,
    Indicator,
    IntArray,
    Params,
    ParamSpec,
    fade_bars,
    nan_prefixed,
    period,
)
from trader_cli.core.indicators.moving_averages import smoother_state


class BBANDS(Indicator):
    """Bollinger bands: SMA middle band, upper/lower at ± nbdev population standard deviations."""

    name = "bbands"
    params = (period(default=20, minimum=2), ParamSpec("nbdev", float, 2.0, 0.0))
    outputs = ("upper", "middle", "lower")
    description = "Bollinger bands: SMA middle ± nbdev population standard deviations"

    def _warmup(self, params: Params) -> int:
        return int(params[0])

    def _batch(self, bars: Bars, params: Params) -> dict[str, FloatArray]:
        mean, var = kernels.rolling_mean_var(bars.close, int(params[0]))
        return _bands(mean, var, float(params[1]), len(bars))

    def _bank(self, params: Params, capacity: int) -> IndicatorBank:
        return BBANDSBank(self, params, capacity)


def _bands(mean: FloatArray, var: FloatArray, nbdev: float, n: int) -> dict[str, FloatArray]:
    width = np.sqrt(var) * nbdev
    return {
        "upper": nan_prefixed(mean + width, n),
        "middle": nan_prefixed(mean, n),
        "lower": nan_prefixed(mean - width, n),
    }


class BBANDSBank(IndicatorBank):
    """Streaming bands: a ring buffer with running sums of deviations and their squares."""

    def _setup(self, capacity: int) -> None:
        self.window = Window(capacity, int(self.params[0]), squares=True)
        self.nbdev = float(self.params[1])
        self._parts = [self.window]

    def _emit(self, lanes: IndexArray) -> None:
        mean = self.window.mean(lanes)
        width = np.sqrt(self.window.var(lanes)) * self.nbdev
        self._store(lanes, upper=mean + width, middle=mean, lower=mean - width)

    def _step(self, lanes: IndexArray, c: IntArray, bar: BarColumns) -> None:
        self.window.push(lanes, c, bar.close)
        self._emit(lanes)

    def _seed(self, lane: int, bars: Bars) -> None:
        self.window.load(lane, bars.close)
        self._emit(lane_index(lane))


class ATR(Indicator):
    """Wilder's average true range: the SMA of the first n true ranges, then Wilder smoothing."""

    name = "atr"
    params = (period(default=14),)
    description = "average true range, Wilder smoothing"

    def _warmup(self, params: Params) -> int:
        return int(params[0]) + 1

    def _horizon(self, params: Params) -> int:
        return fade_bars(1.0 / int(params[0]))

    def _batch(self, bars: Bars, params: Params) -> dict[str, FloatArray]:
        n = int(params[0])
        tr = kernels.true_range(bars.high, bars.low, bars.close)
        return {"value": nan_prefixed(kernels.seeded_ema(tr, n, 1.0 / n), len(bars))}

    def _bank(self, params: Params, capacity: int) -> IndicatorBank:
        return ATRBank(self, params, capacity)


class ATRBank(IndicatorBank):
    """Streaming ATR: previous close and the smoothed true range per lane."""

    def _setup(self, capacity: int) -> None:
        n = int(self.params[0])
        self.prev = Scalars(capacity, close=0.0)
        self.atr = Smoother(capacity, n, 1.0 / n)
        self._parts = [self.prev, self.atr]

    def _step(self, lanes: IndexArray, c: IntArray, bar: BarColumns) -> None:
        prev_close = self.prev["close"]
        before = prev_close[lanes]
        prev_close[lanes] = bar.close
        live, m, (high, low, before) = started(lanes, c - 1, bar.high, bar.low, before)
        if len(live):
            tr = np.maximum(np.maximum(high - low, np.abs(high - before)), np.abs(low - before))
            self._values["value"][live] = self.atr.push(live, m, tr)

    def _seed(self, lane: int, bars: Bars) -> None:
        self.prev["close"][lane] = bars.close[-1]
        value = smoother_state(kernels.true_range(bars.high, bars.low, bars.close), self.atr)
        self.atr.load(lane, value)
        self._store_one(lane, value=value)
