"""The plugin API for strategy and scanner files (see core/plugins/api.py and the README):

from trader_cli.plugins import Needs, Param, Strategy

class MyStrategy(Strategy):
    params = [Param("qty", int, 100, min=1)]

    def needs(self) -> Needs:
        return Needs(intervals=["5m"], indicators=[("rsi", [14], "5m")])

    def on_bars(self, bars) -> None:
        rsi = bars.indicator("rsi_14_5m")
        bars.buy((rsi < 30) & (bars.position == 0), self.qty)

A plugin refuses its parameters beyond what ``Param`` checks by raising ``PluginError("…")``
from its constructor, ``needs()`` or ``default_schedule()``: the load is refused with that
one line, after the plugin's name (any other exception there is reported with its file's line
and a traceback in the plugins' log).
"""

from trader_cli.core.broker.models import Account, OrderSnapshot
from trader_cli.core.errors import PluginError
from trader_cli.core.plugins.api import (
    CONFIG_SYMBOLS,
    BarsView,
    BarView,
    Needs,
    Param,
    Scanner,
    ScanView,
    Schedule,
    Strategy,
    indicator_key,
)

__all__ = [
    "CONFIG_SYMBOLS",
    "Account",
    "BarView",
    "BarsView",
    "Needs",
    "OrderSnapshot",
    "Param",
    "PluginError",
    "ScanView",
    "Scanner",
    "Schedule",
    "Strategy",
    "indicator_key",
]
