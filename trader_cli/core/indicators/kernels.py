"""Vectorised batch math shared by the indicator families: no Python loop over bars.

Every function takes float64 arrays and returns the values from the first complete window on
(callers put the NaN warmup prefix in front with ``nan_prefixed``).
"""

from __future__ import annotations

import math

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from numpy.typing import NDArray

from trader_cli.core.indicators.base import FloatArray

# ema_filter works in chunks inside which (1-k)^-j stays below this, so nothing overflows and the
# carry between chunks is applied exactly.
_MAX_GROWTH = 1e100
# Rolling sums restart every block, so rounding error scales with the block, not the series.
_MIN_BLOCK = 1024
# Shorter blocks for variances: E[d^2] - E[d]^2 loses precision with the spread of d in a block.
_VAR_BLOCK = 64


def ema_filter(x: FloatArray, k: float, y0: float, out: FloatArray | None = None) -> FloatArray:
    """``y[t] = y[t-1] + k*(x[t] - y[t-1])`` with ``y[-1] = y0`` (into ``out`` when given).

    In a chunk of L values the recursion has the closed form ``y[i] = k*a^i * (S[i] + a*c/k)``
    with ``a = 1-k``, ``S = cumsum(a^-j * x[j])`` and ``c`` the value before the chunk. Chunks
    are sized so ``a^-L`` stays finite; each chunk's carry comes from one dot product, so the
    only Python loop is one scalar step per chunk (a few dozen for a year of 1m bars).
    """
    n = len(x)
    res = np.empty(n) if out is None else out
    a = 1.0 - k
    if n == 0 or a <= 0.0:
        res[:] = x
        return res
    size = int(min(n, max(1.0, math.log(_MAX_GROWTH) / -math.log(a))))
    j = np.arange(size, dtype=np.float64)
    grow = a**-j
    scale = k * a**j
    end_factor = k * a ** (size - 1)
    carry = y0
    full = n // size
    if full:
        rows = np.ascontiguousarray(x[: full * size]).reshape(full, size)
        block = res[: full * size].reshape(full, size)
        totals = rows @ grow
        np.multiply(rows, grow, out=block)
        starts = np.empty(full)
        for b, total in enumerate(totals.tolist()):  # one scalar step per chunk
            starts[b] = a * carry / k
            carry = end_factor * (total + starts[b])
        block[:, 0] += starts
        np.cumsum(block, axis=1, out=block)
        block *= scale
    rest = n - full * size
    if rest:
        tail = res[full * size :]
        np.multiply(x[full * size :], grow[:rest], out=tail)
        tail[0] += a * carry / k
        np.cumsum(tail, out=tail)
        tail *= scale[:rest]
    return res


def seeded_ema(x: FloatArray, period: int, k: float, out: FloatArray | None = None) -> FloatArray:
    """TA-Lib's EMA seeding: the mean of the first ``period`` values, then ``ema_filter``.
    Returns ``len(x) - period + 1`` values (the first is the seed)."""
    res = np.empty(len(x) - period + 1) if out is None else out
    seed = float(np.mean(x[:period]))
    res[0] = seed
    ema_filter(x[period:], k, seed, out=res[1:])
    return res


def rolling_mean(x: FloatArray, period: int, out: FloatArray | None = None) -> FloatArray:
    """Mean of every window of ``period`` values (``len(x) - period + 1`` of them).

    Prefix sums restart every block, so their rounding error scales with the block, not with the
    series; a window reaching back into the previous block adds that block's total.
    """
    n = len(x)
    windows = n - period + 1
    res = np.empty(windows) if out is None else out
    block = max(_MIN_BLOCK, 4 * period)
    sums = _blockwise_cumsum(x, block)
    res[0] = sums[period - 1]
    np.subtract(sums[period:], sums[:-period], out=res[1:])
    blocks = (n - 1) // block  # blocks after the first that hold a window's end
    if blocks:
        ends = np.arange(1, blocks + 1)[:, None] * block + np.arange(period)[None, :]
        fix = (ends < n).ravel()
        totals = np.repeat(sums[block - 1 : blocks * block : block], period)[fix]
        res[ends.ravel()[fix] - period + 1] += totals
    res /= period
    return res


def _blockwise_cumsum(x: FloatArray, block: int) -> FloatArray:
    """Running sums of ``x`` that restart at every multiple of ``block``."""
    n = len(x)
    full = n // block
    sums = np.empty(n)
    if full:
        rows = np.ascontiguousarray(x[: full * block]).reshape(full, block)
        np.cumsum(rows, axis=1, out=sums[: full * block].reshape(full, block))
    if n > full * block:
        np.cumsum(x[full * block :], out=sums[full * block :])
    return sums


def _block_rows(x: FloatArray, period: int, block: int) -> tuple[FloatArray, int]:
    """Overlapping rows of ``block + period - 1`` values, one every ``block`` values, so row ``b``
    holds every window starting in ``[b*block, (b+1)*block)``; the end is edge-padded."""
    n = len(x)
    windows = n - period + 1
    rows = -(-windows // block)
    need = rows * block + period - 1
    padded = x if need == n else np.concatenate([x, np.full(need - n, x[-1])])
    return sliding_window_view(padded, block + period - 1)[::block], windows


def _window_sums(dev: FloatArray, period: int, block: int) -> FloatArray:
    """Sums of every ``period``-window of each row (``block`` windows per row)."""
    sums = np.empty((dev.shape[0], dev.shape[1] + 1))
    sums[:, 0] = 0.0
    np.cumsum(dev, axis=1, out=sums[:, 1:])
    return sums[:, period : period + block] - sums[:, :block]


def rolling_mean_var(x: FloatArray, period: int) -> tuple[FloatArray, FloatArray]:
    """Mean and population variance of every window of ``period`` values.

    Sums are of deviations ``d`` from a value of the same short block, so prices far from zero
    lose no precision; where ``E[d^2] - E[d]^2`` is still ill-conditioned (a window far flatter
    than its distance from the block's value, e.g. a run of equal closes) the window is summed
    again around its own mean, so a flat window has a standard deviation of 0, not ~1e-8.
    """
    block = max(_VAR_BLOCK, 4 * period)
    rows, windows = _block_rows(x, period, block)
    centre = rows[:, rows.shape[1] // 2].copy()
    dev = rows - centre[:, None]
    drift = _window_sums(dev, period, block) / period
    dev *= dev
    var = _window_sums(dev, period, block) / period
    var -= drift * drift
    bad = ill_conditioned(drift, var, centre[:, None]).ravel()[:windows]
    mean = (drift + centre[:, None]).ravel()[:windows]
    var = var.ravel()[:windows]
    if bad.any():
        where = np.flatnonzero(bad)
        exact = sliding_window_view(x, period)[where]
        mean[where] = exact.mean(axis=1)
        var[where] = np.square(exact - mean[where, None]).mean(axis=1)
    np.maximum(var, 0.0, out=var)
    return mean, var


def ill_conditioned(drift: FloatArray, var: FloatArray, centre: FloatArray) -> NDArray[np.bool_]:
    """True where a variance computed as ``E[d^2] - drift^2`` (``drift`` = window mean - centre)
    has lost too much precision to trust: the drift dwarfs the spread, yet is not itself a
    rounding-level difference from the centre."""
    d2 = drift * drift
    ill: NDArray[np.bool_] = (d2 > 1e4 * var) & (np.abs(drift) > 1e-12 * np.abs(centre))
    return ill


def weighted_mean(x: FloatArray, period: int) -> FloatArray:
    """Linearly weighted mean of every window (weights 1..period, newest heaviest), as WMA."""
    weights = np.arange(period, 0, -1, dtype=np.float64)  # np.convolve flips the kernel
    return np.convolve(x, weights, mode="valid") / (period * (period + 1) / 2.0)


def rolling_max(x: FloatArray, period: int) -> FloatArray:
    """Maximum of every window of ``period`` values (van Herk / Gil-Werman: O(n) for any period)."""
    n = len(x)
    blocks = -(-n // period)
    padded = np.full(blocks * period, -np.inf)
    padded[:n] = x
    grid = padded.reshape(blocks, period)
    prefix = np.maximum.accumulate(grid, axis=1).ravel()
    suffix = np.maximum.accumulate(grid[:, ::-1], axis=1)[:, ::-1].ravel()
    return np.maximum(suffix[: n - period + 1], prefix[period - 1 : n])


def rolling_min(x: FloatArray, period: int) -> FloatArray:
    """Minimum of every window of ``period`` values."""
    return -rolling_max(-x, period)


def true_range(high: FloatArray, low: FloatArray, close: FloatArray) -> FloatArray:
    """Wilder's true range of bars 1..n-1 (each needs the previous close)."""
    prev = close[:-1]
    h, lo = high[1:], low[1:]
    return np.maximum(np.maximum(h - lo, np.abs(h - prev)), np.abs(lo - prev))


def fast_k(close: FloatArray, highest: FloatArray, lowest: FloatArray) -> FloatArray:
    """Stochastic %K: where close sits in the window's range, 0..100; a range within ~1e-14 of its
    own magnitude counts as flat and gives 0 (TA-Lib's scaled zero test)."""
    span = highest - lowest
    flat = np.abs(span) <= 1e-14 * (np.abs(highest) + np.abs(lowest))
    out = np.zeros_like(span)
    np.divide(close - lowest, span, out=out, where=~flat)
    out *= 100.0
    return out


def rsi_from_averages(gain: FloatArray, loss: FloatArray) -> FloatArray:
    """``100 * gain / (gain + loss)``; 0 when there was neither gain nor loss (as TA-Lib)."""
    total = gain + loss
    out = np.zeros_like(total)
    np.divide(gain, total, out=out, where=total != 0.0)
    out *= 100.0
    return out
