"""Bars and aggregation: exact OHLCV, alignment to the open, sessions, early closes, gaps."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trader_cli.core.bars import Bars, aggregate, session_bars
from trader_cli.core.calendar import NS_PER_MINUTE, MarketCalendar, to_ny
from trader_cli.core.intervals import Interval

NY = ZoneInfo("America/New_York")
MONDAY = dt.date(2024, 12, 2)
BLACK_FRIDAY = dt.date(2024, 11, 29)
MakeBars = Callable[..., Bars]


def hhmm(ts_ns: int) -> str:
    """New York wall-clock time of a timestamp, as HH:MM."""
    return to_ny(int(ts_ns)).strftime("%H:%M")


def hand_made(cal: MarketCalendar, day: dt.date = MONDAY) -> Bars:
    """Ten 1m bars from the open with easy numbers: bar i has open 100+i, close 100.5+i,
    high 101+i (bar 3 spikes to 120), low 99+i (bar 7 dips to 90), volume 10*(i+1)."""
    open_ns = cal.open_close(day)[0]
    i = np.arange(10, dtype=np.float64)
    high = 101 + i
    high[3] = 120
    low = 99 + i
    low[7] = 90
    ts = open_ns + np.arange(10, dtype=np.int64) * NS_PER_MINUTE
    return Bars(ts, 100 + i, high, low, 100.5 + i, 10 * (i + 1))


def test_five_minute_bars_exact(cal: MarketCalendar) -> None:
    out = aggregate(hand_made(cal), Interval.parse("5m"), cal)
    open_ns = cal.open_close(MONDAY)[0]
    assert out.ts.tolist() == [open_ns, open_ns + 5 * NS_PER_MINUTE]
    assert out.open.tolist() == [100, 105]
    assert out.high.tolist() == [120, 110]
    assert out.low.tolist() == [99, 90]
    assert out.close.tolist() == [104.5, 109.5]
    assert out.volume.tolist() == [150, 400]
    assert out.ts.dtype == np.int64


def test_one_minute_to_one_minute_is_identity(cal: MarketCalendar, bars_factory: MakeBars) -> None:
    base = bars_factory(MONDAY, 30)
    out = aggregate(base, Interval.parse("1m"), cal)
    for f in ("ts", "open", "high", "low", "close", "volume"):
        np.testing.assert_array_equal(getattr(out, f), getattr(base, f))


def test_aggregate_of_nothing_is_empty(cal: MarketCalendar) -> None:
    assert len(aggregate(Bars.empty(), Interval.parse("5m"), cal)) == 0


def test_bars_align_to_the_open_not_the_first_bar(cal: MarketCalendar, bars_factory: MakeBars) -> None:
    # Starting at 09:33, the first 5m bar is still stamped 09:30 and covers 09:33..09:34.
    base = bars_factory(MONDAY, 12, offset_minutes=3)
    out = aggregate(base, Interval.parse("5m"), cal)
    assert [hhmm(t) for t in out.ts] == ["09:30", "09:35", "09:40"]
    assert out.open[0] == base.open[0]
    assert out.close[0] == base.close[1]  # 09:34
    assert out.volume.tolist() == [base.volume[:2].sum(), base.volume[2:7].sum(), base.volume[7:].sum()]


@pytest.mark.parametrize(("name", "count"), [("5m", 78), ("15m", 26), ("30m", 13), ("1h", 7)])
def test_full_day_bar_counts_and_stamps(cal: MarketCalendar, bars_factory: MakeBars, name: str, count: int) -> None:
    iv = Interval.parse(name)
    out = aggregate(bars_factory(MONDAY), iv, cal)
    assert len(out) == count == cal.expected_bars(MONDAY, iv)
    assert hhmm(out.ts[0]) == "09:30"
    assert np.all(np.diff(out.ts) == iv.duration_ns)


def test_bars_never_span_two_sessions(cal: MarketCalendar, bars_factory: MakeBars) -> None:
    # The last 7 minutes of Monday and the first 7 of Tuesday: 1h bars per day, not one 1h bar.
    mon = bars_factory(MONDAY, offset_minutes=383)
    tue = bars_factory(dt.date(2024, 12, 3), 7, start_price=200.0)
    out = aggregate(Bars.concat([mon, tue]), Interval.parse("1h"), cal)
    assert len(out) == 2
    assert [to_ny(int(t)).strftime("%m-%d %H:%M") for t in out.ts] == ["12-02 15:30", "12-03 09:30"]
    assert out.open.tolist() == [mon.open[0], tue.open[0]]
    assert out.close.tolist() == [mon.close[-1], tue.close[-1]]
    assert out.high[0] == mon.high.max() and out.low[1] == tue.low.min()
    assert out.volume.tolist() == [mon.volume.sum(), tue.volume.sum()]


@pytest.mark.parametrize(
    ("name", "stamps", "last_stamp", "last_minutes"),
    [
        ("15m", 14, "12:45", 15),
        ("30m", 7, "12:30", 30),
        ("1h", 4, "12:30", 30),
    ],
)
def test_early_close_last_bar_ends_at_13_00(
    cal: MarketCalendar, bars_factory: MakeBars, name: str, stamps: int, last_stamp: str, last_minutes: int
) -> None:
    # 210 minutes: 15m and 30m bars fit exactly; the last 1h bar is short (30 minutes).
    base = bars_factory(BLACK_FRIDAY)
    assert len(base) == 210
    out = aggregate(base, Interval.parse(name), cal)
    assert len(out) == stamps == cal.expected_bars(BLACK_FRIDAY, name)
    assert hhmm(out.ts[-1]) == last_stamp
    assert out.volume[-1] == base.volume[-last_minutes:].sum()
    assert out.close[-1] == base.close[-1]


def test_early_close_hour_bars(cal: MarketCalendar, bars_factory: MakeBars) -> None:
    base = bars_factory(BLACK_FRIDAY)
    out = aggregate(base, Interval.parse("1h"), cal)
    assert [hhmm(t) for t in out.ts] == ["09:30", "10:30", "11:30", "12:30"]
    # The 12:30 bar covers 12:30..12:59 only: 30 one-minute bars.
    assert out.open[-1] == base.open[180]
    assert out.high[-1] == base.high[180:].max()
    assert out.low[-1] == base.low[180:].min()


def test_a_window_with_no_base_bars_yields_no_bar(cal: MarketCalendar, bars_factory: MakeBars) -> None:
    base = bars_factory(MONDAY, 15)
    keep = np.ones(15, dtype=bool)
    keep[5:10] = False  # 09:35..09:39 missing
    keep[12] = False  # one missing minute inside 09:40..09:44
    out = aggregate(base.take(keep), Interval.parse("5m"), cal)
    assert [hhmm(t) for t in out.ts] == ["09:30", "09:40"]
    assert out.volume[1] == base.volume[[10, 11, 13, 14]].sum()
    assert out.open[1] == base.open[10]  # nothing forward-filled from 09:34


def test_extended_hours_bars_are_left_out(cal: MarketCalendar, bars_factory: MakeBars) -> None:
    session = bars_factory(MONDAY, 10)
    open_ns, close_ns = cal.open_close(MONDAY)
    pre = Bars(
        np.array([open_ns - 5 * NS_PER_MINUTE, open_ns - NS_PER_MINUTE]),
        np.array([1.0, 1.0]),
        np.array([999.0, 999.0]),
        np.array([0.5, 0.5]),
        np.array([1.0, 1.0]),
        np.array([1e9, 1e9]),
    )
    post = Bars(np.array([close_ns, close_ns + NS_PER_MINUTE]), pre.open, pre.high, pre.low, pre.close, pre.volume)
    mixed = Bars.concat([pre, session, post])
    for name in ("5m", "1h", "1d"):
        out = aggregate(mixed, Interval.parse(name), cal)
        clean = aggregate(session, Interval.parse(name), cal)
        assert out.ts.tolist() == clean.ts.tolist()
        assert out.high.max() < 999 and out.volume.sum() == session.volume.sum()
    assert len(session_bars(mixed, cal)) == 10
    assert len(aggregate(Bars.concat([pre, post]), Interval.parse("5m"), cal)) == 0


def test_daily_bars_are_stamped_at_new_york_midnight(cal: MarketCalendar, bars_factory: MakeBars) -> None:
    # One day on each side of the end of DST (2024-11-03): midnight is UTC-4 then UTC-5.
    days = [dt.date(2024, 11, 1), dt.date(2024, 11, 4), BLACK_FRIDAY]
    base = Bars.concat([bars_factory(d, seed=i) for i, d in enumerate(days)])
    out = aggregate(base, Interval.parse("1d"), cal)
    assert [to_ny(int(t)) for t in out.ts] == [dt.datetime(d.year, d.month, d.day, tzinfo=NY) for d in days]
    first = bars_factory(days[0], seed=0)
    assert (out.open[0], out.high[0], out.low[0], out.close[0], out.volume[0]) == (
        first.open[0],
        first.high.max(),
        first.low.min(),
        first.close[-1],
        first.volume.sum(),
    )


def test_bars_window_and_before(bars_factory: MakeBars) -> None:
    base = bars_factory(MONDAY, 10)
    w = base.window(int(base.ts[2]), int(base.ts[5]))
    assert w.ts.tolist() == base.ts[2:5].tolist()
    assert len(base.before(int(base.ts[3]))) == 3
    assert len(base.before(int(base.ts[3]) + 1)) == 4
    assert len(Bars.concat([])) == 0
    assert len(Bars.concat([Bars.empty(), base])) == 10
    assert base.nbytes() == 10 * 6 * 8


@settings(max_examples=60, deadline=None)
@given(
    day=st.sampled_from([MONDAY, BLACK_FRIDAY, dt.date(2024, 11, 4)]),
    name=st.sampled_from(["5m", "15m", "30m", "1h", "1d"]),
    keep=st.lists(st.booleans(), min_size=390, max_size=390),
)
def test_aggregate_matches_a_window_by_window_reference(day: dt.date, name: str, keep: list[bool]) -> None:
    from trader_cli.core.calendar import nyse

    cal = nyse()
    open_ns, close_ns = cal.open_close(day)
    n = (close_ns - open_ns) // NS_PER_MINUTE
    rng = np.random.default_rng(len(keep))
    close = 100 + np.cumsum(rng.normal(0, 0.1, n))
    base = Bars(
        open_ns + np.arange(n, dtype=np.int64) * NS_PER_MINUTE,
        close - 0.05,
        close + 0.2,
        close - 0.2,
        close,
        rng.integers(1, 100, n).astype(float),
    )
    base = base.take(np.array(keep[:n]))
    iv = Interval.parse(name)
    out = aggregate(base, iv, cal)
    step = close_ns - open_ns if iv.is_daily else iv.duration_ns
    expected = []
    for start in range(open_ns, close_ns, step):
        w = base.window(start, min(start + step, close_ns))
        if len(w):
            stamp = start - (9 * 3600 + 30 * 60) * 10**9 if iv.is_daily else start
            expected.append((stamp, w.open[0], w.high.max(), w.low.min(), w.close[-1], w.volume.sum()))
    got = list(
        zip(
            out.ts.tolist(),
            out.open.tolist(),
            out.high.tolist(),
            out.low.tolist(),
            out.close.tolist(),
            out.volume.tolist(),
            strict=True,
        )
    )
    assert got == expected
