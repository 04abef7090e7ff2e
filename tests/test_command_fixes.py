"""Bad input is refused in one line that says what to do, and changes nothing: a malformed
ticker in a batch, clock commands with nothing to act on, negative-looking values, a finished
backtest, clashing options, an export name that does not say its format."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.test_app import Shell

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def sh() -> Any:
    s = Shell(ROOT / "data")
    s.obj.data_dir_option = None
    s.obj.config_path = str(ROOT / "configs" / "default.json")
    yield s
    if s.obj.has_coordinator:
        s.obj.coordinator.shutdown()


def _symbols(sh: Shell) -> list[str]:
    res = sh("data session --output json")
    assert res.code == 0, res.err
    return sorted(row["symbol"] for row in json.loads(res.out)["symbols"])


def test_a_malformed_ticker_refuses_the_whole_add(sh: Shell) -> None:
    assert sh("system start --paused").code == 0
    before = _symbols(sh)
    res = sh("add symbol TSLA 'BAD$' MSFT 1X")
    assert res.code == 1 and len(res.err_lines) == 1, res.err
    assert "'BAD$'" in res.err and "'1X'" in res.err and "nothing was added" in res.err
    assert _symbols(sh) == before


def test_a_malformed_ticker_in_a_watchlist_adds_nothing(sh: Shell, tmp_path: Path) -> None:
    wl = tmp_path / "watchlist.txt"
    wl.write_text("# my list\nTSLA\nMSFT, BAD$\n", encoding="utf-8")
    assert sh("system start --paused").code == 0
    before = _symbols(sh)
    res = sh(f"add symbol --file {wl}")
    assert res.code == 1 and len(res.err_lines) == 1 and "'BAD$'" in res.err, res.err
    assert _symbols(sh) == before
    wl.write_text("TSLA\nMSFT\n", encoding="utf-8")  # the fix the message asks for works
    assert sh(f"add symbol --file {wl}").code == 0
    assert {"TSLA", "MSFT"} <= set(_symbols(sh))


def test_pausing_a_paused_session_says_it_already_is(sh: Shell) -> None:
    assert sh("system start --paused").code == 0
    res = sh("system pause")
    assert res.code == 1 and res.err_lines == ["error: already paused (resume it with: system resume)"]
    assert sh.obj.coordinator.state.value == "paused"
    assert sh("system resume").code == 0  # what the hint suggests works


@pytest.mark.parametrize("line", ["system stop", "system pause", "system resume"])
def test_clock_commands_without_a_session_say_to_start_one(sh: Shell, line: str) -> None:
    res = sh(line)
    assert res.code == 1
    assert res.err_lines == ["error: no session is running (start one with: system start)"]
    assert sh("system start --paused").code == 0


@pytest.mark.parametrize(
    ("line", "says"),
    [
        ("order cancel -1", "'-1' is not an order id (an order id looks like o000001"),
        ("system speed -1", "'-1' is not a speed (use 0 = as fast as possible"),
        ("system speed -0.5", "'-0.5' is not a speed"),
    ],
)
def test_a_negative_value_is_refused_as_what_the_command_wants(sh: Shell, line: str, says: str) -> None:
    assert sh("system start --paused").code == 0
    res = sh(line)
    assert res.code == 2 and len(res.err_lines) == 1 and says in res.err, res.err
    assert "interval" not in res.err and "No such option" not in res.err
    assert sh.obj.coordinator.status().speed == 0
    typo = sh(f"{line.rsplit(' ', 1)[0]} 1 --outptu json")  # a mistyped option keeps its suggestion
    assert typo.code == 2 and "Possible options: --output" in typo.err


def test_a_finished_backtest_suggests_what_works(sh: Shell, tmp_path: Path) -> None:
    assert sh("system start").code == 0
    assert sh("system wait --timeout 60").code == 0
    for line in ("time until close", "time advance 5m"):
        res = sh(line)
        assert res.code == 1 and len(res.err_lines) == 1, res.err
        assert f"{' '.join(line.split()[:2])} steps a paused session (state: finished;" in res.err
        assert "session export FILE.json" in res.err and "system start" in res.err
        assert "system wait" not in res.err and "runs to its end" not in res.err
    assert sh(f"session export {tmp_path / 'done.json'}").code == 0
    assert sh("system start --paused").code == 0


def test_orders_refuses_open_and_all_together(sh: Shell) -> None:
    assert sh("system start --paused").code == 0
    res = sh("orders --open --all")
    assert res.code == 2 and len(res.err_lines) == 1 and "give one of --open, --all" in res.err
    assert sh("orders --all").code == 0


def test_export_refuses_a_name_that_does_not_say_its_format(sh: Shell, tmp_path: Path) -> None:
    assert sh("system start --paused").code == 0
    path = tmp_path / "x.txt"
    res = sh(f"session export {path}")
    assert res.code == 2 and len(res.err_lines) == 1, res.err
    assert "x.json or x.csv" in res.err and not path.exists()
    assert sh(f"session export {path} --format json").code == 0  # asked for: written
    assert json.loads(path.read_text(encoding="utf-8"))["symbols"]


@pytest.mark.parametrize(
    "line",
    ["data symbol AAPL", "data indicator AAPL sma_20_5m", "data quality AAPL", "data chart AAPL", "data quality"],
)
def test_reading_a_symbol_without_a_session_says_to_start_one(line: str) -> None:
    sh = Shell(ROOT / "data")
    res = sh(line)
    assert res.code == 1 and res.err_lines == ["error: no session is running (start one with: system start)"]


@pytest.mark.parametrize("line", ["data indicator AAPL sma_20_5m", "data bars AAPL", "data fetch AAPL"])
def test_a_reversed_date_range_is_refused(line: str) -> None:
    res = Shell(ROOT / "data")(f"{line} --from 2024-12-05 --to 2024-12-01")
    assert res.code == 2
    assert res.err_lines == ["error: --from 2024-12-05 is after --to 2024-12-01 (give the earlier date first)"]


@pytest.mark.parametrize(
    "line, hint",
    [("SYSTEM STATUS", "system"), ("system START", "start"), ("Report", "report"), ("order Buy AAPL 1", "buy")],
)
def test_a_command_in_the_wrong_case_suggests_lower_case(line: str, hint: str) -> None:
    res = Shell(ROOT / "data")(line)
    assert res.code == 2 and f"commands are lower case: did you mean '{hint}'?" in res.err


@pytest.mark.parametrize("line, what", [("report", "report"), ("account", "account"), ("positions", "positions"),
                                        ("orders --all", "orders")])  # fmt: skip
def test_the_trading_views_need_a_session_and_say_what_stop_drops(sh: Shell, line: str, what: str) -> None:
    """A fresh account's zeros are no result: before a start, and after a stop dropped the
    session's trades, the views say so and fail rather than show 0.00% as the backtest's."""
    said = f"error: no session, so no {what} (state: stopped; start one with: system start; system stop drops"
    res = sh(line)
    assert res.code == 1 and len(res.err_lines) == 1 and res.err_lines[0].startswith(said), res.err
    assert sh("system start --paused").code == 0 and sh("order buy AAPL 10").code == 0
    assert sh("time advance 1h").code == 0
    assert sh(line).code == 0
    assert sh("system stop").code == 0
    res = sh(line)
    assert res.code == 1 and "no session, so no" in res.err and "report or export before stopping" in res.err


def test_the_session_table_with_no_session_is_empty_not_an_internal_error(sh: Shell) -> None:
    """``data session`` before a start and after a stop said "internal error: AssertionError"."""
    for _ in range(2):
        res = sh("data session -o json")
        assert res.code == 0 and json.loads(res.out)["symbols"] == [], res.err
        assert sh("system start --paused").code == 0 and sh("system stop").code == 0


def test_a_leading_tilde_is_the_home_folder_as_in_a_shell(
    sh: Shell, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    assert sh("system start --paused").code == 0
    res = sh("session export ~/session.json")
    assert res.code == 0, res.err
    assert json.loads((tmp_path / "session.json").read_text())["session"]
    res = sh("session export '~/quoted.json'")  # quoted: a folder named ~, as a shell reads it
    assert res.code == 1 and "no folder" in res.err and not (tmp_path / "quoted.json").exists()


def test_a_plugin_of_the_other_kind_says_which_load_to_use(sh: Shell) -> None:
    assert sh("system start --paused").code == 0
    res = sh(f"scanner load {ROOT / 'examples' / 'strategies' / 'ema_cross.py'}")
    assert res.code == 1 and "holds a strategy, not a scanner: load it with: strategy load" in res.err
    res = sh(f"strategy load {ROOT / 'examples' / 'scanners' / 'gap_scanner.py'}")
    assert res.code == 1 and "holds a scanner, not a strategy: load it with: scanner load" in res.err


def test_the_pnl_figures_say_whether_fees_are_in(sh: Shell) -> None:
    """positions' realized P&L is before fees, the report's P&L tables after them: each says
    which (the walk-through's AAPL read 78.00 in one and 76.00 in the other); the by-source
    table names what it groups by (the symbol's adder, not who placed the orders)."""
    for line in ("system start --paused", "add symbol TSLA", "order buy TSLA 10", "time advance 1h"):
        assert sh(line).code == 0, line
    report = " ".join(sh("report").out.split())
    assert "P&L by symbol" in report and "pnl after fees" in report
    assert "P&L by who added the symbol" in report and "added by" in report
    assert "realized before fees" in " ".join(sh("positions").out.split())


def test_status_shows_the_equity_from_the_start_not_only_once_an_order_was_placed(sh: Shell) -> None:
    assert json.loads(sh("system status --output json").out)["equity"] is None  # no session
    assert sh("system start --paused").code == 0
    st = json.loads(sh("system status --output json").out)
    assert st["equity"] == 100_000.0 and st["day_pnl"] == 0.0
    res = sh("system status")
    assert "100,000.00" in res.out and "+0.00" in res.out, res.out


def test_start_with_a_data_dir_that_does_not_exist_says_so_once(sh: Shell, tmp_path: Path) -> None:
    raw = json.loads((ROOT / "configs" / "default.json").read_text(encoding="utf-8"))
    raw["data_dir"] = "no-such-folder"
    cfg = tmp_path / "typo.json"
    cfg.write_text(json.dumps(raw), encoding="utf-8")
    res = sh(f"system start --config {cfg}")
    assert res.code == 1 and len(res.err_lines) == 1, res.err
    assert f"data dir {tmp_path / 'no-such-folder'} does not exist" in res.err and "dropped" not in res.err
    assert sh("system status --output json").code == 0 and sh.obj.coordinator.state.value == "stopped"


def test_quality_counts_no_bars_before_the_store_begins_whatever_an_indicator_warms_up_on(
    sh: Shell, tmp_path: Path
) -> None:
    cfgs = {}
    for name in ("sma", "ema"):  # an EMA's warmup reaches back further than the store's first day
        raw = {
            "name": name, "mode": "backtest", "data_dir": str(ROOT / "data"),
            "backtest_config": {"start_date": "2024-11-06", "end_date": "2024-11-06", "speed_multiplier": 0},
            "session_data_config": {
                "symbols": ["AAPL"], "base_interval": "1m", "derived_intervals": ["5m"],
                "historical": {"trailing_days": 2}, "indicators": [{"name": name, "params": [20], "interval": "5m"}],
            },
        }  # fmt: skip
        cfgs[name] = tmp_path / f"{name}.json"
        cfgs[name].write_text(json.dumps(raw), encoding="utf-8")
    seen = {}
    for name, cfg in cfgs.items():
        assert sh(f"system start --config {cfg}").code == 0 and sh("system wait").code == 0
        rows = json.loads(sh("data quality --output json").out)["rows"]
        seen[name] = {(r["interval"], r["present"], r["expected"]) for r in rows}
        assert sh("system stop").code == 0
    for name in cfgs:  # every bar is there, whichever indicator the 5m bars carry
        assert all(present == expected for _, present, expected in seen[name]), seen


@pytest.mark.parametrize(
    ("line", "says"),
    [
        ("order buy AAPL 10 --limit 220 --limit 221", "--limit is given twice: give it once"),
        ("order sell AAPL 10 --tif gtc --tif=day", "--tif is given twice: give it once"),
        ("data bars AAPL --last 5 --last 6", "--last is given twice: give it once"),
    ],
)
def test_an_option_given_twice_is_refused_not_the_last_taken(sh: Shell, line: str, says: str) -> None:
    assert sh("system start --paused").code == 0
    res = sh(line)
    assert res.code == 2 and len(res.err_lines) == 1 and says in res.err, res.err
    assert sh("orders --all --output json").out.count('"id"') == 0  # nothing placed
    assert sh("order buy AAPL 10 --limit 220 --tif gtc").code == 0  # once each: as before


@pytest.mark.parametrize(
    ("line", "says"),
    [
        ("order buy AAPL 1_000", "bad quantity '1_000'"),
        ("order buy AAPL ٣", "bad quantity '٣'"),
        ("order buy AAPL " + "9" * 5000, "… (5,000 characters)' (a whole number of shares"),  # int() refused it
        ("order buy AAPL 10 --limit 2_20", "bad --limit price '2_20' (a price in dollars, e.g. 189.50)"),
        ("order sell AAPL 10 --stop nan", "bad --stop price 'nan'"),
        ("order buy AAPL 10 --limit inf", "bad --limit price 'inf'"),
    ],
)
def test_a_quantity_or_price_python_would_stretch_to_read_is_refused(sh: Shell, line: str, says: str) -> None:
    """int() reads 1_000 and other scripts' digits, float() nan and inf: an order says what it is."""
    assert sh("system start --paused").code == 0
    res = sh(line)
    assert res.code == 2 and len(res.err_lines) == 1 and says in res.err, res.err
    assert sh("orders --all --output json").out.count('"id"') == 0  # nothing placed, nothing recorded
    placed = sh("order buy AAPL 10 --limit .5 --output json")
    assert placed.code == 0 and '"limit": 0.5' in placed.out, placed.out + placed.err


def test_an_orders_prices_are_shown_in_full_not_to_six_digits(sh: Shell) -> None:
    """The order card printed 1234567.89 as 1.23457e+06 and 220.4567 as 220.457, and a refusal
    said "(got 1e+07)" of 10,000,001: a price that reads as inside the range."""
    assert sh("system start --paused").code == 0
    res = sh("order buy AAPL 1 --stop 1234567.89 --limit 1234599.99")
    assert "stop_limit (stop $1,234,567.89 limit $1,234,599.99)" in res.out, res.out
    assert "limit (limit $220.4567)" in sh("order buy AAPL 1 --limit 220.4567").out
    res = sh("order buy AAPL 5 --limit 10000001")
    assert res.code == 1 and "must be from 0.0001 to 10,000,000 (got 10,000,001)" in res.err, res.err
    assert "(limit inf)" in sh("order buy AAPL 1 --limit 1e400").out
