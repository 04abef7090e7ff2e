"""Scripts and output at their edges: stdout full or closed, stderr full, a bad TRADER_CLI_OUTPUT,
parameters that are always one word, a byte order mark, trailing comments, ``help`` as data,
mistyped options next to values, and error lines that never repeat pages of input.

Most run the real program (``.venv/bin/python -m trader_cli``); the rest the real dispatcher."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import pytest

from tests.test_app import Shell
from tests.test_scripts import json_stream
from trader_cli.dispatch import run_script

ROOT = Path(__file__).resolve().parent.parent
PYTHON = ROOT / ".venv" / "bin" / "python"
SAMPLE = ROOT / "data"
CONFIG = ROOT / "configs" / "default.json"
DEV_FULL = Path("/dev/full")
NO_SPACE = "no space left on the device (free some space and try again)"
needs_dev_full = pytest.mark.skipif(not DEV_FULL.exists(), reason="needs /dev/full (Linux)")


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRADER_CLI_")}
    env.update(
        HOME=str(tmp_path / "home"),
        XDG_STATE_HOME=str(tmp_path / "state"),
        XDG_DATA_HOME=str(tmp_path / "data-home"),
        TRADER_CLI_DATA_DIR=str(SAMPLE),
        TRADER_CLI_PAGER="off",
    )
    env.update(extra)
    return env


def cli(
    tmp_path: Path,
    *args: str,
    stdin: str = "",
    shell_redirect: str = "",
    stdout: int | IO[Any] = subprocess.PIPE,
    **extra: str,
) -> subprocess.CompletedProcess[str]:
    """``python -m trader_cli ARGS`` in tmp_path; ``shell_redirect`` (e.g. ``>&-``) is applied by
    /bin/sh, for the streams subprocess cannot close."""
    command = [str(PYTHON), "-m", "trader_cli", *args]
    if shell_redirect:
        command = ["/bin/sh", "-c", f'exec "$0" "$@" {shell_redirect}', *command]
    return subprocess.run(
        command,
        input=stdin,
        stdout=stdout,
        stderr=subprocess.PIPE,
        env=_env(tmp_path, **extra),
        cwd=tmp_path,
        text=True,
        timeout=120,
    )


@pytest.fixture
def sh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Shell]:
    for var in [v for v in os.environ if v.startswith("TRADER_CLI_")]:
        monkeypatch.delenv(var)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.chdir(tmp_path)
    s = Shell(SAMPLE)
    yield s
    if s.obj.has_coordinator:
        s.obj.coordinator.shutdown()


def _script(tmp_path: Path, text: str, name: str = "s.trader") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# -- stdout full or closed, stderr full ------------------------------------------------------------
@needs_dev_full
@pytest.mark.parametrize(
    ("args", "stdin"),
    [(["data", "list"], ""), (["-o", "json", "data", "list"], ""), (["-q"], "time now\n")],
    ids=["table", "json", "stdin-script"],
)
def test_a_full_stdout_is_one_line_and_exit_1(tmp_path: Path, args: list[str], stdin: str) -> None:
    with DEV_FULL.open("w") as full:
        proc = cli(tmp_path, *args, stdin=stdin, stdout=full)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr and "Exception ignored" not in proc.stderr, proc.stderr
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
    assert errors == [f"error: cannot write the output to stdout: {NO_SPACE}"]
    if stdin:
        assert "<stdin>:1: failed (exit 1): time now" in proc.stderr


def test_a_closed_stdout_is_one_line_and_exit_2(tmp_path: Path) -> None:
    proc = cli(tmp_path, "-q", stdin="time now\n", shell_redirect=">&-", stdout=subprocess.DEVNULL)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("error: stdout is closed"), proc.stderr


def test_closed_stdout_and_stderr_give_just_the_exit_code(tmp_path: Path) -> None:
    proc = cli(tmp_path, "data", "list", shell_redirect=">&- 2>&-", stdout=subprocess.DEVNULL)
    assert proc.returncode == 2


def test_a_closed_stdin_reads_as_an_empty_script(tmp_path: Path) -> None:
    proc = cli(tmp_path, shell_redirect="<&-")
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", "")


@needs_dev_full
def test_a_full_stderr_keeps_the_exit_code(tmp_path: Path) -> None:
    """A usage error is still exit 2 when its line cannot be written (it was a traceback's 1)."""
    with DEV_FULL.open("w") as full:
        proc = subprocess.run(
            [str(PYTHON), "-m", "trader_cli", "time", "advance"],
            stdout=subprocess.PIPE,
            stderr=full,
            env=_env(tmp_path),
            cwd=tmp_path,
            timeout=120,
        )
    assert proc.returncode == 2 and proc.stdout == b""


# -- TRADER_CLI_OUTPUT and help as data ------------------------------------------------------------
@pytest.mark.parametrize("args", [["exec", "time now"], ["data", "list"]])
def test_a_bad_output_mode_in_the_environment_is_refused(tmp_path: Path, args: list[str]) -> None:
    proc = cli(tmp_path, *args, TRADER_CLI_OUTPUT="xml")
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.count("\n") == 1
    assert "TRADER_CLI_OUTPUT is 'xml'" in proc.stderr and "table, json, csv" in proc.stderr
    fine = cli(tmp_path, "data", "list", "AAPL", TRADER_CLI_OUTPUT=" JSON")  # as before: case and spaces
    assert fine.returncode == 0, fine.stderr
    assert {row["symbol"] for row in json.loads(fine.stdout)} == {"AAPL"}


def test_help_of_one_command_as_json(tmp_path: Path) -> None:
    proc = cli(tmp_path, "-o", "json", "help", "time", "now")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == [{"command": "time now", "what_it_does": "The simulated time and trading day."}]


def test_help_takes_output_and_lists_a_group(sh: Shell) -> None:
    res = sh("help time --output csv")
    assert res.code == 0, res.err
    lines = res.out.splitlines()
    assert lines[0] == "command,what_it_does"
    assert [ln.split(",", 1)[0] for ln in lines[1:]] == ["time advance", "time now", "time until"]
    assert sh("help time now").out.startswith("Usage: time now")  # a table run keeps the help page


# -- script parameters are one word each -----------------------------------------------------------
def test_a_parameter_with_spaces_and_quotes_is_one_word(tmp_path: Path) -> None:
    odd = tmp_path / 'my "odd" configs' / "default copy.json"
    odd.parent.mkdir()
    odd.write_text(CONFIG.read_text(encoding="utf-8").replace('"../data"', json.dumps(str(SAMPLE))), encoding="utf-8")
    path = _script(tmp_path, 'config check $1 -o json\nconfig check "$1" --output=json\n')
    proc = cli(tmp_path, "run", str(path), str(odd))
    assert proc.returncode == 0, proc.stderr
    assert [d["config"]["symbols"] for d in json_stream(proc.stdout)] == [["AAPL", "RIVN"], ["AAPL", "RIVN"]]


def test_a_parameter_inside_a_word_stays_in_that_word(tmp_path: Path) -> None:
    spaced = tmp_path / "my data"
    spaced.symlink_to(SAMPLE)
    path = _script(tmp_path, "--data-dir=$1 data list ${SYM} -o json\n")
    proc = cli(tmp_path, "run", str(path), str(spaced), "SYM=AAPL", TRADER_CLI_DATA_DIR=str(tmp_path / "nothing"))
    assert proc.returncode == 0, proc.stderr
    assert {row["symbol"] for row in json.loads(proc.stdout)} == {"AAPL"}


def test_a_parameter_cannot_add_options(sh: Shell) -> None:
    summary = run_script(
        sh.obj, ["config check $1"], "inject.trader", keep_going=False, params={"positional": ["nope.json -o json"]}
    )
    assert summary.exit_code == 1
    err = sh.err.getvalue()
    assert "nope.json -o json" in err and "inject.trader:1: failed (exit 1): config check 'nope.json -o json'" in err
    assert sh.out.getvalue() == ""  # no JSON: -o json was part of the file name


# -- a byte order mark, trailing comments ----------------------------------------------------------
def test_a_byte_order_mark_before_a_script_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "bom.trader"
    path.write_bytes("\ufeffdata list AAPL -o json\r\n".encode())
    by_file = cli(tmp_path, "run", str(path))
    by_stdin = cli(tmp_path, stdin=path.read_text(encoding="utf-8"))
    for proc in (by_file, by_stdin):
        assert proc.returncode == 0, proc.stderr
        assert {row["symbol"] for row in json.loads(proc.stdout)} == {"AAPL"}


def test_a_trailing_comment_is_dropped(tmp_path: Path) -> None:
    path = _script(tmp_path, "data list AAPL -o json  # the sample's big one\n")
    proc = cli(tmp_path, "run", str(path))
    assert proc.returncode == 0, proc.stderr
    assert {row["symbol"] for row in json.loads(proc.stdout)} == {"AAPL"}


@pytest.mark.parametrize(
    ("line", "reaches"),
    [
        ('config check "#quoted.json"', "#quoted.json"),
        ("config check '# single.json'", "# single.json"),
        ("config check mid#word.json", "mid#word.json"),
        (r"config check \#escaped.json", "#escaped.json"),
    ],
)
def test_a_hash_inside_quotes_or_a_word_is_not_a_comment(sh: Shell, line: str, reaches: str) -> None:
    res = sh(f"{line}   # a comment after it")
    assert res.code == 1 and len(res.err_lines) == 1 and reaches in res.err, res.err
    assert "comment" not in res.err


# -- a mistyped option is never a value ------------------------------------------------------------
@pytest.mark.parametrize(
    ("line", "option", "meant", "command"),
    [
        ("order buy AAPL 100 --limt 10", "--limt", "--limit", "order buy"),
        ("add indicator AAPL sma 20 --intreval 5m", "--intreval", "--interval", "add indicator"),
        ("time advance 30m --outptu json", "--outptu", "--output", "time advance"),
        ("plan add indicator AAPL sma 20 --intreval=5m", "--intreval", "--interval", "plan add indicator"),
    ],
)
def test_a_mistyped_option_is_refused_with_a_suggestion(
    sh: Shell, line: str, option: str, meant: str, command: str
) -> None:
    res = sh(line)
    assert res.code == 2 and len(res.err_lines) == 1, res.err
    assert f"No such option: {option}" in res.err and meant in res.err and f"help {command}" in res.err


def test_values_after_double_dash_or_with_one_dash_are_not_options(sh: Shell) -> None:
    assert "No such option: --outptu" in sh("time advance 30m --outptu").err
    for line in ("time advance -- --outptu", "order buy AAPL -1", "order buy AAPL 1 -o --limit"):
        assert "No such option" not in sh(line).err, line


# -- error lines repeat at most a line's worth of input --------------------------------------------
@pytest.mark.parametrize("line", ["data list " + "A" * 20_000, "frob" + "A" * 20_000, "time now " + "x " * 10_000])
def test_an_error_line_does_not_repeat_a_huge_input(sh: Shell, line: str) -> None:
    summary = run_script(sh.obj, [line], "long.trader", keep_going=False, params={})
    assert summary.exit_code in (1, 2)
    lines = sh.err.getvalue().splitlines()
    assert len(lines) == 2 and all(len(ln) < 300 and "…" in ln for ln in lines), [len(ln) for ln in lines]
    assert lines[1].startswith("long.trader:1: failed")


def test_ctrl_c_during_a_command_that_does_not_catch_it_says_cancelled(tmp_path: Path) -> None:
    """typer turns a KeyboardInterrupt into a silent exit 130: the line is said all the same."""
    import signal

    big = tmp_path / "big.csv"
    start = 1_733_149_800  # 2024-12-02 14:30 UTC, epoch seconds
    rows = "".join(f"{start + 60 * i},1,1.2,0.9,1.1,100\n" for i in range(400_000))
    big.write_text("timestamp,open,high,low,close,volume\n" + rows)
    sh = Shell(tmp_path / "data")

    def ctrl_c(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGALRM, ctrl_c)
    signal.setitimer(signal.ITIMER_REAL, 0.05)
    try:
        res = sh(f"data import {big} --symbol ZZZ --interval 1m")
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    assert res.code == 130
    assert res.err_lines == ["error: cancelled (Ctrl-C); the session is intact"]
    assert not (tmp_path / "data" / "bars" / "1m" / "ZZZ.parquet").exists()
