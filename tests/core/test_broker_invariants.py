"""The simulated broker's invariants under random order sequences (hypothesis), checked against
the exported session alone:

- cash + Σ shares × mark = equity at every session minute, with cash and shares rebuilt from the
  exported fills and each mark the symbol's last exported close at or before that minute;
- realized P&L + unrealized P&L − fees = equity − initial cash (after every action);
- no fill at a bar that started before its order was submitted;
- the same script gives byte-identical orders and fills.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from trader_cli.core.broker.models import OrderRequest
from trader_cli.core.config import parse_config
from trader_cli.core.coordinator import SessionCoordinator
from trader_cli.core.export import export_session
from trader_cli.core.store import DataManager

REPO = Path(__file__).resolve().parents[2]
SYMBOLS = ["AAPL", "RIVN", "TSLA"]
INITIAL = 50_000.0

pytestmark = pytest.mark.filterwarnings("ignore:Series.values returning an ndarray")

Action = tuple[Any, ...]
order = st.tuples(
    st.just("order"),
    st.sampled_from(SYMBOLS),
    st.sampled_from(["buy", "sell"]),
    st.integers(1, 150),
    st.sampled_from(["market", "limit", "stop", "stop_limit"]),
    st.floats(-0.01, 0.01),  # the limit/stop offset from the last close
    st.sampled_from(["day", "gtc"]),
)
# A step: a few orders (and maybe a cancel), then the clock moves on.
step = st.tuples(
    st.lists(order, min_size=1, max_size=4),
    st.lists(st.tuples(st.just("cancel"), st.integers(1, 40)), max_size=1),
    st.tuples(st.just("advance"), st.integers(1, 400)),
).map(lambda s: [*s[0], *s[1], s[2]])
actions = st.lists(step, min_size=1, max_size=8).map(lambda steps: [a for s in steps for a in s])


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    dst = tmp_path_factory.mktemp("store") / "data"
    shutil.copytree(REPO / "data" / "bars", dst / "bars")
    return dst


def run(sample: Path, script: list[Action], out: Path, allow_short: bool) -> list[tuple[float, float]]:
    """Play ``script`` in a fresh paused session, export it (with bars) to ``out``; returns
    (realized + unrealized − fees, equity − initial) after every action."""
    cfg = parse_config(
        {
            "name": "prop",
            "mode": "backtest",
            "backtest_config": {"start_date": "2024-11-27", "end_date": "2024-12-02", "speed_multiplier": 0},
            "session_data_config": {"symbols": SYMBOLS, "historical": {"trailing_days": 1}},
            "broker": {"initial_cash": INITIAL, "slippage_bps": 2, "allow_short": allow_short},
        }
    )
    coord = SessionCoordinator(DataManager)
    sums = []
    try:
        coord.start(cfg, sample, paused=True)
        for act in script:
            if coord.state.value == "finished":
                break
            if act[0] == "advance":
                coord.advance(act[1])
            elif act[0] == "order":
                _, sym, side, qty, kind, offset, tif = act
                last = float(coord.series(sym, "1m").close[-1])
                px = round(last * (1 + offset), 2)
                limit = px if kind in ("limit", "stop_limit") else None
                stop = {"stop": px, "stop_limit": round(px * (1.002 if side == "buy" else 0.998), 2)}.get(kind)
                coord.submit(OrderRequest(symbol=sym, side=side, qty=qty, limit=limit, stop=stop, tif=tif))
            else:
                open_ids = [o.id for o in coord.engine.broker.open_orders()]
                if open_ids:
                    coord.cancel(open_ids[act[1] % len(open_ids)])
            a = coord.engine.broker.account()
            sums.append((a.realized_pnl + a.unrealized_pnl - a.fees, a.equity - a.initial_cash))
        export_session(coord, out, "json", with_bars=True)
    finally:
        coord.shutdown()
    return sums


def ns(iso: str) -> int:
    return int(dt.datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()) * 1_000_000_000


def check_equity_curve(doc: dict[str, Any]) -> None:
    """Every minute's equity against cash and shares rebuilt from the fills, marked at the last
    exported close at or before that minute."""
    closes = {}
    for sym in SYMBOLS:
        rows = doc["symbols"][sym]["intervals"]["1m"]["bars"]
        closes[sym] = (np.array([ns(r["timestamp"]) for r in rows]), np.array([r["close"] for r in rows]))
    fills = sorted(doc["fills"], key=lambda f: ns(f["time"]))
    k, cash, held = 0, INITIAL, dict.fromkeys(SYMBOLS, 0)
    for point in doc["equity"]:
        t = ns(point["time"])
        while k < len(fills) and ns(fills[k]["time"]) <= t:  # a fill at bar t happens before its mark
            f = fills[k]
            sign = 1 if f["side"] == "buy" else -1
            cash -= sign * f["qty"] * f["price"] + f["fee"]
            held[f["symbol"]] += sign * f["qty"]
            k += 1
        value = 0.0
        for sym, qty in held.items():
            if qty:
                ts, close = closes[sym]
                value += qty * close[np.searchsorted(ts, t, side="right") - 1]
        assert point["equity"] == pytest.approx(cash + value, rel=1e-9, abs=1e-6), point["time"]
    assert k == len(fills)  # every fill falls inside the curve


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(script=actions, allow_short=st.booleans())
def test_invariants_hold_for_random_order_sequences(
    sample: Path, tmp_path: Path, script: list[Action], allow_short: bool
) -> None:
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    sums = run(sample, script, a, allow_short)
    for pnl, change in sums:
        assert pnl == pytest.approx(change, rel=1e-9, abs=1e-6)
    doc = json.loads(a.read_text())
    check_equity_curve(doc)
    event(f"fills: {min(len(doc['fills']), 5)}+" if doc["fills"] else "no fills")
    event(f"statuses: {sorted({o['status'] for o in doc['orders']})}")
    orders = {o["id"]: o for o in doc["orders"]}
    for f in doc["fills"]:
        assert ns(f["time"]) >= ns(orders[f["order_id"]]["submitted_at"])  # never a bar before it
    for o in orders.values():
        assert o["status"] in ("open", "filled", "canceled", "expired", "rejected", "partially_filled")
        assert (o["status"] == "rejected") == (o["reason"] is not None and o["status"] not in ("canceled", "expired"))
    # the same script: byte-identical orders and fills
    run(sample, script, b, allow_short)
    again = json.loads(b.read_text())
    assert json.dumps(again["orders"]) == json.dumps(doc["orders"])
    assert json.dumps(again["fills"]) == json.dumps(doc["fills"])
