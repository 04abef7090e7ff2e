"""Export benchmark: peak memory growth and wall time of ``session export --bars``.

The 500-symbol session of ``bench_replay.py`` (500 symbols x 2024-12-02..06, 1m base, 5m and
15m derived, 9 indicators, 5 trailing days) is started paused and replayed to the end; then one
export with bars is written (``export_session``, as ``session export PATH --bars`` calls it).
Each run is a fresh child process (``--child``) so that no freed-but-kept heap of an earlier
export hides the cost of the next one. In the child: ``gc.collect()``, VmRSS before the export,
VmHWM reset (``/proc/self/clear_refs`` 5), the export, then VmHWM: growth = VmHWM - VmRSS
before; and, in one more child, the peak of traced allocations (tracemalloc) during the
export, which heap the process freed earlier and kept cannot hide. Run alone with
``python bench/bench_export.py`` or through ``python bench/run.py export``.
"""

from __future__ import annotations

import gc
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _util import PYTHON, Row, median_of, print_rows, progress, temp_dir
from bench_replay import STORE, _reset_peak, _status_kb, replay_to_end, started

RUNS = 3
FORMATS = ("json", "csv")


def export_child(data: Path, fmt: str, out_dir: Path, traced: bool) -> dict[str, Any]:
    """One 500-symbol session replayed to the end, then one export with bars; the figures.
    ``traced``: also the peak of Python + numpy allocations during the export (tracemalloc),
    which freed-but-kept heap cannot hide (and which slows the export, so it is timed apart)."""
    import tracemalloc

    from trader_cli.core.export import export_session

    coord, _ = started(data, STORE[0])
    try:
        replay_to_end(coord)
        path = out_dir / f"session.{fmt}"
        gc.collect()
        before = _status_kb("VmRSS")
        reset = _reset_peak()
        if traced:
            tracemalloc.start()
        t0 = time.perf_counter()
        export_session(coord, path, fmt, with_bars=True)
        seconds = time.perf_counter() - t0
        peak = _status_kb("VmHWM")
        out = {
            "rss_before_kb": before,
            "peak_kb": peak,
            "peak_reset": reset,
            "seconds": seconds,
            "bytes": path.stat().st_size,
        }
        if traced:
            out["traced_peak"] = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
        return out
    finally:
        coord.shutdown()


def bench_export(data: Path, fmt: str, traced: bool = False) -> list[dict[str, Any]]:
    """``RUNS`` children (one when ``traced``), each one export with bars in ``fmt``."""
    runs = []
    for _ in range(1 if traced else RUNS):
        out_dir = temp_dir("export")
        try:
            proc = subprocess.run(
                [str(PYTHON), __file__, "--child", fmt, str(data), str(out_dir), "traced" if traced else "rss"],
                check=True,
                capture_output=True,
                text=True,
                timeout=600,
            )
        finally:
            shutil.rmtree(out_dir, ignore_errors=True)
        runs.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    return runs


def main() -> list[Row]:
    """Every figure of this module (about 20 s a run on the project machine)."""
    from _synth import ensure_store

    data = ensure_store(*STORE)
    rows: list[Row] = []
    for fmt in FORMATS:
        progress(f"export {fmt} --bars of the 500-symbol session, {RUNS} child runs")
        runs = bench_export(data, fmt)
        if not all(r["peak_reset"] for r in runs):
            growth = float("nan")  # VmHWM could not be reset: the peak would be the session's
        else:
            growth = median_of((r["peak_kb"] - r["rss_before_kb"]) / 1024 for r in runs)
        rows += [
            (f"export {fmt} --bars 500 sym: peak RSS growth (target <= 64 MB)", growth, "MB"),
            (
                f"export {fmt} --bars 500 sym: RSS before the export",
                median_of(r["rss_before_kb"] / 1024 for r in runs),
                "MB",
            ),
            (f"export {fmt} --bars 500 sym: wall time", median_of(r["seconds"] for r in runs), "s"),
            (f"export {fmt} --bars 500 sym: file size", median_of(r["bytes"] / 1e6 for r in runs), "MB"),
        ]
        progress(f"export {fmt} --bars under tracemalloc, 1 child run")
        traced = bench_export(data, fmt, traced=True)[0]
        rows.append(
            (f"export {fmt} --bars 500 sym: traced peak during the export", traced["traced_peak"] / 2**20, "MB")
        )
    return rows


if __name__ == "__main__":
    if len(sys.argv) == 6 and sys.argv[1] == "--child":
        print(json.dumps(export_child(Path(sys.argv[3]), sys.argv[2], Path(sys.argv[4]), sys.argv[5] == "traced")))
    else:
        print_rows(main(), title="bench_export (medians)")
