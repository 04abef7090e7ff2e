"""Property: for random series and random valid params, a bank fed bar by bar equals the batch,
and is not ready for exactly the first warmup_bars - 1 bars."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trader_cli.core.bars import Bars
from trader_cli.core.indicators import get_indicator, indicator_names

START_NS = 1_733_149_800 * 1_000_000_000  # 2024-12-02 14:30 UTC, a session open
STEPS_NS = [60 * 10**9, 5 * 60 * 10**9, 17 * 3600 * 10**9]  # next minute, a gap, next morning


@st.composite
def series(draw: st.DrawFn) -> Bars:
    """A random walk: price level 0.5..5000, volatility 0.01%..3% a bar, cent-rounded or not,
    with time steps that skip bars and cross New York days."""
    n = draw(st.integers(1, 160))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    level = draw(st.floats(0.5, 5000.0))
    vol = draw(st.floats(1e-4, 3e-2))
    close = level * np.exp(np.cumsum(rng.normal(0.0, vol, n)))
    if draw(st.booleans()):
        close = np.maximum(np.round(close, 2), 0.01)  # cents: flat runs and exact ties
    open_ = np.r_[close[0], close[:-1]]
    spread = np.abs(rng.normal(0.0, vol, n)) * close
    high = np.maximum(open_, close) + spread
    low = np.minimum(open_, close) - spread * rng.random(n)
    volume = rng.integers(1, 50_000, n).astype(np.float64)
    steps = rng.choice(STEPS_NS, size=n, p=[0.8, 0.15, 0.05])
    ts = START_NS + np.cumsum(steps) - steps[0]
    return Bars(ts.astype(np.int64), open_, high, low, close, volume)


def _period(draw: st.DrawFn, low: int = 1, high: int = 40) -> int:
    return draw(st.integers(low, high))


@st.composite
def indicator_and_params(draw: st.DrawFn) -> tuple[str, tuple[int | float, ...]]:
    """Any indicator with random valid params."""
    name = draw(st.sampled_from(indicator_names()))
    if name in ("sma", "ema", "wma", "atr"):
        return name, (_period(draw),)
    if name == "rsi":
        return name, (_period(draw, 2),)
    if name == "bbands":
        return name, (_period(draw, 2), draw(st.floats(0.0, 4.0)))
    if name == "macd":
        fast = _period(draw, 2, 20)
        return name, (fast, _period(draw, fast + 1, 45), _period(draw, 1, 12))
    if name == "stoch":
        return name, (_period(draw, 1, 20), _period(draw, 1, 8), _period(draw, 1, 8))
    return name, ()


def _scale(name: str, bars: Bars) -> float:
    """What "relative" means for the indicator's outputs: 100 for the 0..100 oscillators, the
    volume for obv, the price level for everything in price units (macd near 0 included)."""
    if name in ("rsi", "stoch"):
        return 100.0
    if name == "obv":
        return float(bars.volume.sum())
    return float(np.abs(bars.close).max())


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=indicator_and_params(), bars=series(), cut_at=st.floats(0.0, 1.0))
def test_bank_fed_bar_by_bar_equals_batch(case: tuple[str, tuple[int | float, ...]], bars: Bars, cut_at: float) -> None:
    """Lane ``fed`` gets every bar through update(); lane ``seeded`` is seeded with the bars
    before a random cut and then updated together with ``fed`` in the same calls."""
    name, params = case
    ind = get_indicator(name)
    warmup = ind.warmup_bars(params)
    batch = ind.batch(bars, params)
    scale = _scale(name, bars)
    bank = ind.new_bank(params, capacity=1)
    fed, seeded = bank.add_lane(), bank.add_lane()  # the bank grows on the second lane
    cut = int(cut_at * len(bars))
    bank.seed(seeded, bars.slice(0, cut))
    for i in range(len(bars)):
        lanes = [fed] if i < cut else [seeded, fed]
        bank.update(lanes, bars.ts[i], bars.open[i], bars.high[i], bars.low[i], bars.close[i], bars.volume[i])
        ready = i >= warmup - 1
        checked = [fed] if i < cut - 1 else [fed, seeded]  # seeded holds bars[:cut] from i=cut-1
        for lane in checked:
            got = bank.latest(lane)
            assert (got is not None) == ready, f"bar {i}: ready={got is not None}, warmup {warmup}"
            assert bool(bank.ready()[lane]) == ready
            for out, values in batch.items():
                if not ready:
                    assert np.isnan(values[i]), f"batch {out}[{i}] is set before warmup"
                    continue
                assert got is not None
                assert abs(got[out] - values[i]) <= 1e-9 * max(abs(values[i]), scale), (
                    f"{name}{params} {out}[{i}] lane {lane}: bank {got[out]!r} batch {values[i]!r}"
                )
