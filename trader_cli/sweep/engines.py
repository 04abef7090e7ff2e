"""Where a sweep's tasks run. The seam is one method: ``run(specs)`` yields each result as it
arrives (any order) and stops early when the caller closes the iterator (Ctrl-C: the pending
tasks are cancelled; the finished ones were already yielded and written). A Ray or Dask engine
is a short module with the same method.

``LocalEngine``: a process pool on this machine (workers = cores by default), each task in a
worker process that opens the store itself. A worker that dies (killed, out of memory) fails
only its own task: the tasks the broken pool lost run again, each alone, and the one that
kills its worker again comes back as a row with the error.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Protocol

from trader_cli.sweep.tasks import run_task, spec_hash


class Engine(Protocol):
    """Runs task specs; yields their results as they arrive."""

    name: str
    workers: int

    def run(self, specs: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        """Each spec's result (run_task's), in the order they finish."""
        ...

    def close(self) -> None:
        """Let go of what the engine holds (a cluster connection)."""
        ...


class LocalEngine:
    """A process pool (see the module doc)."""

    name = "local"

    def __init__(self, workers: int | None = None) -> None:
        self.workers = max(1, workers or os.cpu_count() or 1)

    def close(self) -> None:
        """Nothing held between sweeps: each run's pool ends with it."""

    def run(self, specs: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        """Each result as its task finishes; closing the iterator cancels what has not started.
        When a worker dies the pool breaks and every unfinished task fails with it: each of those
        runs again alone in a fresh worker, and one whose worker dies again is reported failed."""
        if self.workers == 1:  # serial: in this process (the figure sweeps are compared with)
            for spec in specs:
                yield run_task(spec)
            return
        retry: list[dict[str, Any]] = []
        pool = ProcessPoolExecutor(max_workers=min(self.workers, len(specs) or 1), initializer=_quiet_on_ctrl_c)
        running = {pool.submit(run_task, s): s for s in specs}
        try:
            for fut in as_completed(running):
                try:
                    result = fut.result()
                except BrokenProcessPool:  # a worker died: every unfinished task of the pool fails
                    retry.append(running[fut])
                    continue
                yield result
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
        for spec in retry:  # each alone in a fresh worker: the one that dies again is the culprit
            alone = ProcessPoolExecutor(max_workers=1, initializer=_quiet_on_ctrl_c)
            try:
                yield alone.submit(run_task, spec).result()
            except BrokenProcessPool:
                yield failed_row(spec, "its worker process died, also when run alone (killed or out of memory)")
            finally:
                alone.shutdown(wait=False, cancel_futures=True)


def _quiet_on_ctrl_c() -> None:
    """A worker's Ctrl-C (the terminal sends it to the whole process group) ends it at once and
    silently: the driver cancels the sweep and says so; the results are the driver's to write."""
    import signal

    signal.signal(signal.SIGINT, lambda *_: os._exit(130))


def failed_row(spec: dict[str, Any], why: str) -> dict[str, Any]:
    """The result row of a task that did not run to its end on its worker."""
    return {
        "spec_hash": spec_hash(spec),
        "params": spec.get("params", {}),
        "report": None,
        "error": why,
        "seconds": None,
    }
