"""Replay benchmarks: 1m bars replayed per second at speed 0, and memory per bar held.

A backtest session over 2024-12-02..2024-12-06 (5 NYSE trading days) with 5m and 15m derived
bars, sma 20, ema 50 and rsi 14 on each of 1m, 5m and 15m (9 indicators a symbol) and 5
trailing days, on a synthetic store built by ``_synth.py`` (reused across runs). The session is
started paused (untimed); the replay alone is timed: ``coord.advance(10**9)`` steps every minute
of the five days to the end, in-process. Throughput = 1m bars replayed (``bars_replayed``) /
that wall time.

Memory is measured in a child process (``--memory-child``) so nothing else lives in it; see
bench/README.md for the method. Run alone with ``python bench/bench_replay.py`` or through
``python bench/run.py replay``.
"""

from __future__ import annotations

import gc
import json
import subprocess
import sys
import time
import types
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _synth import ensure_store, symbol_name
from _util import PYTHON, Row, median_of, print_rows, progress

from trader_cli.core.config import SessionConfig, parse_config
from trader_cli.core.coordinator import SessionCoordinator
from trader_cli.core.lifecycle import SessionState
from trader_cli.core.store import DataManager

STORE = (500, "2024-11-01", "2024-12-06")
FIRST_DAY, LAST_DAY = "2024-12-02", "2024-12-06"
TRAILING_DAYS = 5
INTERVALS = ("1m", "5m", "15m")
INDICATORS = [
    {"name": name, "params": [n], "interval": iv}
    for iv in INTERVALS
    for name, n in (("sma", 20), ("ema", 50), ("rsi", 14))
]
RUNS = {50: 5, 500: 5}


def replay_config(n: int, first: str = FIRST_DAY, last: str = LAST_DAY) -> SessionConfig:
    """The replay session over the first ``n`` synthetic symbols."""
    return parse_config(
        {
            "name": f"bench-replay-{n}",
            "mode": "backtest",
            "backtest_config": {"start_date": first, "end_date": last, "speed_multiplier": 0},
            "session_data_config": {
                "symbols": [symbol_name(i) for i in range(n)],
                "base_interval": "1m",
                "derived_intervals": ["5m", "15m"],
                "historical": {"trailing_days": TRAILING_DAYS},
                "indicators": INDICATORS,
            },
        }
    )


def started(data: Path, n: int, first: str = FIRST_DAY, last: str = LAST_DAY) -> tuple[SessionCoordinator, float]:
    """A fresh coordinator started paused on ``n`` symbols, and the seconds ``start`` took."""
    coord = SessionCoordinator(DataManager)
    t0 = time.perf_counter()
    coord.start(replay_config(n, first, last), data, paused=True)
    seconds = time.perf_counter() - t0
    assert len(coord.session.symbols) == n, "every symbol should provision"
    return coord, seconds


def replay_to_end(coord: SessionCoordinator) -> tuple[int, float]:
    """Step a paused session to the end; (1m bars replayed, wall seconds)."""
    before = coord.status().bars_replayed
    t0 = time.perf_counter()
    coord.advance(10**9)
    seconds = time.perf_counter() - t0
    assert coord.state is SessionState.finished, coord.state
    return coord.status().bars_replayed - before, seconds


def bench_throughput(data: Path, n: int) -> tuple[float, float, int]:
    """(median 1m bars/s, median start seconds, bars per run) over ``RUNS[n]`` replays."""
    rates, starts = [], []
    bars = 0
    for _ in range(RUNS[n]):
        coord, start_s = started(data, n)
        try:
            bars, seconds = replay_to_end(coord)
        finally:
            coord.shutdown()
        rates.append(bars / seconds)
        starts.append(start_s)
    return median_of(rates), median_of(starts), bars


# -- memory (child process) ------------------------------------------------------------------
def _status_kb(key: str) -> int:
    """A ``/proc/self/status`` figure in kB (VmRSS: now, VmHWM: peak since the last reset)."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise KeyError(key)


def _reset_peak() -> bool:
    """Reset VmHWM to the current RSS (Linux ``clear_refs`` 5); False where not allowed."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def bars_held(coord: SessionCoordinator) -> int:
    """Bars the session holds over the whole run (history loaded at start, every replayed day,
    today) over every symbol and interval."""
    return sum(len(coord.series(sym, iv)) for sym, data in coord.session.symbols.items() for iv in data.intervals)


_SKIP = (
    type,
    types.ModuleType,
    types.FunctionType,
    types.BuiltinFunctionType,
    types.MethodType,
    types.CodeType,
    types.FrameType,
)


def reachable_array_bytes(root: Any) -> int:
    """Bytes of the numpy buffers reachable from ``root`` (each buffer once: a view counts its
    whole base array, which it keeps alive). Classes, modules and functions are not followed."""
    import numpy as np

    seen: set[int] = set()
    counted: set[int] = set()
    total = 0
    stack = [root]
    while stack:
        obj = stack.pop()
        if id(obj) in seen or isinstance(obj, _SKIP):
            continue
        seen.add(id(obj))
        if isinstance(obj, np.ndarray):
            base = obj
            while isinstance(base.base, np.ndarray):
                base = base.base
            if id(base) not in counted:
                counted.add(id(base))
                total += base.nbytes  # a view of a foreign buffer (Arrow): its own extent
            continue
        stack.extend(gc.get_referents(obj))
    return total


def memory_child(data: Path, mode: str) -> dict[str, Any]:
    """Replay 500 symbols to the end after a one-symbol warm-up. ``rss``: RSS before start,
    after start and peaks (VmHWM, reset before each phase). ``tracemalloc``: bytes traced from
    just before start (numpy reports its buffers to tracemalloc; Arrow's pool is not traced)."""
    import tracemalloc

    # Warm-up on one symbol and one day: imports, the calendar, indicator registry, caches.
    coord, _ = started(data, 1, FIRST_DAY, FIRST_DAY)
    replay_to_end(coord)
    coord.shutdown()
    del coord
    gc.collect()
    out: dict[str, Any] = {"mode": mode}
    if mode == "tracemalloc":
        tracemalloc.start()
        coord, _ = started(data, STORE[0])
        out["traced_start_peak"] = tracemalloc.get_traced_memory()[1]
        tracemalloc.reset_peak()
        replay_to_end(coord)
        out["traced_end"], out["traced_replay_peak"] = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    else:
        out["rss_before_kb"] = _status_kb("VmRSS")
        reset = _reset_peak()
        coord, _ = started(data, STORE[0])
        gc.collect()
        out["rss_provisioned_kb"] = _status_kb("VmRSS")
        out["peak_start_kb"] = _status_kb("VmHWM")
        out["peak_reset"] = _reset_peak() and reset
        replay_to_end(coord)
        out["peak_replay_kb"] = _status_kb("VmHWM")
        out["rss_end_kb"] = _status_kb("VmRSS")
        out["array_bytes"] = reachable_array_bytes(coord)
    out["bars_held"] = bars_held(coord)
    return out


def bench_memory(data: Path, mode: str) -> dict[str, Any]:
    """Run ``memory_child`` in a fresh interpreter and return its figures."""
    out = subprocess.run(
        [str(PYTHON), __file__, "--memory-child", mode, str(data)],
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> list[Row]:
    """Every figure of this module (about 60 s on the project machine, plus ~10 s the first
    time to build the store)."""
    data = ensure_store(*STORE)
    rows: list[Row] = []
    for n in (50, 500):
        progress(f"replay {n} symbols x 5 days, {RUNS[n]} runs")
        rate, start_s, _ = bench_throughput(data, n)
        target = " (target >= 1 M)" if n == 500 else ""
        rows.append((f"replay {n} sym x 5d, 2 derived, 9 ind: 1m bars/s{target}", rate, "bars/s"))
        rows.append((f"  (start paused, {n} symbols, untimed above)", start_s, "s"))
    progress("memory: 500-symbol replay in a child process (RSS)")
    m = bench_memory(data, "rss")
    progress("memory: 500-symbol replay in a child process (tracemalloc, ~25 s)")
    t = bench_memory(data, "tracemalloc")
    held = m["bars_held"]
    kb = 1024
    before, after_start = m["rss_before_kb"], m["rss_provisioned_kb"]
    peak = max(m["peak_start_kb"], m["peak_replay_kb"]) if m["peak_reset"] else m["peak_replay_kb"]
    traced_peak = max(t["traced_start_peak"], t["traced_replay_peak"])
    rows += [
        ("bars held at the end, 500 symbols (whole run: history + 5 replayed days, 1m/5m/15m)", float(held), "bars"),
        (
            "traced peak (start + replay) per bar held (target <= 64)",
            traced_peak / t["bars_held"],
            "B/bar",
        ),
        ("traced at the end per bar held", t["traced_end"] / t["bars_held"], "B/bar"),
        (
            "numpy bytes reachable from the session at the end, per bar",
            m["array_bytes"] / held,
            "B/bar",
        ),
        ("peak RSS - RSS before start, per bar held", (peak - before) * kb / held, "B/bar"),
        (
            "RSS at end - RSS before start, per bar held",
            (m["rss_end_kb"] - before) * kb / held,
            "B/bar",
        ),
        (
            "peak RSS in replay - RSS after start, per bar held",
            (m["peak_replay_kb"] - after_start) * kb / held,
            "B/bar",
        ),
    ]
    return rows


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--memory-child":
        print(json.dumps(memory_child(Path(sys.argv[3]), sys.argv[2])))
    else:
        print_rows(main(), title="bench_replay (medians)")
