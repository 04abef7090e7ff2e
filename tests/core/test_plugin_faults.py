"""Plugins that misbehave, and the scanner's view at the edges of the day: a scanner never sees
today's daily bar before the close; sys.exit() or a KeyboardInterrupt from a plugin stops only
the plugin; a reload that fails leaves the old plugin running, one that changes the needs moves
the callbacks to the new symbols; needs() that return garbage, or an indicator that cannot be
provisioned, fail the load with nothing added; schedules run on their grid; order quantities that
are not whole shares stop the strategy with what is wrong."""

from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path

import pytest

from tests.core.test_plugins import REPO, config, run
from tests.test_app import Shell


@pytest.fixture(autouse=True)
def _isolated(isolated: Path) -> None:
    """Each test in a HOME and working directory of its own (tests/conftest.py)."""


@pytest.fixture
def sample(tmp_path: Path) -> Path:
    dst = tmp_path / "data"
    shutil.copytree(REPO / "data" / "bars", dst / "bars")
    return dst


def plugin(tmp: Path, name: str, body: str) -> Path:
    path = tmp / f"{name}.py"
    path.write_text("from trader_cli.plugins import *\nimport sys\n" + textwrap.dedent(body))
    return path


def shell(sample: Path, tmp: Path, symbols: list[str] | None = None) -> Shell:
    sh = Shell(sample)
    sh.obj.config_path = str(config(tmp, symbols or ["AAPL", "MSFT"]))
    run(sh, "system start --paused")
    return sh


def status(sh: Shell, kind: str = "strategy") -> dict[str, dict]:
    return {p["name"]: p for p in json.loads(run(sh, f"{kind} status -o json"))["plugins"]}


def test_a_scanner_sees_no_daily_bar_of_today_before_the_close(sample: Path, tmp_path: Path) -> None:
    seen = tmp_path / "seen.json"
    path = plugin(
        tmp_path,
        "peek",
        f"""
        import json
        class Peek(Scanner):
            name = "peek"
            def default_schedule(self):
                return Schedule(pre_session=True, every="60m")
            def scan(self, ctx):
                d = ctx.read(["SPY"], "1d", days=2)["SPY"]
                five = ctx.read(["AAPL"], "5m", days=1).get("AAPL")
                last5 = int(five.ts[-1]) if len(five) else 0
                with open({str(seen)!r}, "a") as f:
                    f.write(json.dumps([str(ctx.now), int(d.ts[-1]), len(d), last5]) + "\\n")
        """,
    )
    sh = shell(sample, tmp_path)
    try:
        run(sh, f"scanner load {path}")
        run(sh, "time advance 1 session")
    finally:
        sh.obj.coordinator.shutdown()
    import datetime as dt
    from zoneinfo import ZoneInfo

    ny = ZoneInfo("America/New_York")
    today = int(dt.datetime(2024, 12, 2, tzinfo=ny).timestamp()) * 10**9
    rows = [json.loads(x) for x in seen.read_text().splitlines()]
    assert rows, "the scanner ran"
    for now, last_daily, n, last_5m in rows:
        t = dt.datetime.fromisoformat(now)
        if t < dt.datetime(2024, 12, 2, 16, 0, tzinfo=ny):
            assert last_daily < today and n == 2, now  # only earlier days' bars
        if last_5m:  # built from 1m (no 5m file is stored): only bars that ended by now
            assert last_5m + 5 * 60 * 10**9 <= int(t.timestamp()) * 10**9, now


def test_sys_exit_and_keyboard_interrupt_stop_only_the_plugin(sample: Path, tmp_path: Path) -> None:
    leaver = plugin(
        tmp_path,
        "leaver",
        """
        class Leaver(Strategy):
            name = "leaver"
            params = (Param("how", str, "exit"),)
            def needs(self):
                return Needs(intervals=["1m"])
            def on_bars(self, bars):
                if self.how == "exit":
                    sys.exit(3)
                raise KeyboardInterrupt
        """,
    )
    at_import = plugin(tmp_path, "boom_import", "sys.exit(4)\n")
    sh = shell(sample, tmp_path)
    try:
        res = sh(f"strategy load {at_import}")
        assert res.code == 1 and "SystemExit" in res.err
        run(sh, f"strategy load {leaver}")
        run(sh, "time advance 3m")
        st = status(sh)["leaver"]
        assert st["state"] == "failed" and "SystemExit" in st["last_error"]
        run(sh, "strategy unload leaver")
        run(sh, f"strategy load {leaver} how=interrupt")
        run(sh, "time advance 3m")
        assert status(sh)["leaver"]["state"] == "failed"
        assert "09:36" in json.loads(run(sh, "system status -o json"))["time"]
    finally:
        sh.obj.coordinator.shutdown()


def test_reloads_all_or_nothing_and_follow_changed_needs(sample: Path, tmp_path: Path) -> None:
    log = tmp_path / "calls.txt"
    v1 = f"""
    class Rl(Strategy):
        name = "rl"
        def needs(self):
            return Needs(symbols=["AAPL"], intervals=["5m"], indicators=[("sma", [5], "5m")])
        def on_bars(self, bars):
            open({str(log)!r}, "a").write("V1 " + ",".join(bars.symbols) + "\\n")
    """
    path = plugin(tmp_path, "rl", v1)
    sh = shell(sample, tmp_path)
    try:
        run(sh, f"strategy load {path}")
        run(sh, "time advance 5m")
        plugin(tmp_path, "rl", v1.replace("V1", "V2").replace('("sma", [5], "5m")', '("rsi", [0], "5m")'))
        res = sh("strategy reload rl")
        assert res.code == 1 and "not reloaded (the one loaded runs on), nothing added" in res.err
        run(sh, "time advance 5m")
        assert log.read_text().splitlines()[-1] == "V1 AAPL"  # the old one still runs
        plugin(tmp_path, "rl", v1 + "\ndef broken(:\n")  # an edit that no longer imports: said so, too
        res = sh("strategy reload rl")
        assert res.code == 1 and "cannot import" in res.err, res.err
        assert res.err.rstrip().endswith(") (not reloaded: the one loaded runs on)"), res.err
        plugin(
            tmp_path, "rl", v1.replace("V1", "V3").replace('["AAPL"]', '["MSFT"]').replace('"sma", [5]', '"ema", [3]')
        )
        run(sh, "strategy reload rl")
        run(sh, "time advance 5m")
        assert log.read_text().splitlines()[-1] == "V3 MSFT"
        st = status(sh)["rl"]
        assert st["symbols"] == ["MSFT"] and st["indicators"] == ["ema_3_5m"]
    finally:
        sh.obj.coordinator.shutdown()


def test_bad_needs_fail_the_load_and_add_nothing(sample: Path, tmp_path: Path) -> None:
    cases = {
        "dict": ("return {'symbols': ['AAPL']}", "needs() returned dict"),
        "str_symbols": ("return Needs(symbols='AAPL')", "Needs.symbols must be a list"),
        "str_intervals": ("return Needs(intervals='5m')", "Needs.intervals must be a list"),
        "pair": ("return Needs(indicators=[('sma', 20)])", "(name, params, interval)"),
        "none_intervals": ("return Needs(intervals=None)", "Needs.intervals must be a list"),
        "int_indicators": ("return Needs(indicators=5)", "Needs.indicators must be a list"),
        "bad_indicator": (
            "return Needs(symbols=['AMZN'], indicators=[('rsi', [0], '5m')])",
            "not loaded, nothing added",
        ),
    }
    sh = shell(sample, tmp_path)
    try:
        before = json.loads(run(sh, "data session -o json"))
        for name, (body, says) in cases.items():
            path = plugin(
                tmp_path,
                name,
                f"""
                class P(Strategy):
                    name = {name!r}
                    def needs(self):
                        {body}
                """,
            )
            res = sh(f"strategy load {path}")
            assert res.code == 1 and says in res.err and "internal error" not in res.err, (name, res.err)
        assert json.loads(run(sh, "data session -o json")) == before  # AMZN was not added
        assert status(sh) == {}
    finally:
        sh.obj.coordinator.shutdown()


def test_schedules_run_on_their_grid(sample: Path, tmp_path: Path) -> None:
    log = tmp_path / "ticks.txt"
    path = plugin(
        tmp_path,
        "tick",
        f"""
        class Tick(Scanner):
            name = "tick"
            def default_schedule(self):
                return Schedule(start="09:30")
            def scan(self, ctx):
                open({str(log)!r}, "a").write(f"{{ctx.now:%H:%M}}\\n")
        """,
    )
    sh = shell(sample, tmp_path)
    try:
        run(sh, f"scanner load {path}")
        run(sh, "time advance 2m")
        assert log.read_text().split() == ["09:30"]  # at the open, before its first bar
        run(sh, "scanner unload tick")
        log.unlink()
        run(sh, f"scanner load {path} --start 08:00 --every 15m --end 10:30")
        run(sh, "time until 10:31")
        assert log.read_text().split() == ["09:45", "10:00", "10:15", "10:30"]
        run(sh, "scanner unload tick")
        res = sh(f"scanner load {path} --every 10m")
        assert res.code == 0, res.err
    finally:
        sh.obj.coordinator.shutdown()


def test_the_config_route_checks_what_the_commands_check(sample: Path, tmp_path: Path) -> None:
    from tests.core.test_plugins import EMA_CROSS, GAP_SCANNER

    cfg = config(
        tmp_path,
        ["AAPL"],
        strategies=[
            {"file": str(EMA_CROSS), "params": {"fast": True}},
            {"file": str(EMA_CROSS)},
            {"file": str(EMA_CROSS)},
        ],
        scanners=[
            {"file": str(GAP_SCANNER), "schedule": {"every": "1s"}},
            {"file": str(GAP_SCANNER), "params": {"universe": ["aapl", "msft"]}, "schedule": {"start": "09:45"}},
        ],
    )
    sh = Shell(sample)
    res = sh(f"config check {cfg}")
    assert res.code == 1
    assert "strategies.0: ema_cross: parameter fast=true: give a number" in res.err
    assert "strategies.2: a second plugin named ema_cross" in res.err
    assert "scanners.0: gap_scanner: schedule every '1s'" in res.err
    assert "scanners.1" not in res.err  # the lower-case universe is fine: upper-cased as typed ones are


def test_a_strategys_order_quantities_are_whole_shares_or_its_error(sample: Path, tmp_path: Path) -> None:
    """The vectorised market path takes whole numbers given as ints or floats (one, one per
    selected symbol, or one per symbol of the callback) and leaves everything else to the
    order-by-order path, which says what is wrong; a symbol twice is two orders."""
    path = plugin(
        tmp_path,
        "sizer",
        """
        import numpy as np
        class Sizer(Strategy):
            name = "sizer"
            params = (Param("how", str, "floats"),)
            def needs(self):
                return Needs(intervals=["1m"])
            def on_bars(self, bars):
                n = len(bars)
                if self.how == "twice":
                    bars.buy([0, 0], 5)
                    return
                qty = {"floats": np.full(n, 10.0), "per_symbol": np.arange(1, n + 1), "frac": np.full(n, 1.5),
                       "nan": np.full(n, np.nan), "inf": np.full(n, np.inf), "short": np.ones(n + 1),
                       "huge": 2**63}[self.how]
                bars.buy(np.ones(n, bool), qty)
        """,
    )
    sh = shell(sample, tmp_path)
    try:
        for how, placed in (("floats", 2), ("per_symbol", 2), ("twice", 2)):
            run(sh, f"strategy load {path} how={how}")
            run(sh, "time advance 1m")
            st = status(sh)["sizer"]
            assert st["state"] == "running" and st["orders"] == placed, (how, st)
            run(sh, "strategy unload sizer")
        whole = "whole number of shares"
        for how, says in (("frac", whole), ("nan", whole), ("inf", whole), ("short", "3 qty values for 2 selected")):
            run(sh, f"strategy load {path} how={how}")
            run(sh, "time advance 1m")
            st = status(sh)["sizer"]
            assert st["state"] == "failed" and says in st["last_error"] and st["orders"] == 0, (how, st)
            run(sh, "strategy unload sizer")
        run(sh, f"strategy load {path} how=huge")  # refused order by order; the strategy goes on
        run(sh, "time advance 1m")
        st = status(sh)["sizer"]
        assert st["state"] == "running" and st["orders"] == 2 and st["rejected"] == 2, st
        assert "1,000,000,000" in st["last_rejection"]
        shown = " ".join(run(sh, "strategy status").split())  # the table says so too
        assert "rejected" in shown and "sizer: last rejected" in shown and "1,000,000,000" in shown, shown
        said = [e.text for e in sh.obj.coordinator.events if "rejected" in e.text]
        assert len(said) == 1 and said[0].startswith("strategy:sizer: 2 orders rejected: AAPL buy"), said
        assert "(1 more)" in said[0]
        orders = json.loads(run(sh, "orders --all -o json"))["orders"]
        assert sorted(o["qty"] for o in orders if o["status"] != "rejected") == [1, 2, 5, 5, 10, 10]
        refused = [o for o in orders if o["status"] == "rejected"]
        assert len(refused) == 2 and all("1,000,000,000" in o["reason"] for o in refused), refused
    finally:
        sh.obj.coordinator.shutdown()


def test_a_plugin_raising_any_baseexception_is_stopped_and_the_session_goes_on(sample: Path, tmp_path: Path) -> None:
    path = plugin(
        tmp_path,
        "base_exc",
        """
        class Boom(BaseException):
            pass
        class B(Strategy):
            name = "base_exc"
            params = (Param("where", str, "on_bars"),)
            def needs(self):
                if self.where == "needs":
                    raise Boom("in needs")
                return Needs(intervals=["1m"])
            def on_bars(self, bars):
                raise GeneratorExit if self.where == "genexit" else Boom("in on_bars")
        """,
    )
    sh = shell(sample, tmp_path)
    try:
        res = sh(f"strategy load {path} where=needs")
        assert res.code == 1 and "needs() raised Boom: in needs" in res.err and status(sh) == {}
        for where, raised in (("on_bars", "Boom"), ("genexit", "GeneratorExit")):
            run(sh, f"strategy load {path} where={where}")
            run(sh, "time advance 2m")
            st = status(sh)["base_exc"]
            assert st["state"] == "failed" and raised in st["last_error"], st
            run(sh, "strategy unload base_exc")
        assert "09:34" in json.loads(run(sh, "system status -o json"))["time"]  # every minute stepped
    finally:
        sh.obj.coordinator.shutdown()


@pytest.mark.parametrize(
    ("decl", "says"),
    [
        ('name = 42\n    def needs(self): return Needs(intervals=["1m"])', "a plugin's name is one word"),
        ('name = "two words"', "a plugin's name is one word"),
        ("params = 5", "declare a tuple of Param"),
        ('params = (Param("s", str, "abc", min=1),)', "min and max are for int and float"),
        ('params = (Param("x", int, "notanint"),)', "parameter x's default 'notanint'"),
    ],
)
def test_bad_declarations_fail_the_load_with_one_line(sample: Path, tmp_path: Path, decl: str, says: str) -> None:
    path = plugin(tmp_path, "decl", f"class D(Strategy):\n    {decl}\n")
    sh = shell(sample, tmp_path)
    try:
        res = sh(f"strategy load {path}")
        assert res.code == 1 and says in res.err and "internal error" not in res.err, res.err
        assert status(sh) == {}
        run(sh, "time advance 1m")  # the session goes on
    finally:
        sh.obj.coordinator.shutdown()


def test_a_float_parameter_is_finite_and_a_schedule_is_a_schedule(sample: Path, tmp_path: Path) -> None:
    gap = REPO / "examples" / "scanners" / "gap_scanner.py"
    odd = plugin(
        tmp_path,
        "odd",
        """
        class O(Scanner):
            name = "odd"
            params = (Param("sched", str, "none"),)
            def default_schedule(self):
                if self.sched == "int":
                    return Schedule(every=15)
                return {"none": None, "text": "15m"}[self.sched]
            def scan(self, ctx):
                pass
        """,
    )
    sh = shell(sample, tmp_path)
    try:
        res = sh(f"scanner load {gap} min_gap_pct=nan")
        assert res.code == 1 and "finite number" in res.err, res.err
        for sched, says in (("none", "its schedule is None"), ("text", "its schedule is '15m'"), ("int", "every=15")):
            res = sh(f"scanner load {odd} sched={sched}")
            assert res.code == 1 and says in res.err and "internal error" not in res.err, res.err
        assert status(sh, "scanner") == {}
    finally:
        sh.obj.coordinator.shutdown()


def test_a_mistyped_option_of_load_is_a_usage_error_not_a_parameter(sample: Path, tmp_path: Path) -> None:
    gap = REPO / "examples" / "scanners" / "gap_scanner.py"
    sh = shell(sample, tmp_path)
    try:
        res = sh(f"scanner load {gap} --evry 15m")
        assert res.code == 2 and "No such option: --evry" in res.err and "--every" in res.err, res.err
        res = sh(f"strategy load {REPO / 'examples' / 'strategies' / 'ema_cross.py'} --bogus 5")
        assert res.code == 2 and "No such option: --bogus" in res.err, res.err
        assert status(sh) == {} and status(sh, "scanner") == {}
    finally:
        sh.obj.coordinator.shutdown()


def test_a_start_that_fails_at_the_configs_plugins_changes_nothing(sample: Path, tmp_path: Path) -> None:
    from tests.core.test_plugins import EMA_CROSS

    good = config(tmp_path, ["AAPL"])
    bad_dir = tmp_path / "bad"
    bad_dir.mkdir()
    bad = config(bad_dir, ["AAPL"], strategies=[{"file": str(EMA_CROSS)}, {"file": str(EMA_CROSS)}])
    sh = Shell(sample)
    sh.obj.config_path = str(good)
    try:
        res = sh(f"system start --config {bad} --paused")
        said = 'in the config already (remove one of the two, or give one a "name")'
        assert res.code == 1 and said in res.err, res.err
        st = json.loads(run(sh, "system status -o json"))
        assert st["state"] == "stopped" and st["config"] is None, st
        assert sh.obj.config_path == str(good)  # the shell's config stays
        run(sh, "system start --paused")  # the good one
        assert json.loads(run(sh, "system status -o json"))["config"] == "plugins"
    finally:
        sh.obj.coordinator.shutdown()


def test_a_scanners_add_with_a_bad_interval_is_a_failed_add_not_a_crash(sample: Path, tmp_path: Path) -> None:
    got = tmp_path / "got.json"
    path = plugin(
        tmp_path,
        "adder",
        f"""
        import json
        class Adder(Scanner):
            name = "adder"
            def default_schedule(self):
                return Schedule(start="09:31")
            def scan(self, ctx):
                res = [ctx.add_bar("AAPL", "7q"), ctx.add_indicator("AAPL", "sma", [5], "7q"),
                       ctx.add_indicator("AAPL", "nosuch", [1], "5m")]
                open({str(got)!r}, "w").write(json.dumps(res))
        """,
    )
    sh = shell(sample, tmp_path)
    try:
        run(sh, f"scanner load {path}")
        res = sh("time advance 2m")
        assert json.loads(got.read_text()) == [False, False, False]
        st = status(sh, "scanner")["adder"]
        assert st["state"] == "running" and st["add_failures"] == 3, st
        said = [line for line in res.err.splitlines() if line.startswith("» scanner adder: add ")]  # one line each
        assert len(said) == 3 and all(line.endswith("(nothing added)") for line in said), res.err
        assert "unknown indicator 'nosuch'" in said[2], said
    finally:
        sh.obj.coordinator.shutdown()


@pytest.mark.parametrize("stuck_for", [1.2, 0.0])
def test_strategy_stop_stops_a_callback_stuck_in_the_clock(sample: Path, tmp_path: Path, stuck_for: float) -> None:
    """The running clock's thread holds the session while a callback does not return: stopping
    the plugin stops that callback (raised in it), the minute ends, and the backtest goes on —
    also a stop typed before the callback has run a second (it waits for that second)."""
    import time

    marker = tmp_path / "stuck"
    path = plugin(
        tmp_path,
        "hang",
        f"""
        from pathlib import Path
        class Hang(Strategy):
            name = "hang"
            calls = 0
            def needs(self):
                return Needs(intervals=["1m"])
            def on_bars(self, bars):
                Hang.calls += 1
                if Hang.calls == 2:
                    Path({str(marker)!r}).write_text("x")
                    while True:
                        try:
                            pass
                        except Exception:  # a plugin's own catch-all does not swallow the stop
                            pass
        """,
    )
    sh = shell(sample, tmp_path)
    try:
        run(sh, f"strategy load {path}")
        run(sh, "system resume")
        end = time.monotonic() + 30
        while not marker.exists():
            assert time.monotonic() < end
            time.sleep(0.02)
        time.sleep(stuck_for)  # stuck for more than a second, or just begun
        res = sh("strategy stop hang")
        assert res.code == 0, res.err
        st = status(sh)["hang"]
        assert st["state"] == "stopped" and "on_bars was stopped after" in st["last_error"], st
        run(sh, "system wait --timeout 60")
        assert json.loads(run(sh, "system status -o json"))["state"] == "finished"
    finally:
        sh.obj.coordinator.shutdown()


def test_a_plugins_error_text_never_shows_a_secret(
    sample: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("APCA_API_KEY_ID", "key-id-ZQX81")
    monkeypatch.setenv("APCA_API_SECRET_KEY", "secret-KJH27")
    path = tmp_path / "leaky.py"
    path.write_text(
        "import os\n"
        "from trader_cli.plugins import Needs, Param, Strategy\n"
        "class Leaky(Strategy):\n"
        "    name = 'leaky'\n"
        "    params = (Param('tag', str, 'x'),)\n"
        "    def needs(self):\n"
        "        return Needs(symbols=['AAPL'])\n"
        "    def on_bars(self, bars):\n"
        "        env = os.environ\n"
        "        raise RuntimeError('auth with ' + env['APCA_API_KEY_ID'] + ':' + env['APCA_API_SECRET_KEY'])\n"
    )
    sh = Shell(sample)
    sh.obj.config_path = str(config(tmp_path, ["AAPL"], last="2024-12-03"))
    out = tmp_path / "x.json"
    try:
        assert sh("system start --paused").code == 0
        assert sh(f"strategy load {path} tag=secret-KJH27").code == 0  # a parameter holding a key: masked too
        assert sh("time advance 2m").code == 0
        status = sh("strategy status -o json").out + sh("strategy status").out
        assert sh(f"session export {out}").code == 0
        events = " ".join(e.text for e in sh.obj.coordinator.engine.events.events)
    finally:
        sh.obj.coordinator.shutdown()
    for text in (status, out.read_text(), events):
        assert "ZQX81" not in text and "KJH27" not in text
    assert "auth with ***:***" in status and '"tag": "***"' in status


@pytest.mark.parametrize("where", ["init", "needs"])
def test_a_plugin_raising_while_it_loads_names_its_line_and_logs_the_traceback(
    sample: Path, tmp_path: Path, where: str
) -> None:
    path = plugin(
        tmp_path,
        "loadboom",
        """
        class L(Strategy):
            name = "loadboom"
            params = (Param("where", str, "init"),)
            def __init__(self, **kw):
                super().__init__(**kw)
                if self.where == "init":
                    raise RuntimeError("init broke")
            def needs(self):
                raise ValueError("needs broke")
        """,
    )
    line = 10 if where == "init" else 12  # the raise in the file as written (after the imports)
    assert "raise" in path.read_text().splitlines()[line - 1], path.read_text()
    sh = shell(sample, tmp_path)
    try:
        res = sh(f"strategy load {path} where={where}")
        assert res.code == 1 and res.err.count("\n") == 1 and status(sh) == {}, res.err
        assert f"broke at loadboom.py line {line} (traceback in " in res.err, res.err
        log = tmp_path / "home" / "state" / "trader-cli" / "plugins.log"
        assert f'loadboom.py", line {line}' in log.read_text()
    finally:
        sh.obj.coordinator.shutdown()


def test_an_exception_whose_str_raises_is_still_the_plugins_one_line(sample: Path, tmp_path: Path) -> None:
    """An exception class whose __str__ raised broke out of the containment: from on_bars it
    stopped the replay ("the replay stopped at …: str failed") naming no plugin; from the
    constructor it was an internal error."""
    path = plugin(
        tmp_path,
        "evil",
        """
        class E(Exception):
            def __str__(self):
                raise RuntimeError("str failed")

        class Evil(Strategy):
            name = "evil"
            params = (Param("where", str, "bars"),)
            def __init__(self, **kw):
                super().__init__(**kw)
                if self.where == "init":
                    raise E()
            def needs(self):
                return Needs(symbols=["AAPL"])
            def on_bars(self, bars):
                raise E()
        """,
    )
    sh = shell(sample, tmp_path)
    try:
        res = sh(f"strategy load {path} where=init")
        assert res.code == 1 and "evil: its constructor raised E: (its str() raised RuntimeError)" in res.err, res.err
        assert "internal error" not in res.err and status(sh) == {}
        run(sh, f"strategy load {path}")
        res = sh("time advance 10m")
        assert res.code == 0 and "strategy evil stopped: on_bars raised E: (its str() raised" in res.err, res.err
        assert json.loads(run(sh, "time now -o json"))["time"].endswith("09:40:00-05:00")
        assert status(sh)["evil"]["state"] == "failed"
    finally:
        sh.obj.coordinator.shutdown()


def test_a_reload_keeps_a_stopped_plugin_stopped_and_runs_a_failed_one_again(sample: Path, tmp_path: Path) -> None:
    """``strategy reload`` of a stopped strategy set it running: it traded again unasked."""
    path = plugin(
        tmp_path,
        "flaky",
        """
        class Flaky(Strategy):
            name = "flaky"
            params = (Param("boom", bool, False),)
            def needs(self):
                return Needs(symbols=["AAPL"])
            def on_bars(self, bars):
                if self.boom:
                    raise ValueError("boom")
        """,
    )
    sh = shell(sample, tmp_path)
    try:
        run(sh, f"strategy load {path}")
        run(sh, "strategy stop flaky")
        res = sh("strategy reload flaky")
        assert res.code == 0 and "reloaded; it stays stopped (start it with: strategy start flaky)" in res.err, res.err
        assert status(sh)["flaky"]["state"] == "stopped"
        run(sh, "strategy start flaky")
        run(sh, "strategy unload flaky")
        run(sh, f"strategy load {path} boom=true")
        run(sh, "time advance 2m")
        assert status(sh)["flaky"]["state"] == "failed"
        run(sh, "strategy reload flaky")
        assert status(sh)["flaky"]["state"] == "running"
    finally:
        sh.obj.coordinator.shutdown()
