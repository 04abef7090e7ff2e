"""Warmup analysis: warmup bars -> trading days on the real calendar (holidays, early closes)."""

from __future__ import annotations

import datetime as dt

import pytest

from trader_cli.core.calendar import MarketCalendar
from trader_cli.core.errors import IndicatorError
from trader_cli.core.indicators import (
    IndicatorRequest,
    IndicatorRequirements,
    analyze_indicator_requirements,
)
from trader_cli.core.intervals import Interval

MONDAY_AFTER_THANKSGIVING = dt.date(2024, 12, 2)
D = dt.date


def _analyze(
    name: str,
    params: list[int | float],
    interval: str,
    day: dt.date = MONDAY_AFTER_THANKSGIVING,
    stored: set[str] | None = None,
) -> IndicatorRequirements:
    return analyze_indicator_requirements(IndicatorRequest.parse(name, params, interval), day, stored_intervals=stored)


def test_sma_200_on_5m_reaches_back_across_thanksgiving_and_early_close(cal: MarketCalendar) -> None:
    assert not cal.is_trading_day(D(2024, 11, 28))
    assert cal.expected_bars(D(2024, 11, 29), "5m") == 42
    req = _analyze("sma", [200], "5m")
    assert req.key == "sma_200_5m"
    assert req.interval == Interval.parse("5m") and req.base_interval == Interval.parse("1m")
    assert req.warmup_bars == 200
    # 11-29 holds 42 (13:00 close), 11-27 and 11-26 78 each: 198 < 200, so 11-25 is needed too.
    assert req.history_days == (D(2024, 11, 25), D(2024, 11, 26), D(2024, 11, 27), D(2024, 11, 29))
    assert req.historical_days == 4
    assert req.bars_available == 42 + 3 * 78


@pytest.mark.parametrize(
    ("period", "days", "bars"),
    [
        (1, (D(2024, 11, 29),), 42),
        (42, (D(2024, 11, 29),), 42),  # exactly the early close's bars
        (43, (D(2024, 11, 27), D(2024, 11, 29)), 120),
        (120, (D(2024, 11, 27), D(2024, 11, 29)), 120),
        (121, (D(2024, 11, 26), D(2024, 11, 27), D(2024, 11, 29)), 198),
    ],
)
def test_day_count_steps_exactly_at_the_boundaries(period: int, days: tuple[dt.date, ...], bars: int) -> None:
    req = _analyze("sma", [period], "5m")
    assert (req.history_days, req.bars_available) == (days, bars)


def test_one_minute_bars_of_the_early_close(cal: MarketCalendar) -> None:
    assert cal.expected_bars(D(2024, 11, 29), "1m") == 210
    req = _analyze("sma", [400], "1m")
    assert req.history_days == (D(2024, 11, 27), D(2024, 11, 29))
    assert req.bars_available == 390 + 210


def test_macd_on_15m_loads_its_convergence_horizon() -> None:
    req = _analyze("macd", [], "15m")
    assert req.warmup_bars == 34  # slow 26 + signal 9 - 1: its first value
    # ... and the bars until the slow and signal EMAs' starting values weigh < 1e-10
    assert req.converge_bars == 34 + 300 + 104
    assert req.bars_available >= req.converge_bars > req.bars_available - 26  # the fewest days that hold it
    assert req.history_days[-1] == D(2024, 11, 29) and req.key == "macd_12_26_9_15m"


def test_window_families_converge_at_their_warmup() -> None:
    for name, params in (("sma", [20]), ("wma", [10]), ("bbands", []), ("stoch", []), ("obv", [])):
        req = _analyze(name, params, "5m")
        assert req.converge_bars == req.warmup_bars, name


def test_rsi_and_stoch_warmups() -> None:
    assert _analyze("rsi", [], "1m").warmup_bars == 15
    assert _analyze("stoch", [], "1m").warmup_bars == 9
    assert _analyze("atr", [14], "1m").warmup_bars == 15


def test_vwap_needs_no_history() -> None:
    req = _analyze("vwap", [], "5m")
    assert req.warmup_bars == 1
    assert req.historical_days == 0 and req.history_days == () and req.bars_available == 0


def test_daily_bars_count_one_per_trading_day() -> None:
    req = _analyze("sma", [5], "1d", stored={"1m"})
    assert req.base_interval == Interval.parse("1m")
    assert req.history_days == (D(2024, 11, 22), D(2024, 11, 25), D(2024, 11, 26), D(2024, 11, 27), D(2024, 11, 29))
    assert req.bars_available == 5
    assert _analyze("sma", [5], "1d", stored={"1m", "1d"}).base_interval == Interval.parse("1d")


def test_a_holiday_session_date_walks_back_from_the_day_before() -> None:
    req = _analyze("sma", [78], "5m", day=D(2024, 11, 28))
    assert req.history_days == (D(2024, 11, 27),)


def test_long_warmups_extend_the_walk() -> None:
    req = _analyze("sma", [300], "1d")
    assert req.historical_days == 300 and req.bars_available == 300
    assert req.history_days[-1] == D(2024, 11, 29) and req.history_days[0].year == 2023


def test_a_warmup_beyond_the_calendar_is_an_error() -> None:
    with pytest.raises(IndicatorError, match="needs 1000 bars of 1d"):
        _analyze("sma", [1000], "1d", day=D(1990, 6, 1))


def test_to_dict_is_plain_values() -> None:
    assert _analyze("sma", [43], "5m").to_dict() == {
        "key": "sma_43_5m",
        "interval": "5m",
        "base_interval": "1m",
        "warmup_bars": 43,
        "converge_bars": 43,
        "historical_days": 2,
        "history_days": ["2024-11-27", "2024-11-29"],
        "bars_available": 120,
    }
