"""The interactive shell end to end: the real ``trader-cli`` binary in a pty (pexpect)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from .conftest import Repl

HELP_DONE = r"help COMMAND for details"  # the caption under the commands table: printed last
CSV = """timestamp,open,high,low,close,volume
2024-12-02T09:30:00-05:00,10.0,10.5,9.9,10.2,1000
2024-12-02T09:31:00-05:00,10.2,10.4,10.1,10.3,1200
"""


def test_the_prompt_appears_after_a_banner(repl: Repl) -> None:
    assert "help" in repl.banner
    assert repl.child.isalive()


def test_help_lists_the_commands(repl: Repl) -> None:
    out = repl.command("help", HELP_DONE)
    for command in ("data list", "data import", "config check", "run", "exec", "exit"):
        assert command in out, out


def test_help_of_one_command_shows_its_usage(repl: Repl) -> None:
    out = repl.command("help data import", r"Example")
    assert "Usage:" in out and "--symbol" in out


def test_an_unknown_command_prints_an_error_and_the_prompt_comes_back(repl: Repl) -> None:
    out = repl.command("frobnicate now", r"No such command")
    assert "error" in out and "frobnicate" in out
    assert repl.child.isalive()
    out = repl.command("help", HELP_DONE)  # the shell still takes commands
    assert "data list" in out


def test_a_failing_command_keeps_the_shell(repl: Repl) -> None:
    out = repl.command("config check missing.json", r"no config file")
    assert "error" in out
    out = repl.command("data list --outptu json", r"Possible options")
    assert "error" in out
    assert repl.child.isalive()


def test_data_list_shows_a_table(repl: Repl) -> None:
    out = repl.command("data list", r"bar store")
    for header in ("symbol", "interval", "bars", "first", "last"):
        assert header in out, out
    assert any(ch in out for ch in "┃│|"), out


def test_import_then_list_in_one_session(spawn_repl: Callable[..., Repl], tmp_path: Path) -> None:
    csv = tmp_path / "qqq.csv"
    csv.write_text(CSV, encoding="utf-8")
    repl = spawn_repl(TRADER_CLI_DATA_DIR=str(tmp_path / "store"))
    out = repl.command(f"data import {csv} --symbol qqq", r"imported")
    assert "QQQ" in out
    out = repl.command("data list", r"bar store")
    assert "QQQ" in out and "1m" in out


def test_exit_leaves_with_status_0(repl: Repl) -> None:
    repl.child.sendline("exit")
    assert repl.exit_status() == 0


def test_ctrl_d_leaves_with_status_0(repl: Repl) -> None:
    repl.child.sendcontrol("d")
    assert repl.exit_status() == 0


def test_ctrl_c_at_the_prompt_keeps_the_shell(repl: Repl) -> None:
    repl.child.send("half a line")
    repl.child.sendcontrol("c")
    out = repl.command("help", HELP_DONE)
    assert "data list" in out
    repl.child.sendline("exit")
    assert repl.exit_status() == 0


def test_history_goes_under_xdg_data_home(repl: Repl, tmp_path: Path) -> None:
    repl.command("help", HELP_DONE)
    repl.child.sendline("exit")
    assert repl.exit_status() == 0
    history = tmp_path / "home" / ".local" / "share" / "trader-cli" / "history"
    assert "help" in history.read_text(encoding="utf-8")
