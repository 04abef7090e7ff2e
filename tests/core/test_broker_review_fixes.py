"""What a review of the simulated broker's numbers found: a buy the cash cannot pay at its fill
(a gap past the close it was checked at), the day's P&L at a new session's open, a traded symbol
flat at no P&L but its fees, and the dollars in a refusal."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.test_app import Shell

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def sh(isolated: Path, tmp_path: Path) -> Any:
    s = Shell(ROOT / "data")
    s.obj.data_dir_option = None
    yield s
    if s.obj.has_coordinator:
        s.obj.coordinator.shutdown()


def _config(tmp_path: Path, **broker: Any) -> Path:
    raw = json.loads((ROOT / "examples" / "week.json").read_text(encoding="utf-8"))
    raw["data_dir"] = str(ROOT / "data")
    raw["broker"] = broker
    path = tmp_path / "week.json"
    path.write_text(json.dumps(raw), encoding="utf-8")
    return path


def _json(sh: Shell, line: str) -> Any:
    res = sh(f"{line} --output json")
    assert res.code == 0, res.err
    return json.loads(res.out)


def test_a_buy_the_cash_cannot_pay_at_its_fill_is_canceled_there_with_why(sh: Shell, tmp_path: Path) -> None:
    assert sh(f"system start --config {_config(tmp_path)} --paused").code == 0
    assert sh("time until close").code == 0
    close = _json(sh, "data bars TSLA 1m --last 1")["bars"][-1]["close"]
    qty = int(100_000 // close) - 1  # within the buying power at the close it is checked at
    assert sh(f"order buy TSLA {qty}").code == 0
    assert sh("time until next-open").code == 0
    res = sh("time advance 1m")
    assert res.code == 0
    opened = _json(sh, "data bars TSLA 1m --last 1")["bars"][-1]["open"]
    assert qty * opened > 100_000  # the sample gaps up overnight: the fill would cost more than the cash
    (order,) = _json(sh, "orders --all")["orders"]
    assert order["status"] == "canceled" and order["filled_qty"] == 0
    assert order["reason"].startswith(f"not enough cash at the fill: {qty:,} x $")
    assert "canceled: not enough cash at the fill" in res.out + res.err
    acct = _json(sh, "account")
    assert acct["cash"] == 100_000.0 and acct["buying_power"] == 100_000.0 and acct["open_orders"] == 0


def test_the_days_pnl_at_a_new_sessions_open_is_zero(sh: Shell, tmp_path: Path) -> None:
    assert sh(f"system start --config {_config(tmp_path)} --paused").code == 0
    assert sh("order buy TSLA 100").code == 0
    assert sh("time until close").code == 0
    assert _json(sh, "account")["day_pnl"] != 0
    assert sh("time until next-open").code == 0
    assert _json(sh, "account")["day_pnl"] == 0.0
    assert _json(sh, "system status")["day_pnl"] == 0.0
    assert sh("time advance 1m").code == 0
    acct = _json(sh, "account")
    assert acct["day_pnl"] != 0.0


def test_a_round_trip_at_no_pnl_but_its_fees_stays_in_positions(sh: Shell, tmp_path: Path) -> None:
    cfg = _config(tmp_path, fee_per_share=0.01, fee_min=1.5, slippage_bps=0, allow_short=True)
    assert sh(f"system start --config {cfg} --paused").code == 0
    assert sh("order buy AAPL 10").code == 0
    assert sh("order sell AAPL 10").code == 0  # both fill at the next bar's open: flat, no P&L
    assert sh("time advance 1m").code == 0
    rows = _json(sh, "positions")["positions"]
    assert [(r["symbol"], r["qty"], r["realized_pnl"]) for r in rows] == [("AAPL", 0, 0.0)]
    assert _json(sh, "account")["fees"] == 3.0


def test_a_refusal_shows_the_price_it_multiplied(sh: Shell, tmp_path: Path) -> None:
    cfg = _config(tmp_path, slippage_bps=5, max_per_trade=1_000)
    assert sh(f"system start --config {cfg} --paused").code == 0
    assert sh("time advance 1m").code == 0
    res = sh("order buy AAPL 200")
    assert res.code == 1, res.err
    shown = res.err.split(" x $", 1)[1].split(" = $", 1)
    price, total = float(shown[0].replace(",", "")), float(shown[1].split()[0].replace(",", ""))
    assert abs(200 * price - total) < 0.01, res.err  # the shown price times the shares is the total shown
