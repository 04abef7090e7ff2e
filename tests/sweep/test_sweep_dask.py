"""The Dask engine on a real cluster on loopback: ``dask scheduler`` with a scheduler file (port
0, dashboard on 127.0.0.1:0) and ``dask worker --nworkers 2``, started here and torn down after;
its leaderboard equals the local pool's, row by row. A scheduler that is not there needs no
cluster: one line, exit 1, within the README's 8 s."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.sweep.test_sweep import EMA, config
from tests.sweep.test_sweep import _isolated as _isolated
from tests.test_app import Shell

ROOT = Path(__file__).resolve().parents[2]
DASK = Path(sys.executable).parent / "dask"


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Path]:
    sched_file = tmp_path / "scheduler.json"
    common = ["--dashboard-address", "127.0.0.1:0"]
    sched = subprocess.Popen(
        [str(DASK), "scheduler", "--scheduler-file", str(sched_file), "--host", "127.0.0.1", "--port", "0", *common],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    procs = [sched]
    try:
        end = time.monotonic() + 30
        while not sched_file.exists():
            assert time.monotonic() < end, "the scheduler did not start"
            time.sleep(0.1)
        worker = subprocess.Popen(
            [str(DASK), "worker", "--scheduler-file", str(sched_file), "--nworkers", "2", "--nthreads", "1",
             "--host", "127.0.0.1", *common],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=tmp_path,
        )  # fmt: skip
        procs.append(worker)
        from distributed import Client

        with Client(scheduler_file=str(sched_file), timeout=30) as client:
            client.wait_for_workers(2, timeout=60)
        yield sched_file
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            p.wait(30)


def _board(res_out: str) -> dict[str, tuple]:
    return {r["params"]: (r["sharpe"], r["total_return"], r["round_trips"], r["error"]) for r in json.loads(res_out)}


@pytest.mark.slow  # 8 s or more with its cluster's teardown
def test_dask_and_local_give_the_same_leaderboard(cluster: Path, tmp_path: Path) -> None:
    cfg = config(tmp_path)
    grid = f"--strategy {EMA} --param fast=5,10 --param slow=20,30"
    sh = Shell(ROOT / "data")
    local = sh(f"sweep {cfg} {grid} --workers 2 --out {tmp_path / 'local'} -o json")
    dask = sh(f"sweep {cfg} {grid} --engine dask --scheduler-file {cluster} --out {tmp_path / 'dask'} -o json")
    assert local.code == 0 and dask.code == 0, (local.err, dask.err)
    assert _board(local.out) == _board(dask.out) and len(_board(dask.out)) == 4
    rows = [json.loads(x) for x in (tmp_path / "dask" / "results.jsonl").read_text().splitlines()]
    assert {r["spec_hash"] for r in rows} == {
        json.loads(x)["spec_hash"] for x in (tmp_path / "local" / "results.jsonl").read_text().splitlines()
    }


@pytest.mark.slow
def test_an_unreachable_scheduler_is_one_line_within_8_s(tmp_path: Path) -> None:
    sh = Shell(ROOT / "data")
    start = time.monotonic()
    res = sh(f"sweep {config(tmp_path)} --strategy {EMA} --param fast=5 --engine dask --address tcp://127.0.0.1:9 "
             f"--out {tmp_path / 'o'}")  # fmt: skip
    took = time.monotonic() - start
    assert res.code == 1 and took < 8, (res.code, took)  # a runtime failure, not a usage error (2)
    assert res.err.count("\n") == 1 and "cannot reach the Dask scheduler at tcp://127.0.0.1:9 within 4 s" in res.err
    missing = tmp_path / "nowhere.json"
    res = sh(f"sweep {config(tmp_path)} --strategy {EMA} --param fast=5 --engine dask --scheduler-file {missing} "
             f"--out {tmp_path / 'o'}")  # fmt: skip
    assert res.code == 1 and f"no Dask scheduler file {missing}" in res.err  # at once: distributed would wait
    res = sh(f"sweep {config(tmp_path)} --strategy {EMA} --param fast=5 --engine dask --address bogus://h:1")
    assert res.code == 2 and "--address bogus://h:1: unknown address scheme" in res.err
    assert not (tmp_path / "o").exists()


@pytest.mark.slow
@pytest.mark.parametrize(
    ("greeting", "says"),
    [(b"", "no Dask scheduler answered at"), (b"SSH-2.0-x\r\n", "did not answer as a Dask scheduler")],
)
def test_a_port_where_something_else_listens_is_one_line_not_a_hang(tmp_path: Path, greeting: bytes, says: str) -> None:
    import socket
    import threading

    srv = socket.create_server(("127.0.0.1", 0))
    port = srv.getsockname()[1]
    held: list[socket.socket] = []

    def serve() -> None:  # accepts, says its greeting (or nothing), never speaks Dask
        while True:
            try:
                conn, _ = srv.accept()
            except OSError:
                return
            conn.sendall(greeting)
            held.append(conn)

    threading.Thread(target=serve, daemon=True).start()
    try:
        res = Shell(ROOT / "data")(
            f"sweep {config(tmp_path)} --strategy {EMA} --param fast=5 --engine dask "
            f"--address tcp://127.0.0.1:{port} --out {tmp_path / 'o'}"
        )
    finally:
        srv.close()
        for conn in held:
            conn.close()
    assert res.code == 1 and res.err.count("\n") == 1, (res.code, res.err)
    assert says in res.err and "out of memory" not in res.err, res.err
    assert not (tmp_path / "o").exists()


def test_a_task_whose_dask_worker_died_is_a_short_row_a_resume_runs_again() -> None:
    from distributed.scheduler import KilledWorker

    from trader_cli.sweep.dask_engine import _why
    from trader_cli.sweep.driver import _died

    killed = KilledWorker("run_task-1f2e", "tcp://127.0.0.1:40111", "see https://distributed.dask.org/en/" + "x" * 300)
    row = {"error": _why(killed)}
    assert _died(row) and len(row["error"]) < 120 and "http" not in row["error"], row  # as the local pool's
    other = {"error": _why(RuntimeError("line one\nline two " + "y" * 500))}
    assert not _died(other) and "\n" not in other["error"] and len(other["error"]) < 260, other
