"""Momentum oscillators: rsi (Wilder), macd (TA-Lib seeding) and stoch (slow stochastic, SMA)."""

from __future__ import annotations

import numpy as np

import trader_cli.core.indicators.kernels as kernels
from trader_cli.core.bars import Bars
from trader_cli.core.errors import IndicatorError
from trader_cli.core.indicators.bank import (
    BarColumns,
    IndexArray,
    IndicatorBank,
    Scalars,
    Smoother,
    Window,
    WindowMax,
    lane_index,
    started,
)
from trader_cli.core.indicators.base import (
    FloatArray,
    Indicator,
    IntArray,
    Params,
    fade_bars,
    nan_prefixed,
    period,
)
from trader_cli.core.indicators.moving_averages import ema_k, smoother_state


# -- RSI ----------------------------------------------------------------------------------------
class RSI(Indicator):
    """Wilder's relative strength index of the close, 0..100."""

    name = "rsi"
    params = (period(default=14, minimum=2),)
    description = "relative strength index of the close, Wilder smoothing (0..100)"

    def _warmup(self, params: Params) -> int:
        return int(params[0]) + 1

    def _horizon(self, params: Params) -> int:
        return fade_bars(1.0 / int(params[0]))

    def _batch(self, bars: Bars, params: Params) -> dict[str, FloatArray]:
        n = int(params[0])
        change = np.diff(bars.close)
        gain = kernels.seeded_ema(np.maximum(change, 0.0), n, 1.0 / n)
        loss = kernels.seeded_ema(np.maximum(-change, 0.0), n, 1.0 / n)
        return {"value": nan_prefixed(kernels.rsi_from_averages(gain, loss), len(bars))}

    def _bank(self, params: Params, capacity: int) -> IndicatorBank:
        return RSIBank(self, params, capacity)


class RSIBank(IndicatorBank):
    """Streaming RSI: previous close and Wilder-smoothed average gain and loss per lane."""

    def _setup(self, capacity: int) -> None:
        n = int(self.params[0])
        self.prev = Scalars(capacity, close=0.0)
        self.gain = Smoother(capacity, n, 1.0 / n)
        self.loss = Smoother(capacity, n, 1.0 / n)
        self._parts = [self.prev, self.gain, self.loss]

    def _step(self, lanes: IndexArray, c: IntArray, bar: BarColumns) -> None:
        prev_close = self.prev["close"]
        before = prev_close[lanes]
        prev_close[lanes] = bar.close
        live, m, (close, before) = started(lanes, c - 1, bar.close, before)
        if len(live):
            change = close - before
            gain = self.gain.push(live, m, np.maximum(change, 0.0))
            loss = self.loss.push(live, m, np.maximum(-change, 0.0))
            self._values["value"][live] = kernels.rsi_from_averages(gain, loss)

    def _seed(self, lane: int, bars: Bars) -> None:
        self.prev["close"][lane] = bars.close[-1]
        change = np.diff(bars.close)
        gain = smoother_state(np.maximum(change, 0.0), self.gain)
        loss = smoother_state(np.maximum(-change, 0.0), self.loss)
        self.gain.load(lane, gain)
        self.loss.load(lane, loss)
        value = kernels.rsi_from_averages(np.array([gain]), np.array([loss]))
        self._store_one(lane, value=float(value[0]))


# -- MACD ---------------------------------------------------------------------------------------
class MACD(Indicator):
    """MACD line (fast EMA - slow EMA), its signal EMA and the histogram, seeded as TA-Lib does:
    the fast EMA starts from the SMA of the ``fast`` closes ending where the slow EMA starts."""

    name = "macd"
    params = (period("fast", 12, 2), period("slow", 26, 2), period("signal", 9, 1))
    outputs = ("macd", "signal", "histogram")
    description = "moving average convergence/divergence: macd, signal, histogram"

    def _check(self, params: Params) -> None:
        fast, slow = int(params[0]), int(params[1])
        if fast >= slow:
            raise IndicatorError(f"macd fast period must be shorter than slow (got fast {fast}, slow {slow})")

    def _warmup(self, params: Params) -> int:
        return int(params[1]) + int(params[2]) - 1

    def _horizon(self, params: Params) -> int:
        # the slow EMA's start fades, then the signal EMA's start (which saw the line's error)
        return fade_bars(ema_k(int(params[1]))) + fade_bars(ema_k(int(params[2])))

    def _batch(self, bars: Bars, params: Params) -> dict[str, FloatArray]:
        fast, slow, sig = (int(p) for p in params)
        x = bars.close
        line = kernels.seeded_ema(x[slow - fast :], fast, ema_k(fast)) - kernels.seeded_ema(
            x, slow, ema_k(slow)
        )  # both from bar slow-1 on
        signal = kernels.seeded_ema(line, sig, ema_k(sig))
        line = line[sig - 1 :]
        n = len(bars)
        return {
            "macd": nan_prefixed(line, n),
            "signal": nan_prefixed(signal, n),
            "histogram": nan_prefixed(line - signal, n),
        }

    def _bank(self, params: Params, capacity: int) -> IndicatorBank:
        return MACDBank(self, params, capacity)


class MACDBank(IndicatorBank):
    """Streaming MACD: fast, slow and signal smoothers per lane."""

    def _setup(self, capacity: int) -> None:
        fast, slow, sig = (int(p) for p in self.params)
        self.offset = slow - fast  # the fast EMA's first input is bar slow-fast+1
        self.slow_n = slow
        self.fast = Smoother(capacity, fast, ema_k(fast))
        self.slow = Smoother(capacity, slow, ema_k(slow))
        self.signal = Smoother(capacity, sig, ema_k(sig))
        self._parts = [self.fast, self.slow, self.signal]

    def _step(self, lanes: IndexArray, c: IntArray, bar: BarColumns) -> None:
        self.slow.push(lanes, c, bar.close)
        live, m, (close,) = started(lanes, c - self.offset, bar.close)
        if len(live):
            self.fast.push(live, m, close)
        live, m, () = started(lanes, c - (self.slow_n - 1))
        if len(live):
            line = self.fast.value[live] - self.slow.value[live]
            signal = self.signal.push(live, m, line)
            self._store(live, macd=line, signal=signal, histogram=line - signal)

    def _seed(self, lane: int, bars: Bars) -> None:
        x = bars.close
        fast = smoother_state(x[self.offset :], self.fast)
        slow = smoother_state(x, self.slow)
        self.fast.load(lane, fast)
        self.slow.load(lane, slow)
        if len(x) < self.slow_n:
            return
        fast_line = kernels.seeded_ema(x[self.offset :], self.fast.period, self.fast.k)
        slow_line = kernels.seeded_ema(x, self.slow.period, self.slow.k)
        signal = smoother_state(fast_line - slow_line, self.signal)
        self.signal.load(lane, signal)
        line = fast - slow
        self._store_one(lane, macd=line, signal=signal, histogram=line - signal)


# -- STOCH --------------------------------------------------------------------------------------
class STOCH(Indicator):
    """Slow stochastic: %K over ``fastk`` bars smoothed by an SMA of ``slowk`` (slowk), and that
    smoothed by an SMA of ``slowd`` (slowd), as TA-Lib's STOCH with its default SMA smoothing."""

    name = "stoch"
    params = (period("fastk", 5, 1), period("slowk", 3, 1), period("slowd", 3, 1))
    outputs = ("slowk", "slowd")
    description = "slow stochastic oscillator: slowk, slowd (0..100)"

    def _warmup(self, params: Params) -> int:
        fastk, slowk, slowd = (int(p) for p in params)
        return fastk + slowk + slowd - 2

    def _batch(self, bars: Bars, params: Params) -> dict[str, FloatArray]:
        fastk, slowk, slowd = (int(p) for p in params)
        k = _fast_k_series(bars, fastk)
        smooth_k = kernels.rolling_mean(k, slowk)
        smooth_d = kernels.rolling_mean(smooth_k, slowd)
        n = len(bars)
        return {"slowk": nan_prefixed(smooth_k[slowd - 1 :], n), "slowd": nan_prefixed(smooth_d, n)}

    def _bank(self, params: Params, capacity: int) -> IndicatorBank:
        return STOCHBank(self, params, capacity)


def _fast_k_series(bars: Bars, fastk: int) -> FloatArray:
    """Raw %K from bar fastk-1 on."""
    highest = kernels.rolling_max(bars.high, fastk)
    lowest = kernels.rolling_min(bars.low, fastk)
    return kernels.fast_k(bars.close[fastk - 1 :], highest, lowest)


class STOCHBank(IndicatorBank):
    """Streaming stochastic: window max/min of high/low, then two SMA windows per lane."""

    def _setup(self, capacity: int) -> None:
        fastk, slowk, slowd = (int(p) for p in self.params)
        self.highest = WindowMax(capacity, fastk)
        self.neg_lowest = WindowMax(capacity, fastk)  # max of -low = -(min of low)
        self.k_window = Window(capacity, slowk)
        self.d_window = Window(capacity, slowd)
        self._parts = [self.highest, self.neg_lowest, self.k_window, self.d_window]

    def _step(self, lanes: IndexArray, c: IntArray, bar: BarColumns) -> None:
        fastk, slowk = self.highest.period, self.k_window.period
        highest = self.highest.push(lanes, c, bar.high)
        lowest = -self.neg_lowest.push(lanes, c, -bar.low)
        live, m, (close, highest, lowest) = started(lanes, c - (fastk - 1), bar.close, highest, lowest)
        if not len(live):
            return
        self.k_window.push(live, m, kernels.fast_k(close, highest, lowest))
        smooth_k = self.k_window.mean(live)
        self._values["slowk"][live] = smooth_k
        live, m, (smooth_k,) = started(live, m - (slowk - 1), smooth_k)
        if len(live):
            self.d_window.push(live, m, smooth_k)
            self._values["slowd"][live] = self.d_window.mean(live)

    def _seed(self, lane: int, bars: Bars) -> None:
        fastk, slowk = self.highest.period, self.k_window.period
        self.highest.load(lane, bars.high)
        self.neg_lowest.load(lane, -bars.low)
        if len(bars) < fastk:
            return
        k = _fast_k_series(bars, fastk)
        self.k_window.load(lane, k)
        one = lane_index(lane)
        self._store_one(lane, slowk=float(self.k_window.mean(one)[0]))
        if len(k) < slowk:
            return
        self.d_window.load(lane, kernels.rolling_mean(k, slowk))
        self._store_one(lane, slowd=float(self.d_window.mean(one)[0]))
