"""Numbers an independent recomputation disagreed with, fixed: what an open order holds back
follows the position (a covering buy holds its cost once the short is gone), a participation cap
is per bar (a symbol's orders share it), every data-quality gap is counted, and a flip's fee is
split by shares between the round trip it closes and the one it opens."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.core import test_broker_rules
from tests.core.test_broker_rules import run, write_config
from tests.test_app import Shell
from trader_cli.core.broker.models import money
from trader_cli.core.intervals import Interval
from trader_cli.core.quality import measure

sample = test_broker_rules.sample  # the sample store copied into tmp_path (a fixture)
pytestmark = pytest.mark.filterwarnings("ignore:Series.values returning an ndarray")


@pytest.fixture(autouse=True)
def _isolated(isolated: Path) -> None:
    """Each test in a HOME and working directory of its own (tests/conftest.py)."""


def _last(sh: Shell, symbol: str) -> float:
    """The symbol's mark: its last close (what the checks price a market order at)."""
    eng = sh.obj.coordinator.engine
    return float(eng.broker.mark[eng.session.symbols[symbol].lane])


def test_what_an_open_order_holds_back_follows_the_position(sample: Path, tmp_path: Path) -> None:
    cfg = write_config(tmp_path, initial_cash=100_000, allow_short=True, fee_min=0, fee_per_share=0, slippage_bps=0)
    sh = Shell(sample)
    sh.obj.config_path = str(cfg)
    try:
        run(sh, "system start --paused")
        run(sh, "time until 10:00")
        run(sh, "order sell AAPL 100")  # short 100
        run(sh, "time advance 1m")
        limit = round(_last(sh, "AAPL") * 0.8, 2)  # rests: far under the market
        run(sh, f"order buy AAPL 100 --limit {limit} --tif gtc")  # would cover: holds nothing now
        run(sh, "order buy AAPL 100")  # covers the short another way
        run(sh, "time advance 1m")
        acct = json.loads(run(sh, "account -o json"))
        assert acct["open_orders"] == 1
        # flat now: the resting buy would open a position, so it holds its cost
        assert acct["buying_power"] == pytest.approx(acct["cash"] - 100 * limit)
        too_much = int(acct["cash"] / _last(sh, "TSLA"))  # all the cash, which the resting buy holds some of
        refused = sh(f"order buy TSLA {too_much}")
        assert refused.code == 1 and "not enough buying power" in refused.err
        # a resting sale that closed a long holds its value once the long is gone (it would go short)
        run(sh, "order buy TSLA 10")
        run(sh, "time advance 1m")
        before = json.loads(run(sh, "account -o json"))["buying_power"]
        last = _last(sh, "TSLA")
        run(sh, f"order sell TSLA 10 --stop {round(last * 0.5, 2)} --tif gtc")
        assert json.loads(run(sh, "account -o json"))["buying_power"] == pytest.approx(before)  # closes: nothing
        run(sh, "order sell TSLA 10")
        run(sh, "time advance 1m")
        acct = json.loads(run(sh, "account -o json"))
        assert acct["buying_power"] == pytest.approx(acct["cash"] - 100 * limit - 10 * last)
    finally:
        sh.obj.coordinator.shutdown()


def test_a_participation_cap_is_shared_by_a_symbols_orders(sample: Path, tmp_path: Path) -> None:
    sh = Shell(sample)
    sh.obj.config_path = str(write_config(tmp_path, initial_cash=1e9, max_participation=0.001))
    try:
        run(sh, "system start --paused")
        run(sh, "time until 10:00")
        run(sh, "order buy RIVN 2000")
        run(sh, "order buy RIVN 2000")
        run(sh, "time advance 20m")
        out = tmp_path / "p.json"
        run(sh, f"session export {out} --bars")
    finally:
        sh.obj.coordinator.shutdown()
    doc = json.loads(out.read_text())
    bars = {r["timestamp"]: r for r in doc["symbols"]["RIVN"]["intervals"]["1m"]["bars"]}
    per_bar: dict[str, dict[str, int]] = {}
    for f in doc["fills"]:
        t = f["time"]
        per_bar.setdefault(t, {})[f["order_id"]] = f["qty"]
    assert len(per_bar) > 2
    import datetime as dt

    for t, by_order in per_bar.items():
        utc = dt.datetime.fromisoformat(t).astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        cap = int(0.001 * bars[utc]["volume"])
        assert sum(by_order.values()) <= cap, (t, by_order, cap)
    first = per_bar[min(per_bar)]
    assert list(first) == ["o000001"]  # the earlier order takes the bar's room first


def test_every_gap_is_counted_and_listed() -> None:
    expected = np.arange(400, dtype=np.int64) * 60_000_000_000
    missing = np.arange(5, 365, 6)  # 60 one-minute gaps
    held = np.setdiff1d(expected, expected[missing])
    q = measure(held, expected, Interval.parse("1m"))
    assert len(q.gaps) == 60 and all(g.missing == 1 for g in q.gaps)
    assert q.present == 340 and q.expected == 400


def test_a_flip_splits_its_fee_by_shares_between_the_trips(sample: Path, tmp_path: Path) -> None:
    cfg = write_config(tmp_path, initial_cash=1e7, allow_short=True, fee_min=0, fee_per_share=0.03)
    sh = Shell(sample)
    sh.obj.config_path = str(cfg)
    try:
        run(sh, "system start --paused")
        run(sh, "time until 10:00")
        for line in ("order buy AAPL 100", "order sell AAPL 300", "order buy AAPL 200"):
            run(sh, line)
            run(sh, "time advance 1m")
        broker = sh.obj.coordinator.engine.broker
        (p1, f1), (p2, f2), (p3, f3) = [(f.price, f.fee) for f in broker.fills]
        long, short = broker.trips
    finally:
        sh.obj.coordinator.shutdown()
    assert (long.side, short.side) == ("long", "short")
    assert long.pnl == pytest.approx((p2 - p1) * 100 - f1 - f2 * 100 / 300)
    assert short.pnl == pytest.approx((p2 - p3) * 200 - f2 * 200 / 300 - f3)


def test_an_indicators_exported_values_are_at_every_bar_of_its_interval(sample: Path, tmp_path: Path) -> None:
    from tests.core.test_plugins import EMA_CROSS, config

    sh = Shell(sample)
    sh.obj.config_path = str(config(tmp_path, ["AAPL", "MSFT"], last="2024-12-04"))
    out = tmp_path / "i.json"
    try:
        run(sh, "system start --paused")
        run(sh, "time advance 1d")
        run(sh, f"strategy load {EMA_CROSS}")  # its EMAs join mid-backtest, seeded from history
        run(sh, "time advance 1d")
        run(sh, f"session export {out} --bars")
    finally:
        sh.obj.coordinator.shutdown()
    doc = json.loads(out.read_text())
    checked = 0
    for sym in ("AAPL", "MSFT"):
        entry = doc["symbols"][sym]
        for key, ind in entry["indicators"].items():
            bars = [b["timestamp"] for b in entry["intervals"][ind["interval"]]["bars"]]
            assert [v["timestamp"] for v in ind["values"]] == bars, (sym, key)
            assert ind["values"][-1]["value"] is not None
            checked += 1
    assert checked == 6  # sma_20_5m, ema_10_5m, ema_30_5m for each


def test_an_order_filled_in_parts_pays_its_fee_once_and_cash_stays_what_the_hold_kept(
    sample: Path, tmp_path: Path
) -> None:
    cfg = write_config(
        tmp_path, initial_cash=20_000, fee_min=20.0, fee_per_share=0.01, slippage_bps=0, max_participation=0.00002
    )
    sh = Shell(sample)
    sh.obj.config_path = str(cfg)
    try:
        run(sh, "system start --paused")
        run(sh, "time until 10:00")
        limit = round(_last(sh, "AAPL") * 1.01, 2)
        power = json.loads(run(sh, "account -o json"))["buying_power"]
        qty = int((power - 20.0) / (limit + 0.01))  # all of the buying power, its fee included
        run(sh, f"order buy AAPL {qty} --limit {limit} --tif gtc")
        run(sh, "time advance 120m")  # a few shares a bar: many part fills
        broker = sh.obj.coordinator.engine.broker
        fills = broker.fills
        acct = json.loads(run(sh, "account -o json"))
    finally:
        sh.obj.coordinator.shutdown()
    assert len(fills) > 5
    shares = sum(f.qty for f in fills)
    assert sum(f.fee for f in fills) == pytest.approx(max(20.0, 0.01 * shares))  # the order's fee, once
    assert fills[0].fee == pytest.approx(max(20.0, 0.01 * fills[0].qty))
    assert acct["cash"] >= 0


def test_an_opening_fills_price_is_the_positions_average_exactly(sample: Path, tmp_path: Path) -> None:
    cfg = write_config(tmp_path, initial_cash=1e8, fee_min=0, fee_per_share=0)
    sh = Shell(sample)
    sh.obj.config_path = str(cfg)
    try:
        run(sh, "system start --paused")
        run(sh, "time until 10:00")
        paid: dict[str, float] = {}
        held: dict[str, float] = {}
        kept: dict[str, float] = {}
        for qty in (3, 7, 41, 49, 100, 333):
            run(sh, f"order buy AAPL {qty}")  # two in one minute: filled at once
            run(sh, f"order buy TSLA {qty}")
            run(sh, "time advance 1m")
            run(sh, f"order buy RIVN {qty}")  # alone in its minute: filled one by one
            run(sh, "time advance 1m")
            broker = sh.obj.coordinator.engine.broker
            paid |= {f"{f.symbol} {qty}": f.price for f in broker.fills[-3:]}
            lanes = {s: d.lane for s, d in sh.obj.coordinator.engine.session.symbols.items()}
            kept |= {f"{f.symbol} {qty}": float(broker.avg[lanes[f.symbol]]) for f in broker.fills[-3:]}
            held |= {
                f"{p['symbol']} {qty}": p["avg_price"] for p in json.loads(run(sh, "positions -o json"))["positions"]
            }
            for sym in ("AAPL", "TSLA", "RIVN"):
                run(sh, f"order sell {sym} {qty}")
            run(sh, "time advance 1m")
        run(sh, "time advance 1m")
    finally:
        sh.obj.coordinator.shutdown()
    assert len(paid) == 18
    assert kept == paid  # x * q / q is not always x: the broker keeps exactly the fill's price
    assert held == {k: money(v) for k, v in paid.items()}  # and shows it as the fill's shown price


def test_the_trading_views_csv_is_their_json_as_rows(sample: Path, tmp_path: Path) -> None:
    """``-o csv`` of orders, positions and system status: typed rows under the JSON's own field
    names (as the export's tables), not the screen's table text."""
    import csv
    import io

    sh = Shell(sample)
    sh.obj.config_path = str(write_config(tmp_path))
    try:
        run(sh, "system start --paused")
        run(sh, "time until 10:00")
        run(sh, "order buy AAPL 10")
        run(sh, "order buy TSLA 5 --limit 1 --tif gtc")
        run(sh, "time advance 1m")
        as_json = json.loads(run(sh, "orders --all -o json"))["orders"]
        rows = list(csv.DictReader(io.StringIO(run(sh, "orders --all -o csv"))))
        assert [list(r) for r in rows] == [list(o) for o in as_json]
        assert [r["submitted_at"] for r in rows] == [o["submitted_at"] for o in as_json]  # ISO 8601, offset
        assert [float(r["avg_fill_price"] or "nan") for r in rows][:1] == [as_json[0]["avg_fill_price"]]
        positions, account = run(sh, "positions -o csv").split("\n\n")
        held = list(csv.DictReader(io.StringIO(positions)))
        assert [(r["symbol"], int(r["qty"])) for r in held] == [("AAPL", 10)]
        (acct,) = csv.DictReader(io.StringIO(account))
        assert float(acct["equity"]) == json.loads(run(sh, "account -o json"))["equity"]
        (status,) = csv.DictReader(io.StringIO(run(sh, "system status -o csv")))
        assert list(status) == list(json.loads(run(sh, "system status -o json")))
        assert status["state"] == "paused" and status["plugins"] == "[]"  # a list as JSON, not Python's repr
    finally:
        sh.obj.coordinator.shutdown()
