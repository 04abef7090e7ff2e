"""A live session's orders at its end and after the close (RemoteDesk against the in-memory
Alpaca of test_plugin_orders): the session's end polls Alpaca for its last word, books what a
failed poll missed, says what stays open there; an order placed once the market's clock is past
the close is refused, and one placed while the session lags is stamped with the market's minute."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.core import test_plugins
from tests.core.test_plugin_orders import _Alpaca
from tests.core.test_plugins import config, run
from tests.test_app import Shell
from trader_cli.core.broker.remote import RemoteDesk, RemoteError
from trader_cli.core.calendar import NS_PER_MINUTE, ny_at

sample = test_plugins.sample  # the sample store copied into tmp_path (a fixture)

pytestmark = pytest.mark.filterwarnings("ignore:Series.values returning an ndarray")


class _Flaky(_Alpaca):
    """Alpaca whose order listing fails while ``down()`` says so."""

    def __init__(self, down: Any) -> None:
        super().__init__()
        self.down = down
        self.polls = 0

    def poll(self) -> list[Any]:
        self.polls += 1
        if self.down():
            raise RemoteError("Alpaca failed (503) trying to list the orders")
        return super().poll()


def _one_day(sample: Path, tmp_path: Path) -> Shell:
    sh = Shell(sample)
    sh.obj.config_path = str(config(tmp_path, ["AAPL"], last="2024-12-02"))
    run(sh, "system start --paused")
    return sh


def test_the_end_books_a_fill_the_failed_polls_missed(sample: Path, tmp_path: Path) -> None:
    sh = _one_day(sample, tmp_path)
    try:
        eng = sh.obj.coordinator.engine
        alpaca = _Flaky(lambda: not eng.replay.book.done)  # every minute's poll fails, the end's works
        eng.broker.remote = desk = RemoteDesk(alpaca)
        desk.final_wait_s = 2.0
        run(sh, "time until 15:55")
        run(sh, "order buy AAPL 10")  # A1
        t = eng.replay.book.open_ns + 386 * NS_PER_MINUTE  # 15:56
        alpaca.state["A1"] = [10, 200.0, t + 5_000_000_000, "filled"]
        alpaca.changed = ["A1"]
        run(sh, "system resume")
        run(sh, "system wait")
        b = eng.broker
        order = b.orders[0]
        assert (order.status, order.filled_qty, order.avg_fill_price) == ("filled", 10, 200.0)
        assert [(f.qty, f.price, f.time) for f in b.fills] == [(10, 200.0, ny_at(t))]  # in its own minute
        lane = eng.session.symbols["AAPL"].lane
        assert int(b.qty[lane]) == 10
        assert b.eq_value[-1] == pytest.approx(b.cash + 10 * float(b.mark[lane]))  # the last point marked with it
        assert not any("still open at Alpaca" in e.text for e in eng.events.events)
    finally:
        sh.obj.coordinator.shutdown()


def test_what_alpaca_has_not_ended_is_said_and_left_open(sample: Path, tmp_path: Path) -> None:
    sh = _one_day(sample, tmp_path)
    try:
        eng = sh.obj.coordinator.engine
        alpaca = _Flaky(lambda: False)
        eng.broker.remote = desk = RemoteDesk(alpaca)
        desk.final_wait_s = 0.6
        run(sh, "time until 15:50")
        run(sh, "order buy AAPL 10 --limit 1 --tif gtc")  # rests at Alpaca
        run(sh, "order buy AAPL 5 --limit 2")  # a DAY order Alpaca has not ended yet
        run(sh, "system resume")
        run(sh, "system wait")
        assert [o.status for o in eng.broker.orders] == ["open", "open"]  # as Alpaca has them: not made up here
        said = [e.text for e in eng.events.events if "still open at Alpaca" in e.text]
        assert len(said) == 1 and "o000001 (gtc), o000002 (day)" in said[0] and "dashboard" in said[0]
        assert alpaca.polls >= 2  # the end polled again before saying so
    finally:
        sh.obj.coordinator.shutdown()


def test_an_order_after_the_markets_close_is_refused_while_the_session_lags(sample: Path, tmp_path: Path) -> None:
    sh = _one_day(sample, tmp_path)
    try:
        eng = sh.obj.coordinator.engine
        book = eng.replay.book
        market = [book.open_ns + 21 * NS_PER_MINUTE + 4_000_000_000]  # 09:51:04 on the market's clock
        alpaca = _Alpaca()
        eng.broker.remote = RemoteDesk(alpaca, now_ns=lambda: market[0])
        run(sh, "time until 09:45")  # the session paused at 09:45, the market at 09:51
        run(sh, "order buy AAPL 1")
        assert eng.broker.orders[0].submitted_at == ny_at(book.open_ns + 21 * NS_PER_MINUTE)  # the market's minute
        market[0] = book.close_ns + 3 * NS_PER_MINUTE  # 16:03: the market has closed
        res = sh("order buy AAPL 2")
        assert res.code == 1
        order = eng.broker.orders[-1]
        assert order.status == "rejected" and "the live session has ended (the market closed at 16:00)" in (
            order.reason or ""
        )
        assert list(alpaca.state) == ["A1"]  # the second never went to Alpaca
        short = sh("order sell AAPL 40")  # would go short too: the session's end is the reason given
        assert short.code == 1 and "the live session has ended" in short.err and "short" not in short.err
    finally:
        sh.obj.coordinator.shutdown()


def test_a_stop_names_the_orders_left_open_at_alpaca(sample: Path, tmp_path: Path) -> None:
    sh = _one_day(sample, tmp_path)
    try:
        eng = sh.obj.coordinator.engine
        eng.broker.remote = RemoteDesk(_Alpaca())
        run(sh, "order buy AAPL 10 --limit 1 --tif gtc")  # rests at Alpaca
        res = sh("system stop")
        assert res.code == 0
        said = [ln for ln in res.err.splitlines() if "still open at Alpaca" in ln]
        assert len(said) == 1 and "o000001 (gtc)" in said[0] and "the session stopped with them open" in said[0], said
    finally:
        sh.obj.coordinator.shutdown()
