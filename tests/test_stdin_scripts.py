"""Input that is not a terminal is a script, whatever the global options; no REPL is ever opened
without a terminal on both ends (the real binary, as a subprocess or in a pty)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pexpect
import pytest

ROOT = Path(__file__).resolve().parent.parent
TRADER_CLI = ROOT / ".venv" / "bin" / "trader-cli"
CONFIG = ROOT / "configs" / "default.json"


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRADER_CLI_")}
    env.update(HOME=str(tmp_path / "home"), XDG_STATE_HOME=str(tmp_path / "state"), TRADER_CLI_PAGER="off")
    return env


def _run(args: list[str], stdin: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(TRADER_CLI), *args], input=stdin, capture_output=True, text=True, timeout=60, env=_env(tmp_path)
    )


@pytest.mark.parametrize("options", [["--config", str(CONFIG)], ["-q", "--config", str(CONFIG)], ["--yes"]])
def test_piped_stdin_with_global_options_runs_as_a_script(options: list[str], tmp_path: Path) -> None:
    if "--config" not in options:
        options = [*options, "--config", str(CONFIG)]
    res = _run(options, "system start --paused\ntime now\n", tmp_path)
    assert res.returncode == 0, res.stderr
    assert "2024-12-02 09:30" in res.stdout
    assert "trader>" not in res.stdout + res.stderr
    assert "not a terminal" not in res.stderr


def test_a_failing_line_of_piped_stdin_gives_its_status_and_line(tmp_path: Path) -> None:
    res = _run(["--config", str(CONFIG)], "system start --paused\nadd symbol 123BAD\ntime now\n", tmp_path)
    assert res.returncode == 1
    assert "<stdin>:2" in res.stderr
    assert "<stdin>: 2 command(s) run, 1 failed (<stdin>:2)" in res.stderr  # the summary, as exec's
    assert "2024-12-02 09:30 ET ·" not in res.stdout  # the script stopped at line 2


def test_no_shell_without_a_terminal_for_output(tmp_path: Path) -> None:
    out = tmp_path / "out.txt"
    cmd = f"{TRADER_CLI} --config {CONFIG} > {out}"
    child = pexpect.spawn("/bin/sh", ["-c", cmd], env=_env(tmp_path), encoding="utf-8", timeout=30)
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 2
    assert "needs a terminal" in (child.before or "")
    assert "trader>" not in out.read_text()


def test_output_is_a_global_option_as_the_readme_shows(tmp_path: Path) -> None:
    res = subprocess.run(
        [str(TRADER_CLI), "-o", "json", "--config", str(CONFIG), "exec", "system start --paused", "time now"],
        capture_output=True,
        text=True,
        timeout=60,
        env=_env(tmp_path),
    )
    assert res.returncode == 0, res.stderr
    docs = []
    decoder = json.JSONDecoder()
    text, i = res.stdout, 0
    while i < len(text.rstrip()):
        doc, i = decoder.raw_decode(text, i)
        docs.append(doc)
        while i < len(text) and text[i].isspace():
            i += 1
    assert docs[-1]["time"].startswith("2024-12-02")
    assert "validation" in docs[0]
