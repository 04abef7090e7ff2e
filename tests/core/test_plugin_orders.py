"""What a strategy sees of its orders and the account (issue 13): the orders it is handed are
read-only snapshots, ``open_orders`` lists its own still open, ``cancel`` cancels them (and only
them), and ``avg_price`` / ``account`` agree with the fills the export shows."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest

from tests.core import test_plugins
from tests.core.test_plugins import config, run
from tests.test_app import Shell

sample = test_plugins.sample  # the sample store copied into tmp_path (a fixture)

pytestmark = pytest.mark.filterwarnings("ignore:Series.values returning an ndarray")


@pytest.fixture(autouse=True)
def _isolated(isolated: Path) -> None:
    """Each test in a HOME and working directory of its own (tests/conftest.py)."""


RESTING = """
from trader_cli.plugins import Needs, Strategy

class Resting(Strategy):
    name = "resting"
    seen = []

    def needs(self):
        return Needs(symbols=["AAPL", "MSFT"], intervals=["5m"])

    def on_bars(self, bars):
        if bars.interval != "5m":
            return
        n = len(type(self).seen)
        if n == 0:  # a limit buy far under the market for each symbol, good till canceled
            placed = bars.buy(bars.symbols == bars.symbols, 1, limit=bars.close * 0.5, tif="gtc")
            try:
                placed[0].status = "filled"
                wrote = True
            except AttributeError:
                wrote = False
            type(self).seen.append(("placed", [o.id for o in placed], [o.status for o in placed], wrote))
        elif n == 1:
            mine = bars.open_orders()
            aapl = bars.open_orders(["AAPL"])
            type(self).seen.append(("open", [o.id for o in mine], [o.symbol for o in aapl]))
        elif n == 2:
            gone = bars.cancel(bars.open_orders(["AAPL"]))
            type(self).seen.append(("canceled", [o.id for o in gone], [o.status for o in gone]))
        elif n == 3:
            again = bars.cancel([type(self).seen[0][1][0]])  # canceled already: nothing to do
            type(self).seen.append(("again", again, [o.id for o in bars.open_orders()]))
        else:
            type(self).seen.append(("later", [o.id for o in bars.open_orders()]))
"""


def _start(sample: Path, tmp_path: Path, plugin: str, source: str) -> Shell:
    path = tmp_path / f"{plugin}.py"
    path.write_text(textwrap.dedent(source))
    sh = Shell(sample)
    sh.obj.config_path = str(config(tmp_path, ["AAPL", "MSFT"], last="2024-12-03"))
    run(sh, "system start --paused")
    run(sh, f"strategy load {path}")
    return sh


def _seen(sh: Shell, name: str) -> list[Any]:
    return list(type(sh.obj.coordinator.engine.plugins.slots[name].instance).seen)


def test_a_strategy_lists_and_cancels_its_own_resting_orders(sample: Path, tmp_path: Path) -> None:
    sh = _start(sample, tmp_path, "resting", RESTING)
    try:
        run(sh, "time advance 30m")
        seen = _seen(sh, "resting")
        placed, listed, canceled, again = seen[0], seen[1], seen[2], seen[3]
        assert placed[0] == "placed" and placed[2] == ["open", "open"]
        assert placed[3] is False, "an order a plugin is handed must be read-only"
        aapl, msft = placed[1]
        assert listed == ("open", [aapl, msft], ["AAPL"])
        assert canceled == ("canceled", [aapl], ["canceled"])
        assert again == ("again", [], [msft])
        assert all(entry == ("later", [msft]) for entry in seen[4:])
        # the broker's own record was not changed by the plugin's write, and says who canceled
        orders = {o.id: o for o in sh.obj.coordinator.engine.broker.orders}
        assert orders[aapl].status == "canceled" and orders[aapl].reason == "canceled by strategy:resting"
        assert orders[msft].status == "open"
        events = [e.text for e in sh.obj.coordinator.engine.events.events]
        assert any(f"strategy:resting: 1 order(s) canceled ({aapl})" in t for t in events), events
        run(sh, "time advance 30m")
        export = tmp_path / "out.json"
        run(sh, f"session export {export}")
        doc = json.loads(export.read_text())
        by_id = {o["id"]: o for o in doc["orders"]}
        assert by_id[aapl]["status"] == "canceled" and by_id[msft]["status"] == "open"
    finally:
        sh.obj.coordinator.shutdown()


CANCEL_OTHERS = """
from trader_cli.plugins import Needs, Strategy

class Grabby(Strategy):
    name = "grabby"

    def needs(self):
        return Needs(symbols=["AAPL"])

    def on_bars(self, bars):
        bars.cancel("o000001")  # the trader's order, not this strategy's
"""


def test_cancelling_an_order_not_its_own_stops_the_strategy_and_leaves_the_order(sample: Path, tmp_path: Path) -> None:
    path = tmp_path / "grabby.py"
    path.write_text(textwrap.dedent(CANCEL_OTHERS))
    sh = Shell(sample)
    sh.obj.config_path = str(config(tmp_path, ["AAPL"], last="2024-12-03"))
    try:
        run(sh, "system start --paused")
        run(sh, "order buy AAPL 10 --limit 1 --tif gtc")
        run(sh, f"strategy load {path}")
        res = sh("time advance 2m")
        assert res.code == 0, res.err
        slot = sh.obj.coordinator.engine.plugins.slots["grabby"]
        assert slot.state == "failed"
        assert "cancel 'o000001': not an order of this strategy" in (slot.last_error or "")
        assert sh.obj.coordinator.engine.broker.orders[0].status == "open"
    finally:
        sh.obj.coordinator.shutdown()


ACCOUNT = """
from trader_cli.plugins import Needs, Strategy

class Sizer(Strategy):
    name = "sizer"
    seen = []

    def needs(self):
        return Needs(symbols=["AAPL", "MSFT"])

    def on_bars(self, bars):
        acct = bars.account
        avg = {s: float(a) for s, a in zip(bars.symbols.tolist(), bars.avg_price.tolist())}
        close = {s: float(c) for s, c in zip(bars.symbols.tolist(), bars.close.tolist())}
        type(self).seen.append((bars.now.isoformat(), acct.cash, acct.equity, avg, close))
        if len(type(self).seen) == 1:
            bars.buy(bars.symbols == "AAPL", 10)
"""


def test_avg_price_and_the_account_agree_with_the_fills(sample: Path, tmp_path: Path) -> None:
    sh = _start(sample, tmp_path, "sizer", ACCOUNT)
    try:
        run(sh, "time advance 5m")
        seen = _seen(sh, "sizer")
        fills = sh.obj.coordinator.engine.broker.fills
        assert len(fills) == 1 and fills[0].symbol == "AAPL"
        fill = fills[0]
        initial = 1e7
        first, second = seen[0], seen[1]
        assert first[1] == first[2] == initial
        assert all(a != a for a in first[3].values())  # flat: NaN
        # the minute after the order: filled at that bar's open, marked at its close
        _, cash, equity, avg, close = second
        assert avg["AAPL"] == pytest.approx(fill.price)
        assert avg["MSFT"] != avg["MSFT"]  # flat: NaN
        assert cash == pytest.approx(initial - 10 * fill.price - fill.fee)
        assert equity == pytest.approx(cash + 10 * close["AAPL"])
    finally:
        sh.obj.coordinator.shutdown()


class _Alpaca:
    """Alpaca's trading API as RemoteDesk sees it (the RemoteOrders protocol), in memory: what
    the tests here need is a fill the session has not polled yet when its cancel arrives."""

    def __init__(self) -> None:
        self.state: dict[str, list[Any]] = {}
        self.changed: list[str] = []
        self.fill_before_cancel: dict[str, tuple[int, float]] = {}

    def submit(self, symbol: str, side: str, qty: int, type: str, limit: Any, stop: Any, tif: str, ref: str) -> str:
        aid = f"A{len(self.state) + 1}"
        self.state[aid] = [0, None, None, "new"]
        return aid

    def cancel(self, aid: str) -> None:
        if aid in self.fill_before_cancel:  # Alpaca filled part of it since the session's last poll
            qty, price = self.fill_before_cancel.pop(aid)
            self.state[aid][:3] = [qty, price, 0]
        self.state[aid][3] = "canceled"
        self.changed.append(aid)

    def poll(self) -> list[Any]:
        from trader_cli.core.broker.remote import RemoteUpdate

        out = [RemoteUpdate(a, *self.state[a]) for a in dict.fromkeys(self.changed)]
        self.changed = []
        return out

    def lookup(self, ref: str) -> str | None:
        return None


REQUOTE = """
from trader_cli.plugins import Needs, Strategy

class Requote(Strategy):
    name = "requote"
    seen = []

    def needs(self):
        return Needs(symbols=["AAPL"])

    def on_bars(self, bars):
        if not type(self).seen:
            type(self).seen.append([o.id for o in bars.buy(["AAPL"], 100, limit=float(bars.close[0]) * 0.9, tif="gtc")])
        elif len(type(self).seen) == 1:
            type(self).seen.append([(o.id, o.status, o.filled_qty) for o in bars.cancel(bars.open_orders())])
"""


def test_a_cancel_books_what_the_remote_filled_before_it(sample: Path, tmp_path: Path) -> None:
    from trader_cli.core.broker.remote import RemoteDesk

    path = tmp_path / "requote.py"
    path.write_text(textwrap.dedent(REQUOTE))
    sh = Shell(sample)
    sh.obj.config_path = str(config(tmp_path, ["AAPL"], last="2024-12-03"))
    try:
        run(sh, "system start --paused")
        eng = sh.obj.coordinator.engine
        alpaca = _Alpaca()
        eng.broker.remote = RemoteDesk(alpaca)  # the remote broker's API (the boundary), in memory
        run(sh, f"strategy load {path}")
        run(sh, "time advance 1m")  # the limit buy goes to "Alpaca" (A1)
        alpaca.fill_before_cancel["A1"] = (40, 200.0)
        run(sh, "time advance 1m")  # the strategy cancels it: Alpaca had filled 40 meanwhile
        seen = _seen(sh, "requote")
        assert seen[1] == [(seen[0][0], "canceled", 40)]
        assert int(eng.broker.qty[eng.session.symbols["AAPL"].lane]) == 40  # the 40 are held here too
        assert [(f.qty, f.price) for f in eng.broker.fills] == [(40, 200.0)]
    finally:
        sh.obj.coordinator.shutdown()


MIXED = """
from trader_cli.plugins import Needs, Strategy

class Mixed(Strategy):
    name = "mixed"
    what = None

    def needs(self):
        return Needs(symbols=["AAPL"])

    def on_bars(self, bars):
        if not bars.open_orders():
            bars.buy(["AAPL"], 1, limit=1.0, tif="gtc")
        elif type(self).what is None:
            bars.cancel([])  # nothing: fine
            type(self).what = "mixed"
            bars.cancel(bars.open_orders() + ["o000001"])  # its own and the trader's
"""


def test_cancel_checks_every_order_before_it_cancels_any(sample: Path, tmp_path: Path) -> None:
    path = tmp_path / "mixed.py"
    path.write_text(textwrap.dedent(MIXED))
    sh = Shell(sample)
    sh.obj.config_path = str(config(tmp_path, ["AAPL"], last="2024-12-03"))
    try:
        run(sh, "system start --paused")
        run(sh, "order buy AAPL 1 --limit 1 --tif gtc")  # o000001, the trader's
        run(sh, f"strategy load {path}")
        run(sh, "time advance 3m")
        slot = sh.obj.coordinator.engine.plugins.slots["mixed"]
        assert slot.state == "failed" and "cancel 'o000001': not an order of this strategy" in (slot.last_error or "")
        assert [o.status for o in sh.obj.coordinator.engine.broker.orders] == ["open", "open"]  # neither canceled
    finally:
        sh.obj.coordinator.shutdown()


@pytest.mark.parametrize("arg", ["None", "5", "[5]"])
def test_a_bad_cancel_argument_says_what_to_give(sample: Path, tmp_path: Path, arg: str) -> None:
    path = tmp_path / "bad.py"
    path.write_text(
        "from trader_cli.plugins import Needs, Strategy\n"
        "class Bad(Strategy):\n"
        "    name = 'bad'\n"
        "    def needs(self):\n"
        "        return Needs(symbols=['AAPL'])\n"
        f"    def on_bars(self, bars):\n        bars.cancel({arg})\n"
    )
    sh = Shell(sample)
    sh.obj.config_path = str(config(tmp_path, ["AAPL"], last="2024-12-03"))
    try:
        run(sh, "system start --paused")
        run(sh, f"strategy load {path}")
        run(sh, "time advance 1m")
        slot = sh.obj.coordinator.engine.plugins.slots["bad"]
        assert slot.state == "failed"
        said = slot.last_error or ""
        assert "give orders as buy/sell/open_orders return them, or their ids" in said, said
    finally:
        sh.obj.coordinator.shutdown()


def test_the_remotes_fills_are_booked_and_exported_in_the_minutes_it_made_them(sample: Path, tmp_path: Path) -> None:
    """Alpaca lists the newest order first, and a fill can come a poll late: a poll's fills are
    booked in the order Alpaca made them, and the export lists every fill in time order."""
    from trader_cli.core.broker.remote import RemoteDesk
    from trader_cli.core.calendar import ny_at

    sh = Shell(sample)
    sh.obj.config_path = str(config(tmp_path, ["AAPL", "MSFT"], last="2024-12-03"))
    out = tmp_path / "session.json"
    try:
        run(sh, "system start --paused")
        eng = sh.obj.coordinator.engine
        alpaca = _Alpaca()
        eng.broker.remote = RemoteDesk(alpaca)  # the remote broker's API (the boundary), in memory
        t0 = eng.replay.book.open_ns  # 09:30, the first minute
        for line in ("order buy AAPL 10", "order buy MSFT 5", "order buy AAPL 3"):  # A1, A2, A3 at Alpaca
            run(sh, line)
        run(sh, "time advance 3m")  # polled each minute: nothing filled yet, as far as the session knows
        alpaca.state["A2"] = [5, 400.0, t0 + 60_000_000_000, "filled"]  # filled at 09:31 ...
        alpaca.state["A1"] = [10, 200.0, t0, "filled"]  # ... and this one at 09:30
        alpaca.changed = ["A2", "A1"]  # one poll, the newest first
        run(sh, "time advance 1m")
        alpaca.state["A3"] = [3, 201.0, t0, "filled"]  # filled at 09:30 too, reported a poll later
        alpaca.changed = ["A3"]
        run(sh, "time advance 1m")
        booked = [(f.order_id, f.time) for f in eng.broker.fills]
        run(sh, f"session export {out}")
    finally:
        sh.obj.coordinator.shutdown()
    first, second = ny_at(t0), ny_at(t0 + 60_000_000_000)
    assert booked == [("o000001", first), ("o000002", second), ("o000003", first)]  # A3 booked when it came
    fills = json.loads(out.read_text())["fills"]
    assert [f["order_id"] for f in fills] == ["o000001", "o000003", "o000002"]
    assert [f["time"] for f in fills] == [first.isoformat(), first.isoformat(), second.isoformat()]
