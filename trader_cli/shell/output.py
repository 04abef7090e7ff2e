"""Output above the prompt that is never lost.

prompt_toolkit's ``patch_stdout`` sends text written while a prompt is on screen to the prompt's
event loop (``call_soon_threadsafe`` → ``run_in_terminal``). Text that reaches the loop as the
prompt ends — a warning raised while the line typed is accepted, a live feed's note as Enter is
pressed — is dropped: the callback lands on a loop that closes before it runs, or raises
``Event loop is closed`` in the flush thread, which then dies and takes every later line with it
(prompt_toolkit issue #1079). ``SafeStdoutProxy`` waits for the write to happen; when the loop
closed first, it writes the text on the prompt that runs now, or straight to the terminal.
"""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO, cast

from prompt_toolkit.application import run_in_terminal
from prompt_toolkit.patch_stdout import StdoutProxy

_POLL = 0.01  # seconds between looks at whether the write has run
_GIVE_UP = 1.0  # seconds a prompt's loop may stand still before its write is taken back


class SafeStdoutProxy(StdoutProxy):
    """``StdoutProxy`` whose flush thread makes sure each text is written once."""

    def _write_and_flush(self, loop: asyncio.AbstractEventLoop | None, text: str) -> None:
        while loop is not None:
            if self._written_in(loop, text):
                return
            later = self._get_app_loop()  # the loop closed first: the next prompt's, if one runs
            loop = None if later is loop else later
        super()._write_and_flush(None, text)

    def _written_in(self, loop: asyncio.AbstractEventLoop, text: str) -> bool:
        """Write ``text`` above the prompt running on ``loop``; False when the loop closed (or
        stopped for good) before the write ran: nothing was written, and nothing will be."""
        lock = threading.Lock()
        outcome: list[bool] = []  # [True] once written, [False] once given up
        ran = threading.Event()

        def write() -> None:
            with lock:
                if not outcome:
                    super(SafeStdoutProxy, self)._write_and_flush(None, text)
                    outcome.append(True)
            ran.set()

        try:
            loop.call_soon_threadsafe(lambda: run_in_terminal(write, in_executor=False))
        except RuntimeError:  # the loop closed between looking it up and calling it
            return False
        idle = 0.0
        while True:
            ran.wait(_POLL)
            idle = 0.0 if loop.is_running() else idle + _POLL
            with lock:
                if outcome:
                    return True
                if loop.is_closed() or idle >= _GIVE_UP:
                    outcome.append(False)
                    return False


@contextmanager
def patched_output() -> Iterator[SafeStdoutProxy]:
    """``sys.stdout`` and ``sys.stderr`` print above the prompt (prompt_toolkit's
    ``patch_stdout(raw=True)``, with ``SafeStdoutProxy``)."""
    proxy = SafeStdoutProxy(raw=True)
    original = sys.stdout, sys.stderr
    sys.stdout = sys.stderr = cast(TextIO, proxy)
    try:
        yield proxy
    finally:
        sys.stdout, sys.stderr = original
        proxy.close()
