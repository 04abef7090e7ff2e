"""A plugin that calls the API wrongly (a hostile-input review of bars.buy/sell/cancel/
open_orders/history, the per-symbol bar and the scanner's ctx) gets a PluginError of one short
line saying what was wrong and what to give; a generator is taken as the list it yields; the
values a message shows are cut short. Each runs a real plugin file in a real session."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.core import test_plugins
from tests.core.test_plugin_orders import _start
from tests.core.test_plugins import config, run
from tests.test_app import Shell

sample = test_plugins.sample  # the sample store copied into tmp_path (a fixture)

pytestmark = pytest.mark.filterwarnings("ignore:Series.values returning an ndarray")

SHORT = 200  # an error line longer than this is not one a trader reads

PROBES = """
import numpy as np
from trader_cli.plugins import Needs, Scanner, Schedule, Strategy

CALLS = {calls!r}


def record(seen, names):
    for label, call in CALLS.items():  # each call's result, or the error it raised
        try:
            seen[label] = ("ok", eval(call, {{"np": np, **names}}))
        except Exception as err:
            seen[label] = (type(err).__name__, str(err))


class Probe(Strategy):
    name = "probe"
    seen = {{}}

    def needs(self):
        return Needs(symbols=["AAPL", "MSFT"])

    def on_bars(self, bars):
        if not type(self).seen:
            record(type(self).seen, {{"bars": bars, "bar": next(iter(bars))}})


class ScanProbe(Scanner):
    name = "scanprobe"
    seen = {{}}
    schedule = Schedule(start="09:45")

    def scan(self, ctx):
        record(type(self).seen, {{"ctx": ctx}})
"""


@pytest.fixture(autouse=True)
def _isolated(isolated: Path) -> None:
    """Each test in a HOME and working directory of its own (tests/conftest.py)."""


def probe(sample: Path, tmp_path: Path, calls: dict[str, str], kind: str = "strategy") -> dict[str, tuple[str, Any]]:
    """What each call (Python, with ``np`` and a strategy's ``bars`` and ``bar``, its first
    symbol's, or a scanner's ``ctx``) gave in the plugin's first callback of a session of AAPL
    and MSFT: ("ok", result) or (error type, message)."""
    path = tmp_path / "probes.py"
    path.write_text(PROBES.format(calls=calls))
    sh = Shell(sample)
    sh.obj.config_path = str(config(tmp_path, ["AAPL", "MSFT"], last="2024-12-03"))
    try:
        run(sh, "system start --paused")
        run(sh, f"{kind} load {path}")
        run(sh, "time advance 16m")  # the scanner runs at 09:45
        slot = sh.obj.coordinator.engine.plugins.slots["probe" if kind == "strategy" else "scanprobe"]
        assert slot.state == "running", slot.last_error
        return dict(type(slot.instance).seen)
    finally:
        sh.obj.coordinator.shutdown()


def refused(seen: dict[str, tuple[str, Any]], label: str) -> str:
    """The PluginError message of a call, checked to be one short line."""
    kind, said = seen[label]
    assert kind == "PluginError", (label, kind, said)
    assert "\n" not in said and len(said) <= SHORT, (label, len(said), said[:300])
    return str(said)


def test_a_two_dimensional_mask_says_it_must_be_one_dimensional(sample: Path, tmp_path: Path) -> None:
    seen = probe(
        sample,
        tmp_path,
        {
            "buy": "bars.buy(np.ones((1, len(bars)), bool), 1)",
            "open_orders": "bars.open_orders(np.ones((2, 2), bool))",
            "short": "bars.sell(np.ones(1, bool), 1)",
            "scalar": "bars.buy(True, 1)",
        },
    )
    assert refused(seen, "buy") == "mask must be 1-D with one entry per symbol (2), got shape (1, 2)"
    assert refused(seen, "open_orders") == "mask must be 1-D with one entry per symbol (2), got shape (2, 2)"
    assert refused(seen, "short") == "mask must be 1-D with one entry per symbol (2), got shape (1,)"
    assert refused(seen, "scalar") == "mask must be 1-D with one entry per symbol (2), got a single True"


def test_generators_of_symbols_quantities_prices_and_ids_are_taken_once(sample: Path, tmp_path: Path) -> None:
    seen = probe(
        sample,
        tmp_path,
        {
            "names": "[(o.symbol, o.qty) for o in bars.buy((s for s in ['AAPL']), 1)]",
            "qtys": "[(o.symbol, o.qty) for o in bars.buy(['AAPL', 'MSFT'], (q for q in [2, 3]),"
            " limit=(p * 0.5 for p in bars.close), tif='gtc')]",
            "set": "[o.symbol for o in bars.buy({'MSFT', 'AAPL'}, 4)]",
            "open": "[o.symbol for o in bars.open_orders(s for s in ['MSFT'])]",
            "cancel": "[o.symbol for o in bars.cancel(o.id for o in bars.open_orders(iter(['AAPL'])))]",
        },
    )
    assert seen["names"] == ("ok", [("AAPL", 1)])
    assert seen["qtys"] == ("ok", [("AAPL", 2), ("MSFT", 3)])
    assert seen["set"] == ("ok", ["AAPL", "MSFT"])  # a set's in sorted order: the same every run
    assert seen["open"] == ("ok", ["MSFT", "MSFT"])  # the resting limit and the market order, oldest first
    assert seen["cancel"] == ("ok", ["AAPL", "AAPL", "AAPL"])


def test_negative_and_out_of_range_indices_are_refused(sample: Path, tmp_path: Path) -> None:
    seen = probe(
        sample,
        tmp_path,
        {
            "negative": "bars.buy([-1], 1)",
            "past_the_end": "bars.sell(np.array([0, 2]), 1)",
            "open_orders": "bars.open_orders([5])",
            "argwhere": "[o.symbol for o in bars.buy(np.argwhere(bars.symbols == 'MSFT'), 1)]",
        },
    )
    assert refused(seen, "negative").startswith("index -1 out of range 0..1")
    assert refused(seen, "past_the_end").startswith("index 2 out of range 0..1")
    assert refused(seen, "open_orders").startswith("index 5 out of range 0..1")
    assert seen["argwhere"] == ("ok", ["MSFT"])  # a column of indices is still indices


def test_history_last_is_a_whole_number_from_one(sample: Path, tmp_path: Path) -> None:
    seen = probe(
        sample,
        tmp_path,
        {
            "negative": "bars.history('AAPL', last=-5)",
            "zero": "bars.history('AAPL', last=0)",
            "fraction": "bars.history('AAPL', last=2.5)",
            "text": "bars.history('AAPL', last='5')",
            "bool": "bars.history('AAPL', last=True)",
            "symbol": "bars.history(5)",
            "three": "len(bars.history('AAPL', last=3.0))",
        },
    )
    assert refused(seen, "negative").startswith("last must be ≥ 1 (got -5;")
    assert refused(seen, "zero").startswith("last must be ≥ 1 (got 0;")
    assert refused(seen, "fraction").startswith("last must be a whole number ≥ 1 (got 2.5;")
    assert refused(seen, "text").startswith("last must be a whole number ≥ 1 (got '5';")
    assert refused(seen, "bool").startswith("last must be a whole number ≥ 1 (got True;")
    assert refused(seen, "symbol") == "history(5): give a symbol's name (text, e.g. 'AAPL')"
    assert seen["three"] == ("ok", 3)


def test_every_message_shows_a_users_value_cut_short(sample: Path, tmp_path: Path) -> None:
    seen = probe(
        sample,
        tmp_path,
        {
            "cancel_list": "bars.cancel(['o999999'] * 200_000 + [5])",
            "cancel_id": "bars.cancel('o' * 1_000_000)",
            "cancel_one": "bars.cancel(list(range(100_000)))",
            "name": "bars.buy(['AAPL', 'Z' * 100_000], 1)",
            "qty": "bars.buy(['AAPL'], {'qty': list(range(100_000))})",
            "tif": "bars.buy(['AAPL'], 1, tif='d' * 100_000)",
            "key": "bars.indicator('ema_' * 100_000)",
            "output": "bars.indicator('sma_20_5m', 'x' * 100_000)",
        },
    )
    assert refused(seen, "cancel_list").startswith("cancel: 5 (item 200001) is not an order; give orders as")
    assert refused(seen, "cancel_id").startswith("cancel 'ooooo")
    assert refused(seen, "cancel_one").startswith("cancel: 0 (item 1) is not an order")
    assert "not one of this callback's symbols (AAPL, MSFT)" in refused(seen, "name")
    assert refused(seen, "qty").startswith("order qty {'qty': [0, 1, 2, 3, 4, 5, ...]} for AAPL")
    assert refused(seen, "tif").endswith(": use day or gtc")
    assert refused(seen, "key").startswith("no indicator ema_ema_")
    assert refused(seen, "output").startswith("sma_20_5m has no output xxx")


def test_other_bad_arguments_give_one_clear_line(sample: Path, tmp_path: Path) -> None:
    seen = probe(
        sample,
        tmp_path,
        {
            "limit_text": "bars.buy(['AAPL'], 1, limit='abc')",
            "limit_bool": "bars.buy(['AAPL'], 1, limit=True)",
            "stop_dict": "bars.buy(['AAPL'], 1, stop={'AAPL': 1})",
            "tif_array": "bars.buy(['AAPL'], 1, tif=np.array(['day']))",
            "floats": "bars.buy(np.array([0.5, 1.5]), 1)",
            "none_name": "bars.buy([None], 1)",
            "key_list": "bars.indicator(['sma_20_5m'])",
            "bar_attr": "bar.closing_price",
            "qty_frac": "bars.buy(['AAPL'], 2.5)",
            "qty_nan": "bars.buy(['AAPL'], float('nan'))",
            "qty_bool": "bars.buy(['AAPL'], True)",
            "qty_text": "bars.buy(['AAPL'], '5')",
            "kwarg": "bars.buy(['AAPL'], 1, limt=5)",
        },
    )
    assert refused(seen, "limit_text") == "order limit 'abc' for AAPL: give a price (a number) or None"
    assert refused(seen, "limit_bool") == "order limit True for AAPL: give a price (a number) or None"
    assert refused(seen, "stop_dict") == "order stop {'AAPL': 1} for AAPL: give a price (a number) or None"
    assert refused(seen, "tif_array") == "order tif array(['day'], dtype='<U3'): use day or gtc"
    assert "select symbols with a boolean mask, indices or names, not float64 values" in refused(seen, "floats")
    assert refused(seen, "none_name").startswith("None in a list of symbols: give a boolean mask, indices or names")
    assert refused(seen, "key_list").startswith("no indicator ['sma_20_5m'] in the session")
    kind, said = seen["bar_attr"]
    assert kind == "AttributeError" and said.startswith("a bar has no 'closing_price' (it has symbol, open, high")
    for label in ("qty_frac", "qty_nan", "qty_bool", "qty_text"):  # right before; guarded here
        assert refused(seen, label).endswith("for AAPL: give a whole number of shares"), label
    assert seen["kwarg"] == ("TypeError", "BarsView.buy() got an unexpected keyword argument 'limt'")


GENERATED_NEEDS = """
from trader_cli.plugins import Needs, Strategy

class Generated(Strategy):
    name = "generated"

    def needs(self):
        return Needs(
            symbols=(s for s in ["AAPL", "MSFT"]),
            intervals=(iv for iv in ["5m"]),
            indicators=(spec for spec in [("ema", [3], "5m")]),
        )
"""


def test_needs_takes_generators_once(sample: Path, tmp_path: Path) -> None:
    sh = _start(sample, tmp_path, "generated", GENERATED_NEEDS)
    try:
        slot = sh.obj.coordinator.engine.plugins.slots["generated"]
        assert (slot.symbols, [iv.name for iv in slot.intervals], slot.keys) == (["AAPL", "MSFT"], ["5m"], ["ema_3_5m"])
    finally:
        sh.obj.coordinator.shutdown()


HUGE_CANCEL = """
from trader_cli.plugins import Needs, Strategy

class Huge(Strategy):
    name = "huge"

    def needs(self):
        return Needs(symbols=["AAPL", "MSFT"])

    def on_bars(self, bars):
        bars.cancel(["o999999"] * 200_000 + [None])
"""


def test_a_bad_call_stops_only_that_plugin_with_one_short_line(sample: Path, tmp_path: Path) -> None:
    sh = _start(sample, tmp_path, "huge", HUGE_CANCEL)
    try:
        run(sh, f"strategy load {test_plugins.EMA_CROSS} interval=1m fast=2 slow=3")
        res = sh("time advance 5m")
        assert res.code == 0, res.err
        plugins = sh.obj.coordinator.engine.plugins
        slot = plugins.slots["huge"]
        assert slot.state == "failed"
        said = slot.last_error or ""
        assert said.startswith("on_bars raised PluginError: cancel: None (item 200001) is not an order"), said[:300]
        assert len(said) <= SHORT
        stopped = [e.text for e in sh.obj.coordinator.events if "huge stopped" in e.text]
        assert len(stopped) == 1 and len(stopped[0]) <= 2 * SHORT + 100, stopped[0][:300]
        assert plugins.slots["ema_cross"].state == "running"  # the session and the other plugin go on
        assert plugins.slots["ema_cross"].callbacks == 5
    finally:
        sh.obj.coordinator.shutdown()


def test_a_scanners_reads_and_adds_check_their_arguments(sample: Path, tmp_path: Path) -> None:
    calls = {
        "one_name": "sorted(ctx.read('AAPL', '1m', days=1))",
        "generator": "sorted(ctx.previous_close(s for s in ['AAPL', 'MSFT']))",
        "not_names": "ctx.read([5])",
        "days_zero": "ctx.read(['AAPL'], days=0)",
        "days_text": "ctx.read(['AAPL'], days='2')",
        "add": "ctx.add_symbol(5)",
        "params": "ctx.add_indicator('AAPL', 'ema', 10)",
    }
    seen = probe(sample, tmp_path, calls, kind="scanner")
    assert seen["one_name"] == ("ok", ["AAPL"])
    assert seen["generator"] == ("ok", ["AAPL", "MSFT"])
    assert refused(seen, "not_names") == "read: 5 (item 1) is not a symbol's name; give names, e.g. 'AAPL'"
    assert refused(seen, "days_zero").startswith("days must be ≥ 1 (got 0;")
    assert refused(seen, "days_text").startswith("days must be a whole number ≥ 1 (got '2';")
    assert refused(seen, "add") == "add_symbol(5): give a symbol's name (text, e.g. 'AAPL')"
    assert refused(seen, "params") == "add_indicator params 10: give a list of numbers, e.g. [10]"


def test_a_huge_error_is_one_short_line_and_a_secret_in_it_is_masked_before_the_cut(
    sample: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json

    secret = "S3CR3T-" + "k" * 40
    monkeypatch.setenv("APCA_API_SECRET_KEY", secret)
    loud = f"""
from trader_cli.plugins import Needs, Strategy

class Loud(Strategy):
    name = "loud"

    def needs(self):
        return Needs(symbols=["AAPL"], intervals=["5m"])

    def on_bars(self, bars):
        raise ValueError("x" * 360 + {secret!r} + "y" * 1_000_000)
"""
    sh = _start(sample, tmp_path, "loud", loud)
    try:
        run(sh, "time advance 10m")
        st = json.loads(run(sh, "strategy status -o json"))
        events = [e.text for e in sh.obj.coordinator.engine.events.events]
    finally:
        sh.obj.coordinator.shutdown()
    (status,) = [p for p in st["plugins"] if p["name"] == "loud"]
    said = status["last_error"]
    assert status["state"] == "failed" and len(said) <= 400 and "\n" not in said
    assert "***" in said and "S3CR3T" not in said  # masked first: the cut leaves none of it
    stopped = [t for t in events if "loud stopped" in t]
    assert stopped and len(stopped[0]) < 600 and "S3CR3T" not in stopped[0]
