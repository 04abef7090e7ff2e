"""A live session against the loopback server: the real ``alpaca-py`` clients (REST for the
warmup and today's bars so far, ``StockDataStream`` for the minutes after), the live clock at
120× from 09:40, the same validation, provisioning and export as a backtest. Checked: the
session's bars equal what the server holds, minute by minute, through a dropped connection and
a symbol the stream skips (both filled over REST); a symbol with missing minutes shows them
missing; refusals come within 10 s in one line; keys are never written."""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import SAMPLE_DATA
from tests.test_app import Shell
from trader_cli.core.store import DataManager
from trader_cli.live.clock import LiveClock
from trader_cli.live.loopback import LoopbackAlpaca

KEY, SECRET = "live-key-id-123", "live-secret-456"
NY = dt.timezone(dt.timedelta(hours=-5))
START = dt.datetime(2024, 12, 2, 9, 40, tzinfo=NY)
SPEED = 120.0
MINUTE = 60 * 10**9


@pytest.fixture
def server() -> Iterator[LoopbackAlpaca]:
    with LoopbackAlpaca(SAMPLE_DATA, key_id=KEY, secret=SECRET) as srv:
        yield srv


@pytest.fixture
def keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APCA_API_KEY_ID", KEY)
    monkeypatch.setenv("APCA_API_SECRET_KEY", SECRET)


def _config(tmp_path: Path, srv: LoopbackAlpaca, symbols: list[str]) -> Path:
    cfg = {
        "name": "live-test",
        "mode": "live",
        "data_dir": str(tmp_path / "store"),
        "session_data_config": {
            "symbols": symbols,
            "base_interval": "1m",
            "derived_intervals": ["5m"],
            "historical": {"trailing_days": 2},
        },
        "live_config": {
            "data_url": srv.data_url,
            "stream_url": f"ws://127.0.0.1:{srv.port}/v2/iex",
            "trading_url": srv.trading_url,
            "grace_seconds": 2,
            "clock": {"start": START.isoformat(), "speed": SPEED},
        },
    }
    path = tmp_path / "live.json"
    path.write_text(json.dumps(cfg))
    return path


def _shell(tmp_path: Path, cfg: Path) -> Shell:
    sh = Shell(tmp_path / "store")
    sh.obj.data_dir_option = None
    sh.obj.config_path = str(cfg)
    return sh


def _now(sh: Shell) -> dt.datetime:
    return dt.datetime.fromisoformat(json.loads(sh("system status --output json").out)["time"])


def _until(sh: Shell, hhmm: str, timeout: float = 30.0) -> None:
    h, m = map(int, hhmm.split(":"))
    want = dt.datetime(2024, 12, 2, h, m, tzinfo=NY)
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if _now(sh) >= want:
            return
        time.sleep(0.05)
    raise AssertionError(f"the live session did not reach {hhmm} (at {_now(sh)})")


def _session_bars(export: dict, sym: str) -> dict[int, tuple[float, ...]]:
    rows = export["symbols"][sym]["intervals"]["1m"]["bars"]
    open_ns = int(dt.datetime(2024, 12, 2, 14, 30, tzinfo=dt.UTC).timestamp()) * 10**9
    out = {}
    for r in rows:
        ts = int(dt.datetime.fromisoformat(r["timestamp"].replace("Z", "+00:00")).timestamp()) * 10**9
        if ts >= open_ns:
            out[ts] = (r["open"], r["high"], r["low"], r["close"], r["volume"])
    return out


def assert_bars_as_served(export: dict, symbols: tuple[str, ...], before: str) -> None:
    """Each symbol's exported 1m bars before ``before`` (HH:MM of 2024-12-02) are the sample's:
    every minute once, none lost, none doubled, equal values."""
    h, m = map(int, before.split(":"))
    upto = int(dt.datetime(2024, 12, 2, h, m, tzinfo=NY).timestamp()) * 10**9
    for sym in symbols:
        got = {t: v for t, v in _session_bars(export, sym).items() if t < upto}
        assert got == _stored(sym, upto), sym


def _stored(sym: str, upto_ns: int) -> dict[int, tuple[float, ...]]:
    open_ns = int(dt.datetime(2024, 12, 2, 14, 30, tzinfo=dt.UTC).timestamp()) * 10**9
    b = DataManager(SAMPLE_DATA).read(sym, "1m", open_ns, upto_ns)
    return {
        int(t): (o, h, lo, c, v)
        for t, o, h, lo, c, v in zip(
            b.ts.tolist(), b.open.tolist(), b.high.tolist(), b.low.tolist(), b.close.tolist(), b.volume.tolist(),
            strict=True,
        )
    }  # fmt: skip


@pytest.mark.slow  # 8 s or more of live clock
def test_a_live_session_steps_what_the_server_sent_through_a_drop_and_a_skipped_symbol(
    server: LoopbackAlpaca, keys: None, tmp_path: Path
) -> None:
    clock = LiveClock(int(START.timestamp() * 1e9), SPEED)
    skipped = int(dt.datetime(2024, 12, 2, 9, 44, tzinfo=NY).timestamp()) * 10**9
    server.silent = {("MSFT", skipped)}  # the stream never sends it; REST has it
    quiet = int(dt.datetime(2024, 12, 2, 9, 48, tzinfo=NY).timestamp()) * 10**9
    server.absent = {("RIVN", quiet)}  # no trade that minute: no bar anywhere
    server.play(clock)
    sh = _shell(tmp_path, _config(tmp_path, server, ["AAPL", "MSFT", "RIVN"]))
    try:
        res = sh("system start")
        assert res.code == 0, res.err
        _until(sh, "09:46")
        server.drop_streams()  # the SDK reconnects; the minutes meanwhile come over REST
        _until(sh, "09:52")
        assert sh("time advance 5m").code == 1
        assert sh("system pause").code == 0
        time.sleep(1.0)  # two live minutes: bars keep arriving, nothing is stepped
        held = _now(sh)
        assert sh("system resume").code == 0  # catches up in order
        _until(sh, "09:55")
        st = json.loads(sh("system status --output json").out)
        assert st["mode"] == "live" and st["alpaca_keys"] == "set"
        assert st["live"]["feed"] == "iex" and st["live"]["backfilled"] >= 1  # MSFT 09:44, and the drop
        stepped = st["live"]["minutes_from_rest"] + st["live"]["minutes_closed"]  # 09:30-09:39 from REST
        assert stepped >= 25 and st["live"]["minutes_from_rest"] >= 9
        assert "minute(s) from REST at start" in sh("system status").out
        out = tmp_path / "live-export.json"
        assert sh(f"session export {out} --bars").code == 0, sh.err.getvalue()
    finally:
        sh("system stop")
    export = json.loads(out.read_text())
    assert held < dt.datetime(2024, 12, 2, 9, 55, tzinfo=NY)
    upto = int(dt.datetime(2024, 12, 2, 9, 55, tzinfo=NY).timestamp()) * 10**9
    for sym in ("AAPL", "MSFT", "RIVN"):
        got = {t: v for t, v in _session_bars(export, sym).items() if t < upto}
        want = _stored(sym, upto)
        if sym == "RIVN":
            del want[quiet]  # missing in the session too, never filled
        assert got == want, sym  # every minute once, none lost, none doubled, equal values
    assert export["symbols"]["RIVN"]["quality"]["1m"]["ratio"] < 1.0
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    for p in written:
        blob = p.read_bytes()
        assert KEY.encode() not in blob and SECRET.encode() not in blob, p


def test_refusals_come_in_one_line_within_ten_seconds(
    server: LoopbackAlpaca, keys: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.play(LiveClock(int(START.timestamp() * 1e9), SPEED))
    sh = _shell(tmp_path, _config(tmp_path, server, ["AAPL"]))
    server.stream_limit = 0  # another connection holds the key's one stream: 406
    t0 = time.monotonic()
    res = sh("system start")
    assert res.code == 1 and "one connection per key" in res.err and "Traceback" not in res.err
    assert time.monotonic() - t0 < 10
    assert json.loads(sh("system status --output json").out)["state"] == "stopped"
    server.stream_limit = None
    monkeypatch.setenv("APCA_API_SECRET_KEY", "not-the-secret")
    t0 = time.monotonic()
    res = sh("system start")
    assert res.code == 1 and "refused the keys" in res.err
    assert time.monotonic() - t0 < 10
    monkeypatch.delenv("APCA_API_KEY_ID")
    res = sh("system start")
    assert res.code == 1 and "APCA_API_KEY_ID" in res.err and "not set" in res.err


def test_a_closed_market_day_is_refused(server: LoopbackAlpaca, keys: None, tmp_path: Path) -> None:
    path = _config(tmp_path, server, ["AAPL"])
    cfg = json.loads(path.read_text())
    cfg["live_config"]["clock"]["start"] = "2024-12-01T10:00:00-05:00"  # a Sunday
    path.write_text(json.dumps(cfg))
    res = _shell(tmp_path, path)("system start")
    assert res.code == 1 and "the market is closed on 2024-12-01; the next session is 2024-12-02" in res.err


@pytest.mark.parametrize(
    ("start", "says"),
    [
        ("2024-12-02T16:30:00-05:00", "the market closed at 16:00 on 2024-12-02; the next session is 2024-12-03"),
        ("2024-11-29T13:30:00-05:00", "the market closed at 13:00 on 2024-11-29; the next session is 2024-12-02"),
    ],
)
def test_after_the_close_the_refusal_names_the_next_session(
    server: LoopbackAlpaca, keys: None, tmp_path: Path, start: str, says: str
) -> None:
    path = _config(tmp_path, server, ["AAPL"])
    cfg = json.loads(path.read_text())
    cfg["live_config"]["clock"]["start"] = start
    path.write_text(json.dumps(cfg))
    res = _shell(tmp_path, path)("system start")
    assert res.code == 1 and says in res.err and res.err.count("\n") == 1, res.err


def test_a_speed_given_to_a_live_start_is_refused(server: LoopbackAlpaca, keys: None, tmp_path: Path) -> None:
    sh = _shell(tmp_path, _config(tmp_path, server, ["AAPL"]))
    res = sh("system start --speed 10")
    assert res.code == 1 and "a live session runs on the market's clock" in res.err, res.err
    assert json.loads(sh("system status --output json").out)["state"] == "stopped"  # nothing started


def test_keys_of_only_spaces_are_not_set(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    sh = Shell(tmp_path / "data")
    monkeypatch.setenv("APCA_API_KEY_ID", "  ")
    monkeypatch.setenv("APCA_API_SECRET_KEY", "\t")
    assert json.loads(sh("system status --output json").out)["alpaca_keys"] == "not set"
    monkeypatch.setenv("APCA_API_KEY_ID", "k")
    monkeypatch.setenv("APCA_API_SECRET_KEY", "s")
    assert json.loads(sh("system status --output json").out)["alpaca_keys"] == "set"


def test_validation_asks_the_trading_api_about_each_asset(server: LoopbackAlpaca, keys: None, tmp_path: Path) -> None:
    server.inactive = {"MSFT"}
    server.play(LiveClock(int(START.timestamp() * 1e9), SPEED))
    sh = _shell(tmp_path, _config(tmp_path, server, ["AAPL", "MSFT", "ZZZZ"]))
    try:
        res = sh("system start --output json")
        assert res.code == 0, res.err
        why = {v["symbol"]: v["reason"] for v in json.loads(res.out)["validation"]}
        assert "MSFT is inactive at Alpaca, not active" in why["MSFT"]
        assert "ZZZZ is not an Alpaca asset" in why["ZZZZ"]
        assert [s["symbol"] for s in json.loads(sh("data session --output json").out)["symbols"]] == ["AAPL"]
    finally:
        sh("system stop")


def test_before_the_open_status_shows_the_market_clock(server: LoopbackAlpaca, keys: None, tmp_path: Path) -> None:
    """The session's time is its next bar (09:30) until the bell; the status says the market's
    own time and that it has not opened yet, then that it has."""
    path = _config(tmp_path, server, ["AAPL"])
    cfg = json.loads(path.read_text())
    cfg["live_config"]["clock"] = {"start": "2024-12-02T09:29:00-05:00", "speed": SPEED}
    path.write_text(json.dumps(cfg))
    server.play(LiveClock(int(dt.datetime(2024, 12, 2, 9, 29, tzinfo=NY).timestamp() * 1e9), SPEED))
    sh = _shell(tmp_path, path)
    try:
        assert sh("system start").code == 0, sh.err.getvalue()
        live = json.loads(sh("system status --output json").out)["live"]
        assert live["before_open"] and "09:29:00" <= live["market_time"] < "09:30:00", live
        assert "before the open" in sh("system status").out
        _until(sh, "09:31")
        live = json.loads(sh("system status --output json").out)["live"]
        assert not live["before_open"] and live["market_time"] >= "09:30:00", live
    finally:
        sh("system stop")
