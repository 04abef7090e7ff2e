"""A plugin callback under way, and how one that does not return is stopped."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
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
    """The line for user code that raised while a plugin loads (its constructor, ``needs()``):
    where in ``file`` it raised, and its traceback written to the plugins' log, as a running
    plugin's is."""
    import os
    import traceback

    from trader_cli.core.logs import append_log

    log = append_log("plugins.log", f"{where}\n{''.join(traceback.format_exception(err))}")
    mine = [f for f in traceback.extract_tb(err.__traceback__) if file and os.path.realpath(f.filename) == file]
    at = f" at {os.path.basename(file or '')} line {mine[-1].lineno}" if mine else ""
    return f"{where} raised {type(err).__name__}: {err}{at} (traceback in {log})"
