"""The NYSE calendar: trading days, early closes, expected bars, sessions, New York dates."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from trader_cli.core.calendar import (
    Clock,
    MarketCalendar,
    date_to_ordinal,
    iso_utc,
    ny_dates,
    nyse,
    ordinal_to_date,
    to_ny,
)
from trader_cli.core.errors import TraderCliError

NY = ZoneInfo("America/New_York")
THANKSGIVING = dt.date(2024, 11, 28)
BLACK_FRIDAY = dt.date(2024, 11, 29)
CHRISTMAS_EVE = dt.date(2024, 12, 24)


def ns(year: int, month: int, day: int, hour: int, minute: int = 0) -> int:
    """A New York wall-clock time as UTC nanoseconds."""
    return int(dt.datetime(year, month, day, hour, minute, tzinfo=NY).timestamp()) * 1_000_000_000


def test_thanksgiving_is_not_a_trading_day(cal: MarketCalendar) -> None:
    assert not cal.is_trading_day(THANKSGIVING)
    assert cal.is_trading_day(THANKSGIVING - dt.timedelta(days=1))
    assert cal.is_trading_day(BLACK_FRIDAY)
    assert not cal.is_trading_day(dt.date(2024, 11, 30))  # a Saturday


def test_open_close_of_a_regular_day_in_utc(cal: MarketCalendar) -> None:
    assert cal.open_close(dt.date(2024, 12, 2)) == (ns(2024, 12, 2, 9, 30), ns(2024, 12, 2, 16))
    assert cal.session_seconds(dt.date(2024, 12, 2)) == 390 * 60
    assert not cal.is_early_close(dt.date(2024, 12, 2))


@pytest.mark.parametrize("day", [BLACK_FRIDAY, CHRISTMAS_EVE])
def test_early_closes_end_at_13_00(cal: MarketCalendar, day: dt.date) -> None:
    assert cal.open_close(day) == (ns(day.year, day.month, day.day, 9, 30), ns(day.year, day.month, day.day, 13))
    assert cal.is_early_close(day)
    assert cal.expected_bars(day, "1m") == 210


def test_expected_bars_on_black_friday(cal: MarketCalendar) -> None:
    assert cal.expected_bars(BLACK_FRIDAY, "1m") == 210
    assert cal.expected_bars(BLACK_FRIDAY, "5m") == 42
    assert cal.expected_bars(BLACK_FRIDAY, "15m") == 14
    assert cal.expected_bars(BLACK_FRIDAY, "1h") == 4
    assert cal.expected_bars(BLACK_FRIDAY, "1d") == 1


def test_expected_bars_on_a_full_day(cal: MarketCalendar) -> None:
    day = dt.date(2024, 12, 2)
    assert [cal.expected_bars(day, iv) for iv in ("1m", "5m", "30m", "1h")] == [390, 78, 13, 7]


@pytest.mark.parametrize("day", [THANKSGIVING, dt.date(2024, 12, 25), dt.date(2024, 12, 1)])
def test_expected_bars_zero_on_a_closed_day(cal: MarketCalendar, day: dt.date) -> None:
    assert cal.expected_bars(day, "1m") == 0
    assert cal.expected_bars(day, "1d") == 0


def test_open_close_of_a_holiday_raises(cal: MarketCalendar) -> None:
    with pytest.raises(TraderCliError, match="2024-11-28 is not an NYSE trading day"):
        cal.open_close(THANKSGIVING)


def test_trading_days_is_inclusive_and_skips_holidays(cal: MarketCalendar) -> None:
    days = cal.trading_days(dt.date(2024, 11, 25), dt.date(2024, 12, 2))
    assert days == [
        dt.date(2024, 11, 25),
        dt.date(2024, 11, 26),
        dt.date(2024, 11, 27),
        BLACK_FRIDAY,
        dt.date(2024, 12, 2),
    ]
    assert len(cal.trading_days(dt.date(2024, 11, 1), dt.date(2024, 12, 31))) == 41


def test_trading_days_back_across_thanksgiving(cal: MarketCalendar) -> None:
    back = cal.trading_days_back(dt.date(2024, 12, 2), 3)
    assert back == [dt.date(2024, 11, 26), dt.date(2024, 11, 27), BLACK_FRIDAY]
    assert cal.trading_days_back(BLACK_FRIDAY, 1) == [dt.date(2024, 11, 27)]
    assert cal.trading_days_back(THANKSGIVING, 2) == [dt.date(2024, 11, 26), dt.date(2024, 11, 27)]
    assert cal.trading_days_back(dt.date(2024, 12, 2), 0) == []


def test_trading_days_back_outside_the_range_raises(cal: MarketCalendar) -> None:
    with pytest.raises(TraderCliError, match="outside the calendar range"):
        cal.trading_days_back(dt.date(2040, 1, 2), 5)


def test_next_and_previous_trading_day(cal: MarketCalendar) -> None:
    assert cal.next_trading_day(dt.date(2024, 11, 27)) == BLACK_FRIDAY
    assert cal.previous_trading_day(BLACK_FRIDAY) == dt.date(2024, 11, 27)
    assert cal.next_trading_day(dt.date(2024, 12, 24)) == dt.date(2024, 12, 26)


def test_session_of_in_and_out_of_session(cal: MarketCalendar) -> None:
    ts = np.array(
        [
            ns(2024, 12, 2, 9, 30),  # the open: inside
            ns(2024, 12, 2, 15, 59),  # the last minute: inside
            ns(2024, 12, 2, 16, 0),  # the close: outside
            ns(2024, 12, 2, 9, 29),  # pre-market: outside
            ns(2024, 11, 29, 12, 59),  # early close, last minute: inside
            ns(2024, 11, 29, 13, 0),  # early close: outside
            ns(2024, 11, 28, 10, 0),  # Thanksgiving: outside
        ],
        dtype=np.int64,
    )
    idx, inside = cal.session_of(ts)
    assert inside.tolist() == [True, True, False, False, True, False, False]
    assert cal.day_at(int(idx[0])) == dt.date(2024, 12, 2)
    assert cal.day_at(int(idx[4])) == BLACK_FRIDAY
    assert cal.index_of(dt.date(2024, 12, 2)) == int(idx[0])


def test_ny_dates_across_the_end_of_dst(cal: MarketCalendar) -> None:
    # DST ended 2024-11-03 at 02:00 EDT: New York is UTC-4 before, UTC-5 after.
    utc = dt.UTC
    stamps = [
        dt.datetime(2024, 11, 3, 3, 59, tzinfo=utc),  # 23:59 EDT on Nov 2
        dt.datetime(2024, 11, 3, 4, 0, tzinfo=utc),  # 00:00 EDT on Nov 3
        dt.datetime(2024, 11, 4, 4, 30, tzinfo=utc),  # 23:30 EST on Nov 3
        dt.datetime(2024, 11, 4, 5, 0, tzinfo=utc),  # 00:00 EST on Nov 4
    ]
    ts = np.array([int(s.timestamp()) * 1_000_000_000 for s in stamps], dtype=np.int64)
    got = [ordinal_to_date(int(o)) for o in ny_dates(ts)]
    assert got == [dt.date(2024, 11, 2), dt.date(2024, 11, 3), dt.date(2024, 11, 3), dt.date(2024, 11, 4)]


def test_ny_dates_across_the_start_of_dst() -> None:
    # DST began 2024-03-10: 04:30 UTC is 23:30 EST on Mar 9, 05:30 UTC the next day is 01:30 EDT.
    ts = np.array([ns(2024, 3, 9, 23, 30), ns(2024, 3, 10, 23, 30), ns(2024, 3, 11, 0, 0)])
    got = [ordinal_to_date(int(o)) for o in ny_dates(ts)]
    assert got == [dt.date(2024, 3, 9), dt.date(2024, 3, 10), dt.date(2024, 3, 11)]


def test_opens_are_09_30_new_york_on_both_sides_of_dst(cal: MarketCalendar) -> None:
    for day in (dt.date(2024, 11, 1), dt.date(2024, 11, 4)):
        local = to_ny(cal.open_close(day)[0])
        assert (local.date(), local.hour, local.minute) == (day, 9, 30)


def test_date_ordinals_round_trip() -> None:
    day = dt.date(2024, 11, 29)
    assert ordinal_to_date(date_to_ordinal(day)) == day
    assert date_to_ordinal(dt.date(1970, 1, 2)) == 1


def test_iso_utc() -> None:
    assert iso_utc(ns(2024, 12, 2, 9, 30)) == "2024-12-02T14:30:00Z"
    assert iso_utc(1_500_000_000) == "1970-01-01T00:00:01.5Z"


def test_simulated_clock() -> None:
    clock = Clock(simulated=True)
    assert clock.now_ns() is None
    with pytest.raises(TraderCliError, match="has not been set"):
        clock.advance(1)
    clock.set(100)
    assert clock.advance(60) == 160
    live = Clock(simulated=False)
    assert live.now_ns() is not None
    with pytest.raises(TraderCliError, match="live mode"):
        live.set(0)


def test_expected_bars_on_many_days_equals_the_sum_of_each() -> None:
    cal = nyse()
    days = [dt.date(2024, 11, 1) + dt.timedelta(days=i) for i in range(61)]  # weekends, Thanksgiving, 11-29, 12-24
    for iv in ("1m", "5m", "15m", "1h", "1d"):
        assert cal.expected_bars_on(days, iv) == sum(cal.expected_bars(d, iv) for d in days), iv
    assert cal.expected_bars_on([], "1m") == 0
