"""Indicator requests ("sma 20 on 5m") and their warmup analysis on the real calendar.

Warmup analysis turns "200 bars of 5m before the session" into the trading days to load: walk
back from the session day, summing the bars each day holds on the calendar (early closes hold
fewer, holidays none), until the warmup is covered.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from trader_cli.core.calendar import MarketCalendar, nyse
from trader_cli.core.errors import IndicatorError
from trader_cli.core.indicators.base import Params, RawParam, format_param
from trader_cli.core.indicators.registry import get_indicator
from trader_cli.core.intervals import Interval

_FULL_SESSION_SECONDS = 390 * 60


@dataclass(frozen=True)
class IndicatorRequest:
    """One indicator with resolved params on one interval, e.g. sma(20) on 5m."""

    name: str
    params: Params
    interval: Interval

    @property
    def key(self) -> str:
        """``NAME_PARAMS_INTERVAL``: "sma_20_5m", "macd_12_26_9_1m", "bbands_20_2.5_5m"."""
        return "_".join([self.name, *(format_param(p) for p in self.params), self.interval.name])

    @classmethod
    def parse(cls, name: str, raw_params: Sequence[RawParam] = (), interval: Interval | str = "1m") -> IndicatorRequest:
        """Look the indicator up and validate its params (IndicatorError / IntervalError)."""
        indicator = get_indicator(name)
        return cls(indicator.name, indicator.resolve_params(raw_params), Interval.parse(interval))

    def __str__(self) -> str:
        inner = ", ".join(format_param(p) for p in self.params)
        return f"{self.name}({inner}) on {self.interval.name}"


@dataclass(frozen=True)
class IndicatorRequirements:
    """What an indicator request needs before the session: warmup bars and the days holding them."""

    key: str
    interval: Interval
    base_interval: Interval
    warmup_bars: int
    converge_bars: int
    historical_days: int
    history_days: tuple[dt.date, ...]
    bars_available: int

    def to_dict(self) -> dict[str, Any]:
        """Plain values for display (dates as ISO text)."""
        return {
            "key": self.key,
            "interval": self.interval.name,
            "base_interval": self.base_interval.name,
            "warmup_bars": self.warmup_bars,
            "converge_bars": self.converge_bars,
            "historical_days": self.historical_days,
            "history_days": [d.isoformat() for d in self.history_days],
            "bars_available": self.bars_available,
        }


def analyze_indicator_requirements(
    request: IndicatorRequest,
    session_date: dt.date,
    calendar: MarketCalendar | None = None,
    stored_intervals: set[str] | None = None,
) -> IndicatorRequirements:
    """The warmup of ``request`` in bars and the trading days before ``session_date`` that hold
    its convergence horizon (oldest first: loaded as history, so its values do not depend on
    where the series starts); a session-anchored indicator (vwap) needs no history."""
    cal = calendar or nyse()
    indicator = get_indicator(request.name)
    warmup = indicator.warmup_bars(request.params)
    converge = indicator.converge_bars(request.params)
    interval = request.interval
    days: tuple[dt.date, ...] = ()
    held = 0
    if not indicator.session_anchored:
        days, held = _days_holding(cal, session_date, interval, converge)
        if held < warmup:
            raise IndicatorError(
                f"{request.key} needs {warmup} bars of {interval.name} but the calendar only "
                f"holds {held} before {session_date.isoformat()}"
            )
    return IndicatorRequirements(
        key=request.key,
        interval=interval,
        base_interval=interval.required_base(stored_intervals),
        warmup_bars=warmup,
        converge_bars=converge,
        historical_days=len(days),
        history_days=days,
        bars_available=held,
    )


def _days_holding(
    cal: MarketCalendar, session_date: dt.date, interval: Interval, bars: int
) -> tuple[tuple[dt.date, ...], int]:
    """The fewest trading days before ``session_date`` whose expected bars sum to >= ``bars``."""
    per_day = interval.bars_in(_FULL_SESSION_SECONDS)
    want = -(-bars // per_day) + 2  # a guess with room for an early close or two
    while True:
        back = cal.trading_days_back(session_date, want)
        held = 0
        for i in range(len(back) - 1, -1, -1):
            held += cal.expected_bars(back[i], interval)
            if held >= bars:
                return tuple(back[i:]), held
        if len(back) < want:  # the calendar has no earlier days
            return tuple(back), held
        want *= 2
