"""The shell's features end to end (issue 6): completion, history, Ctrl-C during a long step, the
live prompt, leaving with a session, the issue-5 session walk-through and record → run, all
through the real ``trader-cli`` in a pty (pexpect)."""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from .conftest import ANY_PROMPT, DEFAULT_CONFIG, ROOT, SLOW, TRADER_CLI, Repl, leave, run, shell_env

SESSION_PROMPT = re.compile(r"backtest·([a-z]+) (\d{4}-\d\d-\d\d \d\d:\d\d) >")
CSV = """timestamp,open,high,low,close,volume
2024-12-02T09:30:00-05:00,10.0,10.5,9.9,10.2,1000
2024-12-02T09:31:00-05:00,10.2,10.4,10.1,10.3,1200
"""


def run_json(repl: Repl, line: str, last_key: str) -> Any:
    """Run a ``-o json`` command whose output ends with ``last_key``; the parsed document."""
    text = run(repl, line, rf'"{last_key}": [^\n]*\n\s*[}}\]]')
    start = min(i for i in (text.find("{"), text.find("[")) if i >= 0)
    end = max(text.rfind("}"), text.rfind("]")) + 1
    return json.loads(text[start:end])


def status(repl: Repl) -> dict[str, Any]:
    """``system status -o json``."""
    st = run_json(repl, "system status -o json", "plugins")
    assert isinstance(st, dict)
    return st


def prompt_clock(text: str) -> tuple[str, str]:
    """(state, simulated time) of the last session prompt in ``text``."""
    found = SESSION_PROMPT.findall(text)
    assert found, text
    return found[-1]  # type: ignore[no-any-return]


def complete(repl: Repl, typed: str, shows: str) -> None:
    """Type ``typed`` and Tab; wait until the completion ``shows`` on screen (it runs in a thread,
    so Enter must not overtake it)."""
    repl.child.send(typed + "\t")
    repl.expect(shows, timeout=SLOW)


# -- completion --------------------------------------------------------------------------------------
def test_tab_completes_a_command(spawn: Callable[..., Repl]) -> None:
    repl = spawn()
    complete(repl, "sys", r"tem")
    out = run(repl, "", r"Usage: trader-cli system")  # Enter runs the completed word: the group's help
    assert "start" in out and "status" in out


def test_tab_completes_an_option(spawn: Callable[..., Repl], tmp_path: Path) -> None:
    (tmp_path / "qqq.csv").write_text(CSV, encoding="utf-8")
    repl = spawn(TRADER_CLI_DATA_DIR=str(tmp_path / "store"))
    complete(repl, "data import qqq.csv --sy", r"mbol")
    out = run(repl, " qqq", r"imported")  # only accepted if --sy became --symbol
    assert "QQQ" in out and "error" not in out
    assert (tmp_path / "store" / "bars" / "1m" / "QQQ.parquet").exists()


def test_tab_completes_symbols_from_the_store_and_the_session(spawn: Callable[..., Repl]) -> None:
    repl = spawn()
    run(repl, "system start --paused", r"started in")
    complete(repl, "add symbol TS", r"LA")  # TSLA: only in the store
    assert "provisioned TSLA" in run(repl, "", r"provisioned TSLA")
    complete(repl, "add symbol aa", r"PL")  # AAPL: in the session (and the store); lower case typed
    assert "already loaded in full" in run(repl, "", r"nothing changed")


# -- history -----------------------------------------------------------------------------------------
def test_history_is_recalled_in_a_new_shell(spawn: Callable[..., Repl], tmp_path: Path) -> None:
    first = spawn()
    run(first, "time now", r"start one with")
    first.child.sendcontrol("d")  # not "exit": the last line in the history stays "time now"
    assert leave(first)[0] == 0
    history = tmp_path / "home" / ".local" / "share" / "trader-cli" / "history"
    assert "time now" in history.read_text(encoding="utf-8")

    second = spawn()
    second.child.send("\x1b[A")  # Up: the previous shell's last line
    assert "time now" in run(second, "", r"start one with")
    second.child.sendcontrol("r")  # Ctrl-R: search the history
    second.expect(r"reverse-i-search")
    second.child.send("time n")
    second.child.send("\r")  # accept the match into the line ...
    assert "start one with" in run(second, "", r"start one with")  # ... and run it


# -- Ctrl-C during a long step ------------------------------------------------------------------------
def test_ctrl_c_during_a_long_advance_keeps_the_session(spawn: Callable[..., Repl], tmp_path: Path) -> None:
    config = json.loads((ROOT / "configs" / "default.json").read_text(encoding="utf-8"))
    config["data_dir"] = str(ROOT / "data")
    config["backtest_config"].update(start_date="2024-11-01", end_date="2024-12-31")  # 41 sessions
    config["session_data_config"]["symbols"] = [
        "AAPL",
        "MSFT",
        "TSLA",
        "RIVN",
        "NVDA",
        "SPY",
        "AMZN",
        "GOOGL",
        "META",
        "AMD",
        "JPM",
        "QQQ",
    ]
    path = tmp_path / "long.json"
    path.write_text(json.dumps(config), encoding="utf-8")
    repl = spawn(TRADER_CLI_CONFIG=str(path))
    run(repl, "system start --paused", r"started in")
    before = status(repl)
    repl.child.sendline("time advance 60d")  # the whole backtest, were it not interrupted
    repl.expect(r"\(2 of 41\)")  # a replay event: the step is under way, one day in
    repl.child.sendcontrol("c")
    out = repl.expect(r"interrupted by Ctrl-C") + repl.expect(ANY_PROMPT)
    assert "state paused" in out and "Traceback" not in out
    after = status(repl)
    assert after["state"] == "paused" and after["symbols"] == 12
    assert before["minutes_replayed"] == 0
    assert 390 <= after["minutes_replayed"] < after["minutes_total"]
    assert "2024-11-04" <= after["trading_day"] < "2024-12-31"
    # the session still takes commands
    assert "advanced 30 minute(s)" in run(repl, "time advance 30m", r"advanced \d+ minute")
    assert status(repl)["minutes_replayed"] == after["minutes_replayed"] + 30
    rows = run_json(repl, "data session -o json", "quality_pct")["symbols"]
    assert len(rows) == 12


# -- the live prompt ----------------------------------------------------------------------------------
def test_the_prompt_clock_moves_while_the_session_runs(spawn: Callable[..., Repl]) -> None:
    repl = spawn()
    state, first = prompt_clock(run(repl, "system start --speed 60", r"started in"))  # a minute a second
    assert state == "running" and first.startswith("2024-12-02 09:3")
    deadline = time.monotonic() + 30
    now = first
    while now == first and time.monotonic() < deadline:
        time.sleep(1)  # the clock moves once a wall second at speed 60
        out = run(repl, "time now", r"trading day")
        state, now = prompt_clock(out)
        assert state == "running"
    assert now > first, f"the prompt stayed at {first}"
    assert f"{now} ET" in out or now > first  # `time now` agrees with the prompt (or moved on since)


# -- leaving with a session ---------------------------------------------------------------------------
def test_exit_with_a_running_session_asks_first(spawn: Callable[..., Repl]) -> None:
    repl = spawn()
    run(repl, "system start --speed 1", r"started in")
    repl.child.sendline("exit")
    repl.expect(r"stop it and exit\? \[y/N\]")
    repl.child.sendline("n")
    repl.expect(ANY_PROMPT)
    assert repl.child.isalive()
    assert status(repl)["state"] == "running"  # still in the shell, session untouched
    repl.child.sendline("exit")
    repl.expect(r"\[y/N\]")
    repl.child.sendline("y")
    code, _ = leave(repl)
    assert code == 0


def test_yes_leaves_without_asking(spawn: Callable[..., Repl]) -> None:
    repl = spawn("--yes")
    run(repl, "system start --speed 1", r"started in")
    repl.child.sendline("exit")
    code, text = leave(repl)
    assert code == 0
    assert "[y/N]" not in text


# -- the issue-5 walk-through ------------------------------------------------------------------------
def test_pause_status_resume_and_add_while_running(spawn: Callable[..., Repl]) -> None:
    repl = spawn()
    run(repl, "system start --speed 60", r"started in")
    out = run(repl, "system pause", r"paused at")
    assert prompt_clock(out)[0] == "paused"
    st = status(repl)
    assert st["state"] == "paused" and st["symbols"] == 2
    out = run(repl, "system resume", r"running from")
    assert prompt_clock(out)[0] == "running"
    out = run(repl, "add symbol TSLA", r"provisioned TSLA", timeout=SLOW)  # while the clock runs
    assert "error" not in out
    rows = run_json(repl, "data session -o json", "quality_pct")["symbols"]
    by_symbol = {r["symbol"]: r for r in rows}
    assert set(by_symbol) == {"AAPL", "RIVN", "TSLA"}
    assert by_symbol["TSLA"]["added_by"] == "strategy" and by_symbol["TSLA"]["full"] is True
    st = status(repl)
    assert st["state"] == "running" and st["symbols"] == 3
    assert prompt_clock(run(repl, "time now", r"trading day"))[0] == "running"  # the prompt stays usable


# -- record → run --------------------------------------------------------------------------------------
@pytest.mark.slow
def test_a_recorded_session_replays_to_the_same_export(spawn: Callable[..., Repl], tmp_path: Path) -> None:
    repl = spawn()
    run(repl, "record start rec.trader", r"recording to")
    run(repl, "system start --paused", r"started in")
    run(repl, "time advance 45m", r"advanced 45")
    run(repl, "add symbol TSLA", r"provisioned TSLA")
    run(repl, "add symbol NOPE", r"no bars stored")  # fails: not recorded
    run(repl, "add indicator MSFT sma 20 --interval 5m", r"provisioned MSFT")
    run(repl, "add bar NVDA 15m", r"provisioned NVDA")
    run(repl, "time advance 10m", r"advanced 10")
    run(repl, "data session", r"history\+session")  # read-only: not recorded
    assert "wrote 6 command(s)" in run(repl, "record stop", r"wrote \d+ command")
    run(repl, "session export live.json", r"exported")

    script = tmp_path / "rec.trader"
    lines = [ln for ln in script.read_text(encoding="utf-8").splitlines() if ln and not ln.startswith("#")]
    # the start is made explicit (recording.py): this config and data dir, paused
    start = f"--data-dir {(ROOT / 'data').resolve()} system start --config {DEFAULT_CONFIG.resolve()} --paused"
    assert lines == [
        start,
        "time advance 45m",
        "add symbol TSLA",
        "add indicator MSFT sma 20 --interval 5m",
        "add bar NVDA 15m",
        "time advance 10m",
    ]
    with open(script, "a", encoding="utf-8") as fh:
        fh.write("session export replay.json\n")
    proc = subprocess.run(
        [str(TRADER_CLI), "run", str(script)],
        env=shell_env(tmp_path),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=SLOW,
    )
    assert proc.returncode == 0, proc.stderr
    live = json.loads((tmp_path / "live.json").read_text(encoding="utf-8"))
    replay = json.loads((tmp_path / "replay.json").read_text(encoding="utf-8"))
    live.pop("exported_at"), replay.pop("exported_at")
    assert set(live["symbols"]) == {"AAPL", "RIVN", "TSLA", "MSFT", "NVDA"}
    assert replay["symbols"] == live["symbols"]
    assert replay == live
