"""Streaming indicator state for many independent series ("lanes") at once.

An ``IndicatorBank`` holds one indicator with fixed params for every lane in columnar arrays, so
``update`` applies one bar to hundreds of lanes with a handful of numpy operations and no Python
loop over lanes. The per-lane building blocks below (``Smoother``, ``Window``, ``WindowMax``) are
O(1) per bar (amortised: ``Window`` re-sums its buffer every few hundred bars to stop rounding
drift, ``WindowMax`` rescans a block once every ``period`` bars).

Before a lane's warmup completes its values are stored but never shown: ``latest`` gives None,
``latest_all`` NaN, ``ready`` False.
"""

from __future__ import annotations

import heapq
from functools import cached_property
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
from numpy.typing import ArrayLike, NDArray

from trader_cli.core.bars import Bars
from trader_cli.core.errors import IndicatorError
from trader_cli.core.indicators.base import FloatArray, IntArray, Params
from trader_cli.core.indicators.kernels import ill_conditioned

if TYPE_CHECKING:
    from trader_cli.core.indicators.base import Indicator

IndexArray = NDArray[np.intp]
_T = TypeVar("_T", bound=np.generic)

# A Window re-sums its ring buffer at least this often (and at its first full window) so the
# running sums never drift: error stays at a few hundred roundings of one window's values.
REFRESH_EVERY = 512


def _grown(arr: NDArray[_T], capacity: int, fill: float) -> NDArray[_T]:
    out = np.full((capacity, *arr.shape[1:]), fill, dtype=arr.dtype)
    out[: arr.shape[0]] = arr
    return out


class LanePart:
    """Per-lane arrays (first axis = lane) that can grow and be reset lane by lane."""

    _fills: dict[str, float]  # attribute name -> value of a reset lane (set by each part)

    def resize(self, capacity: int) -> None:
        """Grow every per-lane array to ``capacity`` lanes (new lanes start reset)."""
        for name, fill in self._fills.items():
            setattr(self, name, _grown(getattr(self, name), capacity, fill))

    def reset(self, lane: int) -> None:
        """Forget everything the lane has seen."""
        for name, fill in self._fills.items():
            getattr(self, name)[lane] = fill


class Scalars(LanePart):
    """Named per-lane scalars (previous close, running totals, …) of one dtype."""

    def __init__(self, capacity: int, dtype: type = np.float64, **fills: float) -> None:
        self._fills = dict(fills)
        self.arrays: dict[str, NDArray[np.generic]] = {
            name: np.full(capacity, fill, dtype=dtype) for name, fill in fills.items()
        }

    def __getitem__(self, name: str) -> NDArray[Any]:
        return self.arrays[name]

    def resize(self, capacity: int) -> None:
        """Grow every array to ``capacity`` lanes."""
        for name, fill in self._fills.items():
            self.arrays[name] = _grown(self.arrays[name], capacity, fill)

    def reset(self, lane: int) -> None:
        """Put the lane's scalars back to their initial values."""
        for name, fill in self._fills.items():
            self.arrays[name][lane] = fill


class Smoother(LanePart):
    """Exponential smoothing seeded TA-Lib style: input number m (1-based) for m <= period moves
    the value to the running mean of the inputs so far (so input ``period`` gives their SMA), and
    after that ``value += k * (x - value)`` (EMA: k = 2/(n+1); Wilder: k = 1/n)."""

    def __init__(self, capacity: int, period: int, k: float) -> None:
        self.period = period
        self.k = k
        self.value = np.zeros(capacity)
        self._fills = {"value": 0.0}

    def push(self, lanes: IndexArray, m: IntArray, x: FloatArray) -> FloatArray:
        """Feed ``x`` as input number ``m`` (>= 1) of each lane; return the new values."""
        v = self.value[lanes]
        if int(m.min()) > self.period:
            new = v + self.k * (x - v)
        else:
            alpha = np.where(m <= self.period, 1.0 / m, self.k)
            new = v + alpha * (x - v)
        self.value[lanes] = new
        return new

    def load(self, lane: int, value: float) -> None:
        """Set the lane's value (seeding from batch math)."""
        self.value[lane] = value


class Window(LanePart):
    """The last ``period`` inputs of each lane (a ring buffer) with running sums of deviations
    from a per-lane centre: ``mean``, population ``var`` (squares=True) and the linearly weighted
    mean ``wma`` (weighted=True). The centre is 0 until the first full window, then the window's
    mean at each re-sum, which keeps E[d^2] - E[d]^2 well conditioned for prices far from 0."""

    def __init__(self, capacity: int, period: int, squares: bool = False, weighted: bool = False) -> None:
        self.period = period
        self.squares = squares
        self.weighted = weighted
        self.refresh_every = max(REFRESH_EVERY, period)
        self.buf = np.zeros((capacity, period))
        self.centre = np.zeros(capacity)
        self.s1 = np.zeros(capacity)
        self.s2 = np.zeros(capacity)
        self.w = np.zeros(capacity)
        self._fills = {"buf": 0.0, "centre": 0.0, "s1": 0.0, "s2": 0.0, "w": 0.0}

    def push(self, lanes: IndexArray, m: IntArray, x: FloatArray) -> None:
        """Feed ``x`` as input number ``m`` (>= 1) of each lane (each lane at most once)."""
        p = self.period
        slot = (m - 1) % p
        old = self.buf[lanes, slot]
        self.buf[lanes, slot] = x
        c = self.centre[lanes]
        dx = x - c
        do = old - c  # 0 while the window fills: slot and centre are both still 0
        s1 = self.s1[lanes]
        if self.weighted:  # every weight drops by one, the oldest (weight 1) leaves, x gets p
            self.w[lanes] = self.w[lanes] - s1 + p * dx
        self.s1[lanes] = s1 + (dx - do)
        due = (m % self.refresh_every == 0) | (m == p)
        if self.squares:
            s2 = self.s2[lanes] + (dx * dx - do * do)
            self.s2[lanes] = s2
            drift = (s1 + (dx - do)) / p
            # re-centre as soon as the variance formula loses precision (kernels.ill_conditioned)
            due |= ill_conditioned(drift, s2 / p - drift * drift, c) & (m >= p)
        if due.any():
            self._resum(lanes[due], m[due], centred=True)

    def _resum(self, lanes: IndexArray, m: IntArray, centred: bool) -> None:
        """Recompute the sums of ``lanes`` exactly from their buffers (``m`` inputs seen)."""
        p = self.period
        buf = self.buf[lanes]
        c = buf.mean(axis=1) if centred else np.zeros(len(lanes))
        d = buf - c[:, None]
        if not centred:  # a window still filling: only its filled slots count
            d *= np.arange(p)[None, :] < m[:, None]
        self.centre[lanes] = c
        self.s1[lanes] = d.sum(axis=1)
        if self.squares:
            self.s2[lanes] = (d * d).sum(axis=1)
        if self.weighted:  # the slot written last weighs p, the one after it 1
            weights = (np.arange(p)[None, :] - m[:, None]) % p + 1
            self.w[lanes] = (weights * d).sum(axis=1)

    def mean(self, lanes: IndexArray) -> FloatArray:
        """Mean of each lane's window (valid once ``period`` inputs were seen)."""
        return self.centre[lanes] + self.s1[lanes] / self.period

    def var(self, lanes: IndexArray) -> FloatArray:
        """Population variance of each lane's window (needs squares=True)."""
        s1 = self.s1[lanes] / self.period
        return np.maximum(self.s2[lanes] / self.period - s1 * s1, 0.0)

    def wma(self, lanes: IndexArray) -> FloatArray:
        """Linearly weighted mean of each lane's window (needs weighted=True)."""
        p = self.period
        return self.centre[lanes] + self.w[lanes] / (p * (p + 1) / 2.0)

    def load(self, lane: int, x: FloatArray) -> None:
        """Set the lane as if every value of ``x`` had been pushed (only the last period count)."""
        m = len(x)
        p = self.period
        tail = x[-p:] if m else x
        self.buf[lane] = 0.0
        self.buf[lane, (np.arange(m - len(tail), m)) % p] = tail
        lanes = np.array([lane], dtype=np.intp)
        self._resum(lanes, np.array([m], dtype=np.int64), centred=m >= p)


class WindowMax(LanePart):
    """Running maximum of each lane's last ``period`` inputs (streaming van Herk/Gil-Werman):
    inputs fill blocks of ``period``; the window max is the max of the current block's prefix and
    the previous block's suffix, which is computed once per block (amortised O(1))."""

    def __init__(self, capacity: int, period: int) -> None:
        self.period = period
        self.buf = np.zeros((capacity, period))
        self.suffix = np.full((capacity, period + 1), -np.inf)
        self.prefix = np.full(capacity, -np.inf)
        self._fills = {"buf": 0.0, "suffix": -np.inf, "prefix": -np.inf}

    def push(self, lanes: IndexArray, m: IntArray, x: FloatArray) -> FloatArray:
        """Feed ``x`` as input number ``m`` (>= 1); return the max of the last ``period`` inputs."""
        p = self.period
        slot = (m - 1) % p
        self.buf[lanes, slot] = x
        pre = np.where(slot == 0, x, np.maximum(self.prefix[lanes], x))
        self.prefix[lanes] = pre
        out = np.maximum(self.suffix[lanes, slot + 1], pre)
        done = slot == p - 1
        if done.any():
            full = lanes[done]
            self.suffix[full, :p] = np.maximum.accumulate(self.buf[full][:, ::-1], axis=1)[:, ::-1]
        return np.asarray(out, dtype=np.float64)

    def load(self, lane: int, x: FloatArray) -> None:
        """Set the lane as if every value of ``x`` had been pushed."""
        p = self.period
        m = len(x)
        start = ((m - 1) // p) * p if m else 0  # first input of the current block
        current = x[start:m]
        previous = x[max(0, start - p) : start]
        self.buf[lane] = 0.0
        self.buf[lane, : len(previous)] = previous
        self.buf[lane, : len(current)] = current
        self.prefix[lane] = current.max() if len(current) else -np.inf
        self.suffix[lane] = -np.inf
        if len(previous) == p and len(current) < p:
            self.suffix[lane, :p] = np.maximum.accumulate(previous[::-1])[::-1]
        elif len(current) == p:  # the block just completed: its suffix is what comes next
            self.suffix[lane, :p] = np.maximum.accumulate(current[::-1])[::-1]


def lane_index(lane: int) -> IndexArray:
    """A one-lane index array."""
    return np.array([lane], dtype=np.intp)


def started(lanes: IndexArray, m: IntArray, *columns: FloatArray) -> tuple[IndexArray, IntArray, list[FloatArray]]:
    """The lanes (and their columns) whose input series has begun (m >= 1)."""
    if len(m) == 0 or int(m.min()) >= 1:
        return lanes, m, list(columns)
    ok = m >= 1
    return lanes[ok], m[ok], [c[ok] for c in columns]


class IndicatorBank:
    """Streaming state of many independent series (lanes) of one indicator, updated vectorised."""

    def __init__(self, indicator: Indicator, params: Params, capacity: int = 8) -> None:
        self.indicator = indicator
        self.params = params
        self.warmup = indicator.warmup_bars(params)
        cap = max(1, int(capacity))
        self._capacity = cap
        self._count = np.zeros(cap, dtype=np.int64)
        self._in_use = np.zeros(cap, dtype=bool)
        self._free: list[int] = []
        self._next = 0
        self._values = {name: np.full(cap, np.nan) for name in indicator.outputs}
        self._parts: list[LanePart] = []
        self._setup(cap)

    # -- what each family implements ---------------------------------------------------------
    def _setup(self, capacity: int) -> None:
        """Create the family's LaneParts (register them in ``self._parts``)."""
        raise NotImplementedError

    def _step(self, lanes: IndexArray, c: IntArray, bar: BarColumns) -> None:
        """Apply one bar per lane (``c`` = bars the lane has now seen, this one included)."""
        raise NotImplementedError

    def _seed(self, lane: int, bars: Bars) -> None:
        """Set the lane's state and values as if every bar of ``bars`` had been stepped."""
        raise NotImplementedError

    # -- lanes --------------------------------------------------------------------------------
    @property
    def capacity(self) -> int:
        """Lanes the arrays currently hold (grows by doubling)."""
        return self._capacity

    def add_lane(self) -> int:
        """A fresh lane (a freed one when there is one); grows the arrays when full."""
        if self._free:
            lane = heapq.heappop(self._free)
        else:
            if self._next == self._capacity:
                self._resize(self._capacity * 2)
            lane = self._next
            self._next += 1
        self._in_use[lane] = True
        return lane

    def free_lane(self, lane: int) -> None:
        """Forget a lane; its index may be handed out again by ``add_lane``."""
        self._check_lane(lane)
        self._reset(lane)
        self._in_use[lane] = False
        heapq.heappush(self._free, lane)

    def _resize(self, capacity: int) -> None:
        self._capacity = capacity
        self._count = _grown(self._count, capacity, 0)
        self._in_use = _grown(self._in_use, capacity, False)
        for name in self._values:
            self._values[name] = _grown(self._values[name], capacity, np.nan)
        for part in self._parts:
            part.resize(capacity)

    def _reset(self, lane: int) -> None:
        self._count[lane] = 0
        for arr in self._values.values():
            arr[lane] = np.nan
        for part in self._parts:
            part.reset(lane)

    def _check_lane(self, lane: int) -> None:
        if not (0 <= lane < self._capacity and self._in_use[lane]):
            raise IndicatorError(f"{self.indicator.name} lane {lane} is not in use (add_lane first)")

    # -- feeding ------------------------------------------------------------------------------
    def seed(self, lane: int, bars: Bars) -> None:
        """Reset the lane, then put it in the state it would have after ``update`` with every bar
        of ``bars`` in order (computed with the batch math, not bar by bar)."""
        self._check_lane(lane)
        self._reset(lane)
        if len(bars):
            self._seed(lane, bars)
            self._count[lane] = len(bars)

    def update(
        self,
        lanes: ArrayLike,
        ts: ArrayLike,
        open: ArrayLike,
        high: ArrayLike,
        low: ArrayLike,
        close: ArrayLike,
        volume: ArrayLike,
    ) -> None:
        """One new bar for each lane in ``lanes`` (each at most once; field arrays aligned with
        it). Lanes without a bar this step are simply left out."""
        idx = np.asarray(lanes, dtype=np.intp)
        if idx.ndim == 0:
            idx = idx.reshape(1)
        if idx.size == 0:
            return
        try:
            in_use = bool(self._in_use[idx].all()) and int(idx.min()) >= 0
        except IndexError:
            in_use = False
        if not in_use:
            bad = [int(i) for i in idx if not (0 <= i < self._capacity and self._in_use[i])]
            raise IndicatorError(f"{self.indicator.name} lanes not in use: {bad[:5]} (add_lane first)")
        c = self._count[idx] + 1
        self._count[idx] = c
        self._step(idx, c, BarColumns(len(idx), ts, open, high, low, close, volume))

    def _store(self, lanes: IndexArray, **values: FloatArray) -> None:
        for name, v in values.items():
            self._values[name][lanes] = v

    def _store_one(self, lane: int, **values: float) -> None:
        for name, v in values.items():
            self._values[name][lane] = v

    # -- reading ------------------------------------------------------------------------------
    def bars_seen(self, lane: int) -> int:
        """Bars the lane has been fed (seeded ones included)."""
        return int(self._count[lane])

    def ready(self) -> NDArray[np.bool_]:
        """Per lane: True once it has a value (warmup complete)."""
        first = self._values[self.indicator.outputs[0]]
        ok: NDArray[np.bool_] = self._in_use & (self._count >= self.warmup) & ~np.isnan(first)
        return ok

    def latest(self, lane: int) -> dict[str, float] | None:
        """The lane's current values, or None while it is not ready."""
        if not (0 <= lane < self._capacity) or not self._in_use[lane]:
            return None
        if self._count[lane] < self.warmup:
            return None
        out = {name: float(arr[lane]) for name, arr in self._values.items()}
        return None if any(v != v for v in out.values()) else out

    def latest_of(self, lanes: IndexArray | slice) -> dict[str, FloatArray]:
        """Current values of the given lanes (in use), NaN where not ready; cheaper than
        ``latest_all`` when only the lanes just updated are wanted. With a slice of lanes the
        values are views when every lane is ready: read them before the next update."""
        first = self._values[self.indicator.outputs[0]][lanes]
        ok = (self._count[lanes] >= self.warmup) & ~np.isnan(first)
        if bool(ok.all()):
            return {name: arr[lanes] for name, arr in self._values.items()}
        return {name: np.where(ok, arr[lanes], np.nan) for name, arr in self._values.items()}

    def latest_all(self) -> dict[str, FloatArray]:
        """Current values of every lane (capacity-length arrays), NaN where not ready."""
        ok = self.ready()
        return {name: np.where(ok, arr, np.nan) for name, arr in self._values.items()}

    def __repr__(self) -> str:
        used = int(self._in_use.sum())
        return f"<IndicatorBank {self.indicator.name}{self.params} lanes={used}/{self._capacity}>"


class BarColumns:
    """One bar per updated lane, as float64 / int64 columns aligned with the lane index array
    (a single value is used for every lane). Each field is converted on first use only."""

    def __init__(
        self,
        n: int,
        ts: ArrayLike,
        open: ArrayLike,
        high: ArrayLike,
        low: ArrayLike,
        close: ArrayLike,
        volume: ArrayLike,
    ) -> None:
        self._n = n
        self._raw = (ts, open, high, low, close, volume)

    @cached_property
    def ts(self) -> IntArray:
        """Bar start times, UTC ns."""
        return _col(self._raw[0], self._n, np.int64)

    @cached_property
    def open(self) -> FloatArray:
        """Opens."""
        return _col(self._raw[1], self._n, np.float64)

    @cached_property
    def high(self) -> FloatArray:
        """Highs."""
        return _col(self._raw[2], self._n, np.float64)

    @cached_property
    def low(self) -> FloatArray:
        """Lows."""
        return _col(self._raw[3], self._n, np.float64)

    @cached_property
    def close(self) -> FloatArray:
        """Closes."""
        return _col(self._raw[4], self._n, np.float64)

    @cached_property
    def volume(self) -> FloatArray:
        """Volumes."""
        return _col(self._raw[5], self._n, np.float64)


def _col(values: ArrayLike, n: int, dtype: type) -> NDArray[Any]:
    arr: NDArray[Any] = np.asarray(values, dtype=dtype).reshape(-1)
    if arr.shape[0] == n:
        return arr
    if arr.shape[0] == 1:
        return np.full(n, arr[0], dtype=dtype)
    raise IndicatorError(f"a bar field has {arr.shape[0]} values for {n} lanes")
