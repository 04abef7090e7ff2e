"""Technical indicators: a registry of families, vectorised batch math, streaming lane banks and
warmup analysis on the real calendar.

    get_indicator("sma").batch(bars, (20,))       -> {"value": array}
    bank = get_indicator("rsi").new_bank((14,))   -> state of many series (lanes) at once
    analyze_indicator_requirements(IndicatorRequest.parse("sma", [200], "5m"), day)

Both the batch math and the banks match TA-Lib on the same input (vwap, which TA-Lib lacks, is
the per-day cumulative formula).
"""

from __future__ import annotations

from trader_cli.core.indicators.bank import IndicatorBank
from trader_cli.core.indicators.base import Indicator, ParamSpec, format_param
from trader_cli.core.indicators.registry import get_indicator, indicator_names
from trader_cli.core.indicators.requirements import (
    IndicatorRequest,
    IndicatorRequirements,
    analyze_indicator_requirements,
)
from trader_cli.core.indicators.streaming import Streaming

__all__ = [
    "Indicator",
    "IndicatorBank",
    "IndicatorRequest",
    "IndicatorRequirements",
    "ParamSpec",
    "Streaming",
    "analyze_indicator_requirements",
    "format_param",
    "get_indicator",
    "indicator_names",
]
