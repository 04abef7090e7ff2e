"""Tab completion from the one command tree, plus live values (symbols, intervals, indicators and
the session's indicator keys, loaded plugins, open orders, clock targets, configs, files). It
runs in a thread (``complete_in_thread``) so typing never waits on it."""

from __future__ import annotations

import contextlib
import os
import shlex
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prompt_toolkit.completion import CompleteEvent, Completer, Completion, PathCompleter
from prompt_toolkit.document import Document

from trader_cli.context import AppContext

_CHOICES = {
    "source": ["strategy", "scanner", "adhoc"],
    "output": ["table", "json", "csv"],
    "fmt": ["json", "csv"],
    "tif": ["day", "gtc"],
}
_PATH_PARAMS = {"path", "png", "file", "spec"}
# ``time until``'s words (commands/time.py), each with what it means.
_CLOCK_WORDS = [
    ("open", "the next session open after now"),
    ("close", "the next close"),
    ("next-open", "the open of the session after this one"),
]
# Commands that read a symbol of the session: a stored symbol that is not loaded would only be an
# error there, so they are offered the session's symbols alone.
_SESSION_SYMBOL_COMMANDS = {
    ("remove", "symbol"),
    ("data", "symbol"),
    ("data", "bars"),
    ("data", "quality"),
    ("data", "chart"),
    ("order", "buy"),
    ("order", "sell"),
}


@dataclass(frozen=True)
class Position:
    """Where the word being completed sits: the command (``("add", "indicator")``) and the
    positional words typed so far for each of its arguments, by argument name."""

    command: tuple[str, ...]
    typed: dict[str, list[str]] = field(default_factory=dict)

    def first(self, argument: str) -> str | None:
        """The word typed for ``argument`` (None when not typed yet)."""
        words = self.typed.get(argument)
        return words[0] if words else None


class CommandCompleter(Completer):
    """Completes commands, sub-commands, options and argument values."""

    def __init__(self, obj: AppContext) -> None:
        self.obj = obj
        self._paths = PathCompleter(expanduser=True)
        self._configs = PathCompleter(expanduser=True, file_filter=lambda p: p.endswith(".json") or os.path.isdir(p))
        self._dirs = PathCompleter(expanduser=True, only_directories=True)
        self._stored: tuple[float, list[str]] = (-10.0, [])

    # -- live values -------------------------------------------------------------------------
    def session_symbols(self) -> list[str]:
        """The symbols loaded in the session (read live: ``remove symbol`` changes them)."""
        if not self.obj.has_coordinator:
            return []
        session = self.obj.coordinator.session
        with session.lock:  # the replay or a scanner may add a symbol meanwhile
            return sorted(session.symbols)

    def stored_symbols(self) -> list[str]:
        """The symbols in the bar store (cached for a few seconds: it reads the data dir)."""
        stamp, cached = self._stored
        if time.monotonic() - stamp < 5:
            return cached
        found: list[str] = []
        with contextlib.suppress(OSError):  # an unreadable data dir simply offers no stored symbols
            found = sorted(self.obj.store().symbols())
        self._stored = (time.monotonic(), found)
        return found

    def symbols(self) -> list[str]:
        """Symbols in the session and in the store."""
        return sorted({*self.session_symbols(), *self.stored_symbols()})

    def indicator_keys(self, symbol: str | None) -> list[str]:
        """The session's indicator keys (``sma_20_5m``): of ``symbol`` when it is loaded, else of
        every symbol."""
        if not self.obj.has_coordinator:
            return []
        session = self.obj.coordinator.session
        with session.lock:
            held = session.symbols.get(symbol.upper()) if symbol else None
            pool = [held] if held is not None else list(session.symbols.values())
            return sorted({key for data in pool for key in data.indicators})

    def open_orders(self) -> list[tuple[str, str]]:
        """The ids of the orders that may still fill, each with what it is (for ``order cancel``)."""
        if not self.obj.has_coordinator:
            return []
        broker = self.obj.coordinator.engine.broker
        return [(o.id, f"{o.side} {o.qty} {o.symbol} {o.type}") for o in broker.open_orders()]

    def plugins(self, kind: str) -> list[tuple[str, str]]:
        """The loaded plugins of a kind (strategy, scanner), each with its state."""
        if not self.obj.has_coordinator:
            return []
        slots = list(self.obj.coordinator.engine.plugins.slots.values())
        return [(s.name, s.state) for s in slots if s.kind == kind]

    def values_for(self, param: str, at: Position) -> list[tuple[str, str]]:
        """Candidate values (text, meta) for a parameter by its name, at a position."""
        if param in ("symbol", "symbols"):
            typed = {w.upper() for w in at.typed.get("symbols", [])}  # several tickers: each once
            if at.command in _SESSION_SYMBOL_COMMANDS:
                return [(s, "in the session") for s in self.session_symbols() if s not in typed]
            return [(s, "symbol") for s in self.symbols() if s not in typed]
        if param == "interval":
            from trader_cli.core.intervals import VALID_INTERVALS

            return [(iv, "interval") for iv in VALID_INTERVALS if iv != "1s"]
        if param == "name" and at.command[:1] in (("strategy",), ("scanner",)):  # strategy status NAME
            return self.plugins(at.command[0])
        if param == "name":
            from trader_cli.core.indicators import get_indicator, indicator_names

            return [(n, get_indicator(n).description[:40]) for n in indicator_names()]
        if param == "key":  # data indicator SYMBOL KEY
            return [(k, "indicator") for k in self.indicator_keys(at.first("symbol"))]
        if param == "when":  # time until
            return [*_CLOCK_WORDS, *self.clock_hours()]
        if param == "until":  # system wait --until HH:MM
            return self.clock_hours()
        if param == "command":
            return self.command_words(at)
        if param == "params":
            return self._param_default(at)
        if param == "with_":
            return [(k, "indicator") for k in self.indicator_keys(at.first("symbol"))]
        if param == "order_id":
            return self.open_orders()
        if param == "plugin":
            return self.plugins(at.command[0])
        return [(c, param) for c in _CHOICES.get(param, [])]

    def clock_hours(self) -> list[tuple[str, str]]:
        """The whole hours after the session's time up to its day's close (HH:MM, New York)."""
        if not self.obj.has_coordinator or self.obj.coordinator.state.value == "stopped":
            return []
        from trader_cli.core.calendar import to_ny

        coord = self.obj.coordinator
        st = coord.status()
        if st.trading_day is None or st.time is None:
            return []
        close = to_ny(coord.engine.calendar.open_close(st.trading_day)[1])
        hours = [f"{h:02d}:00" for h in range(st.time.hour + 1, close.hour + 1)]
        shown = [(h, "New York") for h in hours if h != f"{close:%H:%M}"]
        return [*shown, (f"{close:%H:%M}", "the close")] if close > st.time else shown

    def command_words(self, at: Position) -> list[tuple[str, str]]:
        """The next word of a command named as an argument: ``help add`` → symbol, bar, indicator;
        ``schema`` offers only the commands that have a JSON schema."""
        typed = at.typed.get("command", [])
        if at.command == ("schema",):
            from trader_cli.commands.schemas import OUTPUTS

            names = [name.split() for name in OUTPUTS]
            words = {n[len(typed)] for n in names if len(n) > len(typed) and n[: len(typed)] == typed}
            return [(w, "command") for w in sorted(words)]
        group: Any = self.obj.command_tree()
        for word in typed:
            group = getattr(group, "commands", {}).get(word)
            if group is None:
                return []
        listed = getattr(group, "commands", {})
        return [(n, _short(c)) for n, c in sorted(listed.items()) if not c.hidden]

    def _param_default(self, at: Position) -> list[tuple[str, str]]:
        """The default of the indicator parameter at this position (macd: fast, then slow, then
        signal), nothing past the last one."""
        from trader_cli.core.errors import IndicatorError
        from trader_cli.core.indicators import get_indicator

        name = at.first("name")
        if name is None:
            return []
        try:
            specs = get_indicator(name).params
        except IndicatorError:
            return []
        index = len(at.typed.get("params", []))
        if index >= len(specs):
            return []
        spec = specs[index]
        return [(str(spec.default), f"{spec.name} (default)")]

    # -- completion ----------------------------------------------------------------------------
    def get_completions(self, document: Document, complete_event: CompleteEvent) -> Iterable[Completion]:
        """Completions for the word before the cursor."""
        text = document.text_before_cursor
        try:
            words = shlex.split(text)
        except ValueError:
            return
        current = "" if (not text or text[-1].isspace()) else (words.pop() if words else "")
        yield from self._complete(words, current, complete_event)

    def _complete(self, words: list[str], current: str, event: CompleteEvent) -> Iterable[Completion]:
        """Walk the tree along ``words`` (a group's own options, ``-o json data session``, are
        stepped over), then complete ``current`` where the walk ends."""
        cmd: Any = self.obj.command_tree()
        path: list[str] = []
        i = 0
        while hasattr(cmd, "commands") and i < len(words):
            option = _options(cmd).get(words[i])
            if option is not None:
                if _takes_value(option) and i + 1 == len(words):  # the word is the option's value
                    yield from self._values(option.name, Position(tuple(path)), current, event)
                    return
                i += 2 if _takes_value(option) else 1
                continue
            sub = cmd.commands.get(words[i])
            if sub is None:
                return
            cmd = sub
            path.append(words[i])
            i += 1
        if hasattr(cmd, "commands"):
            if current.startswith("-"):
                yield from _option_names(cmd, current)
                return
            for name in sorted(cmd.commands):
                if name.startswith(current) and not cmd.commands[name].hidden:
                    yield Completion(name, -len(current), display_meta=_short(cmd.commands[name]))
            return
        yield from self._for_command(cmd, tuple(path), words[i:], current, event)

    def _for_command(
        self, cmd: Any, path: tuple[str, ...], rest: list[str], current: str, event: CompleteEvent
    ) -> Iterable[Completion]:
        options = _options(cmd)

        def takes_value(word: str) -> bool:
            return word in options and _takes_value(options[word])

        positional = [w for i, w in enumerate(rest) if not w.startswith("-") and not (i and takes_value(rest[i - 1]))]
        if path == ("watch",) and positional:  # watch SECONDS COMMAND…: the rest is a read-only command line
            nested = rest[rest.index(positional[0]) + 1 :]
            yield from (c for c in self._complete(nested, current, event) if _watchable(nested, c.text))
            return
        args = [p for p in cmd.params if p.param_type_name == "argument"]
        target, typed = _next_argument(args, positional)
        at = Position(path, typed)
        if rest and takes_value(rest[-1]):
            yield from self._values(options[rest[-1]].name, at, current, event)
            return
        if current.startswith("-"):
            yield from _option_names(cmd, current)
            return
        if target is not None:
            yield from self._values(target.name, at, current, event)

    def _values(self, param: str, at: Position, current: str, event: CompleteEvent) -> Iterable[Completion]:
        if at.command == ("config", "check") and param == "path":
            param = "config"
        if param in _PATH_PARAMS or param in ("config", "data_dir"):
            yield from self._path_values(param, current, event)
            return
        if param == "with_":  # comma-separated keys: complete the one after the last comma
            current = current.rsplit(",", 1)[-1]
        up = current.upper() if param in ("symbol", "symbols") else current
        for value, meta in self.values_for(param, at):
            if value.startswith(up):
                yield Completion(value, -len(current), display_meta=meta)

    def _path_values(self, param: str, current: str, event: CompleteEvent) -> Iterable[Completion]:
        """File paths (no dot-files unless the name typed starts with a dot); a config: JSON files
        and folders (./configs/*.json first); a data dir: folders only."""
        completer = {"config": self._configs, "data_dir": self._dirs}.get(param, self._paths)
        if param == "config" and "/" not in current:
            for config in sorted(Path("configs").glob("*.json")):
                if str(config).startswith(current):
                    yield Completion(str(config), -len(current), display_meta="config")
        hidden = os.path.basename(current).startswith(".")
        for found in completer.get_completions(Document(current, len(current)), event):
            if hidden or not found.display_text.startswith("."):  # dot-files only when asked for
                yield found


def _options(cmd: Any) -> dict[str, Any]:
    """A command's (or group's) options by each of their spellings."""
    return {o: p for p in cmd.params if p.param_type_name == "option" for o in p.opts}


def _takes_value(option: Any) -> bool:
    return not getattr(option, "is_flag", False)


def _option_names(cmd: Any, current: str) -> Iterable[Completion]:
    for opt, p in sorted(_options(cmd).items()):
        if opt.startswith(current) and opt.startswith("--"):
            yield Completion(opt, -len(current), display_meta=(p.help or "")[:50])


def _next_argument(args: list[Any], positional: list[str]) -> tuple[Any | None, dict[str, list[str]]]:
    """The argument the next positional word goes to (None when all are given) and the words
    typed for each argument so far (a variadic one, like an indicator's params, takes the rest)."""
    typed: dict[str, list[str]] = {}
    for pos, arg in enumerate(args):
        if arg.nargs == -1:
            typed[arg.name] = positional[pos:]
            return arg, typed
        if pos >= len(positional):
            return arg, typed
        typed[arg.name] = positional[pos : pos + 1]
    return None, typed


def _short(cmd: Any) -> str:
    return str(cmd.get_short_help_str(limit=45))


def _watchable(words: list[str], candidate: str) -> bool:
    """True when ``candidate`` after ``words`` can still make a command ``watch`` re-runs (one
    that only reads: recording.read_only); arguments and options pass."""
    from trader_cli.recording import READ_ONLY, READ_ONLY_WORDS

    if not words:
        return candidate in READ_ONLY_WORDS or any(group == candidate for group, _ in READ_ONLY)
    if len(words) == 1 and any(group == words[0] for group, _ in READ_ONLY):
        return (words[0], candidate) in READ_ONLY
    return True
