"""The REPL: a prompt_toolkit loop that hands each line to ``run_line``."""

from __future__ import annotations

import os
from pathlib import Path

from trader_cli.context import AppContext


def history_path() -> Path:
    """$TRADER_CLI_HISTORY, else $XDG_DATA_HOME/trader-cli/history."""
    env = os.environ.get("TRADER_CLI_HISTORY")
    if env:
        return Path(env)
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "trader-cli" / "history"


def run_repl(obj: AppContext) -> int:
    """Read lines until exit or Ctrl-D; a user error prints one line and the prompt comes back."""
    from prompt_toolkit import PromptSession
    from prompt_toolkit.auto_suggest import AutoSuggestFromHistory
    from prompt_toolkit.history import FileHistory, InMemoryHistory
    from prompt_toolkit.patch_stdout import patch_stdout

    from trader_cli.app import run_line
    from trader_cli.commands.meta import ShellExit

    obj.interactive = True
    hist_file = history_path()
    try:
        hist_file.parent.mkdir(parents=True, exist_ok=True)
        history: FileHistory | InMemoryHistory = FileHistory(str(hist_file))
    except OSError:
        history = InMemoryHistory()
    session: PromptSession[str] = PromptSession(history=history, auto_suggest=AutoSuggestFromHistory())
    with patch_stdout(raw=True):
        obj.renderer.note("trader-cli — type 'help' for commands, 'exit' or Ctrl-D to leave")
        while True:
            try:
                line = session.prompt("trader> ")
            except KeyboardInterrupt:
                continue
            except EOFError:
                break
            try:
                run_line(obj, line)
            except ShellExit:
                break
    return 0
