"""The indicator registry: every family by name, with "did you mean" for unknown names."""

from __future__ import annotations

import difflib

from trader_cli.core.errors import IndicatorError
from trader_cli.core.indicators.base import Indicator
from trader_cli.core.indicators.moving_averages import EMA, SMA, WMA
from trader_cli.core.indicators.oscillators import MACD, RSI, STOCH
from trader_cli.core.indicators.volatility import ATR, BBANDS
from trader_cli.core.indicators.volume import OBV, VWAP

_FAMILIES: tuple[Indicator, ...] = (SMA(), EMA(), WMA(), RSI(), MACD(), BBANDS(), ATR(), STOCH(), OBV(), VWAP())
_REGISTRY: dict[str, Indicator] = {ind.name: ind for ind in _FAMILIES}


def indicator_names() -> list[str]:
    """Every indicator name, sorted."""
    return sorted(_REGISTRY)


def get_indicator(name: str) -> Indicator:
    """The indicator called ``name`` (any case); IndicatorError with "did you mean" otherwise."""
    key = str(name).strip().lower()
    found = _REGISTRY.get(key)
    if found is not None:
        return found
    known = ", ".join(indicator_names())
    close = difflib.get_close_matches(key, list(_REGISTRY), n=1, cutoff=0.6)
    hint = f"did you mean {close[0]}? " if close else ""
    raise IndicatorError(f"unknown indicator '{name}' ({hint}known: {known})")
