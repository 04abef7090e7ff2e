"""Every command with a JSON output schema (commands/schemas.py) gives JSON that validates
against it, in one scripted session over the bundled sample."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from tests.test_app import Shell
from tests.test_readme import schema_key
from trader_cli.commands.schemas import OUTPUTS, output_schema
from trader_cli.render import OutputMode

ROOT = Path(__file__).resolve().parent.parent


def script(tmp: Path, data_url: str = "http://127.0.0.1:9") -> list[str]:
    wl = tmp / "wl.txt"
    wl.write_text("NVDA\nAMD\n")
    csv = tmp / "x.csv"
    csv.write_text("timestamp,open,high,low,close,volume\n2024-12-02T09:30:00-05:00,1,1.2,0.9,1.1,100\n")
    return [
        "help",
        f"config check {ROOT / 'configs' / 'default.json'}",
        f"data import {csv} --symbol ZZTOP --interval 1m",
        "data list",
        f"data fetch SPY --interval 1d --from 2024-12-02 --to 2024-12-06 --data-url {data_url}",
        "system start --paused",
        "system status",
        "time now",
        "time advance 30m",
        "time until 10:30",
        "plan add symbol TSLA",
        "plan add bar TSLA 15m",
        "plan add indicator TSLA rsi 14",
        "add symbol TSLA",
        f"add symbol --file {wl}",
        "add bar MSFT 15m",
        "add indicator MSFT sma 20 --interval 5m",
        "data session",
        "data symbol AAPL",
        "data bars AAPL 5m --last 5",
        "data quality RIVN",
        "data indicator AAPL sma_20_5m --last 5",
        f"data chart AAPL 5m --last 30 --png {tmp / 'c.png'}",
        "remove symbol MSFT",
        "order buy AAPL 10",
        "order buy TSLA 5 --limit 1",
        "order cancel o000002",
        "time advance 5m",
        "order sell AAPL 4",
        "time advance 1m",
        "orders --all",
        "positions",
        "account",
        f"report --png {tmp / 'eq.png'}",
        f"strategy load {ROOT / 'examples' / 'strategies' / 'ema_cross.py'} fast=5 slow=12",
        "strategy status",
        "strategy stop ema_cross",
        "strategy start ema_cross",
        "strategy reload ema_cross",
        f"scanner load {ROOT / 'examples' / 'scanners' / 'gap_scanner.py'} --every 15m",
        "scanner status",
        "scanner stop gap_scanner",
        "scanner start gap_scanner",
        "scanner reload gap_scanner",
        "time advance 30m",
        "scanner unload gap_scanner",
        "strategy unload ema_cross",
        f"record start {tmp / 'r.trader'}",
        "record stop",
        "system speed 0",
        "system resume",
        "system pause",
        "system resume",
        "system wait",
        f"session export {tmp / 's.json'}",
        "system stop",
    ]


def test_every_listed_command_is_exercised(tmp_path: Path) -> None:
    covered = {schema_key(c) for c in script(tmp_path)}
    assert set(OUTPUTS) <= covered, set(OUTPUTS) - covered


def test_every_json_output_validates_against_its_schema(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from trader_cli.live.loopback import LoopbackAlpaca

    data = tmp_path / "data"
    import shutil

    shutil.copytree(ROOT / "data" / "bars", data / "bars")
    shutil.rmtree(data / "bars" / "1d")  # data fetch has days to fetch
    sh = Shell(data)
    sh.obj.config_path = str(ROOT / "configs" / "default.json")
    sh.obj.output = OutputMode.json
    monkeypatch.setenv("APCA_API_KEY_ID", "schema-key-id")
    monkeypatch.setenv("APCA_API_SECRET_KEY", "schema-secret")
    server = LoopbackAlpaca(ROOT / "data", "schema-key-id", "schema-secret").start()
    try:
        for command in script(tmp_path, server.data_url):
            res = sh(command)
            assert res.code == 0, (command, res.err)
            key = schema_key(command)
            assert key is not None, command
            jsonschema.validate(json.loads(res.out), output_schema(key))
    finally:
        sh.obj.coordinator.shutdown()
        server.stop()


@pytest.mark.parametrize("command", sorted(OUTPUTS))
def test_schema_command_prints_each(command: str) -> None:
    sh = Shell(ROOT / "data")
    res = sh(f"schema {command} --output json")
    assert res.code == 0, res.err
    assert json.loads(res.out) == output_schema(command)


def test_the_status_rounds_equity_and_day_pnl_as_the_account_does() -> None:
    """Float sums of fills are not exact: -45.90000000000873 is shown (and exported) as -45.9."""
    from trader_cli.core.lifecycle import SessionState
    from trader_cli.core.queries import SessionStatus

    st = SessionStatus(
        state=SessionState.paused, mode="backtest", config="c", trading_day=None, day=None, days=0, time=None,
        minutes_replayed=0, minutes_total=0, progress_pct=0.0, bars_replayed=0, speed=0.0, symbols=0,
        equity=100_045.90000000000873, day_pnl=-45.90000000000873,
    )  # fmt: skip
    assert (st.equity, st.day_pnl) == (100_045.9, -45.9)
