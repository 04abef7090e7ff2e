"""The whole run: after a 5-day replay the export holds every bar of every replayed day and an
indicator value at every bar, equal to TA-Lib on the exported series; recursive indicators load
their convergence horizon, so where a series starts no longer shows (a mid-session add equals a
from-start session; 2 or 15 trailing days agree), and say so where the store holds less."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import talib

from trader_cli.core.config import parse_config
from trader_cli.core.coordinator import SessionCoordinator
from trader_cli.core.export import export_session
from trader_cli.core.indicators.base import fade_bars
from trader_cli.core.store import DataManager

DATA = Path(__file__).resolve().parents[2] / "data"
DAYS = ("2024-12-02", "2024-12-06")  # 5 NYSE days
INDICATORS = [
    {"name": "sma", "params": [20], "interval": "5m"},
    {"name": "ema", "params": [20], "interval": "1m"},
    {"name": "wma", "params": [10], "interval": "15m"},
    {"name": "rsi", "params": [14], "interval": "5m"},
    {"name": "macd", "params": [], "interval": "1m"},
    {"name": "bbands", "params": [], "interval": "5m"},
    {"name": "atr", "params": [], "interval": "15m"},
    {"name": "stoch", "params": [], "interval": "5m"},
    {"name": "obv", "params": [], "interval": "1m"},
]


def config(symbols: list[str], trailing: int = 5, indicators: list[dict[str, Any]] | None = None, **bt: Any) -> Any:
    return parse_config(
        {
            "mode": "backtest",
            "backtest_config": {"start_date": DAYS[0], "end_date": DAYS[1], **bt},
            "session_data_config": {
                "symbols": symbols,
                "derived_intervals": ["5m", "15m"],
                "historical": {"trailing_days": trailing},
                "indicators": INDICATORS if indicators is None else indicators,
            },
        }
    )


@pytest.fixture
def coord() -> Any:
    c = SessionCoordinator(DataManager)
    yield c
    c.shutdown()


def talib_of(name: str, b: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    _, h, lo, c, v = (b[k] for k in ("open", "high", "low", "close", "volume"))
    if name == "sma":
        return {"value": talib.SMA(c, 20)}
    if name == "ema":
        return {"value": talib.EMA(c, 20)}
    if name == "wma":
        return {"value": talib.WMA(c, 10)}
    if name == "rsi":
        return {"value": talib.RSI(c, 14)}
    if name == "macd":
        m, s, hist = talib.MACD(c)
        return {"macd": m, "signal": s, "histogram": hist}
    if name == "bbands":
        up, mid, low = talib.BBANDS(c, 20, 2.0, 2.0)
        return {"upper": up, "middle": mid, "lower": low}
    if name == "atr":
        return {"value": talib.ATR(h, lo, c, 14)}
    if name == "stoch":
        k, d = talib.STOCH(h, lo, c)
        return {"slowk": k, "slowd": d}
    return {"value": talib.OBV(c, v)}


def test_the_whole_run_export_equals_talib_on_its_own_series(coord: SessionCoordinator, tmp_path: Path) -> None:
    coord.start(config(["AAPL", "RIVN"]), DATA, paused=True)
    coord.advance(10**6)
    out = tmp_path / "s.json"
    export_session(coord, out, with_bars=True)
    doc = json.loads(out.read_text())
    for sym, s in doc["symbols"].items():
        minutes = s["intervals"]["1m"]["bars"]
        days = {b["timestamp"][:10] for b in minutes if b["timestamp"] >= "2024-12-02"}
        assert days == {"2024-12-02", "2024-12-03", "2024-12-04", "2024-12-05", "2024-12-06"}, sym
        assert s["intervals"]["1m"]["session_bars"] > 0
        for key, ind in s["indicators"].items():
            bars = s["intervals"][ind["interval"]]["bars"]
            cols = {f: np.array([b[f] for b in bars], dtype=float) for f in ("open", "high", "low", "close", "volume")}
            values = ind["values"]
            assert [v["timestamp"] for v in values] == [b["timestamp"] for b in bars], key  # a value at every bar
            want = talib_of(ind["name"], cols)
            for output, ref in want.items():
                name = "value" if len(want) == 1 else output
                got = np.array([np.nan if v[name] is None else v[name] for v in values])
                np.testing.assert_array_equal(np.isnan(got), np.isnan(ref), err_msg=f"{sym} {key} {output}")
                ok = ~np.isnan(ref)
                scale = np.maximum(1.0, np.abs(ref[ok]))
                assert np.max(np.abs(got[ok] - ref[ok]) / scale, initial=0) < 1e-9, (sym, key, output)


RECURSIVE = [
    {"name": "ema", "params": [20], "interval": "1m"},
    {"name": "macd", "params": [], "interval": "1m"},
    {"name": "rsi", "params": [14], "interval": "5m"},
    {"name": "atr", "params": [], "interval": "5m"},
]


def _replayed(coord: SessionCoordinator, sym: str, key: str, since_ns: int) -> dict[str, np.ndarray]:
    from trader_cli.core import queries

    with coord.exclusive():
        ts, vals = queries.indicator_series(coord.engine, coord.session.symbols[sym], key)
    keep = ts >= since_ns
    return {o: v[keep] for o, v in vals.items()}


def _close(a: dict[str, np.ndarray], b: dict[str, np.ndarray], scale: float) -> None:
    for o in a:
        assert len(a[o]) == len(b[o]) and len(a[o]) > 0
        np.testing.assert_allclose(a[o], b[o], rtol=0, atol=1e-9 * scale, err_msg=o)


def test_a_mid_session_add_equals_a_from_start_session(tmp_path: Path) -> None:
    keys = ["ema_20_1m", "macd_12_26_9_1m", "rsi_14_5m", "atr_14_5m"]
    full = SessionCoordinator(DataManager)
    late = SessionCoordinator(DataManager)
    try:
        full.start(config(["AAPL"], indicators=RECURSIVE), DATA, paused=True)
        full.advance(390 + 90)  # into 12-03, 11:00
        late.start(config(["AAPL"], indicators=[]), DATA, paused=True)
        late.advance(390 + 90)
        for ind in RECURSIVE:
            late.add("indicator", "AAPL", "adhoc", indicator=(ind["name"], ind["params"], ind["interval"]))
        full.advance(120)
        late.advance(120)
        since = int(full.engine.replay.book.open_ns)  # today: the catch-up and the bars after the add
        price = float(full.series("AAPL", "1m").close[-1])
        for key in keys:
            _close(_replayed(full, "AAPL", key, since), _replayed(late, "AAPL", key, since), price)
    finally:
        full.shutdown()
        late.shutdown()


def test_two_or_fifteen_trailing_days_give_the_same_values() -> None:
    short, long_ = SessionCoordinator(DataManager), SessionCoordinator(DataManager)
    try:
        short.start(config(["AAPL"], trailing=2, indicators=RECURSIVE), DATA, paused=True)
        long_.start(config(["AAPL"], trailing=15, indicators=RECURSIVE), DATA, paused=True)
        short.advance(2 * 390)
        long_.advance(2 * 390)
        since = int(short.engine.timeline.calendar.open_close(dt.date(2024, 12, 2))[0])
        price = float(short.series("AAPL", "1m").close[-1])
        for key in ("ema_20_1m", "macd_12_26_9_1m", "rsi_14_5m", "atr_14_5m"):
            _close(_replayed(short, "AAPL", key, since), _replayed(long_, "AAPL", key, since), price)
    finally:
        short.shutdown()
        long_.shutdown()


def test_a_horizon_the_store_does_not_hold_is_said(coord: SessionCoordinator) -> None:
    from trader_cli.core import reports

    coord.start(config(["AAPL"], indicators=[{"name": "ema", "params": [200], "interval": "15m"}]), DATA, paused=True)
    req = coord.analyze("indicator", "MSFT", "adhoc", indicator=("ema", [200], "15m"))
    assert req.validation is not None and req.validation.history_days_present < req.validation.history_days_wanted
    plan = req.indicators[0]
    assert (plan.warmup_bars, plan.converge_bars) == (200, 200 + fade_bars(2 / 201))
    assert any("bars on 20 of the 97 trading days wanted" in w for w in req.warnings)
    detail = coord.read(reports.symbol_detail, "AAPL")
    info = detail.indicators[0]
    assert info.ready and not info.converged and info.bars_seen < info.converge_bars
    assert info.progress_text == f"ready, not converged ({info.bars_seen:,} of {info.converge_bars:,} bars)"


def test_a_daily_historys_days_are_counted_in_the_stored_1d_file(coord: SessionCoordinator) -> None:
    """A 1d ATR's 326 days are read from the 1d file (2024 on), not from the 1m one (Nov on):
    validation counts them where they are read, as load_historical loads them."""
    import pyarrow.parquet as pq

    from trader_cli.core.calendar import nyse

    coord.start(config(["AAPL"]), DATA, paused=True)
    req = coord.analyze("indicator", "MSFT", "adhoc", indicator=("atr", [14], "1d"))
    v = req.validation
    assert v is not None and v.history_days_wanted == req.historical_days
    day = coord.engine.replay.book.day
    back = nyse().trading_days_back(day, req.historical_days)
    stamps = pq.read_table(DATA / "bars" / "1d" / "MSFT.parquet").column(0).to_pylist()
    stored = {s.date() for s in stamps} & set(back)  # daily bars are stamped on their date
    assert v.history_days_present == len(stored) > 200, (v.history_days_present, len(stored))
    assert f"bars on {len(stored)} of the {len(back)} trading days wanted" in v.reason
