"""ema_cross: buy a fast EMA crossing above a slow one, sell the cross back down (long only).

On each completed bar of ``interval`` during the replay, per config symbol with both EMAs ready
at this bar and the previous one: fast > slow now and fast <= slow at the previous bar while flat
-> market buy ``qty``; fast < slow now and fast >= slow at the previous bar while long -> market
sell the whole position.

    strategy load examples/strategies/ema_cross.py fast=10 slow=30 qty=100 interval=5m
"""

from __future__ import annotations

import numpy as np

from trader_cli.plugins import BarsView, Needs, Param, Strategy, indicator_key


class EmaCross(Strategy):
    """Two EMAs of the close; a cross is a signal (vectorised over every symbol at once)."""

    name = "ema_cross"
    params = (
        Param("fast", int, 10, min=1, max=1000, help="bars of the fast EMA"),
        Param("slow", int, 30, min=2, max=5000, help="bars of the slow EMA"),
        Param("qty", int, 100, min=1, max=10_000_000, help="shares a buy"),
        Param("interval", str, "5m", choices=("1m", "5m", "15m", "30m", "1h"), help="bars the EMAs are on"),
    )
    fast: int
    slow: int
    qty: int
    interval: str

    def needs(self) -> Needs:
        return Needs(
            intervals=[self.interval],
            indicators=[("ema", [self.fast], self.interval), ("ema", [self.slow], self.interval)],
        )

    def keys(self) -> tuple[str, str]:
        """The two EMAs' keys in the session (e.g. ema_10_5m, ema_30_5m)."""
        return indicator_key("ema", [self.fast], self.interval), indicator_key("ema", [self.slow], self.interval)

    def signals(self, bars: BarsView) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(buy, sell, shares held): the symbols crossing up while flat, down while long."""
        fast_key, slow_key = self.keys()
        fast, slow = bars.indicator(fast_key), bars.indicator(slow_key)
        was_fast, was_slow = bars.previous(fast_key), bars.previous(slow_key)
        ready = ~(np.isnan(fast) | np.isnan(slow) | np.isnan(was_fast) | np.isnan(was_slow))
        held = bars.position
        up = ready & (fast > slow) & (was_fast <= was_slow) & (held == 0)
        down = ready & (fast < slow) & (was_fast >= was_slow) & (held > 0)
        return up, down, held

    def on_bars(self, bars: BarsView) -> None:
        if bars.interval != self.interval:
            return
        up, down, held = self.signals(bars)
        if up.any():
            bars.buy(up, self.qty)
        if down.any():
            bars.sell(down, held[down])
