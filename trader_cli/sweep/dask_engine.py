"""The Dask engine: a sweep's tasks on a ``dask.distributed`` cluster (the optional extra
``trader-cli[sweep]``). ``--address tcp://host:8786`` or ``--scheduler-file F`` joins a running
cluster; without either, a LocalCluster on loopback (dashboard on 127.0.0.1, a free port).

On connect every worker must run this trader-cli version (a task spec is only JSON, but its
meaning is the code's): a mismatch is one line naming the workers. A scheduler that cannot be
reached is one line (a ``ClusterError``: exit 1, the command line was fine) once distributed's
own connect timeout, ``CONNECT_TIMEOUT_S``, runs out: with start-up and teardown, within the
README's 8 s; a scheduler file that is not there, at once. Tasks are submitted as plain
functions (``pure=False``: a re-run is a new run), results come back as they finish; closing the
iterator cancels what has not run. Workers open the store themselves: bars never go through the
scheduler.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from trader_cli.core.errors import TraderCliError, UsageError, clip
from trader_cli.sweep.engines import failed_row
from trader_cli.sweep.tasks import run_task, version

CONNECT_TIMEOUT_S = 4  # the Client's connect; the README promises the whole failure in 8 s (a loaded
# machine takes seconds more to start and tear down; a reachable scheduler answers in milliseconds)


class ClusterError(TraderCliError):
    """The Dask cluster cannot be reached or cannot run this sweep (exit 1: not a usage error)."""


class DaskEngine:
    """See the module doc."""

    name = "dask"

    def __init__(
        self, address: str | None = None, scheduler_file: str | None = None, workers: int | None = None
    ) -> None:
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            raise UsageError(
                "--engine dask needs the sweep extra: pip install 'trader-cli[sweep]' (dask[distributed])"
            ) from None
        self.cluster: Any = None
        if scheduler_file and not address and not Path(scheduler_file).expanduser().exists():
            # distributed waits for a missing scheduler file without end
            raise ClusterError(
                f"no Dask scheduler file {scheduler_file} (start one: dask scheduler --scheduler-file {scheduler_file})"
            )
        try:
            if address or scheduler_file:
                self.client = _joined(Client, address, scheduler_file)
            else:
                self.cluster = LocalCluster(
                    n_workers=workers or 2, threads_per_worker=1, processes=True, host="127.0.0.1",
                    dashboard_address="127.0.0.1:0", silence_logs=40,
                )  # fmt: skip
                self.client = Client(self.cluster, timeout=CONNECT_TIMEOUT_S)
        except ValueError as err:  # an address distributed cannot parse (its scheme, its port)
            if not address:
                raise
            raise UsageError(f"--address {address}: {err} (write it as tcp://HOST:PORT)") from None
        except MemoryError:  # distributed read a length out of another service's first bytes
            if not address:
                raise
            raise ClusterError(
                f"{address} did not answer as a Dask scheduler: check the address (its port, 8786 by default)"
            ) from None
        except (OSError, TimeoutError) as err:
            where = address or scheduler_file or "a local cluster"
            raise ClusterError(
                f"cannot reach the Dask scheduler at {where} within {CONNECT_TIMEOUT_S} s ({err}): "
                "check the address and that the scheduler runs"
            ) from None
        self.workers = len(self.client.scheduler_info().get("workers", {}))
        self._check_versions()

    def _check_versions(self) -> None:
        mine = version()
        theirs = self.client.run(version)
        wrong = sorted(w for w, v in theirs.items() if v != mine)
        if wrong:
            self.close()
            raise ClusterError(
                f"Dask worker(s) {', '.join(wrong[:3])} run trader-cli {theirs[wrong[0]]}, this driver {mine}: "
                "install the same version on every worker"
            )

    def run(self, specs: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        """Each result as its task finishes (a task that fails on the worker: a row with why)."""
        from distributed import as_completed

        futures = {self.client.submit(run_task, s, pure=False, retries=1): s for s in specs}
        try:
            for fut in as_completed(futures):
                spec = futures[fut]
                if fut.status == "error":
                    yield failed_row(spec, _why(fut.exception()))
                    continue
                yield fut.result()
        finally:
            self.client.cancel([f for f in futures if not f.done()])

    def close(self) -> None:
        """Leave the cluster (and stop the local one)."""
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()


def _joined(client: Any, address: str | None, scheduler_file: str | None) -> Any:
    """A Client of a running cluster, or a ClusterError once ``CONNECT_TIMEOUT_S`` (and 2 s more)
    passed: distributed's own timeout covers the TCP connect, not the handshake, so a
    port where something else listens (the dashboard's, an HTTP server) would wait for ever."""
    import threading

    box: dict[str, Any] = {}

    def connect() -> None:
        try:
            box["client"] = client(address=address, scheduler_file=scheduler_file, timeout=CONNECT_TIMEOUT_S)
        except BaseException as err:  # handed to the caller's thread, which raises it
            box["error"] = err

    worker = threading.Thread(target=connect, name="dask-connect", daemon=True)  # a stuck one ends with us
    worker.start()
    worker.join(CONNECT_TIMEOUT_S + 2)
    if worker.is_alive():
        where = address or scheduler_file
        raise ClusterError(
            f"no Dask scheduler answered at {where} within {CONNECT_TIMEOUT_S + 2} s (something listens there, "
            "but not a scheduler: its port is 8786 by default, the dashboard's 8787)"
        )
    if "error" in box:
        raise box["error"]
    return box["client"]


def _why(err: BaseException | None) -> str:
    """A task's failure on the cluster in one short line. A worker that died under it, on its
    retry too (KilledWorker), says "worker process died" as the local pool's does: a resume
    runs it again."""
    if type(err).__name__ == "KilledWorker":
        return "its Dask worker process died, also on its retry (killed or out of memory)"
    return f"the Dask task failed: {type(err).__name__}: {clip(' '.join(str(err).split()), 200)}"
