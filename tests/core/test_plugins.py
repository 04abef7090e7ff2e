"""Strategies and scanners that run (issue 13): the shipped examples against independent
computations, no look-ahead by construction (every bar at or after the clock poisoned), the
design notes' five scenarios driven by real plugins, failures that stop only the plugin, and
loading errors that say what and where."""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.test_app import Shell

REPO = Path(__file__).resolve().parents[2]
EMA_CROSS = REPO / "examples" / "strategies" / "ema_cross.py"
GAP_SCANNER = REPO / "examples" / "scanners" / "gap_scanner.py"
pytestmark = pytest.mark.filterwarnings("ignore:Series.values returning an ndarray")


@pytest.fixture(autouse=True)
def _isolated(isolated: Path) -> None:
    """Each test in a HOME and working directory of its own (tests/conftest.py)."""


@pytest.fixture
def sample(tmp_path: Path) -> Path:
    dst = tmp_path / "data"
    shutil.copytree(REPO / "data" / "bars", dst / "bars")
    return dst


def config(tmp: Path, symbols: list[str], first: str = "2024-12-02", last: str = "2024-12-06", **extra: Any) -> Path:
    cfg = {
        "name": "plugins",
        "mode": "backtest",
        "backtest_config": {"start_date": first, "end_date": last, "speed_multiplier": 0},
        "session_data_config": {
            "symbols": symbols,
            "derived_intervals": ["5m", "15m"],
            "historical": {"trailing_days": 5},
            "indicators": [{"name": "sma", "params": [20], "interval": "5m"}],
        },
        "broker": {"initial_cash": 1e7},
        **extra,
    }
    path = tmp / "plugins.json"
    path.write_text(json.dumps(cfg))
    return path


def run(sh: Shell, line: str) -> str:
    res = sh(line)
    assert res.code == 0, (line, res.err)
    return res.out


def session(sample: Path, cfg: Path, lines: list[str], export: Path, poison: bool = False) -> dict[str, Any]:
    sh = Shell(sample)
    sh.obj.config_path = str(cfg)
    try:
        run(sh, lines[0])
        if poison:
            poison_the_future(sh.obj.coordinator.engine)
        for line in lines[1:]:
            run(sh, line)
        run(sh, f"session export {export} --bars")
    finally:
        sh.obj.coordinator.shutdown()
    return json.loads(export.read_text())


def ns(iso: str) -> int:
    return int(dt.datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()) * 1_000_000_000


# -- ema_cross against TA-Lib on the exported 5m bars ----------------------------------------------
def expected_ema_cross(doc: dict[str, Any], symbol: str, fast: int, slow: int, qty: int) -> list[tuple[str, str]]:
    """(side, submitted_at) of every order ema_cross should place for ``symbol``: EMAs by TA-Lib
    over the exported 5m bars (history and replay), a signal at each replayed bar's end."""
    import talib

    rows = doc["symbols"][symbol]["intervals"]["5m"]["bars"]
    ts = np.array([ns(r["timestamp"]) for r in rows])
    close = np.array([r["close"] for r in rows], dtype=float)
    ef, es = talib.EMA(close, fast), talib.EMA(close, slow)
    replay_from = ns(doc["equity"][0]["time"])  # the first replayed minute
    end = ns(doc["equity"][-1]["time"]) + 60_000_000_000
    held, out = 0, []
    for i in range(1, len(rows)):
        done = ts[i] + 5 * 60_000_000_000
        if ts[i] < replay_from or done > end:
            continue
        vals = (ef[i], es[i], ef[i - 1], es[i - 1])
        if any(np.isnan(v) for v in vals):
            continue
        at = dt.datetime.fromtimestamp(done / 1e9, dt.UTC).astimezone(dt.timezone(dt.timedelta(hours=-5)))
        if ef[i] > es[i] and ef[i - 1] <= es[i - 1] and held == 0:
            out.append(("buy", at.isoformat()))
            held = qty
        elif ef[i] < es[i] and ef[i - 1] >= es[i - 1] and held > 0:
            out.append(("sell", at.isoformat()))
            held = 0
    return out


def test_ema_cross_places_the_orders_an_independent_ta_lib_computation_gives(sample: Path, tmp_path: Path) -> None:
    cfg = config(tmp_path, ["AAPL", "MSFT", "SPY", "RIVN", "TSLA"])
    lines = ["system start --paused", f"strategy load {EMA_CROSS} fast=8 slow=21 qty=50", "time advance 5d"]
    doc = session(sample, cfg, lines, tmp_path / "s.json")
    orders = doc["orders"]
    assert len(orders) >= 20 and all(o["origin"] == "strategy:ema_cross" for o in orders)
    for sym in ("AAPL", "MSFT", "SPY", "RIVN", "TSLA"):
        mine = [(o["side"], o["submitted_at"]) for o in orders if o["symbol"] == sym]
        assert mine == expected_ema_cross(doc, sym, 8, 21, 50), sym
        assert all(o["qty"] == 50 for o in orders if o["symbol"] == sym)
    assert all(o["status"] == "filled" for o in orders[:-5])
    report = doc["report"]
    assert set(report["pnl_by_plugin"]) == {"strategy:ema_cross"}
    assert report["pnl_by_plugin"]["strategy:ema_cross"] == pytest.approx(report["final_equity"] - 1e7)
    plugin = doc["plugins"][0]
    assert plugin["name"] == "ema_cross" and plugin["state"] == "running" and plugin["orders"] == len(orders)
    assert plugin["callbacks"] == 5 * 78 and plugin["params"] == {"fast": 8, "slow": 21, "qty": 50, "interval": "5m"}


def test_the_per_symbol_api_gives_the_same_orders_as_the_vectorised_one(sample: Path, tmp_path: Path) -> None:
    slow_file = tmp_path / "ema_cross_each.py"
    slow_file.write_text(
        textwrap.dedent(
            """
            import math
            from trader_cli.plugins import Needs, Param, Strategy

            class EachCross(Strategy):
                name = "each_cross"
                params = (Param("qty", int, 100),)

                def needs(self):
                    return Needs(intervals=["5m"], indicators=[("ema", [10], "5m"), ("ema", [30], "5m")])

                def on_bar(self, symbol, bar):
                    f, s = bar.indicator("ema_10_5m"), bar.indicator("ema_30_5m")
                    pf, ps = bar.previous("ema_10_5m"), bar.previous("ema_30_5m")
                    if any(math.isnan(v) for v in (f, s, pf, ps)):
                        return
                    if f > s and pf <= ps and bar.position == 0:
                        bar.buy(self.qty)
                    elif f < s and pf >= ps and bar.position > 0:
                        bar.sell(bar.position)
            """
        )
    )
    cfg = config(tmp_path, ["AAPL", "RIVN", "TSLA"], last="2024-12-03")
    start = "system start --paused"
    fast = session(sample, cfg, [start, f"strategy load {EMA_CROSS}", "time advance 2d"], tmp_path / "a")
    each = session(sample, cfg, [start, f"strategy load {slow_file}", "time advance 2d"], tmp_path / "b")
    strip = [{k: v for k, v in o.items() if k != "origin"} for o in fast["orders"]]
    assert strip and strip == [{k: v for k, v in o.items() if k != "origin"} for o in each["orders"]]
    assert fast["fills"] == each["fills"]


# -- no look-ahead: every bar at or after the clock poisoned while plugins run ---------------------------
def poison_the_future(eng: Any) -> None:
    """While the scanner and strategy stages run, every grid row at or after the clock is NaN and
    every store read returns NaN for bars at or after the clock; restored after each stage."""
    feed = eng.feed
    real_read = feed.read

    def poisoned_read(symbol: str, interval: Any, start: Any, end: Any) -> Any:
        bars = real_read(symbol, interval, start, end)
        now = eng.replay.book.now_ns
        future = bars.ts >= now
        if future.any():
            for f in ("open", "high", "low", "close", "volume"):
                col = getattr(bars, f).copy()
                col[future] = np.nan
                object.__setattr__(bars, f, col) if hasattr(bars, "__dataclass_fields__") else setattr(bars, f, col)
        return bars

    def wrap(stage: Any) -> Any:
        def run_poisoned(minute: Any) -> None:
            book = minute.book
            saved = []
            for g in [book.base, *book.derived.values()]:
                first = book.cursor if g is book.base else g.completed
                for f, arr in g.cols.items():
                    saved.append((g, f, first, arr[first:].copy()))
                    arr[first:] = np.nan
            feed.read = poisoned_read
            try:
                stage(minute)
            finally:
                feed.read = real_read
                for g, f, first, old in saved:  # a symbol added meanwhile may have widened the grid
                    g.cols[f][first:, : old.shape[1]] = old

        return run_poisoned

    step = eng.replay.step
    for name in ("open", "scanners", "strategies"):
        step.add(name, wrap(step._stages[name]))


def test_no_plugin_sees_a_bar_at_or_after_the_clock(sample: Path, tmp_path: Path) -> None:
    peek = tmp_path / "peek.py"
    peek.write_text(
        textwrap.dedent(
            """
            import numpy as np
            from trader_cli.plugins import Needs, Param, Strategy

            class Peek(Strategy):
                name = "peek"
                params = (Param("qty", int, 10),)

                def needs(self):
                    return Needs(intervals=["1m", "15m"], indicators=[("rsi", [14], "1m")])

                def on_bars(self, bars):
                    if bars.interval == "15m":
                        last = np.array([bars.history(s, last=3).close.mean() for s in bars.symbols])
                        bars.buy((bars.close > last) & (bars.position == 0), self.qty)
                    else:
                        rsi = bars.indicator("rsi_14_1m")
                        bars.sell((rsi > 70) & (bars.position > 0), bars.position)
            """
        )
    )
    cfg = config(tmp_path, ["AAPL", "MSFT", "SPY"], last="2024-12-04")
    lines = [
        "system start --paused",
        f"strategy load {EMA_CROSS} fast=5 slow=13",
        f"strategy load {peek}",
        f"scanner load {GAP_SCANNER} min_gap_pct=0.2 max_adds=3",
        "time advance 3d",
    ]
    clean = session(sample, cfg, lines, tmp_path / "clean.json")
    dirty = session(sample, cfg, lines, tmp_path / "dirty.json", poison=True)
    assert len(clean["orders"]) > 20
    assert clean["orders"] == dirty["orders"] and clean["fills"] == dirty["fills"]
    added = {s: v["metadata"] for s, v in clean["symbols"].items() if v["metadata"]["added_by"] == "scanner"}
    assert added and added == {s: v["metadata"] for s, v in dirty["symbols"].items() if s in added}
    assert set(clean["symbols"]) == set(dirty["symbols"])


def test_the_poisoning_catches_a_plugin_that_peeks(sample: Path, tmp_path: Path) -> None:
    """The harness above has teeth: a strategy reaching past the API for the next minute's bar
    trades differently once the future is poisoned."""
    cheat = tmp_path / "cheat.py"
    cheat.write_text(
        textwrap.dedent(
            """
            import numpy as np
            from trader_cli.plugins import Needs, Strategy

            class Cheat(Strategy):
                name = "cheat"

                def needs(self):
                    return Needs(intervals=["1m"])

                def on_bars(self, bars):
                    book = bars._source.host.eng.replay.book
                    nxt = book.base.cols["close"][book.cursor, bars._source.lanes]  # the next minute's close
                    bars.buy((nxt > bars.close) & (bars.position == 0), 1)
                    bars.sell((nxt < bars.close) & (bars.position > 0), bars.position)
            """
        )
    )
    cfg = config(tmp_path, ["AAPL", "SPY"], last="2024-12-02")
    lines = ["system start --paused", f"strategy load {cheat}", "time advance 2h"]
    clean = session(sample, cfg, lines, tmp_path / "clean.json")
    dirty = session(sample, cfg, lines, tmp_path / "dirty.json", poison=True)
    assert len(clean["orders"]) > 10 and clean["orders"] != dirty["orders"]


# -- the five scenarios, with plugins ------------------------------------------------------------------------
def write_plugins(tmp: Path) -> dict[str, Path]:
    files = {
        "adds_tsla": """
            from trader_cli.plugins import Needs, Strategy

            class AddsTsla(Strategy):
                name = "adds_tsla"

                def needs(self):
                    return Needs(symbols=["TSLA"], intervals=["5m"])
            """,
        "wants_nvda": """
            from trader_cli.plugins import Needs, Strategy

            class WantsNvda(Strategy):
                name = "wants_nvda"

                def needs(self):
                    return Needs(symbols=["NVDA", "AAPL"])
            """,
        "msft_sma": """
            from trader_cli.plugins import Scanner, Schedule

            class MsftSma(Scanner):
                name = "msft_sma"
                schedule = Schedule(start="10:00")

                def scan(self, ctx):
                    ctx.add_indicator("MSFT", "sma", [20], "5m", rule="msft rule")
                    ctx.add_bar("NVDA", "15m", rule="nvda rule")
            """,
    }
    out = {}
    for name, body in files.items():
        out[name] = tmp / f"{name}.py"
        out[name].write_text(textwrap.dedent(body))
    return out


def test_the_five_scenarios_run_with_real_plugins(sample: Path, tmp_path: Path) -> None:
    plug = write_plugins(tmp_path)
    cfg = config(
        tmp_path,
        ["AAPL", "RIVN", "BADTICKER"],
        last="2024-12-03",
        strategies=[{"file": plug["adds_tsla"].name}],  # relative to the config file
        scanners=[{"file": plug["msft_sma"].name}],
    )
    sh = Shell(sample)
    sh.obj.config_path = str(cfg)
    try:
        start = sh("system start --paused")
        assert start.code == 0 and "BADTICKER" in start.err  # scenario 1: dropped with its reason
        run(sh, "time until 10:30")  # the scanner ran at 10:00
        before = json.loads(run(sh, "data symbol AAPL -o json"))
        run(sh, f"strategy load {plug['wants_nvda']}")  # scenario 4 (NVDA) and 5 (AAPL)
        after = json.loads(run(sh, "data symbol AAPL -o json"))
        out = tmp_path / "s.json"
        run(sh, f"session export {out}")
    finally:
        sh.obj.coordinator.shutdown()
    doc = json.loads(out.read_text())
    meta = {s: v["metadata"] for s, v in doc["symbols"].items()}
    assert "BADTICKER" not in meta
    assert meta["TSLA"] == {  # scenario 2: a strategy's full add
        "meets_session_config_requirements": True,
        "added_by": "strategy",
        "auto_provisioned": False,
        "added_at": None,  # loaded with the config, before the session started
        "upgraded_from_adhoc": False,
        "plugin": "strategy:adds_tsla",
        "rule": "needed by adds_tsla",
    }
    assert meta["MSFT"] == {  # scenario 3: a scanner's indicator auto-provisions MSFT lightweight
        "meets_session_config_requirements": False,
        "added_by": "scanner",
        "auto_provisioned": True,
        "added_at": "2024-12-02T15:00:00Z",
        "upgraded_from_adhoc": False,
        "plugin": "scanner:msft_sma",
        "rule": "msft rule",
    }
    assert list(doc["symbols"]["MSFT"]["indicators"]) == ["sma_20_5m"]
    assert meta["NVDA"]["upgraded_from_adhoc"] is True  # scenario 4: the strategy upgraded it
    assert meta["NVDA"]["added_by"] == "strategy" and meta["NVDA"]["meets_session_config_requirements"] is True
    assert meta["NVDA"]["plugin"] == "strategy:wants_nvda"
    assert before == after  # scenario 5: the duplicate changed nothing
    assert meta["AAPL"]["added_by"] == "config" and meta["AAPL"]["plugin"] is None
    kinds = {p["name"]: (p["kind"], p["adds"]) for p in doc["plugins"]}
    assert kinds["adds_tsla"][0] == "strategy" and kinds["msft_sma"] == ("scanner", 2)


# -- failures and errors --------------------------------------------------------------------------------------
def test_a_plugin_that_raises_is_stopped_and_the_session_goes_on(sample: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text(
        textwrap.dedent(
            """
            from trader_cli.plugins import Strategy

            class Bad(Strategy):
                name = "bad"

                def on_bars(self, bars):
                    if bars.time.minute == 40:
                        raise ZeroDivisionError("boom at " + str(bars.time))
            """
        )
    )
    sh = Shell(sample)
    sh.obj.config_path = str(config(tmp_path, ["AAPL"], last="2024-12-02"))
    try:
        run(sh, "system start --paused")
        run(sh, f"strategy load {bad}")
        run(sh, f"strategy load {EMA_CROSS}")
        run(sh, "time advance 1h")
        status = {p["name"]: p for p in json.loads(run(sh, "strategy status -o json"))["plugins"]}
        assert status["bad"]["state"] == "failed" and "ZeroDivisionError: boom" in status["bad"]["last_error"]
        assert status["bad"]["callbacks"] == 11  # 09:30 .. 09:40, then stopped
        assert status["ema_cross"]["state"] == "running" and status["ema_cross"]["callbacks"] == 12
        events = [e.text for e in sh.obj.coordinator.events]
        line = next(t for t in events if t.startswith("strategy bad stopped"))
        assert "traceback in" in line and "strategy reload bad" in line
        log = (tmp_path / "home" / "state" / "trader-cli" / "plugins.log").read_text()
        assert "Traceback" in log and "ZeroDivisionError" in log
        assert json.loads(run(sh, "time now -o json"))["state"] == "paused"  # the session goes on
        bad.write_text(bad.read_text().replace("raise ZeroDivisionError", "print"))
        run(sh, "strategy reload bad")
        run(sh, "time advance 30m")
        again = {p["name"]: p for p in json.loads(run(sh, "strategy status -o json"))["plugins"]}
        assert again["bad"]["state"] == "running" and again["bad"]["callbacks"] > 11
        run(sh, "strategy stop ema_cross")
        n = again["ema_cross"]["callbacks"]
        run(sh, "time advance 30m")
        held = {p["name"]: p for p in json.loads(run(sh, "strategy status -o json"))["plugins"]}
        assert held["ema_cross"]["state"] == "stopped" and held["ema_cross"]["callbacks"] == n
        run(sh, "strategy unload bad")
        assert [p["name"] for p in json.loads(run(sh, "strategy status -o json"))["plugins"]] == ["ema_cross"]
    finally:
        sh.obj.coordinator.shutdown()


@pytest.mark.parametrize(
    ("line", "says"),
    [
        (f"strategy load {EMA_CROSS} fast=abc", "ema_cross: parameter fast=abc: input should be a valid integer"),
        (f"strategy load {EMA_CROSS} fast=0", "parameter fast=0: input should be greater than or equal to 1"),
        (f"strategy load {EMA_CROSS} interval=7m", "must be one of"),
        (f"strategy load {EMA_CROSS} speed=3", "ema_cross has no parameter speed (its parameters: fast=10"),
        (f"strategy load {EMA_CROSS} fast", "bad parameter 'fast' (write NAME=VALUE"),
        ("strategy load nope.py", "no plugin file nope.py"),
        (f"strategy load {GAP_SCANNER}", "holds a scanner, not a strategy: load it with: scanner load"),
        (f"scanner load {EMA_CROSS}", "holds a strategy, not a scanner: load it with: strategy load"),
        (f"strategy load {EMA_CROSS}:Missing", "has no Strategy subclass named Missing (found: EmaCross)"),
        (f"strategy load {REPO / 'trader_cli' / 'live' / '__init__.py'}", "defines no Strategy subclass: write one"),
        (f"scanner load {GAP_SCANNER} --every 1d", "give whole minutes or hours"),
        (f"scanner load {GAP_SCANNER} --start 25:00", "give a New York time as HH:MM"),
        (f"scanner load {GAP_SCANNER} --every 1s", "schedule every '1s': give whole minutes or hours"),
        (f"scanner load {GAP_SCANNER} --start 12:00 --end 10:00", "is after its end 10:00: it would never run"),
        (f"scanner load {GAP_SCANNER} --start 17:00", "after the close (16:00): it would never run"),
        (f"strategy load {EMA_CROSS} fast=10 fast=20", "parameter fast given twice"),
        ("strategy stop nothing", "no strategy named nothing (loaded: none"),
    ],
)
def test_loading_errors_say_what_and_change_nothing(sample: Path, tmp_path: Path, line: str, says: str) -> None:
    sh = Shell(sample)
    sh.obj.config_path = str(config(tmp_path, ["AAPL"], last="2024-12-02"))
    try:
        run(sh, "system start --paused")
        before = run(sh, "data session -o json")
        res = sh(line)
        assert res.code == 1 and says in res.err, res.err
        assert "Traceback" not in res.err and res.err.count("\n") == 1
        assert run(sh, "data session -o json") == before
        assert json.loads(run(sh, "strategy status -o json"))["plugins"] == []
    finally:
        sh.obj.coordinator.shutdown()


def test_a_file_that_does_not_import_names_the_line(sample: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken.py"
    broken.write_text("from trader_cli.plugins import Strategy\n\nclass B(Strategy)\n    pass\n")
    raises = tmp_path / "raises.py"
    raises.write_text("import math\nx = 1\nraise RuntimeError('no config here')\n")
    sh = Shell(sample)
    sh.obj.config_path = str(config(tmp_path, ["AAPL"], last="2024-12-02"))
    try:
        run(sh, "system start --paused")
        res = sh(f"strategy load {broken}")
        assert res.code == 1 and "SyntaxError" in res.err and "(line 3)" in res.err
        res = sh(f"strategy load {raises}")
        assert res.code == 1 and "RuntimeError: no config here (line 3)" in res.err
    finally:
        sh.obj.coordinator.shutdown()


def test_config_plugins_are_checked_and_a_bad_one_fails_the_start(sample: Path, tmp_path: Path) -> None:
    cfg = config(tmp_path, ["AAPL"], last="2024-12-02", strategies=[{"file": str(EMA_CROSS), "params": {"fast": -1}}])
    sh = Shell(sample)
    check = sh(f"config check {cfg}")
    said = check.out + check.err
    assert check.code == 1 and "strategies.0" in said and "greater than or equal to 1" in said
    sh.obj.config_path = str(cfg)
    res = sh("system start --paused")
    assert res.code == 1 and "strategies.0" in res.err and "fast=-1" in res.err
    assert json.loads(run(sh, "time now -o json"))["state"] == "stopped"  # nothing started


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("BAD!", "parameter universe: bad symbol 'BAD!'"),
        ('["AMZN", 5]', "parameter universe: 5 is not a ticker"),
        ("[AMZN,RIVN", "parameter universe=[AMZN,RIVN: write universe=AMZN,RIVN (or a JSON list)"),
    ],
)
def test_a_list_parameter_takes_tickers_typed_or_as_json(value: str, says: str) -> None:
    """universe=["AMZN","RIVN"] was read as ['[AMZN', 'RIVN]'] (and BAD! taken): the scanner then
    added nothing, saying nothing."""
    from trader_cli.core.errors import PluginError
    from trader_cli.core.plugins.api import Param
    from trader_cli.core.plugins.loader import _from_text

    universe = Param("universe", list, None)
    assert _from_text(universe, '["amzn", "RIVN"]') == ["AMZN", "RIVN"]
    assert _from_text(universe, "amzn, RIVN") == _from_text(universe, "[AMZN,RIVN]") == ["AMZN", "RIVN"]
    with pytest.raises(PluginError, match=re.escape(says)):
        _from_text(universe, value)


TWO_CLASSES = """
from trader_cli.plugins import Needs, Strategy

class A(Strategy):
    name = "a"

    def needs(self):
        return Needs(symbols=["AAPL"])

    def on_bars(self, bars):
        pass

class B(A):
    name = "b"
"""


def test_a_bad_class_name_or_a_file_without_a_plugin_says_so(sample: Path, tmp_path: Path) -> None:
    """``FILE:my-class`` said "no plugin file FILE:my-class" of a file that is there; a file with
    no plugin class was told to name one."""
    two = tmp_path / "two.py"
    two.write_text(TWO_CLASSES)
    empty = tmp_path / "empty.py"
    empty.write_text("x = 1\n")
    sh = Shell(sample)
    sh.obj.config_path = str(config(tmp_path, ["AAPL"], last="2024-12-02"))
    try:
        run(sh, "system start --paused")
        for spec in (f"{two}:my-class", f"{two}:"):
            res = sh(f"strategy load {spec}")
            assert res.code == 1 and f"after {two}: is not a Python class name (e.g. {two}:EmaCross)" in res.err
        res = sh(f"strategy load {empty}")
        assert res.code == 1 and "defines no Strategy subclass: write one (class MyPlugin(" in res.err, res.err
        assert "name one" not in res.err
        assert json.loads(run(sh, "strategy status -o json"))["plugins"] == []
    finally:
        sh.obj.coordinator.shutdown()
    for entry, says in (
        ({"file": str(two), "class": "not a class"}, "class 'not a class' is not a Python class name"),
        ({"file": f"{two}:A", "class": "B"}, "the class is named twice"),
    ):
        res = Shell(sample)(f"config check {config(tmp_path, ['AAPL'], strategies=[entry])}")
        assert res.code == 1 and says in res.out + res.err, res.out + res.err


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ('params = (Param("iv", str, "7m", choices=("1m", "5m")),)', "parameter iv's default '7m': must be one of"),
        ('params = (Param("qty", int, 5), Param("qty", int, 7))', "two parameters are named qty"),
    ],
)
def test_a_bad_declaration_is_the_classs_not_the_users(sample: Path, tmp_path: Path, body: str, says: str) -> None:
    """A default outside its choices was reported as if typed (iv='7m'); a parameter declared
    twice was taken, the last winning."""
    path = tmp_path / "decl.py"
    path.write_text(
        "from trader_cli.plugins import Needs, Param, Strategy\n"
        f"class D(Strategy):\n    name = 'decl'\n    {body}\n"
        "    def on_bars(self, bars):\n        pass\n"
    )
    sh = Shell(sample)
    sh.obj.config_path = str(config(tmp_path, ["AAPL"], last="2024-12-02"))
    try:
        run(sh, "system start --paused")
        res = sh(f"strategy load {path}")
        assert res.code == 1 and f"decl: {says}" in res.err, res.err
        assert json.loads(run(sh, "strategy status -o json"))["plugins"] == []
    finally:
        sh.obj.coordinator.shutdown()


def test_a_plugin_without_a_callback_is_loaded_with_a_warning(sample: Path, tmp_path: Path) -> None:
    """A misspelt on_bars (or scan) loaded and 'ran' doing nothing, saying nothing."""
    strategy, scanner = tmp_path / "typo.py", tmp_path / "noscan.py"
    strategy.write_text(
        "from trader_cli.plugins import Strategy\nclass T(Strategy):\n    name = 'typo'\n"
        "    def on_bar_(self, bars):\n        pass\n"
    )
    scanner.write_text(
        "from trader_cli.plugins import Scanner, Schedule\nclass N(Scanner):\n    name = 'noscan'\n"
        "    schedule = Schedule(every='15m')\n"
    )
    sh = Shell(sample)
    sh.obj.config_path = str(config(tmp_path, ["AAPL"], last="2024-12-02"))
    try:
        run(sh, "system start --paused")
        res = sh(f"strategy load {strategy}")
        assert res.code == 0 and "warning: T defines no on_bars(self, bars) or on_bar(self, symbol, bar)" in res.err
        res = sh(f"scanner load {scanner}")
        assert res.code == 0 and "warning: N defines no scan(self, ctx), so it never runs" in res.err, res.err
        res = sh(f"strategy load {EMA_CROSS}")
        assert res.code == 0 and "warning" not in res.err, res.err
    finally:
        sh.obj.coordinator.shutdown()


NEEDS_BOOM = """
from trader_cli.plugins import Needs, Strategy

class NB(Strategy):
    name = "nb"

    def needs(self):
        return Needs(indicators=[("foo", [3], "15m")]) if self.which == "foo" else 1 / 0

    def on_bars(self, bars):
        pass
"""


def test_config_check_meets_names_and_needs_as_the_start_does(sample: Path, tmp_path: Path) -> None:
    """config check passed a config whose "name" was not a word, two plugins given one name,
    and a needs() that raised or named an unknown indicator: the start refused each."""
    boom, foo = tmp_path / "boom.py", tmp_path / "foo.py"
    boom.write_text(NEEDS_BOOM.replace("self.which", '"boom"'))
    foo.write_text(NEEDS_BOOM.replace("self.which", '"foo"'))
    gap = REPO / "examples" / "scanners" / "gap_scanner.py"
    cases = [
        ({"strategies": [{"file": str(EMA_CROSS), "name": "bad name"}]}, "strategies.0", "a plugin's name is one word"),
        (
            {"strategies": [{"file": str(EMA_CROSS), "name": "x"}], "scanners": [{"file": str(gap), "name": "x"}]},
            "scanners.0",
            "a second plugin named x (as strategies.0)",
        ),
        ({"strategies": [{"file": str(boom)}]}, "strategies.0", "needs() raised ZeroDivisionError: division by zero"),
        ({"strategies": [{"file": str(foo)}]}, "strategies.0", "nb: needs(): unknown indicator 'foo'"),
    ]
    for extra, where, says in cases:
        cfg = config(tmp_path, ["AAPL"], last="2024-12-02", **extra)
        res = Shell(sample)(f"config check {cfg} -o json")
        problems = {p["location"]: p["problem"] for p in json.loads(res.out)["problems"]}
        assert res.code == 1 and says in problems.get(where, ""), problems


def test_the_toolbar_names_the_running_plugins_before_the_account(sample: Path, tmp_path: Path) -> None:
    """The running plugins came after equity and day P&L: at 100 columns they were cut off."""
    from trader_cli.shell.repl import toolbar_text

    sh = Shell(sample)
    sh.obj.config_path = str(config(tmp_path, ["AAPL", "MSFT"], last="2024-12-02"))
    try:
        run(sh, "system start --paused")
        assert "running" not in toolbar_text(sh.obj)
        run(sh, f"strategy load {EMA_CROSS}")
        bar = toolbar_text(sh.obj)
        assert "│ 2 symbols │ running ema_cross │ equity 10,000,000.00 │" in bar, bar
        assert bar.index(" │ equity") < 90, bar  # shown at the widths a terminal has
        run(sh, "strategy stop ema_cross")
        assert "running" not in toolbar_text(sh.obj)
    finally:
        sh.obj.coordinator.shutdown()
