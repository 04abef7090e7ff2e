"""Live orders against the loopback server, where Alpaca's word must win: the session's cash is
Alpaca's and its fills pay no fee; a fill seen a poll late is booked in the minute Alpaca made
it; an order that never reached Alpaca keeps its id, rejected "not placed: …" for no session;
an order placed after the close is refused as a live session's; a fill that overtakes an
accepted cancel is booked, the order ending as Alpaca says."""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path
from typing import Any

import pytest

from tests.live.test_live_orders import EACH_BAR, _held, _ns, _wait_held
from tests.live.test_live_session import NY, SPEED, START, _config, _now, _shell, _until, keys, server
from tests.test_app import Shell
from trader_cli.live.clock import LiveClock
from trader_cli.live.loopback import LoopbackAlpaca

__all__ = ["keys", "server"]  # the fixtures, shared with test_live_session

MINUTE = 60 * 10**9


def _live_shell(
    tmp_path: Path,
    srv: LoopbackAlpaca,
    start: dt.datetime = START,
    broker: dict[str, Any] | None = None,
    strategy: str | None = None,
) -> Shell:
    """A live session's shell on AAPL, trading at the loopback server, its clock from ``start``."""
    path = _config(tmp_path, srv, ["AAPL"])
    cfg = json.loads(path.read_text())
    cfg["live_config"]["clock"]["start"] = start.isoformat()
    if broker is not None:
        cfg["broker"] = broker
    if strategy is not None:
        plugin = tmp_path / "plugin.py"
        plugin.write_text(strategy)
        cfg["strategies"] = [{"file": str(plugin)}]
    path.write_text(json.dumps(cfg))
    server_clock = LiveClock(int(start.timestamp() * 1e9), SPEED)
    srv.play(server_clock)
    return _shell(tmp_path, path)


def _json(sh: Shell, line: str) -> Any:
    res = sh(f"{line} --output json")
    assert res.code == 0, res.err
    return json.loads(res.out)


def _until_ns(sh: Shell, at: dt.datetime, timeout: float = 30.0) -> None:
    end = time.monotonic() + timeout
    while _now(sh) < at:
        assert time.monotonic() < end, f"the live session did not reach {at} (at {_now(sh)})"
        time.sleep(0.05)


def test_a_live_sessions_cash_is_alpacas_and_its_fills_pay_no_fee(
    server: LoopbackAlpaca, keys: None, tmp_path: Path
) -> None:
    """The config's initial_cash and fees are a backtest's: the session starts with Alpaca's
    cash (less what a position from before cost), a fill pays no fee, and cash stays Alpaca's;
    the position Alpaca held before is said, not taken in."""
    server.desk.hold("AAPL", 4, 200.0)  # bought the day before: Alpaca's cash 99,200
    sh = _live_shell(tmp_path, server, broker={"initial_cash": 25_000, "fee_per_share": 0.01, "fee_min": 1.5})
    try:
        assert sh("system start").code == 0, sh.err.getvalue()
        started = sh.err.getvalue() + sh.out.getvalue()
        before = _json(sh, "account")
        _until(sh, "09:44")
        assert sh("order buy AAPL 10").code == 0, sh.err.getvalue()
        _wait_held(sh, "AAPL", 10)
        assert sh("system pause").code == 0
        after = _json(sh, "account")
        report = _json(sh, "report")["report"]
        alpaca = server.desk.account()
        out = tmp_path / "x.json"
        assert sh(f"session export {out}").code == 0
    finally:
        sh("system stop")
    assert before["cash"] == before["initial_cash"] == 99_200.0 and before["equity"] == 99_200.0
    assert "Alpaca's account: cash 99,200.00" in started and "no fees" in started
    assert "of positions from before this session: they are not in the session's positions" in started
    assert round(after["cash"], 2) == float(alpaca["cash"]) and after["fees"] == 0.0
    (fill,) = json.loads(out.read_text())["fills"]
    assert fill["fee"] == 0.0 and round(99_200.0 - 10 * fill["price"], 2) == float(alpaca["cash"])
    assert report["initial_cash"] == 99_200.0 and report["fees"] == 0.0
    assert report["fill_assumptions"].startswith("fills are Alpaca's")  # not the simulator's rules
    assert json.loads(out.read_text())["account"]["cash"] == after["cash"]


@pytest.mark.slow
def test_a_fill_seen_a_poll_late_is_booked_in_the_minute_alpaca_made_it(
    server: LoopbackAlpaca, keys: None, tmp_path: Path
) -> None:
    """The polls of the minutes of the fill fail (Alpaca's order listing answers 500): the fill
    comes at a later minute's poll and is booked at Alpaca's filled_at, not then."""
    sh = _live_shell(tmp_path, server)
    try:
        assert sh("system start").code == 0, sh.err.getvalue()
        _until(sh, "09:44")
        server.desk.down[("GET", "/v2/orders")] = 500
        assert sh("order buy AAPL 10").code == 0, sh.err.getvalue()
        _until_ns(sh, dt.datetime(2024, 12, 2, 9, 48, tzinfo=NY))  # 09:45 and 09:46, 09:47 stepped: polls failed
        failed = sh.err.getvalue()
        assert _held(sh, "AAPL") == 0
        del server.desk.down[("GET", "/v2/orders")]
        _wait_held(sh, "AAPL", 10)
        out = tmp_path / "x.json"
        assert sh(f"session export {out}").code == 0
    finally:
        sh("system stop")
    assert "failed (500" in failed and "polled again next minute" in failed
    (alpaca,) = server.desk.orders.values()
    filled_at = _ns(alpaca["filled_at"])
    export = json.loads(out.read_text())
    (fill,) = export["fills"]
    (order,) = export["orders"]
    minute = filled_at // MINUTE * MINUTE
    assert _ns(fill["time"]) == minute == _ns(order["filled_at"])  # Alpaca's minute, in New York time
    assert dt.datetime.fromisoformat(fill["time"]).utcoffset() == dt.timedelta(hours=-5)
    assert filled_at <= int(dt.datetime(2024, 12, 2, 9, 46, tzinfo=NY).timestamp()) * 10**9


def test_orders_that_never_reached_alpaca_keep_their_ids_and_say_not_placed(
    server: LoopbackAlpaca, keys: None, tmp_path: Path
) -> None:
    """A late start (15:50): the strategy's orders of the morning caught up and an order Alpaca
    refuses keep their o… ids, are rejected "not placed: …" and are for no session; the ones
    sent are Alpaca's, for the day."""
    at = dt.datetime(2024, 12, 2, 15, 50, tzinfo=NY)
    sh = _live_shell(tmp_path, server, start=at, strategy=EACH_BAR)
    try:
        assert sh("system start").code == 0, sh.err.getvalue()
        _until(sh, "15:53")
        refused = sh("order buy AAPL 5 --stop 999")  # the server fills market and limit orders only: 422
        assert sh("system pause").code == 0
        orders = _json(sh, "orders --all")["orders"]
    finally:
        sh("system stop")
    assert refused.code == 1
    (mine,) = [o for o in orders if o["origin"] == "adhoc"]
    assert mine["id"].startswith("o") and mine["status"] == "rejected" and mine["for_session"] is None
    assert mine["reason"].startswith("not placed: Alpaca refused to place buy 5 AAPL"), mine["reason"]
    caught = [o for o in orders if o["origin"] != "adhoc" and o["status"] == "rejected"]
    assert len(caught) > 300 and all(o["id"].startswith("o") for o in caught)  # 09:30 .. 15:4x, a buy a bar
    assert all(o["for_session"] is None for o in caught)
    assert all(o["reason"].startswith("not placed: not sent to Alpaca (placed on the ") for o in caught), caught[0]
    assert "while the live session caught up" in caught[0]["reason"]
    sent = {o["client_order_id"].rsplit("-", 1)[-1] for o in server.desk.orders.values()}
    assert not {o["id"] for o in caught} & sent and mine["id"] not in sent
    placed = [o for o in orders if o["status"] != "rejected"]
    assert placed and {o["id"] for o in placed} <= sent and all(o["for_session"] == "2024-12-02" for o in placed)


@pytest.mark.slow
def test_an_order_after_the_close_is_refused_as_the_live_sessions_end(
    server: LoopbackAlpaca, keys: None, tmp_path: Path
) -> None:
    """Past the close the live session has finished: the trader's order and the strategy's of
    the last bar are refused saying so (no word of a backtest)."""
    at = dt.datetime(2024, 12, 2, 15, 57, tzinfo=NY)
    sh = _live_shell(tmp_path, server, start=at, strategy=EACH_BAR)
    try:
        assert sh("system start").code == 0, sh.err.getvalue()
        end = time.monotonic() + 30
        while json.loads(sh("system status --output json").out)["state"] != "finished":
            assert time.monotonic() < end, "the live session did not finish at the close"
            time.sleep(0.1)
        late = sh("order buy AAPL 1")
        orders = _json(sh, "orders --all")["orders"]
    finally:
        sh("system stop")
    assert late.code == 1 and "backtest" not in late.err, late.err
    assert "the live session has ended (the market closed at 16:00); orders are refused" in late.err
    closing = [o for o in orders if o["id"].startswith("r")]  # the trader's, and the last bar's (15:59) signal
    assert len(closing) == 2 and all("the live session has ended" in o["reason"] for o in closing), closing


def test_a_fill_that_overtakes_an_accepted_cancel_is_booked(server: LoopbackAlpaca, keys: None, tmp_path: Path) -> None:
    """Alpaca accepts the cancels (pending_cancel) but fills first: all of one order (filled),
    2 of 5 shares of the other (then canceled). The session books both fills, each order ends
    as Alpaca's did, and the position and cash are Alpaca's."""
    sh = _live_shell(tmp_path, server)
    try:
        assert sh("system start").code == 0, sh.err.getvalue()
        _until(sh, "09:44")
        for _ in range(2):
            assert sh("order buy AAPL 5 --limit 1.00 --tif gtc").code == 0, sh.err.getvalue()  # rests: far under
        server.desk.cancel_fills = 5
        first = sh("order cancel o000001 --output json")
        server.desk.cancel_fills = 2
        second = sh("order cancel o000002 --output json")
        assert first.code == 0 and second.code == 0, (first.err, second.err)
        assert json.loads(first.out)["status"] == json.loads(second.out)["status"] == "canceled"
        _wait_held(sh, "AAPL", 7)
        end = time.monotonic() + 10
        while any(o["status"] == "pending_cancel" for o in server.desk.orders.values()):
            assert time.monotonic() < end
            time.sleep(0.05)
        _until_ns(sh, _now(sh) + dt.timedelta(minutes=1))  # whatever Alpaca said last, polled
        assert sh("system pause").code == 0
        orders = {o["id"]: o for o in _json(sh, "orders --all")["orders"]}
        account = _json(sh, "account")
        held = _held(sh, "AAPL")
        alpaca_cash = float(server.desk.account()["cash"])
        events = sh.err.getvalue() + sh.out.getvalue()
        out = tmp_path / "x.json"
        assert sh(f"session export {out}").code == 0
    finally:
        sh("system stop")
    desk = {o["client_order_id"].rsplit("-", 1)[-1]: o for o in server.desk.orders.values()}
    assert (desk["o000001"]["status"], desk["o000001"]["filled_qty"]) == ("filled", "5")
    assert (desk["o000002"]["status"], desk["o000002"]["filled_qty"]) == ("canceled", "2")
    one, two = orders["o000001"], orders["o000002"]
    assert (one["status"], one["filled_qty"], one["avg_fill_price"]) == ("filled", 5, 1.0)
    assert "filled at Alpaca before the cancel took effect" in one["reason"]
    assert (two["status"], two["filled_qty"]) == ("canceled", 2) and "2 of 5 shares filled at Alpaca" in two["reason"]
    assert held == 7 and round(account["cash"], 2) == alpaca_cash == 100_000.0 - 7.0
    fills = json.loads(out.read_text())["fills"]
    assert sorted((f["order_id"], f["qty"], f["price"]) for f in fills) == [("o000001", 5, 1.0), ("o000002", 2, 1.0)]
    assert {_ns(f["time"]) for f in fills} == {_ns(o["filled_at"]) for o in desk.values()}
    assert "order o000001: filled (filled at Alpaca before the cancel took effect)" in events


def test_an_order_answered_with_a_5xx_is_looked_up_not_rejected_nor_sent_twice(
    server: LoopbackAlpaca, keys: None, tmp_path: Path
) -> None:
    """Alpaca placed the order but a gateway answered 504: the order may be there, so it is not
    "not placed" (nor sent again — the SDK would, and Alpaca would refuse the client order id
    as a duplicate); it is looked up, found and its fill booked."""
    sh = _live_shell(tmp_path, server)
    try:
        assert sh("system start").code == 0, sh.err.getvalue()
        _until(sh, "09:44")
        server.desk.placed_answer = 504
        res = sh("order buy AAPL 3 --output json")
        server.desk.placed_answer = None
        assert res.code == 0 and json.loads(res.out)["status"] == "open", (res.out, res.err)
        assert "answered 504" in sh.err.getvalue() and "the order is looked up by its id" in sh.err.getvalue()
        _wait_held(sh, "AAPL", 3)
        assert "placed at Alpaca after all" in sh.err.getvalue()
        orders = _json(sh, "orders --all")["orders"]
    finally:
        sh("system stop")
    assert [r for r in server.desk.requests if r == ("POST", "/v2/orders")] == [("POST", "/v2/orders")]
    (alpaca,) = server.desk.orders.values()
    assert alpaca["status"] == "filled" and alpaca["filled_qty"] == "3"
    assert [(o["id"], o["status"], o["filled_qty"]) for o in orders] == [("o000001", "filled", 3)]


def test_a_recording_leaves_out_a_live_session_and_cannot_start_in_one(
    server: LoopbackAlpaca, keys: None, tmp_path: Path
) -> None:
    """A recording replays a backtest: in a live session ``record start`` is refused saying why;
    one started before leaves the live session's lines out (its orders would go to Alpaca again)."""
    sh = _live_shell(tmp_path, server)
    script = tmp_path / "rec.trader"
    try:
        assert sh(f"record start {script}").code == 0
        assert sh("system start").code == 0, sh.err.getvalue()
        assert sh("order buy AAPL 1").code == 0
        again = sh(f"record start {tmp_path / 'other.trader'}")
        assert again.code == 1 and "already recording" in again.err
        assert sh("record stop").code == 0, sh.err.getvalue()
        refused = sh(f"record start {tmp_path / 'other.trader'}")
        assert sh("system stop").code == 0
    finally:
        sh("system stop")
    assert refused.code == 1 and "a recording replays a backtest" in refused.err, refused.err
    assert not (tmp_path / "other.trader").exists()
    assert "leaves out the live session" in sh.err.getvalue()
    lines = [ln for ln in script.read_text().splitlines() if ln and not ln.startswith("#")]
    assert lines == [], lines  # no start, no order: nothing that would trade again


def test_before_the_bell_the_prompt_toolbar_and_an_order_show_the_markets_clock(
    server: LoopbackAlpaca, keys: None, tmp_path: Path
) -> None:
    """Live before the open the session's time is its first bar (09:30); the prompt and the
    toolbar show the market's clock instead, and an order typed then is stamped with it (it
    fills at the open)."""
    from trader_cli.shell.repl import prompt_text, toolbar_text

    sh = _live_shell(tmp_path, server, start=dt.datetime(2024, 12, 2, 9, 20, tzinfo=NY))
    try:
        assert sh("system start").code == 0, sh.err.getvalue()
        prompt, bar = prompt_text(sh.obj), toolbar_text(sh.obj)
        assert sh("order buy AAPL 1").code == 0, sh.err.getvalue()
        (placed,) = _json(sh, "orders --all")["orders"]
        assert "pre-open" in prompt and " 09:2" in prompt and "09:30" not in prompt, prompt
        assert "before the open (the session steps from 09:30)" in bar and " 09:2" in bar, bar
        assert "T09:2" in placed["submitted_at"], placed
        _until(sh, "09:31")
        assert "pre-open" not in prompt_text(sh.obj) and "before the open" not in toolbar_text(sh.obj)
        _wait_held(sh, "AAPL", 1)
    finally:
        sh("system stop")
