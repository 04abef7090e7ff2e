"""The simulated broker's fills against the rules of issue 12, computed independently: a scripted
replay of the bundled sample places orders of every type through the real command tree, exports
the session with its bars, and every order's outcome (status, fill time, price, fee) is
recomputed here from the exported 1m bars and the NYSE calendar (exchange-calendars) alone.

The prices the script uses are picked from the store's Parquet files (pyarrow) so that each rule
is exercised: a limit reached later, a stop that triggers later, a stop-limit, a DAY order that
expires, a GTC order that fills after a day roll, a market order at a missing minute (RIVN), an
order placed at an early close (2024-11-29, 13:00) that is for the next session."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest

from tests.test_app import Shell

REPO = Path(__file__).resolve().parents[2]
NY = dt.timezone(dt.timedelta(hours=-5))  # every session here is in EST
MIN = np.timedelta64(1, "m")
SLIPPAGE_BPS = 3.0
FEE_PER_SHARE, FEE_MIN = 0.005, 1.0
# exchange-calendars builds its schedule with a pandas call pandas 3 deprecates (not ours to fix)
pytestmark = pytest.mark.filterwarnings("ignore:Series.values returning an ndarray")


@pytest.fixture(autouse=True)
def _isolated(isolated: Path) -> None:
    """Each test in a HOME and working directory of its own (tests/conftest.py)."""


# -- the store, read on its own (to pick prices) ---------------------------------------------------
def store_bars(symbol: str) -> dict[str, np.ndarray]:
    t = pq.read_table(REPO / "data" / "bars" / "1m" / f"{symbol}.parquet")
    ts = t.column("ts").cast("int64").to_numpy().astype("datetime64[ns]")
    out = {c: t.column(c).to_numpy() for c in ("open", "high", "low", "close")}
    out["ts"] = ts
    return out


def at(day: str, hhmm: str) -> np.datetime64:
    """A New York (EST) wall-clock time as a UTC datetime64."""
    h, m = map(int, hhmm.split(":"))
    local = dt.datetime.fromisoformat(day).replace(hour=h, minute=m, tzinfo=NY)
    return np.datetime64(local.astimezone(dt.UTC).replace(tzinfo=None), "ns")


def window(b: dict[str, np.ndarray], lo: np.datetime64, hi: np.datetime64) -> dict[str, np.ndarray]:
    keep = (b["ts"] >= lo) & (b["ts"] < hi)
    return {k: v[keep] for k, v in b.items()}


# -- the oracle: the rules, from the exported bars and the calendar ---------------------------------
def sessions() -> list[tuple[dt.date, np.datetime64, np.datetime64]]:
    import exchange_calendars as xcals

    cal = xcals.get_calendar("XNYS", start="2024-10-01", end="2025-01-31")
    sched = cal.schedule.loc["2024-11-01":"2024-12-31"]
    opens = sched["open"].dt.tz_convert(None).to_numpy()
    closes = sched["close"].dt.tz_convert(None).to_numpy()
    return [(d.date(), o, c) for d, o, c in zip(sched.index, opens, closes, strict=True)]


def utc(iso: str) -> np.datetime64:
    t = dt.datetime.fromisoformat(iso.replace("Z", "+00:00"))
    return np.datetime64(t.astimezone(dt.UTC).replace(tzinfo=None), "ns")


@dataclass
class Expected:
    status: str
    filled_at: np.datetime64 | None = None
    price: float | None = None
    fee: float | None = None


def expected(order: dict[str, Any], bars: dict[str, np.ndarray], until: np.datetime64) -> Expected:
    """What the rules say becomes of ``order``, given the bars replayed before ``until``."""
    t = utc(order["submitted_at"])
    cal = sessions()
    idx = next(i for i, (_, _, close) in enumerate(cal) if t < close)  # at the close: the next session
    _, open_, close = cal[idx]
    start = max(t, open_)
    later = [] if order["tif"] == "day" else [(o, c) for _, o, c in cal[idx + 1 :]]
    ranges = [(start, close), *later]
    buy = order["side"] == "buy"
    sign = 1 if buy else -1
    slip = SLIPPAGE_BPS / 1e4
    lim, stp, kind = order["limit"], order["stop"], order["type"]
    triggered = False
    for lo, hi in ranges:
        for i in np.flatnonzero((bars["ts"] >= lo) & (bars["ts"] < min(hi, until))).tolist():
            o, h, low = bars["open"][i], bars["high"][i], bars["low"][i]
            price = None
            if kind == "market":
                price = o * (1 + sign * slip)
            elif kind == "limit" or (kind == "stop_limit" and triggered):
                if (low <= lim) if buy else (h >= lim):
                    price = min(o, lim) if buy else max(o, lim)
            elif kind == "stop":
                if (h >= stp) if buy else (low <= stp):
                    price = (max(o, stp) if buy else min(o, stp)) * (1 + sign * slip)
            elif (h >= stp) if buy else (low <= stp):  # a stop-limit's trigger bar
                px = max(o, stp) if buy else min(o, stp)
                if (px <= lim) if buy else (px >= lim):
                    price = px
                else:
                    triggered = True
            if price is not None:
                fee = max(FEE_MIN, FEE_PER_SHARE * order["qty"])
                return Expected("filled", bars["ts"][i], float(price), fee)
        if order["tif"] == "day" and until >= hi:
            return Expected("expired")
    return Expected("open")


def exported_bars(doc: dict[str, Any], symbol: str) -> dict[str, np.ndarray]:
    rows = doc["symbols"][symbol]["intervals"]["1m"]["bars"]
    out = {k: np.array([r[k] for r in rows], dtype=float) for k in ("open", "high", "low", "close")}
    out["ts"] = np.array([utc(r["timestamp"]) for r in rows], dtype="datetime64[ns]")
    return out


# -- the scripted session --------------------------------------------------------------------------
def write_config(tmp: Path, **broker: Any) -> Path:
    cfg = {
        "name": "rules",
        "mode": "backtest",
        "backtest_config": {"start_date": "2024-11-26", "end_date": "2024-12-03", "speed_multiplier": 0},
        "session_data_config": {
            "symbols": ["AAPL", "TSLA", "RIVN"],
            "base_interval": "1m",
            "historical": {"trailing_days": 2},
        },
        "broker": {"slippage_bps": SLIPPAGE_BPS, **broker},
    }
    path = tmp / f"rules{len(broker)}.json"
    path.write_text(json.dumps(cfg))
    return path


def first_missing_minute(b: dict[str, np.ndarray], day: str, after: str) -> str:
    """The first minute after ``after`` on ``day`` with no bar, whose previous minute has one."""
    have = set(b["ts"].astype(np.int64).tolist())
    t = at(day, after)
    while t < at(day, "15:30"):
        if int(t.astype(np.int64)) not in have and int((t - MIN).astype(np.int64)) in have:
            return str(t)
        t = t + MIN
    raise AssertionError(f"no missing minute in the sample's RIVN on {day}")


def hhmm(t: np.datetime64) -> str:
    local = dt.datetime.fromisoformat(str(t.astype("datetime64[s]"))).replace(tzinfo=dt.UTC).astimezone(NY)
    return f"{local:%H:%M}"


def gtc_order(aapl: dict[str, np.ndarray], tsla: dict[str, np.ndarray], d1: str, d2: str) -> str:
    """A GTC order placed at 10:05 on ``d1`` that cannot fill that day but does on ``d2``: a buy
    below the rest of d1's low where d2 goes lower, else a sell of held AAPL above d1's high."""
    for sym, b in (("TSLA", tsla), ("AAPL", aapl)):
        rest, nxt = window(b, at(d1, "10:05"), at(d1, "16:00")), window(b, at(d2, "09:30"), at(d2, "16:00"))
        if nxt["low"].min() < rest["low"].min():
            return f"order buy {sym} 3 --limit {(nxt['low'].min() + rest['low'].min()) / 2:.4f} --tif gtc"
    rest, nxt = window(aapl, at(d1, "10:05"), at(d1, "16:00")), window(aapl, at(d2, "09:30"), at(d2, "16:00"))
    assert nxt["high"].max() > rest["high"].max(), "the sample has no GTC case on these days"
    return f"order sell AAPL 3 --limit {(nxt['high'].max() + rest['high'].max()) / 2:.4f} --tif gtc"


def script() -> tuple[list[str], dict[str, str]]:
    """The lines to run and, per order id, what it exercises."""
    aapl, tsla, rivn = store_bars("AAPL"), store_bars("TSLA"), store_bars("RIVN")
    d1 = "2024-11-26"
    later = window(tsla, at(d1, "10:00"), at(d1, "11:00"))
    limit_buy = float(later["low"].min())  # reached inside the hour, not at its first bar's open
    aapl_next = window(aapl, at(d1, "10:05"), at(d1, "10:35"))
    stop_sell = float(aapl_next["low"].min())
    rivn_next = window(rivn, at(d1, "10:05"), at(d1, "11:05"))
    stop_buy = float(rivn_next["high"].max())
    tsla_next = window(tsla, at(d1, "10:05"), at(d1, "11:05"))
    stop_limit_stop = float(tsla_next["high"].max())
    rest_of_d1 = window(tsla, at(d1, "10:05"), at(d1, "16:00"))
    never = round(float(rest_of_d1["low"].min()) * 0.9, 2)
    gtc = gtc_order(aapl, tsla, d1, "2024-11-27")
    missing = first_missing_minute(rivn, d1, "11:30")
    lines = [
        "system start --paused",
        "time until 10:00",
        "order buy AAPL 20",  # o1 market
        f"order buy TSLA 5 --limit {limit_buy}",  # o2 limit buy reached later
        "time advance 5m",
        f"order sell AAPL 10 --stop {stop_sell}",  # o3 stop sell
        f"order buy RIVN 100 --stop {stop_buy}",  # o4 stop buy
        f"order buy TSLA 2 --stop {stop_limit_stop} --limit {stop_limit_stop + 0.5:.4f}",  # o5 stop-limit
        f"order buy TSLA 1 --limit {never}",  # o6 DAY limit that expires at 16:00
        "order sell AAPL 5 --limit 999999 --tif gtc",  # o7 canceled below
        gtc,  # o8 GTC across the day roll (placed at 10:05 on day 1)
        "order cancel o000007",
        f"time until {hhmm(np.datetime64(missing))}",
        "order buy RIVN 50",  # o9 market at a missing minute: the next bar's open
        "time until next-open",  # 2024-11-27
        "time until next-open",  # 2024-11-29, the early close (13:00)
        "time until 12:30",
        "order buy AAPL 1 --limit 1",  # o10 DAY: expires at the early close
        "time until close",  # 13:00: nothing left today
        "order buy AAPL 4",  # o11 for the next session: the first bar of 2024-12-02
        "order sell TSLA 1 --limit 99999 --tif gtc",  # o12 GTC, for 12-02, resting
        "time until next-open",
        "time advance 30m",
        "orders --all",
    ]
    what = {
        "o000001": "market",
        "o000002": "limit",
        "o000003": "stop sell",
        "o000004": "stop buy",
        "o000005": "stop-limit",
        "o000006": "day expiry",
        "o000007": "canceled",
        "o000008": "gtc across a day roll",
        "o000009": "missing minute",
        "o000010": "day expiry at an early close",
        "o000011": "placed at the close, for the next session",
        "o000012": "gtc placed at the close",
    }
    return lines, what


@pytest.fixture
def sample(tmp_path: Path) -> Path:
    dst = tmp_path / "data"
    shutil.copytree(REPO / "data" / "bars", dst / "bars")
    return dst


def run(sh: Shell, line: str) -> str:
    res = sh(line)
    assert res.code == 0, (line, res.err)
    return res.out


def test_every_order_fills_as_the_rules_computed_from_the_exported_bars(sample: Path, tmp_path: Path) -> None:
    lines, what = script()
    sh = Shell(sample)
    sh.obj.config_path = str(write_config(tmp_path))
    try:
        for line in lines:
            run(sh, line)
        out = tmp_path / "s.json"
        run(sh, f"session export {out} --bars")
    finally:
        sh.obj.coordinator.shutdown()
    doc = json.loads(out.read_text())
    orders = {o["id"]: o for o in doc["orders"]}
    assert set(orders) == set(what)
    fills = {f["order_id"]: f for f in doc["fills"]}
    until = utc(doc["equity"][-1]["time"]) + MIN  # the bars replayed: up to the last equity minute
    bars = {s: exported_bars(doc, s) for s in ("AAPL", "TSLA", "RIVN")}
    for oid, order in orders.items():
        if oid == "o000007":
            assert order["status"] == "canceled" and oid not in fills
            continue
        want = expected(order, bars[order["symbol"]], until)
        assert order["status"] == want.status, (what[oid], order)
        if want.status == "filled":
            fill = fills[oid]
            assert utc(fill["time"]) == want.filled_at, (what[oid], fill)
            assert utc(order["filled_at"]) == want.filled_at
            assert fill["price"] == pytest.approx(want.price, rel=1e-12), (what[oid], fill)
            assert fill["fee"] == pytest.approx(want.fee)
            assert fill["qty"] == order["qty"] == order["filled_qty"]
            assert utc(fill["time"]) >= utc(order["submitted_at"])  # never a bar before submission
        else:
            assert oid not in fills
    # each rule was really exercised (not vacuously equal)
    assert orders["o000001"]["status"] == "filled"
    assert orders["o000002"]["status"] == "filled" and fills["o000002"]["time"] > orders["o000002"]["submitted_at"]
    assert orders["o000003"]["status"] == "filled" and fills["o000003"]["time"] > orders["o000003"]["submitted_at"]
    assert orders["o000004"]["status"] == "filled" and fills["o000004"]["time"] > orders["o000004"]["submitted_at"]
    assert orders["o000005"]["status"] == "filled"
    assert orders["o000006"]["status"] == "expired"
    assert orders["o000008"]["status"] == "filled" and fills["o000008"]["time"].startswith("2024-11-27")
    missing = orders["o000009"]
    assert fills["o000009"]["time"] > missing["submitted_at"]  # the missing minute never fills
    assert orders["o000010"]["status"] == "expired" and orders["o000010"]["for_session"] == "2024-11-29"
    nxt = orders["o000011"]
    assert nxt["submitted_at"] == "2024-11-29T13:00:00-05:00" and nxt["for_session"] == "2024-12-02"
    assert fills["o000011"]["time"] == "2024-12-02T09:30:00-05:00"
    assert orders["o000012"]["status"] == "open" and orders["o000012"]["for_session"] == "2024-12-02"
    # slippage is applied to the market order as the rule says
    first = bars["AAPL"]["open"][bars["AAPL"]["ts"] == at("2024-11-26", "10:00")][0]
    assert fills["o000001"]["price"] == pytest.approx(first * (1 + SLIPPAGE_BPS / 1e4))


# -- refusals ----------------------------------------------------------------------------------------
REFUSALS = [
    ("order buy AAPL 0", "quantity must be a whole number of shares from 1 to 1,000,000,000"),
    ("order buy AAPL 99999999999999999999", "quantity must be a whole number of shares from 1 to 1,000,000,000"),
    ("order buy MSFT 1", "MSFT is not in the session (add it with: add symbol MSFT)"),
    ("order buy AAPL 1 --limit 0", "the limit price must be from 0.0001 to 10,000,000"),
    ("order buy AAPL 1 --limit 1e308", "the limit price must be from 0.0001 to 10,000,000"),
    ("order sell AAPL 1 --stop -2", "the stop price must be from 0.0001 to 10,000,000"),
    ("order buy AAPL 2000 --stop 0.01", "not enough buying power"),  # a stop below the price: at the last close
    ("order buy AAPL 2000", "not enough buying power"),
    ("order sell TSLA 1", "would go short, which allow_short (false) forbids"),
    ("order buy AAPL 200", "is above max_per_trade"),
    ("order buy AAPL 200 --stop 0.01", "is above max_per_trade"),
    ("order buy AAPL 60", "above max_per_symbol"),
    ("order buy AAPL 15", "above max_per_symbol"),  # 40 held + 15 = $12.2k
    ("order buy RIVN 1", "position(s) are open or ordered already (max_open_positions)"),
]


def state(sh: Shell) -> tuple[Any, Any, Any]:
    account = json.loads(run(sh, "account -o json"))
    positions = json.loads(run(sh, "positions -o json"))["positions"]
    open_orders = json.loads(run(sh, "orders --open -o json"))["orders"]
    return account, positions, open_orders


def test_each_refusal_is_recorded_with_why_and_changes_nothing_else(sample: Path, tmp_path: Path) -> None:
    sh = Shell(sample)
    cfg = write_config(
        tmp_path, initial_cash=100_000, max_per_trade=30_000, max_per_symbol=12_000, max_open_positions=2
    )
    sh.obj.config_path = str(cfg)
    try:
        assert sh("order buy AAPL 1").code == 1  # no session: an error, nothing recorded
        run(sh, "system start --paused")
        run(sh, "time until 10:00")
        run(sh, "order buy AAPL 40")  # ~$9,000 of AAPL: one position
        run(sh, "order buy TSLA 10 --limit 1")  # an open order: the second "position"
        run(sh, "time advance 1m")
        before = state(sh)
        for i, (line, why) in enumerate(REFUSALS):
            res = sh(line)
            assert res.code == 1, line
            assert why in res.err and "rejected" in res.err, (line, res.err)
            assert state(sh) == before, line  # nothing else changed
            rejected = json.loads(run(sh, "orders --all -o json"))["orders"][-1]
            assert rejected["id"] == f"r{1 + i:06d}" and rejected["status"] == "rejected"  # numbered apart
            assert why in rejected["reason"]
        bad = sh("order buy AAPL ten")
        assert bad.code == 2 and "bad quantity 'ten'" in bad.err  # a usage error
        assert state(sh) == before
        # past the last session's close the backtest is finished: no order can be placed
        run(sh, "time advance 10d")
        late = sh("order buy AAPL 1")
        assert late.code == 1 and "no session left" in late.err
    finally:
        sh.obj.coordinator.shutdown()


def test_removing_a_symbol_with_a_position_or_open_orders_is_refused(sample: Path, tmp_path: Path) -> None:
    sh = Shell(sample)
    sh.obj.config_path = str(write_config(tmp_path))
    try:
        run(sh, "system start --paused")
        run(sh, "time until 10:00")
        run(sh, "order buy AAPL 5")
        run(sh, "order buy TSLA 5 --limit 1")
        run(sh, "time advance 1m")
        held = sh("remove symbol AAPL")
        assert held.code == 1 and "position" in held.err and "order sell AAPL 5" in held.err, held.err
        pending = sh("remove symbol TSLA")
        assert pending.code == 1 and "open order" in pending.err and "order cancel o000002" in pending.err
        symbols = {r["symbol"] for r in json.loads(run(sh, "data session -o json"))["symbols"]}
        assert {"AAPL", "TSLA"} <= symbols
        run(sh, "order cancel o000002")
        run(sh, "remove symbol TSLA")
        run(sh, "order sell AAPL 5")
        run(sh, "time advance 1m")
        run(sh, "remove symbol AAPL")
        report = json.loads(run(sh, "report -o json"))["report"]
        assert "AAPL" in report["pnl_by_symbol"]  # its P&L outlives it
    finally:
        sh.obj.coordinator.shutdown()


def test_data_chart_marks_the_fills_on_their_bars(sample: Path, tmp_path: Path) -> None:
    sh = Shell(sample)
    sh.obj.config_path = str(write_config(tmp_path))
    try:
        run(sh, "system start --paused")
        run(sh, "time until 10:00")
        run(sh, "order buy AAPL 10")
        run(sh, "time advance 20m")
        run(sh, "order sell AAPL 10")
        run(sh, "order buy TSLA 1")
        run(sh, "time advance 20m")
        shown = json.loads(run(sh, "data chart AAPL 1m --last 60 -o json"))
        assert shown["fills"] == 2  # TSLA's fill is not AAPL's
        assert json.loads(run(sh, "data chart AAPL 1m --last 10 -o json"))["fills"] == 0  # both before these bars
        text = run(sh, "data chart AAPL 1m --last 60")
        assert "▲ buy fills" in text and "▼ sell fills" in text
        png = tmp_path / "c.png"
        run(sh, f"data chart AAPL 1m --last 60 --png {png}")
        assert png.read_bytes()[:4] == b"\x89PNG"
    finally:
        sh.obj.coordinator.shutdown()


def test_a_participation_cap_fills_in_parts_never_above_its_share_of_a_bar(sample: Path, tmp_path: Path) -> None:
    sh = Shell(sample)
    sh.obj.config_path = str(write_config(tmp_path, initial_cash=1e9, max_participation=0.001))
    try:
        run(sh, "system start --paused")
        run(sh, "time until 10:00")
        run(sh, "order buy RIVN 2000")  # RIVN bars trade ~100-500 k shares: 0.1% is a few hundred
        run(sh, "time advance 1m")
        partial = json.loads(run(sh, "orders -o json"))["orders"][0]
        assert partial["status"] == "partially_filled" and 0 < partial["filled_qty"] < 2000
        run(sh, "time advance 60m")
        out = tmp_path / "p.json"
        run(sh, f"session export {out} --bars")
    finally:
        sh.obj.coordinator.shutdown()
    doc = json.loads(out.read_text())
    order = doc["orders"][0]
    fills = [f for f in doc["fills"] if f["order_id"] == order["id"]]
    assert order["status"] == "filled" and sum(f["qty"] for f in fills) == 2000 and len(fills) > 1
    rows = {r["timestamp"]: r for r in doc["symbols"]["RIVN"]["intervals"]["1m"]["bars"]}
    for f in fills:
        t = dt.datetime.fromisoformat(f["time"]).astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        bar = rows[t]
        assert f["qty"] <= int(0.001 * bar["volume"])
        assert f["price"] == pytest.approx(bar["open"] * (1 + SLIPPAGE_BPS / 1e4))  # market: its bar's open
    assert order["avg_fill_price"] == pytest.approx(sum(f["qty"] * f["price"] for f in fills) / 2000)


def test_many_resting_orders_grow_the_book_and_cancel_and_fill_the_right_ones(sample: Path, tmp_path: Path) -> None:
    sh = Shell(sample)
    sh.obj.config_path = str(write_config(tmp_path, initial_cash=1e9))
    try:
        run(sh, "system start --paused")
        run(sh, "time until 10:00")
        for i in range(40):  # far below the price: they rest
            run(sh, f"order buy AAPL 1 --limit {1 + i / 100:.2f} --tif gtc")
        for i in range(0, 40, 3):
            run(sh, f"order cancel o{i + 1:06d}")
        run(sh, "order buy AAPL 7")
        run(sh, "time advance 5m")
        orders = json.loads(run(sh, "orders --all -o json"))["orders"]
    finally:
        sh.obj.coordinator.shutdown()
    by_id = {o["id"]: o for o in orders}
    for i in range(40):
        want = "canceled" if i % 3 == 0 else "open"
        assert by_id[f"o{i + 1:06d}"]["status"] == want
    assert by_id["o000041"]["status"] == "filled" and by_id["o000041"]["filled_qty"] == 7


def test_day_pnl_is_the_change_since_the_last_close_and_holds_after_the_close(sample: Path, tmp_path: Path) -> None:
    sh = Shell(sample)
    sh.obj.config_path = str(write_config(tmp_path))
    try:
        run(sh, "system start --paused")
        run(sh, "time until 10:00")
        run(sh, "order buy AAPL 50")
        run(sh, "time until close")
        closed = json.loads(run(sh, "account -o json"))
        assert closed["day_pnl"] == pytest.approx(closed["equity"] - closed["initial_cash"])
        assert closed["day_pnl"] != 0  # the day's P&L is still shown after its close
        run(sh, "time until next-open")
        run(sh, "time advance 30m")
        later = json.loads(run(sh, "account -o json"))
        assert later["day_pnl"] == pytest.approx(later["equity"] - closed["equity"])
    finally:
        sh.obj.coordinator.shutdown()


def test_open_orders_and_shorts_hold_back_buying_power(sample: Path, tmp_path: Path) -> None:
    """Orders placed in the same minute cannot together spend more than the account has, a short
    is unlevered, and covering buys do not pass the check for free."""
    sh = Shell(sample)
    sh.obj.config_path = str(write_config(tmp_path, initial_cash=100_000, allow_short=True, fee_min=0, fee_per_share=0))
    try:
        run(sh, "system start --paused")  # no bar replayed yet: priced at the last history close
        run(sh, "order buy AAPL 200")  # ~$45k held back
        run(sh, "order buy AAPL 200")  # ~$90k
        third = sh("order buy AAPL 200")
        assert third.code == 1 and "not enough buying power" in third.err
        run(sh, "time advance 1m")
        acct = json.loads(run(sh, "account -o json"))
        assert acct["cash"] > 0 and acct["open_orders"] == 0
        run(sh, "order sell AAPL 400")  # flat again
        run(sh, "time advance 1m")
        # shorting: each short holds back its value; about $100k of shorts at most
        run(sh, "order sell TSLA 150")  # ~$35k
        run(sh, "order sell TSLA 150")  # ~$70k
        over = sh("order sell TSLA 150")
        assert over.code == 1 and "not enough buying power to short" in over.err
        run(sh, "time advance 1m")
        acct = json.loads(run(sh, "account -o json"))
        assert acct["buying_power"] < 0.35 * acct["equity"]
        # covering buys beyond the short are opening buys again, and are checked
        for _ in range(2):
            run(sh, "order buy TSLA 150")  # covers the 300 short
        more = sh("order buy TSLA 2000")
        assert more.code == 1 and "not enough buying power" in more.err
        run(sh, "time advance 1m")
        held = json.loads(run(sh, "positions -o json"))["positions"]
        assert all(p["qty"] == 0 for p in held if p["symbol"] == "TSLA")
        # after the backtest a refused order is still recorded
        run(sh, "time advance 10d")
        late = sh("order buy AAPL 1")
        assert late.code == 1 and "no session left" in late.err
        assert json.loads(run(sh, "orders --all -o json"))["orders"][-1]["status"] == "rejected"
    finally:
        sh.obj.coordinator.shutdown()


def test_a_part_filled_stop_goes_on_as_a_market_order(sample: Path, tmp_path: Path) -> None:
    sh = Shell(sample)
    sh.obj.config_path = str(write_config(tmp_path, initial_cash=1e9, max_participation=0.0005))
    try:
        run(sh, "system start --paused")
        run(sh, "time until 10:00")
        run(sh, "order buy RIVN 500 --stop 1")  # triggers at once; ~100 shares a bar
        run(sh, "order buy TSLA 300 --stop 1 --limit 999")  # a stop-limit, within its limit
        run(sh, "time advance 30m")
        orders = {o["id"]: o for o in json.loads(run(sh, "orders --all -o json"))["orders"]}
    finally:
        sh.obj.coordinator.shutdown()
    assert orders["o000001"]["status"] == "filled" and orders["o000002"]["status"] == "filled"
