"""A live session meets the stream's other cases: a mid-session add (warmup over REST into the
store, today's bars so far, then the stream from its next minute), a late bar for a minute
already stepped (counted, dropped) and an updated bar (kept as a revision, never re-stepped)."""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path

import pytest

from tests.live.test_live_session import (
    NY,
    SPEED,
    START,
    _config,
    _shell,
    _until,
    assert_bars_as_served,
)
from tests.live.test_live_session import keys as keys
from tests.live.test_live_session import server as server
from trader_cli.core.store import DataManager
from trader_cli.live.clock import LiveClock
from trader_cli.live.loopback import LoopbackAlpaca


@pytest.mark.slow
def test_a_mid_session_add_warms_up_over_rest_and_joins_the_stream(
    server: LoopbackAlpaca, keys: None, tmp_path: Path
) -> None:
    server.play(LiveClock(int(START.timestamp() * 1e9), SPEED))
    sh = _shell(tmp_path, _config(tmp_path, server, ["AAPL"]))
    try:
        assert sh("system start").code == 0
        _until(sh, "09:45")
        res = sh("add symbol AMZN --output json")
        assert res.code == 0, res.err
        _until(sh, "09:52")
        late_ts = int(dt.datetime(2024, 12, 2, 9, 41, tzinfo=NY).timestamp()) * 10**9
        server.publish("AAPL", late_ts, {"o": 1.0, "h": 1.0, "l": 1.0, "c": 1.0, "v": 1})  # for a stepped minute
        server.publish("AAPL", late_ts, {"o": 2.0, "h": 2.0, "l": 2.0, "c": 2.0, "v": 2}, updated=True)
        _until(sh, "09:54")
        st = json.loads(sh("system status --output json").out)["live"]
        dq = json.loads(sh("data quality --output json").out)
        assert dq["late_bars"].get("AAPL", 0) >= 1 and dq["revisions"] == {"AAPL": 1}
        assert "late bars dropped" in sh("data quality").out
        out = tmp_path / "x.json"
        assert sh(f"session export {out} --bars").code == 0
    finally:
        sh("system stop")
    assert st["late_bars"] >= 1 and st["revisions"] == 1
    export = json.loads(out.read_text())
    assert_bars_as_served(export, ("AAPL", "AMZN"), "09:54")  # the late and the updated bar changed nothing
    live = export["session"]["live"]  # the export says what the stream dropped and revised, as the status does
    assert live["late_by_symbol"].get("AAPL", 0) >= 1 and live["revisions_by_symbol"] == {"AAPL": 1}, live
    assert live["revised_bars"] == [
        {"symbol": "AAPL", "timestamp": "2024-12-02T14:41:00Z", "open": 2.0, "high": 2.0, "low": 2.0, "close": 2.0,
         "volume": 2.0}
    ]  # fmt: skip
    # AMZN's warmup came over REST into the session's own store (trailing 2 days)
    store = DataManager(tmp_path / "store")
    days = {int(x) for x in __import__("numpy").unique(store.read("AMZN", "1m").ts // (86_400 * 10**9))}
    assert len(days) >= 2
    assert export["symbols"]["AMZN"]["intervals"]["1m"]["historical_bars"] > 0


def test_a_mid_session_add_that_rest_refused_can_be_retried(server: LoopbackAlpaca, keys: None, tmp_path: Path) -> None:
    server.play(LiveClock(int(START.timestamp() * 1e9), SPEED))
    sh = _shell(tmp_path, _config(tmp_path, server, ["AAPL"]))
    try:
        assert sh("system start").code == 0
        _until(sh, "09:43")
        server.fail_next(403)
        res = sh("add symbol AMZN")
        assert res.code == 1 and "403" in res.err, res.err
        res = sh("add symbol AMZN --output json")  # the refusal changed nothing: REST is asked again
        assert res.code == 0, res.err
        assert "AMZN" in {d["symbol"] for d in json.loads(sh("data session --output json").out)["symbols"]}
    finally:
        sh("system stop")


@pytest.mark.slow
def test_a_stream_stopped_by_a_refusal_connects_again_on_resume(
    server: LoopbackAlpaca, keys: None, tmp_path: Path
) -> None:
    """A running session whose stream comes back refused (406: another connection holds the
    key's one stream) pauses with one line; once the other connection is gone, system resume
    connects again and the minutes of the downtime come over REST, in order: no gap, no double."""
    server.play(LiveClock(int(START.timestamp() * 1e9), SPEED))
    sh = _shell(tmp_path, _config(tmp_path, server, ["AAPL", "MSFT"]))
    try:
        assert sh("system start").code == 0
        _until(sh, "09:43")
        server.stream_limit = 0
        server.drop_streams()  # the SDK reconnects and is refused
        end = time.monotonic() + 20
        while json.loads(sh("system status --output json").out)["state"] != "paused":
            assert time.monotonic() < end, "the refused stream did not pause the session"
            time.sleep(0.05)
        assert "the Alpaca stream stopped: connection limit exceeded" in sh.err.getvalue()
        res = sh("system resume")  # still refused: paused again, said
        assert res.code == 0, res.err
        end = time.monotonic() + 20
        while json.loads(sh("system status --output json").out)["state"] != "paused":
            assert time.monotonic() < end
            time.sleep(0.05)
        server.stream_limit = None
        res = sh("system resume")
        assert res.code == 0, res.err
        _until(sh, "09:50")
        assert "the Alpaca stream is connected again" in sh.err.getvalue()
        out = tmp_path / "x.json"
        assert sh(f"session export {out} --bars").code == 0
    finally:
        sh("system stop")
    export = json.loads(out.read_text())
    assert_bars_as_served(export, ("AAPL", "MSFT"), "09:50")


@pytest.mark.slow
def test_a_silent_stream_is_a_status_warning_and_rest_fills_in(
    server: LoopbackAlpaca, keys: None, tmp_path: Path
) -> None:
    for k in range(3, 8):  # 09:43 .. 09:47: the stream sends nothing (REST has them)
        t = int((START + dt.timedelta(minutes=k)).timestamp()) * 10**9
        server.silent |= {("AAPL", t), ("MSFT", t)}
    server.play(LiveClock(int(START.timestamp() * 1e9), SPEED))
    sh = _shell(tmp_path, _config(tmp_path, server, ["AAPL", "MSFT"]))
    try:
        assert sh("system start").code == 0
        _until(sh, "09:47")
        during = json.loads(sh("system status --output json").out)["live"]
        _until(sh, "09:52")
        after = json.loads(sh("system status --output json").out)["live"]
        events = sh.err.getvalue() + sh.out.getvalue()
        out = tmp_path / "x.json"
        assert sh(f"session export {out} --bars").code == 0
    finally:
        sh("system stop")
    assert during["silent_since"] == "09:43" and after["silent_since"] is None
    assert "has sent no bar for 3 minutes (since 09:43)" in events and "sends bars again" in events
    export = json.loads(out.read_text())
    assert_bars_as_served(export, ("AAPL", "MSFT"), "09:52")


def test_a_session_started_mid_morning_steps_the_morning_from_rest_bars_at_once(
    server: LoopbackAlpaca, keys: None, tmp_path: Path
) -> None:
    at = dt.datetime(2024, 12, 2, 10, 0, tzinfo=NY)
    server.play(LiveClock(int(at.timestamp() * 1e9), SPEED))
    path = _config(tmp_path, server, ["AAPL", "MSFT"])
    cfg = json.loads(path.read_text())
    cfg["live_config"]["clock"]["start"] = at.isoformat()
    path.write_text(json.dumps(cfg))
    sh = _shell(tmp_path, path)
    open_utc = "2024-12-02T14:30"
    try:
        assert sh("system start").code == 0
        pre_open = int(dt.datetime(2024, 12, 2, 9, 0, tzinfo=NY).timestamp()) * 10**9
        server.publish("AAPL", pre_open, {"o": 1.0, "h": 1.0, "l": 1.0, "c": 1.0, "v": 1})  # extended hours
        _until(sh, "10:04")
        st = json.loads(sh("system status --output json").out)["live"]
        status_text = sh("system status").out
        events = sh.err.getvalue() + sh.out.getvalue()
        out = tmp_path / "x.json"
        assert sh(f"session export {out} --bars").code == 0
    finally:
        sh("system stop")
    # today's bars so far: one REST call a symbol at provisioning, one more for the minutes that
    # ended meanwhile, and the stream's first minute may close by its deadline (the server's
    # clock runs a little ahead: it may have sent it before the subscription) and come over
    # REST; not one call a minute of the morning (33 before)
    today = [q for q in server.requests if q.get("start", "") >= open_utc]
    assert len(today) <= 5, today
    assert st["minutes_from_rest"] >= 29 and st["minutes_closed"] >= 3, st
    assert st["closed_by_timeout"] <= 1 and "minute(s) from REST at start" in status_text, st
    assert "has sent no bar" not in events  # the morning so far is not a silent stream
    assert st["extended_hours_bars"] == 1 and st["late_bars"] == 0, st
    export = json.loads(out.read_text())
    assert_bars_as_served(export, ("AAPL", "MSFT"), "10:04")  # every minute of the morning once, equal values


@pytest.mark.slow
def test_a_minute_rest_did_not_have_yet_at_start_is_not_stepped_short(
    server: LoopbackAlpaca, keys: None, tmp_path: Path
) -> None:
    # Real time (speed 1) from 10:00:01; REST has a minute's bars 3 s after it ends (grace: 4 s).
    # Provisioning asks REST for today's bars at ~10:00:01, before 09:59 is there: that minute
    # must not be stepped from the book without its bars (it closes through the stream or at
    # its deadline over REST, where REST has it).
    at = dt.datetime(2024, 12, 2, 10, 0, 1, tzinfo=NY)
    server.rest_delay_s = 3.0
    server.play(LiveClock(int(at.timestamp() * 1e9), 1.0))
    path = _config(tmp_path, server, ["AAPL", "MSFT"])
    cfg = json.loads(path.read_text())
    cfg["live_config"]["clock"] = {"start": at.isoformat(), "speed": 1.0}
    cfg["live_config"]["grace_seconds"] = 4
    path.write_text(json.dumps(cfg))
    sh = _shell(tmp_path, path)
    try:
        assert sh("system start").code == 0
        _until(sh, "10:00", timeout=15)  # 09:59 stepped
        out = tmp_path / "x.json"
        assert sh(f"session export {out} --bars").code == 0
    finally:
        sh("system stop")
    export = json.loads(out.read_text())
    assert_bars_as_served(export, ("AAPL", "MSFT"), "10:00")  # 09:59 too
