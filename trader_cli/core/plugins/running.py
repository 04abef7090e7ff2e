"""A plugin callback under way, and how one that does not return is stopped."""

from __future__ import annotations

import functools
import os
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

from trader_cli.core.errors import PluginError
from trader_cli.core.plugins.api import Schedule
from trader_cli.core.plugins.loader import USER_ERRORS, cancel_on_ctrl_c, check_schedule, raised

if TYPE_CHECKING:
    from trader_cli.core.plugins.api import Plugin, Scanner
    from trader_cli.core.plugins.host import PluginHost

HOLDS_S = 5.0  # a callback running this long makes a command that waits for the session say so

STUCK_S = 1.0  # a callback running this long when the trader stops its plugin is stuck


class Running(NamedTuple):
    """A plugin callback under way: the plugin, its file (as its frames carry it), when it
    started (perf_counter; it tells two calls apart) and the thread it runs in."""

    name: str
    file: str
    started: float
    thread: int


class Stopped(KeyboardInterrupt):
    """Raised in a plugin's callback that did not return when the trader stopped the plugin (a
    KeyboardInterrupt: a plugin's own ``except Exception`` does not swallow it, and should it
    land in the session's code just as the callback returned, the clock halts with one line)."""


def holding(host: PluginHost, at_least: float = HOLDS_S) -> str | None:
    """What a command waiting for the session is told when a plugin's callback has held it for
    ``at_least`` seconds or more (the running clock steps it, under the session's lock), else None."""
    run = host.in_callback
    if run is None or time.perf_counter() - run.started < at_least:
        return None
    slot = host.slots.get(run.name)
    kind = slot.kind if slot is not None else "strategy"
    return (
        f"{kind} {run.name}'s callback has held the session for {time.perf_counter() - run.started:.0f} s "
        f"without returning; stop it with: {kind} stop {run.name}"
    )


def load_error(where: str, err: BaseException, file: str | None) -> str:
    """The line for user code that raised while a plugin loads (``where``: "NAME: its
    constructor", "NAME: needs()", …): where in ``file`` it raised, and its traceback written to
    the plugins' log, as a running plugin's is. A ``PluginError`` is the plugin refusing its
    parameters on purpose (or an API call's own refusal): its text alone, after the name."""
    import traceback

    from trader_cli.core.logs import append_log

    if isinstance(err, PluginError):
        return f"{where.split(': ')[0]}: {err}"
    log = append_log("plugins.log", f"{where}\n{''.join(traceback.format_exception(err))}")
    mine = [f for f in traceback.extract_tb(err.__traceback__) if file and os.path.realpath(f.filename) == file]
    at = f" at {os.path.basename(file or '')} line {mine[-1].lineno}" if mine else ""
    return f"{where} raised {raised(err)}{at} (traceback in {log})"


_T = TypeVar("_T")


def user_code(cls: type[Plugin], name: str, what: str, call: Callable[[], _T]) -> _T:
    """``call()``: a plugin's own code while it loads; what it raises is one line (running.load_error)."""
    try:
        return call()
    except USER_ERRORS as err:
        cancel_on_ctrl_c(err, f"{name}: {what}")
        file = getattr(sys.modules.get(cls.__module__), "__file__", None)
        raise PluginError(load_error(f"{name}: {what}", err, real_path(file) if file else None)) from err


def scanner_schedule(scanner: Scanner, name: str, given: Schedule | dict[str, Any] | None) -> Schedule:
    """A scanner's schedule: ``given``, or its own (``default_schedule()``) with ``given``'s fields
    changed (``scanner load --every …``, a config's ``schedule``), checked."""
    if isinstance(given, Schedule):
        own = given
    else:
        own = user_code(type(scanner), name, "default_schedule()", scanner.default_schedule)
    sched = replace(own, **given) if isinstance(given, dict) else own
    check_schedule(sched, name)
    return sched


@functools.lru_cache(maxsize=256)
def real_path(path: str) -> str:
    """A plugin file's real path (what its code's frames carry, resolved the same way)."""
    return os.path.realpath(path)
