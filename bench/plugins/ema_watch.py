"""ema_watch: ema_cross without its orders, for bench_strategy.py's floor figure.

``examples/strategies/ema_cross.py``'s class with its defaults (EMA 10 and 30 on 5m, provisioned
through the pipeline) and its ``signals`` each completed 5m bar (four indicator reads, the
position, the cross masks), but no order: what a replay pays for the strategy's data and
callbacks alone, before any order, fill or round trip.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from trader_cli.plugins import BarsView

_FILE = Path(__file__).resolve().parents[2] / "examples" / "strategies" / "ema_cross.py"
_spec = importlib.util.spec_from_file_location("ema_cross_of_ema_watch", _FILE)
assert _spec is not None and _spec.loader is not None
_module = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_module)


class EmaWatch(_module.EmaCross):  # type: ignore[misc,name-defined]
    """ema_cross's signals, no orders."""

    name = "ema_watch"
    signals_seen = 0  # crosses seen (so the masks are used, and the bench can check them)

    def on_bars(self, bars: BarsView) -> None:
        if bars.interval != self.interval:
            return
        up, down, _ = self.signals(bars)
        self.signals_seen += int(up.sum() + down.sum())
