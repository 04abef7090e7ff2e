"""The backtest report against independent computations from the exported session: drawdown,
Sharpe, Sortino and volatility through empyrical on returns rebuilt from the exported equity
curve; round trips, win rate, profit factor, expectancy, hold time, fees, per-symbol and
per-provenance P&L rebuilt from the exported fills and bars."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.test_app import Shell

REPO = Path(__file__).resolve().parents[2]
INITIAL = 100_000.0

pytestmark = pytest.mark.filterwarnings("ignore:Series.values returning an ndarray")


@pytest.fixture(autouse=True)
def _isolated(isolated: Path) -> None:
    """Each test in a HOME and working directory of its own (tests/conftest.py)."""


SCRIPT = [
    "system start --paused",
    "add symbol TSLA --source adhoc",  # adhoc: its P&L is the adhoc source's
    "time until 10:00",
    "order buy AAPL 100",
    "order buy TSLA 40",
    "time advance 45m",
    "order sell AAPL 100",  # round trip 1
    "order buy RIVN 500",
    "time advance 2h",
    "order sell TSLA 40",  # round trip 2
    "order sell RIVN 200",  # RIVN shrinks, not flat
    "time until next-open",
    "time advance 20m",
    "order sell RIVN 300",  # round trip 3 (across a day)
    "order buy AAPL 50",
    "time advance 1h",
    "order sell AAPL 80",  # more than the 50 held: refused (no short selling)
]


def ns(iso: str) -> int:
    return int(dt.datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()) * 1_000_000_000


def round_trips(fills: list[dict]) -> list[tuple[str, float, int, int]]:
    """(symbol, P&L after fees, opened ns, closed ns) of each flat → held → flat, from the fills."""
    out = []
    state: dict[str, list] = {}
    for f in sorted(fills, key=lambda f: (ns(f["time"]), f["order_id"])):
        sym = f["symbol"]
        q = f["qty"] if f["side"] == "buy" else -f["qty"]
        held, cash, opened = state.get(sym, [0, 0.0, 0])
        if held == 0:
            opened, cash = ns(f["time"]), 0.0
        held += q
        cash += -q * f["price"] - f["fee"]
        if held == 0:
            out.append((sym, cash, opened, ns(f["time"])))
        state[sym] = [held, cash, opened]
    return out


def test_the_report_equals_independent_computations(tmp_path: Path) -> None:
    data = tmp_path / "data"
    shutil.copytree(REPO / "data" / "bars", data / "bars")
    cfg = {
        "name": "report",
        "mode": "backtest",
        "backtest_config": {"start_date": "2024-11-25", "end_date": "2024-12-03", "speed_multiplier": 0},
        "session_data_config": {"symbols": ["AAPL", "RIVN"], "historical": {"trailing_days": 1}},
        "broker": {"initial_cash": INITIAL},
    }
    (tmp_path / "r.json").write_text(json.dumps(cfg))
    sh = Shell(data)
    sh.obj.config_path = str(tmp_path / "r.json")
    png = tmp_path / "eq.png"
    try:
        for line in SCRIPT[:-1]:
            res = sh(line)
            assert res.code == 0, (line, res.err)
        refused = sh(SCRIPT[-1])  # 80 > the 50 held: a short, which the config forbids
        assert refused.code == 1 and "allow_short" in refused.err
        for line in ("order sell AAPL 50", "time until next-open", "time advance 1h"):
            assert sh(line).code == 0, line
        res = sh(f"report --png {png} -o json")
        assert res.code == 0, res.err
        assert sh(f"session export {tmp_path / 's.json'} --bars").code == 0
    finally:
        sh.obj.coordinator.shutdown()
    import empyrical

    shown = json.loads(res.out)["report"]
    doc = json.loads((tmp_path / "s.json").read_text())
    report = doc["report"]
    assert shown == report  # the command and the export agree
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    times = np.array([ns(p["time"]) for p in doc["equity"]])
    equity = np.array([p["equity"] for p in doc["equity"]])
    # drawdown on the minute curve (empyrical on the returns from the initial cash)
    minute_returns = pd.Series(np.r_[INITIAL, equity][1:] / np.r_[INITIAL, equity][:-1] - 1)
    assert report["max_drawdown"] == pytest.approx(empyrical.max_drawdown(minute_returns), rel=1e-9, abs=1e-12)
    assert report["max_drawdown"] < 0
    # daily figures on the equity at each session's last minute
    days = pd.to_datetime(times).tz_localize("UTC").tz_convert("America/New_York").date
    last = np.flatnonzero(np.r_[days[1:] != days[:-1], True])
    closes = equity[last]
    daily = pd.Series(closes / np.r_[INITIAL, closes[:-1]] - 1)
    assert len(daily) == report["days"] >= 3
    assert report["sharpe"] == pytest.approx(empyrical.sharpe_ratio(daily, annualization=252), rel=1e-9)
    assert report["sortino"] == pytest.approx(empyrical.sortino_ratio(daily, annualization=252), rel=1e-9)
    assert report["volatility"] == pytest.approx(empyrical.annual_volatility(daily, annualization=252), rel=1e-9)
    assert report["total_return"] == pytest.approx(equity[-1] / INITIAL - 1, rel=1e-12)
    # trades from the fills alone
    trips = round_trips(doc["fills"])
    assert report["round_trips"] == len(trips) == 4
    pnls = [p for _, p, _, _ in trips]
    wins, losses = [p for p in pnls if p > 0], [p for p in pnls if p < 0]
    assert report["win_rate"] == pytest.approx(len(wins) / len(pnls))
    assert report["expectancy"] == pytest.approx(np.mean(pnls))
    if losses:
        assert report["profit_factor"] == pytest.approx(sum(wins) / -sum(losses))
    assert report["fees"] == pytest.approx(sum(f["fee"] for f in doc["fills"]))
    assert report["fees"] == pytest.approx(doc["account"]["fees"])
    traded = sum(f["qty"] * f["price"] for f in doc["fills"])
    assert report["turnover"] == pytest.approx(traded / equity.mean(), rel=1e-9)
    # hold time in trading minutes: the session minutes of the curve between open and close
    holds = [int(np.count_nonzero((times >= a) & (times < b))) for _, _, a, b in trips]
    assert report["avg_hold_minutes"] == pytest.approx(np.mean(holds))
    # per symbol: its cash flows plus what it holds at the last close; per source: summed
    by_symbol: dict[str, float] = {}
    for f in doc["fills"]:
        q = f["qty"] if f["side"] == "buy" else -f["qty"]
        by_symbol[f["symbol"]] = by_symbol.get(f["symbol"], 0.0) - q * f["price"] - f["fee"]
    for p in doc["positions"]:
        by_symbol[p["symbol"]] = by_symbol.get(p["symbol"], 0.0) + p["qty"] * p["last_price"]
    assert report["pnl_by_symbol"] == pytest.approx(by_symbol)
    sources = {s: doc["symbols"][s]["metadata"]["added_by"] for s in by_symbol}
    assert sources == {"AAPL": "config", "RIVN": "config", "TSLA": "adhoc"}
    assert report["pnl_by_source"] == pytest.approx(
        {"config": by_symbol["AAPL"] + by_symbol["RIVN"], "adhoc": by_symbol["TSLA"]}
    )
    assert sum(report["pnl_by_symbol"].values()) == pytest.approx(equity[-1] - INITIAL)
    # exposure: the average gross value held over equity, minute by minute
    assert 0 < report["exposure"] < 1


def test_a_break_even_round_trip_is_neither_a_win_nor_a_loss() -> None:
    """Round trips whose P&L is 0 but for float noise (20 x $0.10 gross less $2.00 of fees comes
    out at ±1e-13) count the same way every time: neither won nor lost."""
    from trader_cli.core.broker.models import TripRecord
    from trader_cli.core.broker.report import build_report
    from trader_cli.core.config import load_config
    from trader_cli.core.coordinator import SessionCoordinator
    from trader_cli.core.store import DataManager

    repo = Path(__file__).resolve().parents[2]
    coord = SessionCoordinator(DataManager)
    try:
        coord.start(load_config(repo / "examples" / "week.json"), repo / "data", paused=True)
        coord.advance(5)
        at = dt.datetime(2024, 12, 2, 9, 31, tzinfo=dt.timezone(dt.timedelta(hours=-5)))
        noise = 20 * (221.2 - 221.1) - 2.0  # 2.0000000000011369 - 2.0 in floats
        assert noise != 0.0 and abs(noise) < 1e-9
        for pnl in (noise, -noise, 5.0, -3.0, 0.004, -0.004):
            coord.engine.broker.trips.append(TripRecord("AAPL", "long", at, at, 1, pnl))
        report = build_report(coord.engine)
    finally:
        coord.shutdown()
    assert report.round_trips == 6
    assert report.win_rate == pytest.approx(1 / 6)  # the 5.00 alone
    assert report.profit_factor == pytest.approx(5.0 / 3.0)
