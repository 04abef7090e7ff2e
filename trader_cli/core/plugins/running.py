"""A plugin callback under way, and how one that does not return is stopped."""

from __future__ import annotations

from typing import NamedTuple

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
