"""Orders in a live session go to Alpaca's trading API (the loopback server's trading endpoints,
through the real ``TradingClient``), Alpaca fills them, and the session applies Alpaca's fills
(polled once per closed minute). Checked: a market order filled at the open of the first stored
1m bar after its submission, in the server's book and in the export alike; a resting limit order
canceled at the server; an order type the server refuses rejected with its reason; keys never
written; ``"paper": false`` refused without TRADER_CLI_ALLOW_LIVE_ORDERS=1."""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path

import pytest

from tests.conftest import SAMPLE_DATA
from tests.live.test_live_session import KEY, NY, SECRET, SPEED, START, _config, _shell, _until, keys, server
from tests.test_app import Shell
from trader_cli.core.store import DataManager
from trader_cli.live.clock import LiveClock
from trader_cli.live.loopback import LoopbackAlpaca

__all__ = ["keys", "server"]  # the fixtures, shared with test_live_session


def _trading_config(tmp_path: Path, srv: LoopbackAlpaca, paper: bool = True) -> Path:
    path = _config(tmp_path, srv, ["AAPL"])
    cfg = json.loads(path.read_text())
    cfg["live_config"]["trading_url"] = srv.trading_url
    cfg["live_config"]["paper"] = paper
    path.write_text(json.dumps(cfg))
    return path


def _held(sh: Shell, symbol: str) -> int:
    rows = json.loads(sh("positions --output json").out)
    rows = rows.get("positions", rows) if isinstance(rows, dict) else rows
    return sum(int(r["qty"]) for r in rows if r["symbol"] == symbol)


def _wait_held(sh: Shell, symbol: str, qty: int, timeout: float = 30.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if _held(sh, symbol) == qty:
            return
        time.sleep(0.05)
    raise AssertionError(f"{symbol}: not {qty} held after {timeout:g} s ({_held(sh, symbol)})")


def _ns(stamp: str) -> int:
    t = dt.datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    return int(t.timestamp()) * 10**9 + t.microsecond * 1000


def test_a_paper_order_is_filled_through_the_trading_endpoints(
    server: LoopbackAlpaca, keys: None, tmp_path: Path
) -> None:
    server.play(LiveClock(int(START.timestamp() * 1e9), SPEED))
    sh = _shell(tmp_path, _trading_config(tmp_path, server))
    try:
        res = sh("system start")
        assert res.code == 0, res.err
        _until(sh, "09:44")
        placed_at = dt.datetime(2024, 12, 2, 9, 44, tzinfo=NY)
        assert sh("order buy AAPL 10").code == 0, sh.err.getvalue()
        assert sh("order buy AAPL 5 --limit 1.00 --tif gtc").code == 0, sh.err.getvalue()  # rests: far under
        sh("order buy AAPL 5 --stop 999")  # the server fills market and limit orders only: 422
        _wait_held(sh, "AAPL", 10)
        assert sh("order cancel o000002").code == 0, sh.err.getvalue()
        out = tmp_path / "orders-export.json"
        assert sh(f"session export {out}").code == 0, sh.err.getvalue()
    finally:
        sh("system stop")
    posts = [r for r in server.desk.requests if r == ("POST", "/v2/orders")]
    assert len(posts) == 3  # every order the session accepted reached the server
    market = next(o for o in server.desk.orders.values() if o["type"] == "market")
    limit = next(o for o in server.desk.orders.values() if o["type"] == "limit")
    assert market["type"] == "market" and market["status"] == "filled" and market["filled_qty"] == "10"
    assert limit["type"] == "limit" and limit["status"] == "canceled"
    submitted = _ns(market["submitted_at"])
    minute = submitted // (60 * 10**9) * (60 * 10**9)
    bars = DataManager(SAMPLE_DATA).read("AAPL", "1m", minute, minute + 10 * 60 * 10**9)
    assert float(market["filled_avg_price"]) == float(bars.open[0])  # the bar in progress when it came
    assert _ns(market["filled_at"]) == submitted  # filled as it came (not before)
    export = json.loads(out.read_text())
    fills = export["fills"]
    assert [(f["order_id"], f["side"], f["qty"], f["price"]) for f in fills] == [
        ("o000001", "buy", 10, float(market["filled_avg_price"]))
    ]
    fill_at = dt.datetime.fromisoformat(fills[0]["time"])
    assert _ns(fills[0]["time"]) == int(bars.ts[0])  # applied at the minute of Alpaca's fill
    assert placed_at <= fill_at <= placed_at + dt.timedelta(minutes=3)  # the minute it was placed in, at the earliest
    assert [(p["symbol"], p["qty"]) for p in export["positions"]] == [("AAPL", 10)]
    status = {o["id"]: (o["status"], o["reason"]) for o in export["orders"]}
    assert status["o000001"][0] == "filled" and status["o000002"][0] == "canceled"
    rejected, why = status["o000003"]
    assert rejected == "rejected" and "Alpaca refused" in why and "market and limit orders only" in why
    for p in [p for p in tmp_path.rglob("*") if p.is_file()]:
        blob = p.read_bytes()
        assert KEY.encode() not in blob and SECRET.encode() not in blob, p


@pytest.mark.slow
def test_an_order_whose_answer_did_not_come_is_looked_up_and_its_fill_booked(
    server: LoopbackAlpaca, keys: None, tmp_path: Path
) -> None:
    """Alpaca placed the order but its answer came after the 10 s bound: the order stays open
    here (not rejected), is found by its client order id at the next minute, and its fill is
    booked — the session's position equals Alpaca's, nothing is sent twice."""
    server.play(LiveClock(int(START.timestamp() * 1e9), SPEED))
    sh = _shell(tmp_path, _trading_config(tmp_path, server))
    try:
        assert sh("system start").code == 0, sh.err.getvalue()
        _until(sh, "09:44")
        server.faults.order_answer_delay_s = 10.5
        res = sh("order buy AAPL 3 --output json")
        server.faults.order_answer_delay_s = 0.0
        assert res.code == 0 and json.loads(res.out)["status"] == "open", (res.out, res.err)
        assert "did not answer within 10 s; the order is looked up" in sh.err.getvalue()
        _wait_held(sh, "AAPL", 3)
        assert "placed at Alpaca after all" in sh.err.getvalue()
        out = tmp_path / "x.json"
        assert sh(f"session export {out}").code == 0
    finally:
        sh("system stop")
    assert [r for r in server.desk.requests if r == ("POST", "/v2/orders")] == [("POST", "/v2/orders")]
    (alpaca,) = server.desk.orders.values()
    assert alpaca["status"] == "filled" and alpaca["filled_qty"] == "3"
    export = json.loads(out.read_text())
    assert [(o["id"], o["status"]) for o in export["orders"]] == [("o000001", "filled")]
    assert [(f["qty"], f["price"]) for f in export["fills"]] == [(3, float(alpaca["filled_avg_price"]))]


@pytest.mark.slow
def test_an_order_lost_on_the_way_to_alpaca_is_rejected_once_alpaca_has_no_such_order(
    server: LoopbackAlpaca, keys: None, tmp_path: Path
) -> None:
    """The submission got no answer in time and Alpaca never placed it: open while it is looked
    up, then rejected ("not placed") when Alpaca still has no such order; never sent twice."""
    server.play(LiveClock(int(START.timestamp() * 1e9), SPEED))
    sh = _shell(tmp_path, _trading_config(tmp_path, server))
    try:
        assert sh("system start").code == 0, sh.err.getvalue()
        sh.obj.coordinator.engine.broker.remote.unconfirmed_s = 1.0  # not 30 s: the test's patience
        _until(sh, "09:44")
        server.faults.lose_orders_s = 10.5
        res = sh("order buy AAPL 3 --output json")
        server.faults.lose_orders_s = 0.0
        assert res.code == 0 and json.loads(res.out)["status"] == "open", (res.out, res.err)
        end = time.monotonic() + 20
        while "not placed: Alpaca did not answer and has no such order" not in sh.err.getvalue():
            assert time.monotonic() < end, sh.err.getvalue()
            time.sleep(0.05)
        orders = json.loads(sh("orders --all --output json").out)["orders"]
        held = _held(sh, "AAPL")
    finally:
        sh("system stop")
    assert [(o["id"], o["status"]) for o in orders] == [("o000001", "rejected")]
    assert held == 0 and not server.desk.orders
    assert [r for r in server.desk.requests if r == ("POST", "/v2/orders")] == []  # lost before the desk


def test_real_money_needs_the_environment_variable_too(
    server: LoopbackAlpaca, keys: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TRADER_CLI_ALLOW_LIVE_ORDERS", raising=False)
    server.play(LiveClock(int(START.timestamp() * 1e9), SPEED))
    sh = _shell(tmp_path, _trading_config(tmp_path, server, paper=False))
    res = sh("system start")
    assert res.code == 1 and '"paper": false' in res.err and "TRADER_CLI_ALLOW_LIVE_ORDERS=1" in res.err
    assert "Traceback" not in res.err and not server.desk.requests
    assert json.loads(sh("system status --output json").out)["state"] == "stopped"
    monkeypatch.setenv("TRADER_CLI_ALLOW_LIVE_ORDERS", "1")
    try:
        res = sh("system start")
        assert res.code == 0, res.err
    finally:
        sh("system stop")


EACH_BAR = '''
import numpy as np
from trader_cli.plugins import Needs, Strategy

class EachBar(Strategy):
    """Buys one share of every symbol on every 1m bar."""
    name = "each_bar"
    def needs(self):
        return Needs(intervals=["1m"])
    def on_bars(self, bars):
        bars.buy(np.ones(len(bars.symbols), bool), 1)
'''


def _each_bar_shell(tmp_path: Path, server: LoopbackAlpaca, start: dt.datetime) -> Shell:
    """A live session on AAPL from ``start`` with the EACH_BAR strategy in its config."""
    plugin = tmp_path / "each_bar.py"
    plugin.write_text(EACH_BAR)
    path = _trading_config(tmp_path, server)
    cfg = json.loads(path.read_text())
    cfg["live_config"]["clock"]["start"] = start.isoformat()
    cfg["strategies"] = [{"file": str(plugin)}]
    path.write_text(json.dumps(cfg))
    return _shell(tmp_path, path)


def test_a_strategys_orders_of_the_morning_caught_up_at_a_late_start_are_not_sent(
    server: LoopbackAlpaca, keys: None, tmp_path: Path
) -> None:
    at = dt.datetime(2024, 12, 2, 10, 0, tzinfo=NY)
    server.play(LiveClock(int(at.timestamp() * 1e9), SPEED))
    sh = _each_bar_shell(tmp_path, server, at)
    try:
        assert sh("system start").code == 0, sh.err.getvalue()
        _until(sh, "10:05")
        assert sh("system pause").code == 0  # the strategy holds: what follows reads one state
        events = sh.err.getvalue() + sh.out.getvalue()
        out = tmp_path / "x.json"
        assert sh(f"session export {out}").code == 0
        st = json.loads(sh("system status --output json").out)["live"]
        plugin = json.loads(sh("strategy status --output json").out)["plugins"][0]
    finally:
        sh("system stop")
    orders = json.loads(out.read_text())["orders"]
    refused = [o for o in orders if o["status"] == "rejected"]
    assert plugin["rejected"] == len(refused) > 0 and "caught up" in plugin["last_rejection"], plugin
    assert "rejected:" not in events  # the catching-up warning says it once, not a line a minute
    open_ = dt.datetime(2024, 12, 2, 9, 30, tzinfo=NY)
    stream_from = open_ + dt.timedelta(minutes=st["minutes_from_rest"])  # the first minute the stream closed
    old = [o for o in orders if dt.datetime.fromisoformat(o["submitted_at"]) < stream_from - dt.timedelta(minutes=1)]
    new = [o for o in orders if dt.datetime.fromisoformat(o["submitted_at"]) > stream_from]
    assert len(old) >= 25 and all(o["status"] == "rejected" and "caught up" in o["reason"] for o in old), old[:2]
    assert new and all(o["status"] != "rejected" for o in new), new[:2]  # current bars: sent to Alpaca
    assert events.count("is catching up") == 1
    sent = {o["client_order_id"].rsplit("-", 1)[-1] for o in server.desk.orders.values()}  # ...-o000031
    assert {o["id"] for o in new} <= sent and not {o["id"] for o in old} & sent  # none of the morning's went


@pytest.mark.slow
def test_a_strategys_orders_of_the_backlog_after_a_resume_are_not_sent(
    server: LoopbackAlpaca, keys: None, tmp_path: Path
) -> None:
    server.play(LiveClock(int(START.timestamp() * 1e9), SPEED))
    sh = _each_bar_shell(tmp_path, server, START)
    try:
        assert sh("system start").code == 0, sh.err.getvalue()
        _until(sh, "09:46")
        assert sh("system pause").code == 0
        held = dt.datetime.fromisoformat(json.loads(sh("system status --output json").out)["time"])
        time.sleep(6.0)  # 12 live minutes at 120x: a backlog, bars still recorded
        assert sh("system resume").code == 0
        _until(sh, "10:05")
        events = sh.err.getvalue() + sh.out.getvalue()
        out = tmp_path / "x.json"
        assert sh(f"session export {out}").code == 0
    finally:
        sh("system stop")
    orders = json.loads(out.read_text())["orders"]
    at = {o["id"]: dt.datetime.fromisoformat(o["submitted_at"]) for o in orders}
    # the backlog's first bars are ~12 live minutes old at the resume: past a minute + grace, and
    # past the 2 wall seconds (4 live minutes at 120x) that keep a fast clock's hiccup from counting
    backlog = [o for o in orders if held + dt.timedelta(minutes=1) <= at[o["id"]] <= held + dt.timedelta(minutes=5)]
    late = [o for o in orders if at[o["id"]] >= dt.datetime(2024, 12, 2, 10, 3, tzinfo=NY)]
    assert backlog and all(o["status"] == "rejected" and "caught up" in o["reason"] for o in backlog), backlog[:2]
    assert late and all(o["status"] != "rejected" for o in late), late[:2]  # caught up: sent again
    assert events.count("is catching up") == 2  # the start's morning (09:30-09:39), then the backlog
