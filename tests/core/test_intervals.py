"""Interval: parsing, duration, required base interval."""

from __future__ import annotations

import pytest

from trader_cli.core.errors import IntervalError, TraderCliError
from trader_cli.core.intervals import VALID_INTERVALS, Interval

SECONDS = {"1s": 1, "1m": 60, "5m": 300, "15m": 900, "30m": 1800, "1h": 3600, "1d": 86400}


@pytest.mark.parametrize("name", list(SECONDS))
def test_parse_every_valid_name(name: str) -> None:
    iv = Interval.parse(name)
    assert iv.name == name
    assert str(iv) == name
    assert iv.seconds == SECONDS[name]
    assert iv.duration_ns == SECONDS[name] * 1_000_000_000


def test_valid_intervals_are_listed_shortest_first() -> None:
    assert VALID_INTERVALS == ("1s", "1m", "5m", "15m", "30m", "1h", "1d")


@pytest.mark.parametrize("text", [" 5M ", "5m\n", "1H"])
def test_parse_ignores_case_and_surrounding_space(text: str) -> None:
    assert Interval.parse(text) == Interval.parse(text.strip().lower())


def test_parse_passes_an_interval_through() -> None:
    iv = Interval.parse("15m")
    assert Interval.parse(iv) is iv


@pytest.mark.parametrize("text", ["7m", "", "1w", "60s", "m5", "5 m", "1D1"])
def test_unknown_interval_names_the_valid_ones(text: str) -> None:
    with pytest.raises(IntervalError) as info:
        Interval.parse(text)
    assert str(info.value) == (f"unknown interval '{text}' (use one of 1s, 1m, 5m, 15m, 30m, 1h, 1d)")
    assert isinstance(info.value, TraderCliError)


def test_exact_message_for_7m() -> None:
    with pytest.raises(
        IntervalError,
        match=r"^unknown interval '7m' \(use one of 1s, 1m, 5m, "
        r"15m, 30m, 1h, 1d\)$",
    ):
        Interval.parse("7m")


def test_intervals_order_by_length() -> None:
    names = ["1d", "5m", "1s", "1h", "30m", "1m", "15m"]
    assert [iv.name for iv in sorted(Interval.parse(n) for n in names)] == list(VALID_INTERVALS)


def test_daily_and_intraday_flags() -> None:
    assert Interval.parse("1d").is_daily and not Interval.parse("1d").is_intraday
    for name in VALID_INTERVALS[:-1]:
        iv = Interval.parse(name)
        assert iv.is_intraday and not iv.is_daily


@pytest.mark.parametrize(
    ("name", "base"),
    [("1s", "1s"), ("1m", "1m"), ("5m", "1m"), ("15m", "1m"), ("30m", "1m"), ("1h", "1m")],
)
def test_required_base_intraday(name: str, base: str) -> None:
    assert Interval.parse(name).required_base().name == base
    assert Interval.parse(name).required_base({"1m", "1d"}).name == base


@pytest.mark.parametrize(
    ("stored", "base"),
    [(None, "1d"), ({"1d"}, "1d"), ({"1m", "1d"}, "1d"), (frozenset({"1m"}), "1m"), (set(), "1m")],
)
def test_required_base_daily(stored: set[str] | None, base: str) -> None:
    assert Interval.parse("1d").required_base(stored).name == base


@pytest.mark.parametrize(
    ("name", "session_seconds", "bars"),
    [
        ("1m", 390 * 60, 390),
        ("5m", 390 * 60, 78),
        ("15m", 390 * 60, 26),
        ("30m", 390 * 60, 13),
        ("1h", 390 * 60, 7),  # 09:30..15:30, the last one 30 minutes long
        ("1h", 210 * 60, 4),  # early close: 09:30..12:30
        ("5m", 210 * 60, 42),
        ("1d", 210 * 60, 1),
        ("1s", 60, 60),
    ],
)
def test_bars_in_a_session(name: str, session_seconds: int, bars: int) -> None:
    assert Interval.parse(name).bars_in(session_seconds) == bars
