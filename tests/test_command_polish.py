"""Small things a trader notices: a negative-looking value, indicator defaults in the help,
several symbols in one add (or a watchlist file), errors that list a few names and a count."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.test_app import Shell

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def sh(tmp_path: Path) -> Any:
    s = Shell(ROOT / "data")
    s.obj.data_dir_option = None
    s.obj.config_path = str(ROOT / "configs" / "default.json")
    yield s
    if s.obj.has_coordinator:
        s.obj.coordinator.shutdown()


def test_a_negative_interval_is_called_an_invalid_value(sh: Shell) -> None:
    assert sh("system start --paused").code == 0
    res = sh("add bar AAPL -5m")
    assert res.code == 2 and len(res.err_lines) == 1
    assert "'-5m' is not a valid value" in res.err and "No such option" not in res.err


@pytest.mark.parametrize(
    ("line", "says"),
    [
        ("add bar AAPL 7m", "unknown interval '7m'"),
        ("plan add bar AAPL 7m", "unknown interval '7m'"),
        ("add bar AAPL 1s", "1s bars cannot be built from 1m bars"),
    ],
)
def test_a_bad_bar_interval_is_one_line(sh: Shell, line: str, says: str) -> None:
    assert sh("system start --paused").code == 0
    res = sh(line)
    assert res.code == 1 and len(res.err_lines) == 1 and says in res.err and "internal" not in res.err, res.err


def test_help_add_indicator_shows_each_indicators_defaults(sh: Shell) -> None:
    res = sh("help add indicator")
    assert res.code == 0
    assert "macd(fast=12, slow=26, signal=9)" in res.out and "sma(period=20)" in res.out


def test_several_symbols_in_one_add_give_one_table(sh: Shell) -> None:
    assert sh("system start --paused").code == 0
    res = sh("add symbol TSLA MSFT NVDA")
    assert res.code == 0, res.err
    assert "added 3 of 3 symbol(s)" in res.out
    assert {"TSLA", "MSFT", "NVDA"} <= set(sh.obj.coordinator.session.symbols)


def test_a_watchlist_file_with_comments_and_a_ticker_without_data(sh: Shell, tmp_path: Path) -> None:
    wl = tmp_path / "watchlist.txt"
    wl.write_text("# my list\nTSLA\n\nMSFT, NVDA  # big ones\nZZZZ\n", encoding="utf-8")
    assert sh("system start --paused").code == 0
    res = sh(f"add symbol --file {wl} --output json")
    assert res.code == 1
    data = json.loads(res.out)
    assert [a["report"]["symbol"] for a in data["additions"]] == ["TSLA", "MSFT", "NVDA"]
    assert data["failed"][0]["symbol"] == "ZZZZ" and "no bars stored for ZZZZ" in data["failed"][0]["reason"]
    assert "1 of 4 addition(s) failed (the other 3 were added: TSLA, MSFT, NVDA)" in res.err


def test_a_missing_watchlist_is_one_line(sh: Shell, tmp_path: Path) -> None:
    assert sh("system start --paused").code == 0
    res = sh(f"add symbol --file {tmp_path / 'nope.txt'}")
    assert res.code == 1 and "no watchlist" in res.err and len(res.err_lines) == 1


def test_an_error_lists_a_few_symbols_and_a_count(sh: Shell) -> None:
    assert sh("system start --paused").code == 0
    assert sh("add symbol TSLA MSFT NVDA AMD AMZN GOOGL").code == 0
    res = sh("data bars ZZZZ")
    assert res.code == 1
    assert "and 3 more" in res.err  # 8 loaded: five named, then a count


def test_a_config_without_symbols_says_so(sh: Shell, tmp_path: Path) -> None:
    cfg = json.loads((ROOT / "configs" / "default.json").read_text())
    cfg["session_data_config"]["symbols"] = []
    cfg["data_dir"] = str(ROOT / "data")
    path = tmp_path / "empty.json"
    path.write_text(json.dumps(cfg))
    res = sh(f"system start --config {path}")
    assert res.code == 1 and "lists no symbols" in res.err


def test_an_orders_average_fill_price_of_one_price_is_that_price() -> None:
    import datetime as dt
    from types import SimpleNamespace

    from trader_cli.core.broker.accounting import _record
    from trader_cli.core.broker.models import OrderRecord

    order = OrderRecord("o000001", "AAPL", "buy", 100, "market", None, None, "day", dt.datetime(2024, 12, 2), "open")
    broker = SimpleNamespace(note_fill=lambda *a: None)
    for qty in (50, 30, 20):  # part fills at one price: (220.72 * 50 + 220.72 * 30) / 80 is 220.71999999999997
        _record(broker, order, qty, 220.72, 0.0, dt.datetime(2024, 12, 2, 10))  # type: ignore[arg-type]
        assert order.avg_fill_price == 220.72
    assert order.status == "filled" and order.filled_qty == 100


def test_report_png_says_where_it_wrote(sh: Shell, tmp_path: Path) -> None:
    assert sh("system start --paused").code == 0
    assert sh("time advance 30m").code == 0
    png = tmp_path / "eq.png"
    res = sh(f"report --png {png}")
    assert res.code == 0 and f"wrote {png}" in res.out and png.read_bytes()[:4] == b"\x89PNG"
    res = sh(f"report --png {tmp_path / 'nodir' / 'eq.png'}")  # said first, no report worked out for nothing
    assert res.code == 1 and res.err_lines == [f"error: no folder {tmp_path / 'nodir'} (create it first)"]
    assert res.out == ""


def test_an_unloaded_strategy_is_shown_unloaded(sh: Shell) -> None:
    assert sh("system start --paused").code == 0
    assert sh(f"strategy load {ROOT / 'examples' / 'strategies' / 'ema_cross.py'}").code == 0
    res = sh("strategy unload ema_cross -o json")
    assert res.code == 0 and json.loads(res.out)["state"] == "unloaded"
