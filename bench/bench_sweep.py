"""Sweep benchmark (issue 15): 20 backtests of ema_cross (a 4 × 5 grid of fast/slow) over the
50-symbol synthetic store, 5 days each (about a second a backtest here), three ways in one run:

- serial: ``LocalEngine(1)``, every task in this process, one after another;
- local: ``LocalEngine(2)``, a process pool of 2 workers;
- dask: ``DaskEngine`` on a LocalCluster of 2 worker processes on loopback (started untimed).

Timed: the whole ``run_sweep`` (results streamed to a fresh results.jsonl). Per-task overhead =
(wall × workers − the tasks' own seconds) / tasks. Medians of 3 runs. Also: the driver's peak
memory (ru_maxrss growth) for 20 tasks and for 200 quick tasks (1 day, 3 symbols), to show it
does not grow with the number of tasks. Run alone with ``python bench/bench_sweep.py`` or through
``python bench/run.py sweep``.
"""

from __future__ import annotations

import json
import resource
import shutil
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _synth import ensure_store, symbol_name
from _util import Row, median_of, print_rows, progress, temp_dir
from bench_replay import STORE

ROOT = Path(__file__).resolve().parent.parent
EMA = ROOT / "examples" / "strategies" / "ema_cross.py"
RUNS = 3


def _config(work: Path, data: Path, symbols: int, first: str, last: str) -> Path:
    cfg = {
        "name": "bench-sweep",
        "mode": "backtest",
        "data_dir": str(data),
        "backtest_config": {"start_date": first, "end_date": last, "speed_multiplier": 0},
        "session_data_config": {
            "symbols": [symbol_name(i) for i in range(symbols)],
            "derived_intervals": ["5m"],
            "historical": {"trailing_days": 2},
        },
        "broker": {"initial_cash": 1e7},
    }
    path = work / "cfg.json"
    path.write_text(json.dumps(cfg))
    return path


def _sweep(engine: Any, specs: list[dict[str, Any]], work: Path) -> tuple[float, float]:
    """(wall seconds, the tasks' own seconds summed)."""
    from trader_cli.sweep.driver import run_sweep

    out = work / f"out-{time.monotonic_ns()}"
    t0 = time.perf_counter()
    run_sweep(specs, out, engine, {"metric": "sharpe"})
    wall = time.perf_counter() - t0
    own = 0.0
    for line in (out / "results.jsonl").read_text().splitlines():
        row = json.loads(line)
        assert row["error"] is None, row["error"]
        own += row["seconds"]
    shutil.rmtree(out)
    return wall, own


def main() -> list[Row]:
    """Every figure of this module (about 3 minutes on the project machine)."""
    from trader_cli.sweep.dask_engine import DaskEngine
    from trader_cli.sweep.driver import build_specs
    from trader_cli.sweep.engines import LocalEngine

    data = ensure_store(*STORE)
    work = temp_dir("sweep")
    cfg = _config(work, data, 50, "2024-12-02", "2024-12-06")
    specs = build_specs(cfg, data, str(EMA), ["fast=5:20:5", "slow=30:70:10"], None, None)
    assert len(specs) == 20
    dask = DaskEngine(workers=2)
    walls: dict[str, list[float]] = {"serial": [], "local": [], "dask": []}
    owns: dict[str, list[float]] = {"serial": [], "local": [], "dask": []}
    try:
        for _ in range(RUNS):
            for name, engine in (("serial", LocalEngine(1)), ("local", LocalEngine(2)), ("dask", dask)):
                progress(f"sweep of 20 backtests: {name}")
                wall, own = _sweep(engine, specs, work)
                walls[name].append(wall)
                owns[name].append(own)
        progress("driver memory: 20 tasks, then 200 quick ones")
        quick = build_specs(
            _config(work, data, 3, "2024-12-02", "2024-12-02"),
            data,
            str(EMA),
            ["fast=2:21:1", "slow=30:120:10"],
            None,
            None,
        )
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        _sweep(LocalEngine(2), quick[:20], work)
        after20 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        _sweep(LocalEngine(2), quick, work)
        after200 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    finally:
        dask.close()
        shutil.rmtree(work, ignore_errors=True)
    med = {k: median_of(v) for k, v in walls.items()}
    own = {k: median_of(v) for k, v in owns.items()}
    per_task = {k: (med[k] * (1 if k == "serial" else 2) - own[k]) / 20 for k in med}
    return [
        ("20 backtests (50 sym x 5 days), serial: wall", med["serial"], "s"),
        ("  a backtest's own time (median of the serial run's tasks)", own["serial"] / 20, "s"),
        ("local pool, 2 workers: wall", med["local"], "s"),
        ("  local speed-up over serial (target >= 1.7)", med["serial"] / med["local"], "x"),
        ("  local per-task overhead", per_task["local"] * 1000, "ms"),
        ("dask LocalCluster on loopback, 2 workers: wall", med["dask"], "s"),
        ("  dask / local wall (target within 15 %)", med["dask"] / med["local"], "x"),
        ("  dask per-task overhead", per_task["dask"] * 1000, "ms"),
        ("driver peak RSS growth: 20 quick tasks", (after20 - before) / 1024, "MB"),
        ("driver peak RSS growth: 200 quick tasks (after the 20)", (after200 - after20) / 1024, "MB"),
    ]


if __name__ == "__main__":
    print_rows(main(), title="sweeps (issue 15)")
