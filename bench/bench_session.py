"""Session benchmarks: ``system start``, one mid-session ``add symbol``, session export.

Everything is driven in-process through the core API (``SessionCoordinator``), as the shell's
commands do, on a synthetic store built by ``_synth.py`` (reused across runs). Run alone with
``python bench/bench_session.py`` or through ``python bench/run.py session``; see
bench/README.md for what each figure means and the targets.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _synth import ensure_store, symbol_name
from _util import PYTHON, Row, median_of, ms, print_rows, progress, temp_dir

from trader_cli.core.config import SessionConfig, parse_config
from trader_cli.core.coordinator import SessionCoordinator
from trader_cli.core.export import export_session
from trader_cli.core.store import DataManager

# 60 symbols: 50 for the config, the rest for mid-session additions. From 2024-10-01 so that 20
# trailing days before 2024-12-02 (back to 2024-11-01) plus any warmup are in the store.
STORE = (60, "2024-10-01", "2024-12-06")
FIRST_DAY, LAST_DAY = "2024-12-02", "2024-12-06"
START_SYMBOLS = 50
START_RUNS = 7
ADD_RUNS = 9
EXPORT_RUNS = 5
EXPORT_MINUTES = 120
INDICATORS = [
    {"name": "sma", "params": [20], "interval": "5m"},
    {"name": "ema", "params": [50], "interval": "1m"},
    {"name": "rsi", "params": [14], "interval": "15m"},
]


def session_config(symbols: list[str], trailing_days: int) -> SessionConfig:
    """The benchmark session: 1m base, 5m and 15m derived, three indicators."""
    return parse_config(
        {
            "name": "bench-session",
            "mode": "backtest",
            "backtest_config": {
                "start_date": FIRST_DAY,
                "end_date": LAST_DAY,
                "speed_multiplier": 0,
            },
            "session_data_config": {
                "symbols": symbols,
                "base_interval": "1m",
                "derived_intervals": ["5m", "15m"],
                "historical": {"trailing_days": trailing_days},
                "indicators": INDICATORS,
            },
        }
    )


def _start(data: Path, cfg: SessionConfig) -> tuple[SessionCoordinator, float]:
    """A fresh coordinator (and so a fresh DataManager: no footer cached) started paused."""
    coord = SessionCoordinator(DataManager)
    t0 = time.perf_counter()
    coord.start(cfg, data, paused=True)
    return coord, time.perf_counter() - t0


def _start_50(data: Path) -> float:
    cfg = session_config([symbol_name(i) for i in range(START_SYMBOLS)], trailing_days=5)
    coord, seconds = _start(data, cfg)
    assert len(coord.session.symbols) == START_SYMBOLS
    coord.shutdown()
    return seconds


def bench_start(data: Path) -> tuple[float, float]:
    """(cold, median warm) ``system start`` with 50 symbols. Cold: the first start in a new
    interpreter (trader_cli.core imported, nothing else used yet: lazy imports, the calendar,
    the indicator registry, the OS page cache is warm), in a child process so the figure does
    not depend on what ran before in this one. Warm: later starts in this process."""
    out = subprocess.run(
        [str(PYTHON), __file__, "--cold-start", str(data)],
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    )
    cold = float(out.stdout.strip().splitlines()[-1])
    _start_50(data)  # this process's first start is not counted either way
    return cold, median_of(_start_50(data) for _ in range(START_RUNS))


def bench_add(data: Path) -> tuple[float, float]:
    """(first, median) of one ``add symbol`` (20 trailing days, 3 indicators) one hour into a
    paused 1-symbol session; a symbol not added before each time, removed again after."""
    cfg = session_config([symbol_name(0)], trailing_days=20)
    coord, _ = _start(data, cfg)
    try:
        coord.advance(60)
        samples = []
        for i in range(1, ADD_RUNS + 2):
            sym = symbol_name(START_SYMBOLS + i % (STORE[0] - START_SYMBOLS))
            t0 = time.perf_counter()
            res = coord.add("symbol", sym, "strategy")
            samples.append(time.perf_counter() - t0)
            assert res.report is not None and res.report.ok
            coord.remove_symbol(sym)
    finally:
        coord.shutdown()
    return samples[0], median_of(samples[1:])


def bench_export(data: Path) -> list[Row]:
    """JSON export of the 50-symbol session two hours in, without and with bars."""
    cfg = session_config([symbol_name(i) for i in range(START_SYMBOLS)], trailing_days=5)
    coord, _ = _start(data, cfg)
    out = temp_dir("export")
    rows: list[Row] = []
    try:
        coord.advance(EXPORT_MINUTES)
        for with_bars in (False, True):
            path = out / f"session-{with_bars}.json"
            samples = []
            for _ in range(EXPORT_RUNS):
                t0 = time.perf_counter()
                export_session(coord, path, "json", with_bars=with_bars)
                samples.append(time.perf_counter() - t0)
            label = "with bars" if with_bars else "no bars"
            rows.append((f"export json 50 symbols @+{EXPORT_MINUTES} min, {label}", median_of(samples), "s"))
            rows.append((f"export json 50 symbols, {label}: size", path.stat().st_size / 1e6, "MB"))
    finally:
        coord.shutdown()
        shutil.rmtree(out, ignore_errors=True)
    return rows


def main() -> list[Row]:
    """Every figure of this module (about 30 s on the project machine, plus ~15 s the first
    time to build the store)."""
    data = ensure_store(*STORE)
    progress(f"system start: 50 symbols x 5 trailing days, 1 cold (child) + {START_RUNS} runs")
    cold, warm = bench_start(data)
    progress(f"add symbol: 20 trailing days, {ADD_RUNS + 1} runs")
    first_add, add = bench_add(data)
    progress(f"export: {EXPORT_RUNS} runs each")
    rows: list[Row] = [
        ("system start 50 sym x 5d x 3 ind, cold (new process)", cold, "s"),
        ("system start 50 sym x 5d x 3 ind (target <= 0.5 s)", warm, "s"),
        ("add symbol mid-session, 20d x 3 ind, first", ms(first_add), "ms"),
        ("add symbol mid-session, 20d x 3 ind (target <= 10 ms)", ms(add), "ms"),
    ]
    rows += bench_export(data)
    return rows


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--cold-start":
        print(_start_50(Path(sys.argv[2])))
        sys.exit(0)
    print_rows(main(), title="bench_session (medians)")
