"""A pexpect driver for ``trader-cli`` in a real pty, with its own HOME and XDG dirs."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pexpect
import pytest

ROOT = Path(__file__).resolve().parents[2]
TRADER_CLI = ROOT / ".venv" / "bin" / "trader-cli"
DEFAULT_CONFIG = ROOT / "configs" / "default.json"
TIMEOUT = 10

# prompt_toolkit draws "trader> " with the trailing space as a cursor move, so match "trader>".
PROMPT = r"trader>"
# prompt_toolkit asks the terminal where the cursor is (CPR); a real terminal answers.
CPR_REQUEST = r"\x1b\[6n"
CPR_ANSWER = "\x1b[1;1R"
ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[()][0-9A-Za-z]|\x1b[=>78]")
SLOW = 60  # seconds: a session start or a long step on a loaded machine
# Before a session: "trader> "; with one: "backtest·running 2024-12-02 10:41 > " (the trailing
# space is drawn as a cursor move, so the match ends at ">").
ANY_PROMPT = r"(?:trader|backtest·[a-z]+ \d{4}-\d\d-\d\d \d\d:\d\d )>"
# No CPR: prompt_toolkit then leaves out the bottom toolbar, whose text would otherwise match the
# words these tests wait for. No pager: a tall table must not stop at "less".
SHELL_ENV = {"PROMPT_TOOLKIT_NO_CPR": "1", "TRADER_CLI_PAGER": "off"}


def strip_ansi(text: str) -> str:
    """The text a user sees: escape sequences and carriage returns removed."""
    return ANSI.sub("", text).replace("\r", "").replace("\x08", "")


class Repl:
    """One running shell; ``command`` sends a line and returns what it printed (no escapes)."""

    def __init__(self, child: pexpect.spawn) -> None:
        self.child = child
        self.banner = ""

    def expect(self, pattern: str | type[pexpect.EOF], timeout: float = TIMEOUT) -> str:
        """Wait for ``pattern`` (answering cursor-position requests); return the text up to and
        including the match, escapes stripped."""
        seen: list[str] = []
        while True:
            index = self.child.expect([CPR_REQUEST, pattern], timeout=timeout)
            seen.append(self.child.before if isinstance(self.child.before, str) else "")
            if index == 1:
                if isinstance(self.child.after, str):
                    seen.append(self.child.after)
                return strip_ansi("".join(seen))
            self.child.send(CPR_ANSWER)

    def prompt(self) -> str:
        """Wait for the prompt; return what came before it."""
        return self.expect(PROMPT)

    def command(self, line: str, until: str) -> str:
        """Send ``line``, wait for ``until`` (a regex on the raw output, so pick words printed
        in one style) and then for the next prompt; return the text in between."""
        self.child.sendline(line)
        return self.expect(until) + self.prompt()

    def exit_status(self) -> int | None:
        """Wait for the process to end; its exit status."""
        self.expect(pexpect.EOF)
        self.child.close()
        status = self.child.exitstatus
        return None if status is None else int(status)


def shell_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The environment of a fresh user: HOME and XDG dirs in tmp_path, the default config."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("TRADER_CLI_DATA_DIR", "TRADER_CLI_OUTPUT", "TRADER_CLI_HISTORY")
    }
    home = tmp_path / "home"
    env.update(
        HOME=str(home),
        XDG_DATA_HOME=str(home / ".local" / "share"),
        XDG_STATE_HOME=str(home / ".local" / "state"),
        XDG_CONFIG_HOME=str(home / ".config"),
        TRADER_CLI_CONFIG=str(DEFAULT_CONFIG),
        TERM="xterm-256color",
        COLUMNS="160",
        LINES="40",
        TRADER_CLI_PAGER="off",  # long tables would otherwise open less (tests/shell/test_pager.py)
    )
    env.update(extra)
    return env


@pytest.fixture
def spawn_repl(tmp_path: Path) -> Iterator[Callable[..., Repl]]:
    """A factory: ``spawn_repl(**env)`` starts the shell, waits for the first prompt and returns
    a Repl; every shell started is killed at the end of the test."""
    children: list[pexpect.spawn] = []

    def start(**extra: str) -> Repl:
        child = pexpect.spawn(
            str(TRADER_CLI),
            env=shell_env(tmp_path, **extra),
            cwd=str(tmp_path),
            dimensions=(40, 160),
            encoding="utf-8",
            codec_errors="replace",
            timeout=TIMEOUT,
        )
        children.append(child)
        repl = Repl(child)
        repl.banner = repl.prompt()
        return repl

    yield start
    for child in children:
        if child.isalive():
            child.close(force=True)


@pytest.fixture
def repl(spawn_repl: Callable[..., Repl]) -> Repl:
    """A shell at its first prompt (default config, fresh HOME)."""
    return spawn_repl()


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Callable[..., Repl]]:
    """``spawn(*args, **env)``: ``trader-cli ARGS`` in a pty with a fresh HOME (shared by every
    shell of the test, so history carries over), at its first prompt; all are killed at the end."""
    children: list[pexpect.spawn] = []

    def start(*args: str, **extra: str) -> Repl:
        child = pexpect.spawn(
            str(TRADER_CLI),
            list(args),
            env=shell_env(tmp_path, **(SHELL_ENV | extra)),
            cwd=str(tmp_path),
            dimensions=(40, 160),
            encoding="utf-8",
            codec_errors="replace",
            timeout=SLOW,
        )
        children.append(child)
        repl = Repl(child)
        repl.banner = repl.expect(ANY_PROMPT, timeout=SLOW)
        return repl

    yield start
    for child in children:
        if child.isalive():
            child.close(force=True)


def run(repl: Repl, line: str, until: str, timeout: float = SLOW) -> str:
    """Send ``line``; wait for ``until`` (a regex on the raw output, not in the line itself) and
    then for the next prompt; return the text in between, escapes stripped."""
    repl.child.sendline(line)
    return repl.expect(until, timeout=timeout) + repl.expect(ANY_PROMPT, timeout=timeout)


def leave(repl: Repl) -> tuple[int | None, str]:
    """Wait for the shell to end; its exit status and its last words."""
    text = repl.expect(pexpect.EOF, timeout=SLOW)
    repl.child.close()
    return repl.child.exitstatus, text
