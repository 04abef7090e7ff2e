"""The clock from the command line: speed's valid range, a clock that stops for any reason ends
``system wait``, ``system speed`` while running, and the units of ``time advance`` / ``time until``
(trading minutes; sessions to the same time of day or from a close to the next open)."""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path
from typing import Any

import pytest

from tests.test_app import Shell
from trader_cli.core.calendar import nyse
from trader_cli.core.lifecycle import SessionState
from trader_cli.core.store import DataManager

ROOT = Path(__file__).resolve().parent.parent


def _config(tmp_path: Path, start: str = "2024-11-26", end: str = "2024-12-03", **bt: Any) -> Path:
    cfg = {
        "name": "t",
        "mode": "backtest",
        "data_dir": str(ROOT / "data"),
        "backtest_config": {"start_date": start, "end_date": end, "speed_multiplier": 0, **bt},
        "session_data_config": {"symbols": ["AAPL"], "derived_intervals": ["5m"], "historical": {"trailing_days": 1}},
    }
    path = tmp_path / "cfg.json"
    path.write_text(json.dumps(cfg), encoding="utf-8")
    return path


@pytest.fixture
def sh(tmp_path: Path) -> Any:
    s = Shell(ROOT / "data")
    s.obj.data_dir_option = None
    s.obj.config_path = str(_config(tmp_path))
    yield s
    if s.obj.has_coordinator:
        s.obj.coordinator.shutdown()


def now_text(sh: Shell) -> str:
    """The simulated time from ``time now --output json`` (ISO 8601 with the New York offset)."""
    res = sh("time now --output json")
    assert res.code == 0, res.err
    return f"{dt.datetime.fromisoformat(json.loads(res.out)['time']):%Y-%m-%d %H:%M} ET"


@pytest.mark.parametrize("speed", ["1e-10", "-1", "1e9", "nan"])
def test_a_speed_outside_its_range_is_one_line_and_starts_nothing(sh: Shell, speed: str) -> None:
    res = sh(f"system start --speed={speed}")
    assert res.code == 2
    assert len(res.err_lines) == 1 and "bad speed" in res.err and "0.01" in res.err
    assert sh.obj.coordinator.state is SessionState.stopped


class FailingDay2(DataManager):
    """The real store, out of memory when the replay reads its second window of days."""

    def read_batch(self, symbols: list[str], interval: Any, start_ns: int, end_ns: int) -> Any:
        if start_ns is not None and start_ns > nyse().open_close(dt.date(2024, 11, 27))[1]:
            raise MemoryError("no room for the next days")
        return super().read_batch(symbols, interval, start_ns, end_ns)


def test_system_wait_returns_non_zero_when_the_running_clock_stops(sh: Shell) -> None:
    coord = sh.obj.coordinator
    coord.store_factory = FailingDay2  # a fault while the clock runs on its own thread
    assert sh("system start").code == 0
    res = sh("system wait --timeout 30")
    # the clock stopped (before or while wait waited): non-zero, never a hang or a timeout
    assert res.code == 1 and ("paused while waiting" in res.err or "the session is paused" in res.err), res.err
    assert coord.state is SessionState.paused
    assert any(e.kind == "error" and "no room for the next days" in e.text for e in coord.events)


def test_system_speed_changes_a_running_clock(sh: Shell) -> None:
    assert sh("system start --speed 0.01").code == 0  # a minute per 100 real minutes: it barely moves
    res = sh("system speed 0")
    assert res.code == 0 and "as fast as possible" in res.out
    assert sh("system wait --timeout 60").code == 0
    assert sh.obj.coordinator.state is SessionState.finished


def test_system_speed_refuses_a_bad_value(sh: Shell) -> None:
    assert sh("system start --paused").code == 0
    res = sh("system speed 1e-10")
    assert res.code == 2 and "bad speed" in res.err
    assert sh.obj.coordinator.status().speed == 0


def test_resume_while_running_says_so(sh: Shell) -> None:
    assert sh("system start --speed 1").code == 0
    res = sh("system resume")
    assert res.code == 1 and "already running" in res.err


def test_a_session_unit_from_a_close_goes_to_the_next_open_across_a_holiday_and_half_day(sh: Shell) -> None:
    assert sh("system start --paused").code == 0  # 2024-11-26 09:30
    assert sh("time until 2024-11-27T16:00").code == 0
    assert now_text(sh) == "2024-11-27 16:00 ET"
    res = sh("time advance 1d")  # 11-28 is Thanksgiving; 11-29 a half day
    assert res.code == 0, res.err
    assert now_text(sh) == "2024-11-29 09:30 ET"
    assert sh("time advance 1 session").code == 0
    assert now_text(sh) == "2024-12-02 09:30 ET"


def test_a_session_unit_mid_day_keeps_the_time_of_day_or_stops_at_an_early_close(sh: Shell) -> None:
    assert sh("system start --paused").code == 0
    assert sh("time until 2024-11-27T12:30").code == 0
    assert sh("time advance 1 session").code == 0
    assert now_text(sh) == "2024-11-29 12:30 ET"
    assert sh("time advance 1 session").code == 0
    assert now_text(sh) == "2024-12-02 12:30 ET"
    assert sh("time until 2024-12-02T14:00").code == 0
    assert sh("time until next-open").code == 0
    assert now_text(sh) == "2024-12-03 09:30 ET"


def test_minutes_are_trading_minutes(sh: Shell) -> None:
    assert sh("system start --paused").code == 0
    assert sh("time until 2024-11-26T15:30").code == 0
    assert sh("time advance 1h").code == 0  # 30 minutes to the close, then 30 after the next open
    assert now_text(sh) == "2024-11-27 10:00 ET"


def test_until_close_open_and_next_open(sh: Shell) -> None:
    assert sh("system start --paused").code == 0
    res = sh("time until open")
    assert res.code == 1 and "already at the open" in res.err
    assert sh("time until close").code == 0
    assert now_text(sh) == "2024-11-26 16:00 ET"
    assert sh("time until close").code == 0  # at a close: the next one
    assert now_text(sh) == "2024-11-27 16:00 ET"
    assert sh("time until open").code == 0
    assert now_text(sh) == "2024-11-29 09:30 ET"
    assert sh("time until close").code == 0
    assert now_text(sh) == "2024-11-29 13:00 ET"


def test_a_target_between_sessions_stops_at_the_close(sh: Shell) -> None:
    assert sh("system start --paused").code == 0
    assert sh("time until 2024-11-26T19:00").code == 0
    assert now_text(sh) == "2024-11-26 16:00 ET"


def test_past_the_last_session_says_where_the_backtest_ends(sh: Shell) -> None:
    assert sh("system start --paused").code == 0
    assert sh("time advance 10 sessions").code == 0  # runs to the end
    assert sh.obj.coordinator.state is SessionState.finished
    res = sh("time until next-open")
    assert res.code == 1
    res = sh("time advance 1 session")  # the error names the command typed
    assert res.code == 1 and "time advance steps a paused session (state: finished" in res.err, res.err


@pytest.mark.parametrize("bad", ["-5m", "0m", "5x", "1.5h", "session"])
def test_a_bad_duration_names_the_units(sh: Shell, bad: str) -> None:
    assert sh("system start --paused").code == 0
    res = sh(f"time advance {bad}")
    assert res.code == 2 and "bad duration" in res.err and "session" in res.err


def test_wait_reports_where_it_ended(sh: Shell) -> None:
    assert sh("system start").code == 0
    t0 = time.monotonic()
    res = sh("system wait --timeout 60")
    assert res.code == 0 and "finished at 2024-12-03 16:00 ET" in res.out
    assert time.monotonic() - t0 < 60


def test_system_wait_until_a_time_of_the_session_day(sh: Shell) -> None:
    assert sh("system start --speed 3000").code == 0  # fifty trading minutes a second
    res = sh("system wait --until 10:15")
    assert res.code == 0, res.err
    assert sh.obj.coordinator.state is SessionState.running  # the session goes on
    at = dt.datetime.fromisoformat(json.loads(sh("time now --output json").out)["time"])
    assert (at.hour, at.minute) >= (10, 15) and at.date() == dt.date(2024, 11, 26)
    assert sh("system pause").code == 0
    late = sh("system wait --until 09:45")
    assert late.code == 1 and "has passed already" in late.err
    assert sh("system wait --until 9h").code == 2


@pytest.mark.parametrize(
    ("line", "cut"),
    [
        ("time advance 1000 sessions", True),
        ("time advance 100h", True),
        ("time until 2024-12-30T10:00", True),
        ("time until 2024-12-03T16:00", False),  # the last close itself: reached
        ("time advance 5 sessions", True),  # 11-26 .. 12-03: five on would be 12-04 09:30
    ],
)
def test_a_step_the_backtests_end_cuts_short_says_so(sh: Shell, line: str, cut: bool) -> None:
    assert sh("system start --paused").code == 0  # 2024-11-26 09:30, five sessions to 2024-12-03
    res = sh(line)
    assert res.code == 0, res.err
    out = " ".join(res.out.split())  # as wrapped to the terminal's width
    assert ("the backtest ends there, at its last close: short of the" in out) is cut, out
    assert "2024-12-03 16:00 ET" in out and "state finished" in out
    if cut:
        asked = line.removeprefix("time advance ").removeprefix("time until ")
        assert f"short of the {asked} asked for" in out
