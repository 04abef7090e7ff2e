"""Hostile input to ``watch``, ``data import`` and configs: each is one line saying what was wrong
and what to do, changes nothing and never shows a traceback; a script fails on it with its line.

Through ``run_line`` (as the REPL and scripts use it), and the real binary where a script's exit
code or Ctrl-C is what is checked."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.test_app import ENV_VARS, GOOD_CSV, TRADER_CLI, Outcome, Shell

ROOT = Path(__file__).resolve().parent.parent
BACKTEST = {"start_date": "2024-12-02", "end_date": "2024-12-03"}


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, isolated: Path) -> None:
    for var in ENV_VARS:
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def sh(tmp_path: Path) -> Shell:
    """A shell with an empty store of its own."""
    return Shell(tmp_path / "store")


def one_line(res: Outcome) -> str:
    """The single error line a refusal prints (fails on anything more, or a traceback)."""
    assert "Traceback" not in res.err and "internal error" not in res.err, res.err
    assert len(res.err_lines) == 1, res.err
    return res.err_lines[0]


def env_for(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ENV_VARS}
    env.update(HOME=str(tmp_path / "home"), XDG_STATE_HOME=str(tmp_path / "home" / "state"))
    env["TRADER_CLI_DATA_DIR"] = str(ROOT / "data")
    return env


# -- watch: the interval -----------------------------------------------------------------------
@pytest.mark.parametrize("seconds", ["inf", "1e400", "1e12", "nan", "0", "0.05", "-1", "86401"])
def test_a_watch_interval_out_of_range_is_refused_before_any_run(sh: Shell, seconds: str) -> None:
    res = sh(f"watch --count 1 -- {seconds} time now")  # one run: the old code never slept
    line = one_line(res)
    assert res.code == 2 and "0.1 to 86400 (a day)" in line, line
    assert res.out == "" and "every" not in res.err  # nothing ran


def test_the_longest_watch_interval_is_taken(sh: Shell) -> None:
    res = sh("watch --count 1 86400 time now")  # one run: no wait follows the last one
    assert res.code == 0, res.err
    assert "watch stopped after 1 run(s)" in res.err


# -- watch: the watched command ----------------------------------------------------------------
@pytest.mark.parametrize("command", ["bogus", "data bogus", "time nope"])
def test_watching_an_unknown_command_says_so_as_the_shell_does(sh: Shell, command: str) -> None:
    direct = sh(command)
    res = sh(f"watch 1 {command}")
    assert res.code == direct.code == 2
    assert one_line(res) == one_line(direct) and "No such command" in res.err


@pytest.mark.parametrize(
    "command, says",
    [
        ("data bars", "Missing argument 'symbol' (see: help data bars)"),
        ("data bars AAPL --bogus", "No such option: --bogus (see: help data bars)"),
        ("data bars AAPL --last many", "Invalid value for '--last'"),
        ("data", "'data' needs a subcommand (see: help data)"),
    ],
)
def test_a_watched_command_that_does_not_parse_is_refused_before_the_first_run(
    sh: Shell, command: str, says: str
) -> None:
    res = sh(f"watch --count 2 0.1 {command}")
    assert res.code == 2 and says in one_line(res), res.err
    assert "every" not in res.err  # refused up front, not once per run


def test_watch_options_after_seconds_are_refused_with_where_they_go(sh: Shell) -> None:
    res = sh("watch 1 --count 3 time now")
    assert res.code == 2 and "options go before SECONDS" in one_line(res)


def test_a_failing_watch_at_the_prompt_keeps_watching_and_fails_at_the_end(sh: Shell) -> None:
    sh.obj.interactive = True
    res = sh("watch --count 3 0.1 data symbol NOPE")
    assert res.code == 1
    assert res.err.count("no session is running") == 3  # each run shown; watching went on
    assert res.err_lines[-1] == "error: watch stopped after 3 run(s), 3 failed: data symbol NOPE"


def test_a_failing_watch_in_a_script_fails_the_line_after_one_run(tmp_path: Path) -> None:
    script = tmp_path / "w.trader"
    script.write_text(
        "# watch a symbol without a session\nwatch --count 5 0.1 data symbol NOPE\ndata list AAPL -o json\n"
    )
    proc = subprocess.run(
        [str(TRADER_CLI), "run", str(script)],
        env=env_for(tmp_path),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1, proc.stderr
    assert "w.trader:2: failed (exit 1)" in proc.stderr
    assert proc.stderr.count("no session is running") == 1  # the script stopped watching
    assert proc.stdout == ""  # the line after it did not run
    assert "Traceback" not in proc.stderr


def test_ctrl_c_during_a_watch_stops_the_script_with_130(tmp_path: Path) -> None:
    script = tmp_path / "w.trader"
    script.write_text("watch 30 time now\ndata list AAPL -o json\n")
    proc = subprocess.Popen(
        [str(TRADER_CLI), "run", str(script)],
        env=env_for(tmp_path),
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        seen = proc.stderr.readline()  # "every 30 s: time now (Ctrl-C stops)": now it waits
        assert "every 30 s" in seen, seen
        time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert "AAPL" not in out  # the script's next line did not run
    assert "Traceback" not in err


# -- data import of text that is not UTF-8 -------------------------------------------------------
def _store_files(data_dir: Path) -> dict[str, bytes]:
    return {str(p.relative_to(data_dir)): p.read_bytes() for p in sorted(data_dir.rglob("*")) if p.is_file()}


HEADER = "timestamp,open,high,low,close,volume,note\n"
ROW = "2024-12-03T09:30:00-05:00,10.0,10.5,9.9,10.2,1000,{}\n"


@pytest.mark.parametrize(
    "content, says",
    [
        ((HEADER + ROW.format("x")).encode("utf-16"), "is UTF-16 text, not UTF-8"),
        (
            "timestamp,op\xe9n,high,low,close,volume\n".encode("latin-1"),
            "not UTF-8 text (line 1: byte 0xe9 at offset 12)",
        ),
        ((HEADER + ROW.format("ok") + ROW.format("caf\xe9")).encode("latin-1"), "not UTF-8 text (line 3: byte 0xe9"),
        (b"\xff\xfe\x00\x01garbage\n", "UTF-16"),
    ],
)
def test_a_csv_that_is_not_utf8_is_one_line_and_changes_nothing(
    sh: Shell, tmp_path: Path, content: bytes, says: str
) -> None:
    good = tmp_path / "good.csv"
    good.write_text(GOOD_CSV, encoding="utf-8")
    assert sh(f"data import {good} --symbol AAPL").code == 0
    before = _store_files(sh.data_dir)
    bad = tmp_path / "bad.csv"
    bad.write_bytes(content)
    res = sh(f"data import {bad} --symbol AAPL")
    line = one_line(res)
    assert res.code == 1 and says in line and "save it as UTF-8" in line, line
    assert _store_files(sh.data_dir) == before


def test_the_line_of_a_bad_byte_is_right_in_a_large_file(sh: Shell, tmp_path: Path) -> None:
    """A file read in 1 MiB pieces, an 'é' split across the first two: only the later latin-1
    byte is reported, on its own line."""
    row = ROW.format("\xe9")
    size = len(row.encode())
    pad = next(k for k in range(size) if (2**20 - 1 - len(HEADER) - k - (size - 3)) % size == 0)
    header = HEADER.replace("note", "note" + "x" * pad)
    rows = (2**20 // size) + 10
    text = header + row * rows
    assert text.encode().index("\xe9".encode(), 2**20 - 8) == 2**20 - 1  # the split is there
    bad = tmp_path / "big.csv"
    bad.write_bytes(text.encode() + ROW.format("caf\xe9").encode("latin-1"))
    res = sh(f"data import {bad} --symbol AAPL")
    assert res.code == 1 and f"(line {rows + 2}: byte 0xe9 at offset" in one_line(res), res.err


@pytest.mark.parametrize(
    "short", ["2024-12-02T09:33:00-05:00,1,2,0.5", '"2024-12-02T09:33:00-05:00",1,"2,5",0.5,1,2,3,4']
)
def test_a_row_with_too_few_or_many_columns_names_its_line(sh: Shell, tmp_path: Path, short: str) -> None:
    """The reader names the row's text only; the line number is where to look in a big file
    (a blank line and a quoted comma do not move it)."""
    good = tmp_path / "good.csv"
    good.write_text(GOOD_CSV, encoding="utf-8")
    assert sh(f"data import {good} --symbol AAPL").code == 0
    before = _store_files(sh.data_dir)
    rows = GOOD_CSV.strip().splitlines()
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join([rows[0], rows[1], "", '"' + rows[2].replace(",", '",', 1), short, *rows[3:]]) + "\n")
    res = sh(f"data import {bad} --symbol AAPL")
    line = one_line(res)
    assert res.code == 1 and "bad.csv line 5: Expected " in line and "fix or remove that row" in line, line
    assert _store_files(sh.data_dir) == before


# -- configs that are not a JSON object ---------------------------------------------------------
@pytest.mark.parametrize(
    "text, found",
    [("[1, 2]", "an array"), ('"x"', "a string"), ("3", "a number"), ("null", "null"), ("true", "a boolean")],
)
def test_config_check_of_json_that_is_not_an_object(sh: Shell, tmp_path: Path, text: str, found: str) -> None:
    path = tmp_path / "cfg.json"
    path.write_text(text, encoding="utf-8")
    res = sh(f"config check {path}")
    line = one_line(res)
    assert res.code == 1 and f"a config is a JSON object ({{...}}), found {found}" in line, line
    assert "SessionConfig" not in line and "dictionary" not in line


def test_starting_with_a_config_that_is_an_array_is_one_line(sh: Shell, tmp_path: Path) -> None:
    path = tmp_path / "cfg.json"
    path.write_text("[1, 2]", encoding="utf-8")
    res = sh(f"--config {path} system start")
    assert res.code == 1
    assert one_line(res) == f"error: {path}: a config is a JSON object ({{...}}), found an array"
    assert not sh.obj.has_coordinator or sh.obj.coordinator.state.value == "stopped"


def test_a_section_that_is_not_an_object_names_no_class(sh: Shell, tmp_path: Path) -> None:
    path = tmp_path / "cfg.json"
    path.write_text(json.dumps({"backtest_config": BACKTEST, "broker": [1], "strategies": ["x"]}), encoding="utf-8")
    res = sh(f"config check {path}")
    line = one_line(res)
    assert "broker: should be a JSON object ({...}), found an array" in line, line
    assert "strategies.0: should be a JSON object ({...}), found a string" in line, line
    assert "instance of" not in line and "BrokerConfig" not in line and "PluginSpec" not in line


def test_a_config_that_is_not_utf8_says_so(sh: Shell, tmp_path: Path) -> None:
    path = tmp_path / "cfg.json"
    path.write_bytes('{"name": "caf\xe9"}'.encode("latin-1"))
    for line in (f"config check {path}", f"--config {path} system start"):
        res = sh(line)
        said = one_line(res)
        assert res.code == 1 and "not UTF-8 text (byte 0xe9 at offset 13): save it as UTF-8" in said, said


def test_a_failed_script_line_is_echoed_with_its_secret_masked(tmp_path: Path) -> None:
    """The error line masked a key given on a script's line, the "failed" echo under it did not."""
    script = tmp_path / "s.trader"
    script.write_text("config check $1\n")
    env = {**env_for(tmp_path), "APCA_API_SECRET_KEY": "sekrit-VALUE-991"}
    proc = subprocess.run(
        [str(TRADER_CLI), "run", str(script), "sekrit-VALUE-991"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1, proc.stderr
    assert "s.trader:1: failed (exit 1): config check ***\n" in proc.stderr, proc.stderr
    assert "VALUE-991" not in proc.stderr + proc.stdout
