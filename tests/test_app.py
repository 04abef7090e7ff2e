"""The command tree end to end through ``run_line`` (as the REPL, scripts and ``exec`` use it),
plus the one-shot entry point and its exit codes."""

from __future__ import annotations

import io
import json
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.core import TyperGroup

from trader_cli.app import command_tree, make_context
from trader_cli.app import main as app_main
from trader_cli.dispatch import ShellExit, run_line
from trader_cli.render import Renderer

ROOT = Path(__file__).resolve().parent.parent
TRADER_CLI = ROOT / ".venv" / "bin" / "trader-cli"
ENV_VARS = ("TRADER_CLI_CONFIG", "TRADER_CLI_DATA_DIR", "TRADER_CLI_OUTPUT", "TRADER_CLI_HISTORY")

GOOD_CSV = """timestamp,open,high,low,close,volume
2024-12-02T09:30:00-05:00,10.0,10.5,9.9,10.2,1000
2024-12-02T09:31:00-05:00,10.2,10.4,10.1,10.3,1200
2024-12-02T09:32:00-05:00,10.3,10.6,10.2,10.5,900
"""
# Line 4 has high < low; the file must be rejected as a whole.
BAD_CSV = """timestamp,open,high,low,close,volume
2024-12-03T09:30:00-05:00,10.0,10.5,9.9,10.2,1000
2024-12-03T09:31:00-05:00,10.2,10.4,10.1,10.3,1200
2024-12-03T09:32:00-05:00,10.3,10.1,10.6,10.5,900
"""


@dataclass
class Outcome:
    """What one command line did: exit code, stdout, stderr."""

    code: int
    out: str
    err: str

    @property
    def err_lines(self) -> list[str]:
        return self.err.splitlines()


class Shell:
    """An AppContext writing into strings, with a data dir of its own."""

    def __init__(self, data_dir: Path) -> None:
        self.out = io.StringIO()
        self.err = io.StringIO()
        self.obj = make_context(renderer=Renderer(out=self.out, err=self.err, width=100))
        self.obj.data_dir_option = str(data_dir)
        self.obj.config_path = None
        self.data_dir = data_dir

    def __call__(self, line: str) -> Outcome:
        """Run one line; return only what this line wrote."""
        o, e = len(self.out.getvalue()), len(self.err.getvalue())
        code = run_line(self.obj, line)
        return Outcome(code, self.out.getvalue()[o:], self.err.getvalue()[e:])

    def stored(self) -> dict[str, int]:
        """Symbol → bars in the store, read back through ``data list --output json``."""
        res = self("data list --output json")
        assert res.code == 0, res.err
        return {r["symbol"]: r["bars"] for r in json.loads(res.out)}


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for var in ENV_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "home" / "state"))
    monkeypatch.chdir(tmp_path)  # no configs/default.json here: nothing is picked up by accident


@pytest.fixture
def shell(tmp_path: Path) -> Shell:
    return Shell(tmp_path / "store")


@pytest.fixture
def good_csv(tmp_path: Path) -> Path:
    path = tmp_path / "good.csv"
    path.write_text(GOOD_CSV, encoding="utf-8")
    return path


def _cli_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ENV_VARS}
    env.update(
        HOME=str(tmp_path / "home"),
        XDG_STATE_HOME=str(tmp_path / "home" / "state"),
        TRADER_CLI_DATA_DIR=str(tmp_path / "store"),
    )
    return env


# -- help ------------------------------------------------------------------------------------------
def test_help_lists_every_command(shell: Shell) -> None:
    res = shell("help")
    assert res.code == 0 and res.err == ""
    for command in ("data list", "data import", "config check", "run", "exec", "exit"):
        assert re.search(rf"^\W*{re.escape(command)}\s", res.out, re.M), (command, res.out)


def test_help_lists_every_leaf_of_the_command_tree(shell: Shell) -> None:
    def leaves(group: TyperGroup, prefix: str) -> list[str]:
        out = []
        for name, cmd in group.commands.items():
            if cmd.hidden:
                continue
            out += leaves(cmd, f"{prefix}{name} ") if isinstance(cmd, TyperGroup) else [prefix + name]
        return out

    text = " ".join(shell("help").out.split())
    missing = [c for c in leaves(command_tree(), "") if c not in text]
    assert not missing


def test_help_of_one_command_shows_an_example(shell: Shell) -> None:
    res = shell("help data import")
    assert res.code == 0 and res.err == ""
    assert "Example: data import" in " ".join(res.out.split())
    assert "--symbol" in res.out


@pytest.mark.parametrize("line", ["data list --help", "data import -h", "--help", "data"])
def test_help_options_write_to_the_renderer(shell: Shell, line: str, capsys: pytest.CaptureFixture[str]) -> None:
    res = shell(line)
    assert res.code == 0
    assert "Usage:" in res.out  # not on the process's stdout, past the renderer
    assert capsys.readouterr().out == ""


def test_help_of_an_unknown_command_suggests(shell: Shell) -> None:
    res = shell("help data imprt")
    assert res.code == 2 and res.out == ""
    assert len(res.err_lines) == 1 and "import" in res.err


# -- usage errors ----------------------------------------------------------------------------------
def test_unknown_command_is_one_line_with_a_suggestion(shell: Shell) -> None:
    res = shell("hlep")
    assert res.code == 2
    assert res.out == ""
    assert len(res.err_lines) == 1, res.err
    assert "Did you mean" in res.err and "help" in res.err


def test_unknown_subcommand_suggests(shell: Shell) -> None:
    res = shell("data lst")
    assert res.code == 2 and res.out == ""
    assert len(res.err_lines) == 1 and "list" in res.err


def test_bad_option_is_exit_2_with_the_suggestion(shell: Shell) -> None:
    res = shell("data list --outptu json")
    assert res.code == 2 and res.out == ""
    assert len(res.err_lines) == 1, res.err
    assert "--outptu" in res.err and "--output" in res.err


def test_bad_option_value_is_exit_2(shell: Shell) -> None:
    res = shell("data list --output xml")
    assert res.code == 2 and res.out == ""
    assert len(res.err_lines) == 1 and "xml" in res.err


def test_unbalanced_quote_is_one_line(shell: Shell) -> None:
    res = shell('data import "oops')
    assert res.code == 2 and res.out == ""
    assert len(res.err_lines) == 1 and "quote" in res.err


def test_blank_and_comment_lines_do_nothing(shell: Shell) -> None:
    assert shell("   ") == Outcome(0, "", "")
    assert shell("# data import x.csv") == Outcome(0, "", "")


# -- data import / data list -----------------------------------------------------------------------
def test_import_then_list_as_json(shell: Shell, good_csv: Path) -> None:
    res = shell(f"data import {good_csv} --symbol aapl --interval 1m")
    assert res.code == 0, res.err
    assert "AAPL" in res.out
    listed = shell("data list --output json")
    assert listed.code == 0 and listed.err == ""
    rows = json.loads(listed.out)  # stdout holds only the JSON
    assert [(r["symbol"], r["interval"], r["bars"]) for r in rows] == [("AAPL", "1m", 3)]


def test_list_of_an_empty_store_says_how_to_import(shell: Shell) -> None:
    res = shell("data list")
    assert res.code == 0
    assert "data import" in " ".join(res.out.split())


def test_output_env_makes_json_the_default(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, good_csv: Path) -> None:
    monkeypatch.setenv("TRADER_CLI_OUTPUT", "json")
    sh = Shell(tmp_path / "store")
    assert shell_ok(sh, f"data import {good_csv} --symbol SPY")
    res = sh("data list")
    assert res.code == 0
    assert json.loads(res.out)[0]["symbol"] == "SPY"
    table = sh("data list --output table")
    assert table.code == 0 and "SPY" in table.out
    with pytest.raises(json.JSONDecodeError):
        json.loads(table.out)


def test_csv_output(shell: Shell, good_csv: Path) -> None:
    assert shell_ok(shell, f"data import {good_csv} --symbol SPY")
    res = shell("data list -o csv")
    assert res.code == 0
    lines = res.out.splitlines()
    assert lines[0].startswith("symbol,interval,bars")
    assert lines[1].startswith("SPY,1m,3,")


def test_bad_csv_is_rejected_whole_and_the_store_is_unchanged(shell: Shell, good_csv: Path, tmp_path: Path) -> None:
    assert shell_ok(shell, f"data import {good_csv} --symbol SPY")
    stored = shell.data_dir / "bars" / "1m" / "SPY.parquet"
    before = stored.read_bytes()
    bad = tmp_path / "bad.csv"
    bad.write_text(BAD_CSV, encoding="utf-8")
    res = shell(f"data import {bad} --symbol SPY")
    assert res.code == 1
    assert res.out == ""
    assert len(res.err_lines) == 1, res.err
    assert "line 4" in res.err
    assert stored.read_bytes() == before
    assert shell.stored() == {"SPY": 3}
    assert sorted(p.name for p in stored.parent.iterdir()) == ["SPY.parquet"]  # no temp files left


def test_import_of_a_missing_file_is_one_line(shell: Shell) -> None:
    res = shell("data import nowhere.csv --symbol SPY")
    assert res.code == 1 and res.out == ""
    assert len(res.err_lines) == 1 and "nowhere.csv" in res.err


# -- config check ----------------------------------------------------------------------------------
def test_config_check_of_the_default_config() -> None:
    sh = Shell(ROOT / "data")
    sh.obj.data_dir_option = None  # the config's own data_dir (the bundled sample), as start would use
    res = sh(f"config check {ROOT / 'configs' / 'default.json'}")
    assert res.code == 0, res.err
    assert "AAPL" in res.out


def test_config_check_of_a_bad_config_names_the_field(shell: Shell, tmp_path: Path) -> None:
    cfg = json.loads((ROOT / "configs" / "default.json").read_text(encoding="utf-8"))
    cfg["session_data_config"]["base_interval"] = "7m"
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(cfg), encoding="utf-8")
    res = shell(f"config check {path}")
    assert res.code == 1 and res.out == ""
    assert len(res.err_lines) == 1, res.err
    assert "session_data_config.base_interval" in res.err


def test_config_check_of_invalid_json_gives_the_line(shell: Shell, tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{\n  "name": "x",\n  oops\n}\n', encoding="utf-8")
    res = shell(f"config check {path}")
    assert res.code == 1
    assert len(res.err_lines) == 1 and "line 3" in res.err


# -- run FILE --------------------------------------------------------------------------------------
def _script(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_run_skips_comments_and_blank_lines(shell: Shell, tmp_path: Path, good_csv: Path) -> None:
    script = _script(
        tmp_path,
        "ok.trader",
        f"# a comment\n\n   \ndata import {good_csv} --symbol AAA\n  # indented comment\ndata list\n",
    )
    res = shell(f"run {script}")
    assert res.code == 0, res.err
    assert "error" not in res.err
    assert "ok.trader: 2 command(s) run, 0 failed" in res.err  # the summary is a diagnostic
    assert "AAA" in res.out
    assert shell.stored() == {"AAA": 3}


def test_run_stops_at_the_first_failing_line(shell: Shell, tmp_path: Path, good_csv: Path) -> None:
    script = _script(
        tmp_path,
        "stop.trader",
        f"# check the config, then import\ndata list\nconfig check missing.json\ndata import {good_csv} --symbol AAA\n",
    )
    res = shell(f"run {script}")
    assert res.code == 1
    assert "stop.trader:3" in res.err
    assert "missing.json" in res.err
    assert "AAA" not in shell.stored()  # line 4 never ran


def test_run_keep_going_runs_the_rest(shell: Shell, tmp_path: Path, good_csv: Path) -> None:
    script = _script(tmp_path, "go.trader", f"config check missing.json\ndata import {good_csv} --symbol AAA\n")
    res = shell(f"run --keep-going {script}")
    assert res.code == 1
    assert "go.trader:1" in res.err
    assert shell.stored() == {"AAA": 3}


def test_run_reports_a_usage_error_with_its_line(shell: Shell, tmp_path: Path) -> None:
    script = _script(tmp_path, "typo.trader", "data list\n\ndata lsit\n")
    res = shell(f"run {script}")
    assert res.code == 2
    assert "typo.trader:3" in res.err


def test_run_parameters(shell: Shell, tmp_path: Path, good_csv: Path) -> None:
    script = _script(tmp_path, "params.trader", "data import ${CSV} --symbol $1\n")
    res = shell(f"run {script} AAPL CSV={good_csv}")
    assert res.code == 0, res.err
    assert shell.stored() == {"AAPL": 3}


def test_run_positional_and_named_like_the_help_example(shell: Shell, tmp_path: Path, good_csv: Path) -> None:
    script = _script(
        tmp_path,
        "f.trader",
        f"data import {good_csv} --symbol $1\n# ${{DAYS}} days\ndata list $1 --output json\n",
    )
    res = shell(f"run {script} AAPL DAYS=3")
    assert res.code == 0, res.err
    assert '"symbol": "AAPL"' in res.out


@pytest.mark.parametrize("body", ["data list ${NOPE}\n", "data list $2\n"])
def test_run_unset_parameter_is_exit_2(shell: Shell, tmp_path: Path, body: str) -> None:
    script = _script(tmp_path, "unset.trader", "# uses a parameter nobody gave\n" + body)
    res = shell(f"run {script} AAPL")
    assert res.code == 2
    assert "unset.trader:2" in res.err
    assert "not set" in res.err


def test_run_of_a_missing_script_is_one_line(shell: Shell) -> None:
    res = shell("run nowhere.trader")
    assert res.code == 1 and res.out == ""
    assert len(res.err_lines) == 1 and "nowhere.trader" in res.err


def test_a_script_that_runs_itself_stops(shell: Shell, tmp_path: Path) -> None:
    script = tmp_path / "loop.trader"
    script.write_text(f"run {script}\n", encoding="utf-8")
    res = shell(f"run {script}")
    assert res.code != 0
    assert "deep" in res.err


# -- exec ------------------------------------------------------------------------------------------
def test_exec_runs_each_argument(shell: Shell, good_csv: Path) -> None:
    res = shell(f'exec "data import {good_csv} --symbol AAA" "data list"')
    assert res.code == 0, res.err
    assert "AAA" in res.out
    assert shell.stored() == {"AAA": 3}


def test_exec_stops_at_a_failure(shell: Shell, good_csv: Path) -> None:
    res = shell(f'exec "config check missing.json" "data import {good_csv} --symbol AAA"')
    assert res.code == 1
    assert "exec:1" in res.err
    assert shell.stored() == {}
    res = shell(f'exec -k "config check missing.json" "data import {good_csv} --symbol AAA"')
    assert res.code == 1
    assert shell.stored() == {"AAA": 3}


def test_exec_reads_a_dash_led_argument_as_a_command(shell: Shell, good_csv: Path) -> None:
    shell(f"data import {good_csv} --symbol AAA")
    res = shell('exec "-o json data list"')  # not exec's own -o with the value ' json data list'
    assert res.code == 0, res.err
    assert json.loads(res.out)[0]["symbol"] == "AAA"
    res = shell('exec -o json "data list"')  # exec's own -o still is one
    assert res.code == 0, res.err
    assert json.loads(res.out)[0]["symbol"] == "AAA"


def test_exit_raises_shell_exit(shell: Shell) -> None:
    with pytest.raises(ShellExit):
        shell("exit")


# -- the one-shot entry point ----------------------------------------------------------------------
def test_main_exit_codes_in_process(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TRADER_CLI_DATA_DIR", str(tmp_path / "store"))
    assert app_main(["data", "list", "--output", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == []
    assert app_main(["hlep"]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "Did you mean" in captured.err
    assert app_main(["config", "check", "missing.json"]) == 1
    assert app_main(["exit"]) == 0


def test_cli_unknown_command_is_exit_2(tmp_path: Path) -> None:
    proc = subprocess.run(
        [str(TRADER_CLI), "hlep"],
        env=_cli_env(tmp_path),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert len(proc.stderr.splitlines()) == 1 and "Did you mean" in proc.stderr


def test_cli_run_of_a_failing_script_is_exit_1(tmp_path: Path) -> None:
    script = _script(tmp_path, "fail.trader", "data list\nconfig check missing.json\ndata list\n")
    proc = subprocess.run(
        [str(TRADER_CLI), "run", str(script)],
        env=_cli_env(tmp_path),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1
    assert "fail.trader:2" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_cli_stdin_script(tmp_path: Path) -> None:
    proc = subprocess.run(
        [str(TRADER_CLI)],
        input="data list --output json\n",
        env=_cli_env(tmp_path),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == []


def test_cli_failing_stdin_script(tmp_path: Path) -> None:
    proc = subprocess.run(
        [str(TRADER_CLI)],
        input="# comment\ndata list\nbogus command\ndata list\n",
        env=_cli_env(tmp_path),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode != 0
    assert "<stdin>:3" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("command", ["config check", "run", "data import", "data list", "help"])
@pytest.mark.parametrize("arg", ["a\x00b", "/etc", "/bin/sh"])
def test_odd_paths_are_one_line_user_errors(shell: Shell, command: str, arg: str) -> None:
    res = shell(f"{command} {shlex.quote(arg)}")
    assert "internal error" not in res.err, res.err
    assert res.code in (1, 2)
    assert len(res.err_lines) == 1, res.err


# -- any line at all -------------------------------------------------------------------------------
WORDS = [
    "help",
    "data",
    "list",
    "import",
    "config",
    "check",
    "schema",
    "run",
    "exec",
    "exit",
    "--output",
    "-o",
    "json",
    "csv",
    "table",
    "--help",
    "-h",
    "--symbol",
    "-s",
    "--interval",
    "-i",
    "1m",
    "5m",
    "--tz",
    "--keep-going",
    "-k",
    "--data-dir",
    "--config",
    "--quiet",
    "-q",
    "--yes",
    "SPY",
    "-",
    "--",
    "$1",
    "${X}",
    "=",
    "X=1",
    # session commands: with no session they must fail cleanly too ("system wait" is left out)
    "add",
    "symbol",
    "bar",
    "indicator",
    "sma",
    "20",
    "plan",
    "remove",
    "time",
    "now",
    "advance",
    "until",
    "10:00",
    "session",
    "export",
    "x.json",
    "bars",
    "quality",
    "system",
    "status",
    "stop",
    "pause",
    "resume",
]
NO_NEWLINES = st.characters(codec="utf-8", exclude_characters="\n\r")
TOKENS = st.one_of(
    st.sampled_from(WORDS),
    st.sampled_from(WORDS).map(lambda w: w[:-1] if len(w) > 2 else w + "x"),  # near misses
    st.text(NO_NEWLINES, max_size=20),
    st.text(
        st.characters(codec="utf-8", min_codepoint=0x80, max_codepoint=0x2FFFF),
        max_size=8,
    ),
    st.text(NO_NEWLINES, min_size=500, max_size=3000),
)
LINES = st.lists(st.tuples(TOKENS, st.booleans()), max_size=8).map(
    lambda toks: " ".join(shlex.quote(t) if quoted else t for t, quoted in toks)
)
# What a script run may print on stderr besides errors: "NAME:LINE: failed …" and its summary.
SCRIPT_DIAGNOSTIC = re.compile(r"^.*:\d+: |^.*: \d+ command\(s\) run, \d+ failed")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(line=LINES)
def test_any_line_fails_cleanly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, line: str) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))  # `run -` reads stdin
    sh = Shell(tmp_path / "store")
    try:
        res = sh(line)
    except ShellExit:
        return  # `exit` (also from inside exec/run) leaves the shell by design
    finally:
        if sh.obj.has_coordinator:
            sh.obj.coordinator.shutdown()
    text = res.out + res.err
    assert "Traceback" not in text
    assert "internal error" not in res.err, (line, res.err)
    assert res.code in (0, 1, 2), (line, res.code)
    words = set(line.split())
    if words & {"run", "exec"}:
        for err_line in res.err_lines:
            assert err_line.startswith("error:") or SCRIPT_DIAGNOSTIC.match(err_line), (
                line,
                res.err,
            )
        return
    if res.code:
        assert len(res.err_lines) == 1, (line, res.err)
        assert res.err.startswith("error:"), (line, res.err)
        if res.code == 2:
            assert res.out == "", (line, res.out)
    else:
        assert res.err == "", (line, res.err)


def shell_ok(sh: Shell, line: str) -> bool:
    """Run a line that must succeed."""
    res = sh(line)
    assert res.code == 0, (line, res.err)
    return True


def test_a_failing_line_names_its_script_as_it_was_given(shell: Shell, tmp_path: Path) -> None:
    """Two scripts of one name in two folders are told apart: the path as run names the line."""
    (tmp_path / "sub").mkdir()
    inner = _script(tmp_path / "sub", "inner.trader", "data list\nconfig check missing.json\n")
    outer = _script(tmp_path, "inner.trader", f"data list\nrun {inner}\n")
    res = shell(f"run {outer}")
    assert res.code == 1
    assert f"{inner}:2: failed" in " ".join(res.err.split()) and f"{outer}:2" in " ".join(res.err.split()), res.err
