"""ema_watch: ema_cross without its orders, for bench_strategy.py's floor figure.

The same needs (EMA 10 and 30 on 5m, provisioned through the pipeline) and the same signal
computation on each completed 5m bar (four indicator reads, the position, the cross masks) as
``examples/strategies/ema_cross.py``, but it places no order: what a replay pays for the
strategy's data and callbacks alone, before any order, fill or round trip.
"""

from __future__ import annotations

import numpy as np

from trader_cli.plugins import BarsView, Needs, Strategy, indicator_key


class EmaWatch(Strategy):
    """ema_cross's reads and masks, no orders."""

    name = "ema_watch"
    params = ()
    signals = 0  # crosses seen (so the masks are used, and a check can read them)

    def needs(self) -> Needs:
        return Needs(intervals=["5m"], indicators=[("ema", [10], "5m"), ("ema", [30], "5m")])

    def on_bars(self, bars: BarsView) -> None:
        if bars.interval != "5m":
            return
        fast_key, slow_key = indicator_key("ema", [10], "5m"), indicator_key("ema", [30], "5m")
        fast, slow = bars.indicator(fast_key), bars.indicator(slow_key)
        was_fast, was_slow = bars.previous(fast_key), bars.previous(slow_key)
        ready = ~(np.isnan(fast) | np.isnan(slow) | np.isnan(was_fast) | np.isnan(was_slow))
        held = bars.position
        up = ready & (fast > slow) & (was_fast <= was_slow) & (held == 0)
        down = ready & (fast < slow) & (was_fast >= was_slow) & (held > 0)
        self.signals += int(up.sum() + down.sum())
