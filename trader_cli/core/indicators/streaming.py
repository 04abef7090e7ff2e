"""One series at a time: a convenience wrapper around a one-lane ``IndicatorBank``."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from trader_cli.core.bars import Bars
from trader_cli.core.indicators.bank import IndicatorBank
from trader_cli.core.indicators.base import Indicator, Params, RawParam
from trader_cli.core.indicators.registry import get_indicator


class Streaming:
    """An indicator fed bar by bar: ``update(...)`` returns the values, or None until ready."""

    def __init__(self, indicator: Indicator | str, params: Sequence[RawParam] = ()) -> None:
        self.indicator = get_indicator(indicator) if isinstance(indicator, str) else indicator
        self.params: Params = self.indicator.resolve_params(params)
        self.bank: IndicatorBank = self.indicator.new_bank(self.params, capacity=1)
        self.lane = self.bank.add_lane()
        self._lanes = np.array([self.lane], dtype=np.intp)

    def update(
        self, ts: int, open: float, high: float, low: float, close: float, volume: float
    ) -> dict[str, float] | None:
        """Feed one bar; the indicator's values after it, or None while warming up."""
        self.bank.update(self._lanes, [ts], [open], [high], [low], [close], [volume])
        return self.bank.latest(self.lane)

    def seed(self, bars: Bars) -> dict[str, float] | None:
        """Start over as if every bar of ``bars`` had been fed; the values after them."""
        self.bank.seed(self.lane, bars)
        return self.bank.latest(self.lane)

    def latest(self) -> dict[str, float] | None:
        """The current values, or None while warming up."""
        return self.bank.latest(self.lane)
