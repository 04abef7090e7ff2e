"""Volume indicators: obv (on-balance volume) and vwap (session-anchored, New York days)."""

from __future__ import annotations

import numpy as np

from trader_cli.core.bars import Bars
from trader_cli.core.calendar import NS_PER_DAY, ny_dates
from trader_cli.core.indicators.bank import BarColumns, IndexArray, IndicatorBank, Scalars
from trader_cli.core.indicators.base import FloatArray, Indicator, IntArray, Params

# New York midnight is 04:00 UTC (EDT) or 05:00 UTC (EST); a bar before the earlier bound is
# certainly still the same New York day, so only bars past it need their date looked up.
_NY_MIDNIGHT_EARLIEST_UTC = 4 * 3600 * 1_000_000_000
_NO_DAY = np.iinfo(np.int64).min


class OBV(Indicator):
    """On-balance volume: running total of volume, added on up closes, subtracted on down ones."""

    name = "obv"
    description = "on-balance volume (first bar: its volume)"

    def _warmup(self, params: Params) -> int:
        return 1

    def _batch(self, bars: Bars, params: Params) -> dict[str, FloatArray]:
        return {"value": np.cumsum(_obv_moves(bars.close, bars.volume))}

    def _bank(self, params: Params, capacity: int) -> IndicatorBank:
        return OBVBank(self, params, capacity)


def _obv_moves(close: FloatArray, volume: FloatArray) -> FloatArray:
    """What each bar adds to OBV (the first bar: its volume, as TA-Lib)."""
    moves = np.empty(len(close))
    moves[:1] = volume[:1]
    change = np.diff(close)
    later = volume[1:]
    moves[1:] = np.where(change > 0, later, np.where(change < 0, -later, 0.0))
    return moves


class OBVBank(IndicatorBank):
    """Streaming OBV: previous close and the running total per lane."""

    def _setup(self, capacity: int) -> None:
        self.state = Scalars(capacity, close=0.0, obv=0.0)
        self._parts = [self.state]

    def _step(self, lanes: IndexArray, c: IntArray, bar: BarColumns) -> None:
        prev, obv = self.state["close"], self.state["obv"]
        before = prev[lanes]
        v = bar.volume
        move = np.where(bar.close > before, v, np.where(bar.close < before, -v, 0.0))
        total = np.where(c == 1, v, obv[lanes] + move)
        prev[lanes] = bar.close
        obv[lanes] = total
        self._values["value"][lanes] = total

    def _seed(self, lane: int, bars: Bars) -> None:
        total = float(np.cumsum(_obv_moves(bars.close, bars.volume))[-1])
        self.state["close"][lane] = bars.close[-1]
        self.state["obv"][lane] = total
        self._store_one(lane, value=total)


class VWAP(Indicator):
    """Volume-weighted average of the typical price (h+l+c)/3, restarting with each New York
    trading day; NaN while the day has traded no volume."""

    name = "vwap"
    description = "volume-weighted average price of the session (resets each New York day)"
    session_anchored = True

    def _warmup(self, params: Params) -> int:
        return 1

    def _batch(self, bars: Bars, params: Params) -> dict[str, FloatArray]:
        pv = _typical(bars.high, bars.low, bars.close) * bars.volume
        day_pv, day_v = _cumsum_by_day(ny_dates(bars.ts), pv, bars.volume)
        return {"value": _ratio(day_pv, day_v)}

    def _bank(self, params: Params, capacity: int) -> IndicatorBank:
        return VWAPBank(self, params, capacity)


def _typical(high: FloatArray, low: FloatArray, close: FloatArray) -> FloatArray:
    return (high + low + close) / 3.0


def _cumsum_by_day(dates: IntArray, *columns: FloatArray) -> list[FloatArray]:
    """Running totals of each column that restart on every new date. Each day is a row of a
    (days x longest day) grid, so the sums run in the same order as the streaming bank's."""
    new_day = np.r_[True, dates[1:] != dates[:-1]]
    first = np.flatnonzero(new_day)
    day = np.cumsum(new_day) - 1
    pos = np.arange(len(dates)) - first[day]
    longest = int(pos.max()) + 1
    out = []
    for col in columns:
        grid = np.zeros((len(first), longest))
        grid[day, pos] = col
        np.cumsum(grid, axis=1, out=grid)
        out.append(grid[day, pos])
    return out


def _ratio(pv: FloatArray, v: FloatArray) -> FloatArray:
    out = np.full(len(pv), np.nan)
    np.divide(pv, v, out=out, where=v > 0)
    return out


def _day_end(dates: IntArray) -> IntArray:
    """A time (UTC ns) no later than the New York midnight ending each date."""
    return (dates + 1) * NS_PER_DAY + _NY_MIDNIGHT_EARLIEST_UTC


class VWAPBank(IndicatorBank):
    """Streaming VWAP: the day's running price*volume and volume per lane, reset on a new day."""

    def _setup(self, capacity: int) -> None:
        self.sums = Scalars(capacity, pv=0.0, v=0.0)
        self.days = Scalars(capacity, np.int64, day=_NO_DAY, end=_NO_DAY)
        self._parts = [self.sums, self.days]

    def _step(self, lanes: IndexArray, c: IntArray, bar: BarColumns) -> None:
        pv_sum, v_sum = self.sums["pv"], self.sums["v"]
        pv, v = pv_sum[lanes], v_sum[lanes]
        maybe_new = bar.ts >= self.days["end"][lanes]
        if maybe_new.any():
            which = lanes[maybe_new]
            dates = ny_dates(bar.ts[maybe_new])
            fresh = np.zeros(len(lanes), dtype=bool)
            fresh[maybe_new] = dates != self.days["day"][which]
            self.days["day"][which] = dates
            self.days["end"][which] = _day_end(dates)
            pv = np.where(fresh, 0.0, pv)
            v = np.where(fresh, 0.0, v)
        pv = pv + _typical(bar.high, bar.low, bar.close) * bar.volume
        v = v + bar.volume
        pv_sum[lanes] = pv
        v_sum[lanes] = v
        self._values["value"][lanes] = _ratio(pv, v)

    def _seed(self, lane: int, bars: Bars) -> None:
        last = ny_dates(bars.ts[-1:])
        tail = np.flatnonzero(bars.ts >= last[0] * NS_PER_DAY + _NY_MIDNIGHT_EARLIEST_UTC)
        start = int(tail[0]) + int(np.count_nonzero(ny_dates(bars.ts[tail]) != last[0]))
        day = bars.slice(start)
        pv = float(np.sum(_typical(day.high, day.low, day.close) * day.volume))
        v = float(np.sum(day.volume))
        self.sums["pv"][lane], self.sums["v"][lane] = pv, v
        self.days["day"][lane] = last[0]
        self.days["end"][lane] = _day_end(last)[0]
        self._store_one(lane, value=float(_ratio(np.array([pv]), np.array([v]))[0]))
