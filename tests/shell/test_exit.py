"""Leaving the shell: exit, quit and Ctrl-D ask first while a session is active or when a finished
backtest was not exported; --yes skips every question."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from trader_cli.app import make_context
from trader_cli.context import AppContext
from trader_cli.dispatch import run_line
from trader_cli.render import Renderer
from trader_cli.shell.repl import exit_question

from .conftest import ANY_PROMPT, DEFAULT_CONFIG, ROOT, Repl, leave, run

UNEXPORTED = r"the backtest finished and was not exported; exit anyway\? \[y/N\]"


@pytest.fixture
def obj() -> Iterator[AppContext]:
    """A context on the default config and the sample store (output kept out of the test's)."""
    out = io.StringIO()
    ctx = make_context(renderer=Renderer(out=out, err=out, width=120), config_path=str(DEFAULT_CONFIG))
    ctx.data_dir_option = str(ROOT / "data")
    try:
        yield ctx
    finally:
        if ctx.has_coordinator:
            ctx.coordinator.shutdown()


def must(obj: AppContext, line: str) -> None:
    """Run ``line``; it must succeed."""
    assert run_line(obj, line) == 0, line


def test_the_exit_question_follows_the_session(obj: AppContext, tmp_path: Path) -> None:
    assert exit_question(obj) is None  # no session yet
    must(obj, "system start --paused")
    assert "session is active" in (exit_question(obj) or "")
    must(obj, f"session export {tmp_path / 'early.json'}")  # at minute 0
    assert "session is active" in (exit_question(obj) or "")
    must(obj, "system resume")
    must(obj, "system wait")
    assert obj.coordinator.state.value == "finished"
    assert "finished and was not exported" in (exit_question(obj) or "")  # the export is older
    must(obj, f"session export {tmp_path / 'final.json'}")
    assert exit_question(obj) is None


def test_yes_skips_the_unexported_question(obj: AppContext) -> None:
    must(obj, "system start")
    must(obj, "system wait")
    assert exit_question(obj) is not None
    obj.assume_yes = True
    assert exit_question(obj) is None


@pytest.mark.slow
def test_leaving_an_unexported_finished_backtest_asks_first(spawn: Callable[..., Repl]) -> None:
    repl = spawn()
    run(repl, "system start", r"started in")
    run(repl, "system wait", r"finished at")
    for leave_by in ("exit", "quit", "\x04", "exit"):  # \x04: Ctrl-D
        repl.child.send(leave_by if leave_by == "\x04" else leave_by + "\r")
        repl.expect(UNEXPORTED)
        repl.child.sendline("n" if leave_by != "quit" else "")  # Enter alone is No
        repl.expect(ANY_PROMPT)
    assert repl.child.isalive()
    run(repl, "session export out.json", r"exported")
    repl.child.sendline("quit")
    code, text = leave(repl)
    assert code == 0 and "[y/N]" not in text


def test_quit_with_an_active_session_asks_like_exit(spawn: Callable[..., Repl]) -> None:
    repl = spawn()
    run(repl, "system start --paused", r"started in")
    repl.child.sendline("quit")
    repl.expect(r"a session is active; stop it and exit\? \[y/N\]")
    repl.child.sendline("n")
    repl.expect(ANY_PROMPT)
    repl.child.sendline("quit")
    repl.expect(r"stop it and exit\? \[y/N\]")
    repl.child.sendline("y")
    assert leave(repl)[0] == 0


def test_yes_leaves_a_finished_backtest_without_asking(spawn: Callable[..., Repl]) -> None:
    repl = spawn("--yes")
    run(repl, "system start", r"started in")
    run(repl, "system wait", r"finished at")
    repl.child.sendline("quit")
    code, text = leave(repl)
    assert code == 0 and "[y/N]" not in text


def test_exit_yes_leaves_an_active_session_without_asking(spawn: Callable[..., Repl]) -> None:
    repl = spawn()
    run(repl, "system start --paused", r"started in")
    repl.child.sendline("exit --yes")
    code, text = leave(repl)
    assert code == 0 and "[y/N]" not in text
