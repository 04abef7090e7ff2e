"""A strategy's arrays are by lane, and lanes are reused: a symbol removed and another added
takes its lane. 'previous' values follow the symbol (a lane that holds another symbol now has
none, as a symbol just added), and the bars of a callback that has returned cannot be used (their
lanes may hold other symbols since: an order would go to one symbol at another's price)."""

from __future__ import annotations

import datetime as dt
import itertools
import math
import textwrap
from pathlib import Path

import pytest

from tests.core import test_plugins
from tests.core.test_plugins import config, run
from tests.test_app import Shell

sample = test_plugins.sample  # the sample store copied into tmp_path (a fixture)

pytestmark = pytest.mark.filterwarnings("ignore:Series.values returning an ndarray")

PREVIOUS = """
from trader_cli.plugins import Needs, Strategy

class PrevCheck(Strategy):
    name = "prevcheck"
    seen = []

    def needs(self):
        return Needs(symbols=["AAPL", "MSFT", "NVDA"], intervals=["5m"], indicators=[("sma", [3], "5m")])

    def on_bars(self, bars):
        if bars.interval != "5m":
            return
        cur, prev = bars.indicator("sma_3_5m"), bars.previous("sma_3_5m")
        type(self).seen.append(
            {s: (float(p), float(c)) for s, p, c in zip(bars.symbols.tolist(), prev.tolist(), cur.tolist())}
        )
"""

KEPT = """
import os
from trader_cli.plugins import Needs, Strategy

class Keeper(Strategy):
    name = "keeper"

    def needs(self):
        return Needs(symbols=["AAPL", "MSFT"], intervals=["5m"])

    def on_bars(self, bars):
        if not hasattr(self, "kept"):
            self.kept = bars
        elif os.environ.get("KEEPER_GO"):
            self.kept.buy(["MSFT"], 1)
"""


def _shell(
    sample: Path, tmp_path: Path, code: str, name: str, kind: str = "strategy", symbols: tuple[str, ...] = ()
) -> Shell:
    """A paused one-day backtest (2024-12-02, AAPL MSFT NVDA unless ``symbols``) with the plugin
    ``code`` loaded from ``name``.py."""
    path = tmp_path / f"{name}.py"
    path.write_text(textwrap.dedent(code))
    sh = Shell(sample)
    sh.obj.config_path = str(config(tmp_path, list(symbols or ("AAPL", "MSFT", "NVDA")), last="2024-12-02"))
    run(sh, "system start --paused")
    run(sh, f"{kind} load {path}")
    return sh


def test_previous_follows_the_symbol_when_lanes_are_reused(sample: Path, tmp_path: Path) -> None:
    sh = _shell(sample, tmp_path, PREVIOUS, "prevcheck")
    try:
        run(sh, "time until 09:45")
        for line in ("remove symbol MSFT", "remove symbol NVDA", "add symbol NVDA", "add symbol MSFT"):
            run(sh, line)  # NVDA takes MSFT's lane, MSFT NVDA's
        run(sh, "add indicator NVDA sma 3 --interval 5m")
        run(sh, "add indicator MSFT sma 3 --interval 5m")
        run(sh, "time until 10:15")
        seen = sh.obj.coordinator.engine.plugins.slots["prevcheck"].instance.seen  # type: ignore[attr-defined]
    finally:
        sh.obj.coordinator.shutdown()
    checked = 0
    for before, now in itertools.pairwise(seen):
        for sym, (prev, _) in now.items():
            if sym in before and not math.isnan(prev):
                assert prev == before[sym][1], (sym, prev, before[sym][1])  # its own last value, no other's
                checked += 1
    assert checked > 10 and {"MSFT", "NVDA"} <= set(seen[-1])


def test_the_bars_of_a_callback_that_returned_cannot_be_used(
    sample: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sh = _shell(sample, tmp_path, KEPT, "keeper")
    try:
        run(sh, "time until 09:40")
        for line in ("remove symbol MSFT", "add symbol AMD", "add symbol MSFT"):  # AMD takes MSFT's lane
            run(sh, line)
        monkeypatch.setenv("KEEPER_GO", "1")
        run(sh, "time until 10:00")
        slot = sh.obj.coordinator.engine.plugins.slots["keeper"]
        orders = sh.obj.coordinator.engine.broker.orders
    finally:
        sh.obj.coordinator.shutdown()
    assert slot.state == "failed" and "were used after it returned" in (slot.last_error or ""), slot.last_error
    assert orders == []  # nothing bought at another symbol's price


def test_a_schedule_option_changes_that_field_of_the_scanners_own(sample: Path, tmp_path: Path) -> None:
    """``scanner load … --pre-session`` adds the pre-session run to gap_scanner's 09:45 (it
    replaced the whole schedule: the 09:45 run was gone and the scanner added nothing)."""
    import json

    from tests.conftest import REPO

    sh = Shell(sample)
    sh.obj.config_path = str(config(tmp_path, ["AAPL", "MSFT"], last="2024-12-03"))
    try:
        run(sh, "system start --paused")
        gap = REPO / "examples" / "scanners" / "gap_scanner.py"
        loaded = json.loads(run(sh, f"scanner load {gap} min_gap_pct=1.5 max_adds=2 --pre-session -o json"))
        assert loaded["schedule"] == {"pre_session": True, "every": None, "start": "09:45", "end": None}
        run(sh, "time advance 1 session")
        slot = sh.obj.coordinator.engine.plugins.slots["gap_scanner"]
        assert slot.callbacks == 2 and slot.adds == 2  # 09:45, then the next day's pre-session run
        run(sh, "scanner unload gap_scanner")
        ended = json.loads(run(sh, f"scanner load {gap} --end 12:00 -o json"))
        assert ended["schedule"] == {"pre_session": False, "every": None, "start": "09:45", "end": "12:00"}
    finally:
        sh.obj.coordinator.shutdown()


HOURLY = """
from trader_cli.plugins import Scanner, Schedule

class Hourly(Scanner):
    name = "hourly"
    seen = []

    def default_schedule(self):
        return Schedule(every="30m", start="15:00", end="16:00")

    def scan(self, ctx):
        hours = ctx.read(["AAPL"], "1h", days=1)["AAPL"]
        seconds = ctx.read(["AAPL"], "1s", days=1)
        type(self).seen.append((str(ctx.now), [str(t) for t in hours.ts[-2:].tolist()], seconds))
"""


def test_a_scanners_read_at_the_close_has_the_short_last_bar_and_no_1s_made_up(sample: Path, tmp_path: Path) -> None:
    from trader_cli.core.calendar import nyse

    sh = _shell(sample, tmp_path, HOURLY, "hourly", "scanner", ("AAPL",))
    try:
        run(sh, "time until 16:00")
        seen = sh.obj.coordinator.engine.plugins.slots["hourly"].instance.seen  # type: ignore[attr-defined]
    finally:
        sh.obj.coordinator.shutdown()
    open_ns = nyse().open_close(dt.date(2024, 12, 2))[0]
    assert len(seen) == 3, seen  # 15:00, 15:30, 16:00
    assert seen[-1][1][-1] == str(open_ns + 6 * 3_600_000_000_000), seen  # the 15:30-16:00 bar: ended at the close
    assert all(got == {} for _, _, got in seen)  # no 1s bars stored: none made up from 1m


RESTS = """
from trader_cli.plugins import Needs, Strategy

class Rests(Strategy):
    name = "rests"

    def needs(self):
        return Needs(symbols=["AAPL"])

    def on_bars(self, bars):
        if not bars.open_orders():
            bars.buy(["AAPL"], 1, limit=1.0, tif="gtc")
"""


def test_an_unloaded_plugin_stays_in_the_export_and_its_open_orders_are_said(sample: Path, tmp_path: Path) -> None:
    import json

    sh = _shell(sample, tmp_path, RESTS, "rests")
    out = tmp_path / "x.json"
    try:
        run(sh, "time advance 2m")
        res = sh("strategy unload rests")
        assert res.code == 0
        assert "unloaded with 1 open order(s) (o000001): they stay in the book" in res.err, res.err
        run(sh, f"session export {out}")
    finally:
        sh.obj.coordinator.shutdown()
    doc = json.loads(out.read_text())
    (plugin,) = doc["plugins"]
    assert (plugin["name"], plugin["state"], plugin["orders"]) == ("rests", "unloaded", 1)
    assert [o["origin"] for o in doc["orders"]] == ["strategy:rests"]


SPIN = """
from trader_cli.plugins import Needs, Strategy

class Spin(Strategy):
    name = "spin"

    def needs(self):
        return Needs(symbols=["AAPL"])

    def on_bars(self, bars):
        while True:
            pass
"""


@pytest.mark.slow
def test_a_command_waiting_behind_a_stuck_callback_says_so(sample: Path, tmp_path: Path) -> None:
    """A callback that never returns holds the running clock and the session: a command that
    needs the session says which plugin holds it and how to stop it (it waited for ever: a
    script cannot press Ctrl-C)."""
    import time

    sh = _shell(sample, tmp_path, SPIN, "spin")
    try:
        run(sh, "system resume")
        waited = sh("system wait --timeout 2")
        assert waited.code == 1 and "strategy spin's callback has held the session for" in waited.err, waited.err
        t0 = time.monotonic()
        status = sh("strategy status")
        assert status.code == 1 and "stop it with: strategy stop spin" in status.err, status.err
        assert time.monotonic() - t0 < 8
        run(sh, "strategy stop spin")
        assert sh.obj.coordinator.engine.plugins.slots["spin"].state in ("stopped", "failed")
        run(sh, "strategy status")  # the session answers again
    finally:
        sh.obj.coordinator.shutdown()


WORDY = """
from trader_cli.plugins import Scanner, Schedule

class Wordy(Scanner):
    name = "wordy"

    def default_schedule(self):
        return Schedule(start="09:45")

    def scan(self, ctx):
        ctx.add_indicator("AMD", "sma", [20], "5m", rule="because\\n" + "x" * 5000)
"""


def test_a_scanner_adds_rule_is_kept_on_one_line_and_cut(sample: Path, tmp_path: Path) -> None:
    from trader_cli.core.plugins.sources import RULE_CHARS

    sh = _shell(sample, tmp_path, WORDY, "wordy", "scanner", ("AAPL",))
    try:
        run(sh, "time until 10:00")
        rule = sh.obj.coordinator.engine.session.symbols["AMD"].metadata.rule or ""
    finally:
        sh.obj.coordinator.shutdown()
    assert rule.startswith("because x") and "\n" not in rule and len(rule) <= RULE_CHARS, rule[:100]


WRITES = """
from trader_cli.plugins import Needs, Strategy

class Writes(Strategy):
    name = "writes"
    seen = []

    def needs(self):
        return Needs(symbols=["AAPL"])

    def on_bars(self, bars):
        type(self).seen.append(bars.account.cash)
        bars.account.cash = 1e12
"""


def test_the_account_a_strategy_is_handed_is_read_only(sample: Path, tmp_path: Path) -> None:
    sh = _shell(sample, tmp_path, WRITES, "writes", symbols=("AAPL",))
    try:
        run(sh, "time advance 2m")
        slot = sh.obj.coordinator.engine.plugins.slots["writes"]
        cash = sh.obj.coordinator.engine.broker.cash
    finally:
        sh.obj.coordinator.shutdown()
    assert slot.state == "failed" and "frozen" in (slot.last_error or ""), slot.last_error
    assert slot.instance.seen == [cash]  # type: ignore[attr-defined]


def test_one_strategy_class_runs_twice_under_two_names(sample: Path, tmp_path: Path) -> None:
    """``--as NAME`` (and a config entry's ``name``): ema_cross with two parameter sets, each its
    own plugin with its own orders and P&L."""
    import json

    from tests.conftest import REPO

    ema = REPO / "examples" / "strategies" / "ema_cross.py"
    sh = Shell(sample)
    cfg = config(
        tmp_path, ["AAPL", "MSFT", "NVDA"], last="2024-12-03",
        strategies=[{"file": str(ema), "params": {"fast": 5, "slow": 20}, "name": "ema_fast"}],
    )  # fmt: skip
    sh.obj.config_path = str(cfg)
    out = tmp_path / "x.json"
    try:
        run(sh, "system start --paused")
        run(sh, f"strategy load {ema} fast=8 slow=21")  # ema_cross: the class's own name
        again = sh(f"strategy load {ema} fast=10 slow=30")
        assert again.code == 1 and "load this one under another name: --as NAME" in again.err, again.err
        run(sh, f"strategy load {ema} fast=10 slow=30 --as ema_slow")
        bad = sh(f"strategy load {ema} --as 'two words'")
        assert bad.code == 1 and "one word of letters" in bad.err, bad.err
        run(sh, "system resume")
        run(sh, "system wait")
        run(sh, f"session export {out}")
    finally:
        sh.obj.coordinator.shutdown()
    doc = json.loads(out.read_text())
    plugins = {p["name"]: p for p in doc["plugins"]}
    assert set(plugins) == {"ema_fast", "ema_cross", "ema_slow"}
    origins = {o["origin"] for o in doc["orders"]}
    assert {"strategy:ema_fast", "strategy:ema_cross", "strategy:ema_slow"} <= origins
    assert plugins["ema_fast"]["params"]["fast"] == 5 and plugins["ema_slow"]["params"]["fast"] == 10


TWO_DAYS = """
from trader_cli.plugins import Scanner, Schedule

class TwoDays(Scanner):
    name = "twodays"
    seen = []

    def default_schedule(self):
        return Schedule(start="09:45", end="09:45")

    def scan(self, ctx):
        got = ctx.read(["AAPL"], "1m", days=2)["AAPL"], ctx.read(["AAPL"], "5m", days=2)["AAPL"]
        type(self).seen.append(got)
"""


def test_a_scanners_1m_read_over_days_holds_the_regular_sessions_only(sample: Path, tmp_path: Path) -> None:
    """A 1m read over two sessions held the previous day's after-hours and today's pre-market
    bars (a stored interval was read as a raw time window), while the 5m read left them out."""
    import numpy as np

    from trader_cli.core.bars import Bars
    from trader_cli.core.calendar import nyse
    from trader_cli.core.store import DataManager

    store = DataManager(sample)
    cal = nyse()
    for day, at in ((dt.date(2024, 12, 2), "close"), (dt.date(2024, 12, 3), "open")):
        o, c = cal.open_close(day)
        bars = store.read("AAPL", "1m", o - 6 * 3_600_000_000_000, c + 5 * 3_600_000_000_000)
        minute = 60_000_000_000
        ts = c + minute * np.arange(30) if at == "close" else o - minute * np.arange(30, 0, -1)
        extra = Bars(ts, *(np.full(30, float(bars.close[-1])) for _ in range(4)), np.full(30, 1e6))
        store.write("AAPL", "1m", Bars.concat([bars, extra]).take(np.argsort(np.r_[bars.ts, ts])), source="test")
    path = tmp_path / "twodays.py"
    path.write_text(textwrap.dedent(TWO_DAYS))
    sh = Shell(sample)
    sh.obj.config_path = str(config(tmp_path, ["MSFT"], first="2024-12-03", last="2024-12-03"))
    try:
        run(sh, "system start --paused")
        run(sh, f"scanner load {path}")
        run(sh, "time until 09:50")
        (one, five), *_ = sh.obj.coordinator.engine.plugins.slots["twodays"].instance.seen  # type: ignore[attr-defined]
    finally:
        sh.obj.coordinator.shutdown()
    assert len(one) == 390 + 15, len(one)  # 12-02's session and 12-03's first quarter hour
    assert bool(cal.session_of(one.ts)[1].all())
    assert len(five) == 78 + 3 and float(one.volume.sum()) == float(five.volume.sum())
