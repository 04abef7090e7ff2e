"""The shell's history file and the suggestions drawn from it.

``ShellHistory`` is prompt_toolkit's file history with three rules of ours:

- a line holding the value of a secret environment variable is never written to the file
  (``core/secrets.py``); it is still recalled with ↑ in the session that typed it;
- the first write that fails (full disk, read-only file system, no permission) warns once and
  the rest of the session's history stays in memory: the line typed still runs;
- a line whose command failed is marked in the file (a ``# failed: "…"`` comment line, which
  prompt_toolkit's reader skips), so ``SuggestFromSucceeded`` never proposes it, in this session
  or a later one. A failed line stays in ↑ history: recalling it to fix a typo is what ↑ is for.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterable
from pathlib import Path

from prompt_toolkit.auto_suggest import AutoSuggest, Suggestion
from prompt_toolkit.buffer import Buffer
from prompt_toolkit.document import Document
from prompt_toolkit.history import History

from trader_cli.core.secrets import contains_secret

_FAILED = "# failed: "
_SUCCEEDED = "# succeeded: "


def parse_history(text: str) -> tuple[list[str], set[str]]:
    """The entries of a history file, oldest first, and the lines marked as failed (a later
    ``# succeeded:`` mark clears a ``# failed:`` one)."""
    entries: list[str] = []
    failed: set[str] = set()
    lines: list[str] = []
    for line in text.split("\n"):
        if line.startswith("+"):
            lines.append(line[1:])
            continue
        if lines:
            entries.append("\n".join(lines))
            lines = []
        for prefix, mark in ((_FAILED, failed.add), (_SUCCEEDED, failed.discard)):
            if line.startswith(prefix):
                try:
                    marked = json.loads(line[len(prefix) :])
                except ValueError:
                    continue  # a mark cut short (e.g. by a full disk) marks nothing
                if isinstance(marked, str):
                    mark(marked)
    if lines:  # the last entry, when a cut-short write left no newline after it
        entries.append("\n".join(lines))
    return entries, failed


class ShellHistory(History):
    """History in a file (FileHistory's format) that keeps secrets out, survives a failing disk
    and remembers which lines failed."""

    def __init__(self, path: Path, warn: Callable[[str], None]) -> None:
        super().__init__()
        self.path = path
        self.saving = True
        self.failed: set[str] = set()
        self._warn = warn
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            self._stop_saving(err)

    def load_history_strings(self) -> Iterable[str]:
        """The file's entries, newest first (none when it cannot be read)."""
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return []
        except OSError as err:
            self._stop_saving(err)
            return []
        entries, failed = parse_history(raw.decode("utf-8", errors="replace"))
        self.failed |= failed
        return reversed(entries)

    def store_string(self, string: str) -> None:
        """Append one entry to the file, unless it holds a secret or saving is off."""
        if contains_secret(string):
            return
        lines = "".join(f"+{line}\n" for line in string.split("\n"))
        self._append(f"\n# {dt.datetime.now()}\n{lines}")

    def note_outcome(self, line: str, failed: bool) -> None:
        """Record whether ``line``'s command failed (failed lines are never suggested)."""
        if failed == (line in self.failed):
            return
        if failed:
            self.failed.add(line)
        else:
            self.failed.discard(line)
        if not contains_secret(line):
            self._append(f"{_FAILED if failed else _SUCCEEDED}{json.dumps(line)}\n")

    def _append(self, text: str) -> None:
        if not self.saving:
            return
        try:
            with open(self.path, "a", encoding="utf-8", errors="replace") as fh:
                fh.write(text)
        except OSError as err:
            self._stop_saving(err)

    def _stop_saving(self, err: OSError) -> None:
        if not self.saving:
            return
        self.saving = False
        reason = err.strerror or type(err).__name__
        self._warn(
            f"warning: history is off for this session ({reason}: {self.path}); "
            "lines are kept in memory only (free space or fix permissions, or set TRADER_CLI_HISTORY)"
        )


class SuggestFromSucceeded(AutoSuggest):
    """Suggest the rest of the newest history line that starts with the text typed, skipping
    lines whose command failed."""

    def __init__(self, history: ShellHistory) -> None:
        self.history = history

    def get_suggestion(self, buffer: Buffer, document: Document) -> Suggestion | None:
        """The suggestion for the last line of ``document`` (None for a blank line)."""
        text = document.text.rsplit("\n", 1)[-1]
        if not text.strip():
            return None
        for string in reversed(self.history.get_strings()):
            if string in self.history.failed:
                continue
            for line in reversed(string.splitlines()):
                if line.startswith(text):
                    return Suggestion(line[len(text) :])
        return None
