"""Scripts through the real ``trader-cli`` binary: parameters, ``--keep-going``, exit codes and the
failing line, stdin scripts, a closed pipe, and JSON alone on stdout.

(tests/test_app.py covers the same rules in-process through ``run_line``; these check what a shell
user sees from the installed command.)"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
TRADER_CLI = ROOT / ".venv" / "bin" / "trader-cli"
SAMPLE = ROOT / "data"
DEFAULT_CONFIG = ROOT / "configs" / "default.json"
TIMEOUT = 120
ENV_VARS = ("TRADER_CLI_CONFIG", "TRADER_CLI_DATA_DIR", "TRADER_CLI_OUTPUT", "TRADER_CLI_HISTORY")


def env_for(tmp_path: Path, **extra: str) -> dict[str, str]:
    """A fresh user reading the bundled sample store (read-only here)."""
    env = {k: v for k, v in os.environ.items() if k not in ENV_VARS}
    env.update(
        HOME=str(tmp_path / "home"), XDG_STATE_HOME=str(tmp_path / "home" / "state"), TRADER_CLI_DATA_DIR=str(SAMPLE)
    )
    env.update(extra)
    return env


def cli(tmp_path: Path, *args: str, stdin: str | None = None, **extra: str) -> subprocess.CompletedProcess[str]:
    """``trader-cli ARGS`` in tmp_path; both streams captured."""
    return subprocess.run(
        [str(TRADER_CLI), *args],
        input=stdin,
        env=env_for(tmp_path, **extra),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )


def script(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def json_stream(text: str) -> list[Any]:
    """stdout as a sequence of JSON documents; fails on anything else."""
    decoder = json.JSONDecoder()
    docs: list[Any] = []
    i = 0
    while True:
        while i < len(text) and text[i].isspace():
            i += 1
        if i == len(text):
            return docs
        doc, i = decoder.raw_decode(text, i)
        docs.append(doc)


def symbols_listed(docs: list[Any]) -> list[set[str]]:
    """The symbols of each ``data list -o json`` result."""
    return [
        {row["symbol"] for row in doc} for doc in docs if isinstance(doc, list) and all("symbol" in row for row in doc)
    ]


# -- parameters and comments -----------------------------------------------------------------------
def test_positional_named_and_quoted_parameters(tmp_path: Path) -> None:
    spaced = tmp_path / "my configs" / "default copy.json"
    spaced.parent.mkdir()
    shutil.copy(DEFAULT_CONFIG, spaced)
    path = script(
        tmp_path,
        "params.trader",
        "# $1 = a symbol, $2 = a config, SYM = another symbol\n"
        "\n"
        "data list $1 --output json\n"
        "   # ${NOT_GIVEN} in a comment is never substituted\n"
        'config check "$2" --output json\n'
        "\n"
        "data list ${SYM} -o json\n",
    )
    proc = cli(tmp_path, "run", str(path), "AAPL", str(spaced), "SYM=RIVN")
    assert proc.returncode == 0, proc.stderr
    docs = json_stream(proc.stdout)
    assert symbols_listed(docs) == [{"AAPL"}, {"RIVN"}]
    checked = next(d for d in docs if isinstance(d, dict) and "valid" in d)
    assert checked["config"]["symbols"] == ["AAPL", "RIVN"]
    assert "params.trader: 3 command(s) run, 0 failed" in proc.stderr


def test_named_parameters_are_not_counted_as_positional(tmp_path: Path) -> None:
    """``run f.trader SYM=RIVN AAPL``: $1 is AAPL wherever the NAME=VALUE stands."""
    path = script(tmp_path, "order.trader", "data list $1 -o json\ndata list ${SYM} -o json\n")
    proc = cli(tmp_path, "run", str(path), "SYM=RIVN", "AAPL")
    assert proc.returncode == 0, proc.stderr
    assert symbols_listed(json_stream(proc.stdout)) == [{"AAPL"}, {"RIVN"}]


@pytest.mark.parametrize(
    "body, line, message",
    [
        ("data list $2\n", 2, "$2 is not set"),
        ("data list ${SYMBOL}\n", 2, "${SYMBOL} is not set"),
    ],
)
def test_an_unset_parameter_is_exit_2_with_its_line(tmp_path: Path, body: str, line: int, message: str) -> None:
    path = script(tmp_path, "unset.trader", "# needs parameters\n" + body + "data list QQQ -o json\n")
    proc = cli(tmp_path, "run", str(path), "AAPL")
    assert proc.returncode == 2
    assert f"unset.trader:{line}" in proc.stderr and message in proc.stderr
    assert proc.stdout == ""  # nothing ran: the failing line stops the script before QQQ
    assert "Traceback" not in proc.stderr


# -- exit codes and the failing line ---------------------------------------------------------------
@pytest.mark.parametrize(
    "body, code, line",
    [
        ("# fine\n\ndata list AAPL -o json\n", 0, None),
        ("data list AAPL -o json\nconfig check missing.json\n", 1, 2),
        ("data list AAPL -o json\n\n# a typo next\ndata lsit\n", 2, 4),
    ],
)
def test_exit_codes_and_the_failing_line(tmp_path: Path, body: str, code: int, line: int | None) -> None:
    path = script(tmp_path, "codes.trader", body + "data list QQQ -o json\n")
    proc = cli(tmp_path, "run", str(path))
    assert proc.returncode == code, proc.stderr
    assert "Traceback" not in proc.stderr
    listed = symbols_listed(json_stream(proc.stdout))
    if line is None:
        assert listed == [{"AAPL"}, {"QQQ"}]
        assert "failed" not in proc.stderr.replace("0 failed", "")
    else:
        assert f"codes.trader:{line}: failed (exit {code})" in proc.stderr
        assert listed == [{"AAPL"}]  # stopped at the failing line


def test_keep_going_runs_every_line_and_sums_up(tmp_path: Path) -> None:
    path = script(
        tmp_path,
        "go.trader",
        "data list AAPL -o json\n"
        "config check missing.json\n"
        "# a comment is not a command\n"
        "frobnicate\n"
        "data list RIVN -o json\n",
    )
    proc = cli(tmp_path, "run", "--keep-going", str(path))
    assert proc.returncode == 1  # the first failure's code
    assert symbols_listed(json_stream(proc.stdout)) == [{"AAPL"}, {"RIVN"}]
    assert "go.trader:2" in proc.stderr and "go.trader:4" in proc.stderr
    summary = [ln for ln in proc.stderr.splitlines() if "command(s) run" in ln]
    assert len(summary) == 1, proc.stderr
    assert "go.trader: 4 command(s) run, 2 failed" in summary[0]
    assert "go.trader:2" in summary[0] and "go.trader:4" in summary[0]


def test_exit_in_a_script_ends_it_successfully(tmp_path: Path) -> None:
    path = script(tmp_path, "early.trader", "data list AAPL -o json\nexit\ndata list RIVN -o json\n")
    proc = cli(tmp_path, "run", str(path))
    assert proc.returncode == 0, proc.stderr
    assert symbols_listed(json_stream(proc.stdout)) == [{"AAPL"}]


# -- stdin scripts ---------------------------------------------------------------------------------
def test_run_dash_reads_the_script_from_stdin_with_parameters(tmp_path: Path) -> None:
    proc = cli(
        tmp_path,
        "run",
        "-",
        "AAPL",
        "SYM=TSLA",
        stdin="# from stdin\n\ndata list $1 -o json\ndata list ${SYM} -o json\n",
    )
    assert proc.returncode == 0, proc.stderr
    assert symbols_listed(json_stream(proc.stdout)) == [{"AAPL"}, {"TSLA"}]


def test_run_dash_reports_the_stdin_line(tmp_path: Path) -> None:
    proc = cli(tmp_path, "run", "-", stdin="data list AAPL -o json\n\nconfig check missing.json\ndata list\n")
    assert proc.returncode == 1
    assert "<stdin>:3" in proc.stderr and "missing.json" in proc.stderr
    assert symbols_listed(json_stream(proc.stdout)) == [{"AAPL"}]


def test_a_script_piped_into_the_bare_command(tmp_path: Path) -> None:
    """``trader-cli < file``: no prompt, no banner, the script's exit code."""
    path = script(tmp_path, "piped.trader", "# piped\ndata list AAPL -o json\n\nfrobnicate\ndata list\n")
    with open(path, encoding="utf-8") as fh:
        proc = subprocess.run(
            [str(TRADER_CLI)],
            stdin=fh,
            env=env_for(tmp_path),
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
        )
    assert proc.returncode == 2
    assert "<stdin>:4" in proc.stderr
    assert symbols_listed(json_stream(proc.stdout)) == [{"AAPL"}]
    assert "trader>" not in proc.stdout + proc.stderr


# -- a closed pipe ---------------------------------------------------------------------------------
def _closed_early(tmp_path: Path, args: list[str], read_first_line: bool) -> tuple[int, str]:
    """Run with stdout a pipe whose reader goes away (after one line, or at once); return the
    exit status and stderr."""
    proc = subprocess.Popen(
        [str(TRADER_CLI), *args], env=env_for(tmp_path), cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert proc.stdout is not None and proc.stderr is not None
    if read_first_line:
        proc.stdout.readline()
    proc.stdout.close()
    err = proc.stderr.read().decode("utf-8", "replace")
    return proc.wait(timeout=TIMEOUT), err


MANY = "".join(f"data list{' -o csv' if i % 2 else ''}\n" for i in range(60))  # far more than a pipe holds


def test_a_closed_pipe_exits_quietly_with_one_status(tmp_path: Path) -> None:
    """``trader-cli data list | head -1``: no traceback, nothing at all on stderr; and whatever
    was writing when the pipe closed (a rich table, JSON, CSV, a script's command), the exit
    status is the same (app.main maps a broken pipe in one place)."""
    script(tmp_path, "many.trader", MANY)
    statuses = {}
    for args, read_first_line in (
        (["data", "list"], False),
        (["data", "list", "-o", "json"], False),
        (["data", "list", "-o", "csv"], False),
        (["run", "many.trader"], True),
    ):
        status, err = _closed_early(tmp_path, args, read_first_line)
        assert err == "", (args, err)
        statuses[" ".join(args)] = status
    assert set(statuses.values()) <= {0, 1, 141}, statuses
    assert len(set(statuses.values())) == 1, statuses


# -- JSON alone on stdout ----------------------------------------------------------------------------
def test_output_json_is_alone_on_stdout(tmp_path: Path) -> None:
    proc = cli(tmp_path, "data", "list", "-o", "json")
    assert proc.returncode == 0 and proc.stderr == ""
    rows = json.loads(proc.stdout)
    assert {r["symbol"] for r in rows} >= {"AAPL", "RIVN", "TSLA"}
    assert {"symbol", "interval", "bars", "first", "last"} <= set(rows[0])
    aapl = next(r for r in rows if r["symbol"] == "AAPL" and r["interval"] == "1m")
    assert aapl["first"] == "2024-11-01T09:30:00-04:00"  # times on the New York clock, with its offset


SESSION_SCRIPT = (
    "# a session: events and the summary go to stderr, results to stdout\n"
    f"system start --config {DEFAULT_CONFIG} --paused\n"
    "time advance 30m\n"
    "add indicator MSFT sma 20 --interval 5m\n"
    "data session\n"
    "system status\n"
    "session schema\n"
)


def test_trader_cli_output_env_makes_a_script_print_only_json(tmp_path: Path) -> None:
    path = script(tmp_path, "session.trader", SESSION_SCRIPT)
    proc = cli(tmp_path, "run", str(path), TRADER_CLI_OUTPUT="json")
    assert proc.returncode == 0, proc.stderr
    docs = json_stream(proc.stdout)
    assert len(docs) == 6  # one per command
    rows = docs[3]["symbols"]  # data session
    assert {r["symbol"] for r in rows} == {"AAPL", "RIVN", "MSFT"}
    assert docs[4]["state"] == "paused" and docs[4]["minutes_replayed"] == 30
    assert "session day 2024-12-02" in proc.stderr  # a replay event, on stderr
    assert "session.trader: 6 command(s) run, 0 failed" in proc.stderr


def test_run_output_json_applies_to_the_scripts_commands(tmp_path: Path) -> None:
    """``run --output json FILE`` is accepted, so it must do something: the script's results
    come out as JSON (as with TRADER_CLI_OUTPUT=json)."""
    path = script(tmp_path, "session.trader", SESSION_SCRIPT)
    proc = cli(tmp_path, "run", "--output", "json", str(path))
    assert proc.returncode == 0, proc.stderr
    assert len(json_stream(proc.stdout)) == 6
