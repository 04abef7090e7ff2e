"""Ctrl-C in ``system wait`` in the real shell (a pty): one clean "interrupted" line, the prompt
back, the backtest still running."""

from __future__ import annotations

import json
from pathlib import Path

import pexpect

from tests.shell.conftest import TRADER_CLI, Repl, shell_env

ROOT = Path(__file__).resolve().parent.parent
SESSION_PROMPT = r"backtest\S+ [0-9-]+ [0-9:]+ >"


def test_ctrl_c_in_wait_prints_one_interrupted_line_and_the_prompt_comes_back(tmp_path: Path) -> None:
    cfg = json.loads((ROOT / "configs" / "default.json").read_text())
    cfg["data_dir"] = str(ROOT / "data")
    cfg["backtest_config"]["speed_multiplier"] = 60  # a minute a second: the wait takes hours
    path = tmp_path / "slow.json"
    path.write_text(json.dumps(cfg))
    child = pexpect.spawn(
        str(TRADER_CLI),
        env=shell_env(tmp_path, TRADER_CLI_CONFIG=str(path)),
        cwd=str(tmp_path),
        dimensions=(40, 160),
        encoding="utf-8",
        codec_errors="replace",
        timeout=20,
    )
    try:
        repl = Repl(child)
        repl.prompt()
        child.sendline("system start")
        repl.expect(SESSION_PROMPT)
        child.sendline("system wait")
        repl.expect(r"replaying")  # the progress bar shows while waiting
        seen = ""
        for _ in range(3):  # under a heavily loaded machine a ^C can land before the wait listens
            child.sendintr()
            try:
                seen = repl.expect(r"interrupted", timeout=5)
                break
            except pexpect.TIMEOUT:
                continue
        seen += repl.expect(SESSION_PROMPT)
        assert "stopped waiting at 2024-12-02" in seen and "the backtest is running" in seen
        assert "Traceback" not in seen and "error" not in seen
        child.sendline("time now")
        assert "running" in repl.expect(r"· running")
    finally:
        child.close(force=True)
