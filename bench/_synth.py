"""Synthetic bar stores for the session and replay benchmarks.

``ensure_store(n, first, last)`` returns a data dir under ``bench/out/`` holding ``n`` symbols
(``S000``, ``S001``, …, the names ``/work/shared/peers/synth_bars.py`` uses) of regular-session
1m bars for every NYSE trading day from ``first`` to ``last`` (both inclusive, early closes
short), written straight through the store API (``DataManager.write_many``) — no CSV. The bars
are a seeded random walk (the same model as the peer generator: log-return sd 0.0012 a minute,
open = previous close, high/low a little outside, volume 1,000..50,000), so a store is the same
on every machine. A store is reused when it is already complete (a ``.complete`` marker written
after the last file); otherwise it is rebuilt from scratch.

Run alone to build (or check) the stores the benchmarks use::

    .venv/bin/python bench/_synth.py
"""

from __future__ import annotations

import datetime as dt
import shutil
import sys
import time
from pathlib import Path

import numpy as np

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR.parent))

from trader_cli.core.bars import Bars  # noqa: E402
from trader_cli.core.calendar import NS_PER_MINUTE, nyse  # noqa: E402
from trader_cli.core.store import DataManager  # noqa: E402

OUT = BENCH_DIR / "out"
VERSION = 1  # bump when the generator changes, so old stores are not reused
SEED = 20241202
SOURCE = "bench synthetic"
CHUNK = 50  # symbols per write_many call (bounds the memory of one call)


def symbol_name(i: int) -> str:
    """The ticker of synthetic symbol ``i``."""
    return f"S{i:03d}"


def minute_stamps(first: dt.date, last: dt.date) -> np.ndarray:
    """Start times (UTC ns) of every regular-session minute of the trading days in range."""
    cal = nyse()
    parts = []
    for day in cal.trading_days(first, last):
        o, c = cal.open_close(day)
        parts.append(np.arange(o, c, NS_PER_MINUTE, dtype=np.int64))
    return np.concatenate(parts) if parts else np.empty(0, dtype=np.int64)


def synth_bars(ts: np.ndarray, rng: np.random.Generator) -> Bars:
    """One symbol's random-walk bars at the given start times."""
    k = len(ts)
    close = (20 + 300 * rng.random()) * np.exp(np.cumsum(rng.normal(0, 0.0012, k)))
    open_ = np.empty(k)
    open_[0] = close[0]
    open_[1:] = close[:-1]
    high = np.maximum(open_, close) * (1 + np.abs(rng.normal(0, 0.0004, k)))
    low = np.minimum(open_, close) * (1 - np.abs(rng.normal(0, 0.0004, k)))
    volume = rng.integers(1000, 50000, k).astype(np.float64)
    return Bars(ts, open_.round(4), high.round(4), low.round(4), close.round(4), volume)


def store_dir(n: int, first: str, last: str) -> Path:
    """Where the store of ``n`` symbols over ``first``..``last`` lives."""
    return OUT / f"synth-v{VERSION}-{n}sym-{first}-{last}"


def ensure_store(n: int, first: str, last: str, log: bool = True) -> Path:
    """The data dir of ``n`` synthetic symbols over ``first``..``last`` (built if missing)."""
    path = store_dir(n, first, last)
    marker = path / ".complete"
    if marker.exists():
        return path
    if path.exists():
        shutil.rmtree(path)  # a half-built store from an interrupted run
    t0 = time.perf_counter()
    ts = minute_stamps(dt.date.fromisoformat(first), dt.date.fromisoformat(last))
    rng = np.random.default_rng(SEED)
    store = DataManager(path)
    for lo in range(0, n, CHUNK):
        batch = {symbol_name(i): synth_bars(ts, rng) for i in range(lo, min(n, lo + CHUNK))}
        store.write_many(batch, "1m", source=SOURCE)
    marker.write_text(f"{n} symbols x {len(ts)} bars\n")
    if log:
        print(
            f"  … built {path.name}: {n} x {len(ts):,} bars in {time.perf_counter() - t0:.1f} s",
            file=sys.stderr,
            flush=True,
        )
    return path


if __name__ == "__main__":
    import bench_replay
    import bench_session

    for args in (bench_session.STORE, bench_replay.STORE):
        print(ensure_store(*args))
