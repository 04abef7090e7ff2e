"""A progress bar for loads that take a while: it appears only after ~0.5 s, on stderr, and
only when stderr is a terminal (scripts and pipes see nothing)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

DELAY_S = 0.5


class LazyProgress:
    """``progress(done, total, label)``: shows a rich bar once the work has taken DELAY_S."""

    def __init__(self, console: Any, title: str) -> None:
        self.console = console
        self.title = title
        self.started = time.monotonic()
        self._bar: Any = None
        self._task: Any = None

    def __call__(self, done: int, total: int, label: str = "") -> None:
        if self._bar is None:
            if time.monotonic() - self.started < DELAY_S or not self.console.is_terminal:
                return
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self._bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TextColumn("{task.fields[label]}"),
                console=self.console,
                transient=True,
            )
            self._bar.start()
            self._task = self._bar.add_task(self.title, total=total, label=label)
        self._bar.update(self._task, completed=done, total=total, label=label)

    def close(self) -> None:
        """Remove the bar (it is transient)."""
        if self._bar is not None:
            self._bar.stop()
            self._bar = None


@contextmanager
def progress_for(renderer: Any, title: str) -> Iterator[LazyProgress]:
    """A LazyProgress on the renderer's stderr console, closed on exit."""
    p = LazyProgress(renderer.err, title)
    try:
        yield p
    finally:
        p.close()
