"""Ctrl-C in ``system wait`` in the real shell (a pty): one clean "interrupted" line, the prompt
back, the backtest still running."""

from __future__ import annotations

import json
from pathlib import Path

import pexpect
import pytest

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


def test_ctrl_c_twice_stops_a_plugin_callback_that_never_returns_and_the_script(tmp_path: Path) -> None:
    """A strategy stuck in its callback holds the minute; the first Ctrl-C asks the stepping to
    stop between minutes, a second one is raised in the callback: the plugin is stopped with one
    line, the minute ends, and the script stops there with 130 (its later lines do not run)."""
    import signal
    import subprocess
    import time

    cfg = json.loads((ROOT / "configs" / "default.json").read_text())
    cfg["data_dir"] = str(ROOT / "data")
    (tmp_path / "cfg.json").write_text(json.dumps(cfg))
    marker = tmp_path / "stuck"
    (tmp_path / "hang.py").write_text(
        "from pathlib import Path\n"
        "from trader_cli.plugins import Needs, Strategy\n"
        "class Hang(Strategy):\n"
        "    name = 'hang'\n"
        "    calls = 0\n"
        "    def needs(self):\n"
        "        return Needs(intervals=['1m'])\n"
        "    def on_bars(self, bars):\n"
        "        Hang.calls += 1\n"
        "        if Hang.calls == 2:\n"
        f"            Path({str(marker)!r}).write_text('x')\n"
        "            while True:\n"
        "                pass\n"
    )
    (tmp_path / "s.trader").write_text(
        f"system start --config {tmp_path / 'cfg.json'} --paused\n"
        f"strategy load {tmp_path / 'hang.py'}\n"
        "time advance 30m\n"
        "strategy status\n"
    )
    proc = subprocess.Popen(
        [str(TRADER_CLI), "run", str(tmp_path / "s.trader")],
        env=shell_env(tmp_path),
        cwd=str(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        end = time.monotonic() + 60
        while not marker.exists():
            assert proc.poll() is None and time.monotonic() < end, proc.communicate()
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        time.sleep(0.3)
        assert proc.poll() is None  # one Ctrl-C waits for the minute, which the plugin holds
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 130, (out, err)
    assert "strategy hang stopped: on_bars raised KeyboardInterrupt: Ctrl-C twice while hang's callback ran" in err, err
    assert "Traceback" not in err and "interrupted by Ctrl-C" in err + out
    assert "plugins" not in out  # the script's later line (strategy status) did not run


def test_the_second_ctrl_c_is_raised_only_in_the_same_callbacks_own_code(tmp_path: Path) -> None:
    """Not in the session's code a callback called (an add half done), not in another plugin's
    callback that started after the first Ctrl-C: only in the plugin's own code, while the
    callback that ran at the Ctrl-C before still runs."""
    import os
    import signal
    import sys

    from trader_cli.commands.time import ctrl_c_between_steps

    path = tmp_path / "p.py"
    path.write_text("")
    ns: dict = {}
    exec(compile("import sys\nframe = sys._getframe()\n", str(path), "exec"), ns)
    own, session_code = ns["frame"], sys._getframe()
    p1, q2 = ("p", os.path.realpath(path), 1), ("q", os.path.realpath(path), 2)
    running = [p1]
    with ctrl_c_between_steps(lambda: running[0]) as stop:
        handler = signal.getsignal(signal.SIGINT)
        assert callable(handler)
        handler(signal.SIGINT, session_code)  # the first: stop between minutes
        assert stop()
        handler(signal.SIGINT, session_code)  # p1 still runs, but in the session's code: not raised
        running[0] = q2
        handler(signal.SIGINT, own)  # another callback than at the Ctrl-C before: not raised
        with pytest.raises(KeyboardInterrupt, match="Ctrl-C twice while q's callback ran"):
            handler(signal.SIGINT, own)  # q2 again, in its own code
