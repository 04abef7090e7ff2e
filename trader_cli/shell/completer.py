"""Tab completion from the one command tree, plus live values (symbols, intervals, indicators,
configs, files). It runs in a thread (``complete_in_thread``) so typing never waits on it."""

from __future__ import annotations

import contextlib
import shlex
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from prompt_toolkit.completion import CompleteEvent, Completer, Completion, PathCompleter
from prompt_toolkit.document import Document

from trader_cli.context import AppContext

_CHOICES = {
    "source": ["strategy", "scanner", "adhoc"],
    "output": ["table", "json", "csv"],
    "fmt": ["json", "csv"],
}
_PATH_PARAMS = {"path", "png"}


class CommandCompleter(Completer):
    """Completes commands, sub-commands, options and argument values."""

    def __init__(self, obj: AppContext) -> None:
        self.obj = obj
        self._paths = PathCompleter(expanduser=True)
        self._symbols: tuple[float, list[str]] = (0.0, [])

    # -- live values -------------------------------------------------------------------------
    def symbols(self) -> list[str]:
        """Symbols in the session and in the store (cached for a few seconds)."""
        stamp, cached = self._symbols
        if time.monotonic() - stamp < 5:
            return cached
        found: set[str] = set()
        if self.obj.has_coordinator:
            found.update(self.obj.coordinator.session.symbols)
        with contextlib.suppress(OSError):  # an unreadable data dir simply offers no stored symbols
            found.update(self.obj.store().symbols())
        self._symbols = (time.monotonic(), sorted(found))
        return self._symbols[1]

    def values_for(self, param: str, words: list[str]) -> list[tuple[str, str]]:
        """Candidate values (text, meta) for a parameter by its name."""
        if param == "symbol":
            return [(s, "symbol") for s in self.symbols()]
        if param == "interval":
            from trader_cli.core.intervals import VALID_INTERVALS

            return [(iv, "interval") for iv in VALID_INTERVALS if iv != "1s"]
        if param == "name":
            from trader_cli.core.indicators import get_indicator, indicator_names

            return [(n, get_indicator(n).description[:40]) for n in indicator_names()]
        if param == "params" and len(words) >= 4:
            from trader_cli.core.errors import IndicatorError
            from trader_cli.core.indicators import get_indicator

            try:
                ind = get_indicator(words[3])
            except IndicatorError:
                return []
            return [(str(p.default), f"{p.name} (default)") for p in ind.params]
        if param == "config":
            return [(str(p), "config") for p in sorted(Path("configs").glob("*.json"))]
        return [(c, param) for c in _CHOICES.get(param, [])]

    # -- completion ----------------------------------------------------------------------------
    def get_completions(self, document: Document, complete_event: CompleteEvent) -> Iterable[Completion]:
        text = document.text_before_cursor
        try:
            words = shlex.split(text)
        except ValueError:
            return
        current = "" if (not text or text[-1].isspace()) else (words.pop() if words else "")
        from trader_cli.app import command_tree

        cmd: Any = command_tree()
        consumed = 0
        for w in words:
            sub = getattr(cmd, "commands", {}).get(w)
            if sub is None:
                break
            cmd = sub
            consumed += 1
        rest = words[consumed:]
        if hasattr(cmd, "commands"):
            if not rest:
                for name in sorted(cmd.commands):
                    if name.startswith(current) and not cmd.commands[name].hidden:
                        yield Completion(name, -len(current), display_meta=_short(cmd.commands[name]))
            return
        yield from self._for_command(cmd, words, rest, current, document, complete_event)

    def _for_command(
        self, cmd: Any, words: list[str], rest: list[str], current: str, document: Document, event: CompleteEvent
    ) -> Iterable[Completion]:
        options = {o: p for p in cmd.params if p.param_type_name == "option" for o in p.opts}
        if rest and rest[-1] in options and not getattr(options[rest[-1]], "is_flag", False):
            yield from self._values(options[rest[-1]].name, words, current, document, event)
            return
        if current.startswith("-"):
            for opt, p in sorted(options.items()):
                if opt.startswith(current) and opt.startswith("--"):
                    yield Completion(opt, -len(current), display_meta=(p.help or "")[:50])
            return
        positional = [
            w
            for i, w in enumerate(rest)
            if not w.startswith("-")
            and not (i and rest[i - 1] in options and not getattr(options[rest[i - 1]], "is_flag", False))
        ]
        args = [p for p in cmd.params if p.param_type_name == "argument"]
        idx = min(len(positional), len(args) - 1) if args else -1
        if idx >= 0:
            yield from self._values(args[idx].name, words, current, document, event)

    def _values(
        self, param: str, words: list[str], current: str, document: Document, event: CompleteEvent
    ) -> Iterable[Completion]:
        if param in _PATH_PARAMS:
            sub = Document(current, len(current))
            yield from self._paths.get_completions(sub, event)
            return
        up = current.upper() if param == "symbol" else current
        for value, meta in self.values_for(param, words):
            if value.startswith(up):
                yield Completion(value, -len(current), display_meta=meta)


def _short(cmd: Any) -> str:
    return str(cmd.get_short_help_str(limit=45))
