"""The bottom toolbar, read off a real terminal screen: it refreshes while the clock runs.

prompt_toolkit redraws only the cells that change, so the raw byte stream cannot be read as
text; pyte (a terminal emulator) keeps the screen as a terminal would show it."""

from __future__ import annotations

import time
from pathlib import Path

import pexpect
import pyte
import pytest

from .conftest import TRADER_CLI, shell_env

CPR_REQUEST = "\x1b[6n"


class Screen:
    """A pexpect child drawn on a 160×40 pyte screen; cursor-position requests are answered."""

    def __init__(self, child: pexpect.spawn) -> None:
        self.child = child
        self.screen = pyte.Screen(160, 40)
        self.stream = pyte.Stream(self.screen)

    def pump(self, seconds: float) -> None:
        """Read whatever the shell prints for ``seconds``."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            try:
                data = self.child.read_nonblocking(65536, timeout=0.1)
            except pexpect.TIMEOUT:
                continue
            if CPR_REQUEST in data:
                row, col = self.screen.cursor.y + 1, self.screen.cursor.x + 1
                self.child.send(f"\x1b[{row};{col}R")
            self.stream.feed(data)

    def wait_for(self, text: str, timeout: float = 20) -> str:
        """Pump until ``text`` is on screen; return the bottom line (the toolbar)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            self.pump(0.2)
            if any(text in line for line in self.screen.display):
                return self.toolbar()
        raise AssertionError(f"{text!r} never appeared:\n" + "\n".join(self.screen.display))

    def toolbar(self) -> str:
        return self.screen.display[-1]

    def wait_toolbar(self, text: str, timeout: float = 20) -> str:
        """Pump until the toolbar shows ``text`` (its redraw may come a moment after the line
        above it on a loaded machine); the toolbar."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if text in self.toolbar():
                return self.toolbar()
            self.pump(0.2)
        raise AssertionError(f"the toolbar never showed {text!r}: {self.toolbar()!r}")


@pytest.mark.slow
def test_toolbar_shows_the_clock_and_refreshes_while_it_runs(tmp_path: Path) -> None:
    child = pexpect.spawn(
        str(TRADER_CLI),
        env=shell_env(tmp_path),
        cwd=str(tmp_path),
        dimensions=(40, 160),
        encoding="utf-8",
        codec_errors="replace",
        timeout=20,
    )
    try:
        term = Screen(child)
        before = term.wait_for("no session")
        assert "Ctrl-D exit" in before
        child.sendline("system start --speed 60")
        first = term.wait_for("speed 60x")
        assert "2 symbols" in first and "2024-12-02" in first
        term.pump(3.0)  # speed 60: three simulated minutes
        later = term.toolbar()
        assert "speed 60x" in later and later != first, (first, later)
        child.sendline("system pause")
        term.wait_for("paused at")
        child.sendline("exit")
        term.wait_for("stop it and exit")
        child.sendline("y")
        child.expect(pexpect.EOF, timeout=20)
    finally:
        child.close(force=True)


@pytest.mark.slow
def test_an_order_placed_while_paused_fills_after_resume_above_the_prompt(tmp_path: Path) -> None:
    child = pexpect.spawn(
        str(TRADER_CLI),
        env=shell_env(tmp_path),
        cwd=str(tmp_path),
        dimensions=(40, 160),
        encoding="utf-8",
        codec_errors="replace",
        timeout=20,
    )
    try:
        term = Screen(child)
        term.wait_for("no session")
        child.sendline("system start --paused")
        term.wait_for("started in")
        child.sendline("time advance 30m")
        term.wait_for("advanced 30 minute(s)")
        child.sendline("order buy AAPL 100")
        term.wait_for("order o000001")
        bar = term.wait_toolbar("equity 100,000.00")  # the initial cash until a fill
        assert "day P&L +0.00" in bar, bar
        child.sendline("system speed 60")
        term.wait_for("speed 60x (paused")
        child.sendline("system resume")
        term.wait_for("» fill o000001: buy 100 AAPL @")
        term.pump(1.0)  # the prompt is redrawn under the line printed above it
        screen = term.screen.display
        fill_row = next(i for i, line in enumerate(screen) if "» fill o000001" in line)
        prompt_row = max(i for i, line in enumerate(screen) if line.startswith("backtest·"))
        assert fill_row < prompt_row  # printed above the prompt, which stays usable
        term.pump(2.0)
        bar = term.toolbar()
        assert "equity " in bar and "equity 100,000.00" not in bar, bar  # marked at the closes since
        child.sendline("system pause")
        term.wait_for("paused at")
        child.sendline("positions")
        term.wait_for("AAPL")
        child.sendline("exit")
        term.wait_for("stop it and exit")
        child.sendline("y")
        child.expect(pexpect.EOF, timeout=20)
    finally:
        child.close(force=True)
