"""Foundation benchmarks: shell start-up, bar-store reads, CSV import.

Run alone with ``python bench/bench_foundation.py`` or through ``python bench/run.py``.
Prints medians (see bench/README.md for what each figure means and the targets).
"""

from __future__ import annotations

import datetime as dt
import functools
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _util import (
    DEFAULT_CONFIG,
    REAL_DATA,
    SYNTH_BARS,
    TRADER_CLI,
    Row,
    fresh_user_env,
    median_of,
    median_seconds,
    ms,
    print_rows,
    progress,
    temp_dir,
)

SHELL_RUNS = 9
ONESHOT_RUNS = 9
READ_RUNS = 15
READ_50_RUNS = 7
SYNTH_IMPORT_RUNS = 5
REAL_IMPORT_RUNS = 7
SYNTH_SYMBOLS = 50
SYNTH_FIRST, SYNTH_LAST = "2024-10-01", "2024-12-31"
WINDOW_DAYS = 20
PROMPT = "trader>"  # prompt_toolkit draws the trailing space as a cursor move
CPR_REQUEST = r"\x1b\[6n"  # prompt_toolkit asks where the cursor is; a terminal answers
CPR_ANSWER = "\x1b[1;1R"


# -- 1. start-up ------------------------------------------------------------------------------
def _time_to_prompt(base: Path, pycache: Path | None) -> float:
    """Spawn the shell in a pty and time until its prompt is drawn; then leave it."""
    import pexpect

    env = fresh_user_env(base, pycache, TRADER_CLI_CONFIG=str(DEFAULT_CONFIG), TERM="xterm-256color")
    t0 = time.perf_counter()
    child = pexpect.spawn(str(TRADER_CLI), env=env, cwd=str(base), dimensions=(40, 160), encoding="utf-8")
    try:
        while child.expect([CPR_REQUEST, PROMPT], timeout=10) == 0:
            child.send(CPR_ANSWER)
        elapsed = time.perf_counter() - t0
        child.sendline("exit")
        child.expect(pexpect.EOF, timeout=10)
    finally:
        child.close(force=True)
    return elapsed


def _shell_start(pycache: Path | None) -> float:
    """Median start-to-prompt, each run with a new HOME (one untimed warm-up run first)."""
    samples = []
    for i in range(SHELL_RUNS + 1):
        base = temp_dir(f"shell{i}")
        try:
            samples.append(_time_to_prompt(base, pycache))
        finally:
            shutil.rmtree(base, ignore_errors=True)
    return median_of(samples[1:])


def _oneshot(label: str, extra: list[str], pycache: Path | None) -> Row:
    """Median wall time of ``trader-cli [extra] data list`` (one untimed warm-up run first)."""
    progress(f"{label} x {ONESHOT_RUNS}")
    base = temp_dir("oneshot")
    empty = base / "empty-store"
    empty.mkdir()
    env = fresh_user_env(base, pycache, TRADER_CLI_CONFIG=str(DEFAULT_CONFIG), TRADER_CLI_DATA_DIR=str(empty))
    argv = [str(TRADER_CLI), *extra, "data", "list"]
    once = functools.partial(subprocess.run, argv, env=env, cwd=base, check=True, stdout=subprocess.DEVNULL)
    try:
        once()
        return (label, ms(median_seconds(once, ONESHOT_RUNS)), "ms")
    finally:
        shutil.rmtree(base, ignore_errors=True)


def bench_startup(store_dir: Path | None, pycache: Path) -> list[Row]:
    """Shell start-to-prompt in a pty, and one-shot ``data list`` wall time. Python caches
    bytecode in ``pycache`` as an installed package would; start-up is also measured without
    a bytecode cache for trader_cli, as in a checkout where PYTHONDONTWRITEBYTECODE is set."""
    progress(f"shell start-to-prompt x {SHELL_RUNS}, bytecode cached")
    rows: list[Row] = [("shell start-to-prompt (target ≤ 300 ms)", ms(_shell_start(pycache)), "ms")]
    if os.environ.get("PYTHONDONTWRITEBYTECODE"):
        progress(f"shell start-to-prompt x {SHELL_RUNS}, PYTHONDONTWRITEBYTECODE as set")
        rows.append(("shell start-to-prompt, no bytecode cache", ms(_shell_start(None)), "ms"))
    rows.append(_oneshot("one-shot `data list`, empty store", [], pycache))
    if store_dir is not None:
        label = f"one-shot `data list`, {SYNTH_SYMBOLS}-symbol store"
        rows.append(_oneshot(label, ["--data-dir", str(store_dir)], pycache))
    return rows


# -- 2. store reads -----------------------------------------------------------------------------
def synth_csv(out: Path) -> Path:
    """Generate the synthetic 50-symbol CSV with the shared peer script (once per run)."""
    progress(f"generating {SYNTH_SYMBOLS} symbols of 1m bars {SYNTH_FIRST}..{SYNTH_LAST}")
    subprocess.run(
        [sys.executable, str(SYNTH_BARS), str(out), str(SYNTH_SYMBOLS), SYNTH_FIRST, SYNTH_LAST],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return out / "bars.csv"


def _median_import(
    csv: Path, base: Path, runs: int, interval: str = "1m", symbol: str | None = None
) -> tuple[float, Path]:
    """Median time of importing ``csv`` into a fresh store; returns it and the last store."""
    from trader_cli.core.csv_import import import_csv
    from trader_cli.core.store import DataManager

    samples = []
    store_dir = base
    for i in range(runs):
        store_dir = base / f"store{i}"
        store = DataManager(store_dir)
        t0 = time.perf_counter()
        import_csv(store, csv, interval, symbol=symbol)
        samples.append(time.perf_counter() - t0)
        if i < runs - 1:
            shutil.rmtree(store_dir, ignore_errors=True)
    return median_of(samples), store_dir


def window_bounds(days: int) -> tuple[int, int]:
    """UTC ns bounds of the last ``days`` trading days of the synthetic range."""
    from trader_cli.core.calendar import nyse

    cal = nyse()
    trading = cal.trading_days(dt.date.fromisoformat(SYNTH_FIRST), dt.date.fromisoformat(SYNTH_LAST))
    window = trading[-days:]
    start, _ = cal.open_close(window[0])
    _, end = cal.open_close(window[-1])
    return start, end


def bench_reads(store_dir: Path) -> list[Row]:
    """20 trading days of 1m bars, 1 symbol and all 50, cold and warm."""
    from trader_cli.core.store import DataManager

    start, end = window_bounds(WINDOW_DAYS)
    symbols = DataManager(store_dir).symbols("1m")
    assert len(symbols) == SYNTH_SYMBOLS, symbols
    one = symbols[0]
    expected = len(DataManager(store_dir).read(one, "1m", start, end))
    assert expected > WINDOW_DAYS * 200, expected  # ~390 bars a day (early closes fewer)

    def read_one(dm: DataManager) -> None:
        assert len(dm.read(one, "1m", start, end)) == expected

    def read_all(dm: DataManager) -> None:
        for sym in symbols:
            dm.read(sym, "1m", start, end)

    def cold(read: Callable[[DataManager], None]) -> Callable[[], None]:
        return lambda: read(DataManager(store_dir))

    warm_dm = DataManager(store_dir)
    read_all(warm_dm)  # fill the footer cache
    progress("reads, 1 and 50 symbols, cold and warm")
    label = f"read {WINDOW_DAYS}d 1m"
    return [
        (
            f"{label}, 1 symbol, cold (target ≤ 5 ms)",
            ms(median_seconds(cold(read_one), READ_RUNS)),
            "ms",
        ),
        (
            f"{label}, 1 symbol, warm (target ≤ 5 ms)",
            ms(median_seconds(lambda: read_one(warm_dm), READ_RUNS)),
            "ms",
        ),
        (
            f"{label}, {SYNTH_SYMBOLS} symbols, cold",
            ms(median_seconds(cold(read_all), READ_50_RUNS)),
            "ms",
        ),
        (
            f"{label}, {SYNTH_SYMBOLS} symbols, warm",
            ms(median_seconds(lambda: read_all(warm_dm), READ_50_RUNS)),
            "ms",
        ),
    ]


# -- 3. imports of real files ----------------------------------------------------------------
def bench_real_imports(base: Path) -> list[Row]:
    """Import the real SPY 1m and 1h files into fresh stores (read only; never copied)."""
    rows: list[Row] = []
    for name, interval in (("SPY_1m.csv", "1m"), ("SPY_1h.csv", "1h")):
        path = REAL_DATA / name
        if not path.is_file():
            progress(f"{path} is missing: skipped")
            rows.append((f"import {name}", float("nan"), "ms"))
            continue
        progress(f"import {name} x {REAL_IMPORT_RUNS}")
        with open(path, encoding="utf-8") as fh:
            n = sum(1 for _ in fh) - 1
        t, _ = _median_import(path, base / name, REAL_IMPORT_RUNS, interval=interval, symbol="SPY")
        rows.append((f"import {name} ({n:,} rows)", ms(t), "ms"))
    return rows


def main() -> list[Row]:
    """Run every foundation benchmark; return (label, median, unit) rows."""
    base = temp_dir("foundation")
    rows: list[Row] = []
    try:
        csv = synth_csv(base / "synth")
        with open(csv, encoding="utf-8") as fh:
            n = sum(1 for _ in fh) - 1
        progress(f"import {SYNTH_SYMBOLS}-symbol CSV x {SYNTH_IMPORT_RUNS}")
        t, store_dir = _median_import(csv, base / "synth-stores", SYNTH_IMPORT_RUNS)
        rows += bench_startup(store_dir, base / "pycache")
        rows += bench_reads(store_dir)
        rows.append((f"import {SYNTH_SYMBOLS}-symbol CSV ({n:,} rows)", ms(t), "ms"))
        rows += bench_real_imports(base / "real")
    finally:
        shutil.rmtree(base, ignore_errors=True)
    return rows


if __name__ == "__main__":
    started = time.perf_counter()
    result = main()
    print_rows(result, title=f"bench_foundation (medians; {time.perf_counter() - started:.0f} s)")
