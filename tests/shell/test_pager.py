"""A table taller than the screen opens the pager (less) in the shell; q returns to the prompt."""

from __future__ import annotations

from collections.abc import Callable

from .conftest import DEFAULT_CONFIG, Repl


def test_long_table_goes_through_the_pager(spawn_repl: Callable[..., Repl]) -> None:
    repl = spawn_repl(TRADER_CLI_PAGER="on", LESS="-R -X")  # without -F: less stays until q
    repl.child.sendline("help")  # ~45 rows on a 40-row terminal
    seen = repl.expect(r"\(END\)|:")
    assert "data import" in seen or "config check" in seen
    repl.child.send("q")
    repl.prompt()
    out = repl.command("time now", "no session")
    assert "no session" in out


def test_short_table_is_printed_directly(spawn_repl: Callable[..., Repl]) -> None:
    repl = spawn_repl(TRADER_CLI_PAGER="on")
    out = repl.command(f"config check {DEFAULT_CONFIG}", "valid")
    assert "trailing_days" in out


def test_watch_never_pages(spawn_repl: Callable[..., Repl]) -> None:
    repl = spawn_repl(TRADER_CLI_PAGER="on", LESS="-R -X")  # a pager would wait for q
    repl.child.sendline("watch --count 2 0.2 config schema")  # taller than the 40-row terminal, twice
    seen = repl.expect(r"watch stopped after 2 run\(s\)")
    assert "(END)" not in seen
    repl.prompt()
