"""Help in the shell uses the terminal's width (160 columns here), not click's 80-column cap."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from .conftest import Repl, run

DESCRIPTION = "Import bars from a CSV into the store (atomic; bad rows reject the whole file)."


def test_the_commands_table_uses_the_terminal_width(spawn: Callable[..., Repl]) -> None:
    out = run(spawn(), "help", r"help COMMAND for details")
    assert any(len(line) > 100 for line in out.splitlines()), out


# click caps help at max_content_width (80 when unset): the root app's context_settings and the
# Context that `help` builds raise it, so the terminal's width decides.
@pytest.mark.parametrize("line", ["help data import", "data import --help"])
def test_command_help_uses_the_terminal_width(spawn: Callable[..., Repl], line: str) -> None:
    out = run(spawn(), line, r"Show this message and exit")
    assert any(DESCRIPTION in row for row in out.splitlines()), out
