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
# Rolling sums restart every block (re-centred on a value of the block), so rounding error scales
# with the block, not with the whole series.
_MIN_BLOCK = 1024
# Shorter blocks for variances: E[d^2] - E[d]^2 loses precision with the spread of d in a block.
_VAR_BLOCK = 64


def ema_filter(x: FloatArray, k: float, y0: float) -> FloatArray:
    """``y[t] = y[t-1] + k*(x[t] - y[t-1])`` with ``y[-1] = y0``.

    Within a chunk of L values the recursion has the closed form
    ``y[i] = a^(i+1)*carry + k*a^i * cumsum(a^-j * x[j])[i]`` with ``a = 1-k``; chunks are sized so
    that ``a^-L`` stays finite, and each chunk's carry is the previous chunk's last value.
    """
    n = len(x)
    a = 1.0 - k
    if n == 0 or a <= 0.0:
        return np.array(x, dtype=np.float64, copy=True)
    size = int(min(n, max(1.0, math.log(_MAX_GROWTH) / -math.log(a))))
    chunks = -(-n // size)
    if chunks * size == n:
        flat = np.asarray(x, dtype=np.float64)
    else:
        flat = np.zeros(chunks * size)
        flat[:n] = x
    j = np.arange(size, dtype=np.float64)
    rows = flat.reshape(chunks, size) * (a ** -j)
    np.cumsum(rows, axis=1, out=rows)
    rows *= k * a**j
    decay = a ** (j + 1.0)
    carries = [y0]
    last_decay = float(decay[-1])
    for end in rows[:-1, -1].tolist():  # one scalar step per chunk
        carries.append(end + last_decay * carries[-1])
    rows += np.asarray(carries)[:, None] * decay
    return rows.ravel()[:n]


def seeded_ema(x: FloatArray, period: int, k: float) -> FloatArray:
    """TA-Lib's EMA seeding: the mean of the first ``period`` values, then ``ema_filter``.
    Returns ``len(x) - period + 1`` values (the first is the seed)."""
    seed = float(np.mean(x[:period]))
    out = np.empty(len(x) - period + 1)
    out[0] = seed
    out[1:] = ema_filter(x[period:], k, seed)
    return out


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


def rolling_mean(x: FloatArray, period: int) -> FloatArray:
    """Mean of every window of ``period`` values (``len(x) - period + 1`` of them)."""
    block = max(_MIN_BLOCK, 4 * period)
    rows, windows = _block_rows(x, period, block)
    centre = rows[:, rows.shape[1] // 2].copy()
    dev = rows - centre[:, None]
    mean = _window_sums(dev, period, block)
    mean /= period
    mean += centre[:, None]
    return mean.ravel()[:windows]


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
