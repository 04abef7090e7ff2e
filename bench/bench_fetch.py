"""``data fetch`` benchmark (issue 14): 50 symbols × 20 trading days of 1m bars from the loopback
Alpaca server (``trader_cli/live/loopback.py``, pages capped at 10,000 bars as Alpaca's are),
through the real ``alpaca-py`` client, into a fresh store each run.

Timed: ``fetch(...)`` in-process — the plan of missing days, every HTTP call, the parsing and
the checks, and the atomic write of 50 files. The server runs in a process of its own
(``python -m trader_cli.live.loopback``), as Alpaca is not in ours; the same server in a thread
of the fetching process is timed too (it then shares the GIL with the client). Also timed: the
re-run on the full store (nothing to fetch: footers only). 5 runs, medians. Run alone with
``python bench/bench_fetch.py`` or through ``python bench/run.py fetch``.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _synth import ensure_store, symbol_name
from _util import Row, median_of, ms, print_rows, progress, temp_dir
from bench_replay import STORE

from trader_cli.core.calendar import nyse
from trader_cli.core.store import DataManager
from trader_cli.live.fetch import fetch
from trader_cli.live.loopback import LoopbackAlpaca

SYMBOLS = 50
DAYS = 20
RUNS = 5
KEYS = {"APCA_API_KEY_ID": "bench-key-id", "APCA_API_SECRET_KEY": "bench-secret-key"}


@contextmanager
def _server_process(source: Path) -> Iterator[str]:
    env = dict(os.environ, **KEYS)
    cmd = [sys.executable, "-m", "trader_cli.live.loopback", str(source)]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, text=True)
    try:
        assert proc.stdout is not None
        yield json.loads(proc.stdout.readline())["data_url"]  # the server's first line: its URLs as JSON
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait(10)


def _runs(url: str, syms: list[str], first: dt.date, last: dt.date) -> tuple[list[float], list[float], int, int]:
    cold, warm, bars, calls = [], [], 0, 0
    for _ in range(RUNS):
        out = temp_dir("fetch")
        try:
            store = DataManager(out)
            t0 = time.perf_counter()
            res = fetch(store, syms, "1m", first, last, data_url=url, environ=KEYS)
            cold.append(time.perf_counter() - t0)
            bars, calls = sum(f.bars for f in res.symbols), res.calls
            t0 = time.perf_counter()
            again = fetch(store, syms, "1m", first, last, data_url=url, environ=KEYS)
            warm.append(time.perf_counter() - t0)
            assert again.calls == 0
        finally:
            shutil.rmtree(out, ignore_errors=True)
    return cold, warm, bars, calls


def main() -> list[Row]:
    """Every figure of this module (about 30 s on the project machine)."""
    source = ensure_store(*STORE)
    last = dt.date(2024, 12, 6)
    first = nyse().trading_days_back(last, DAYS - 1)[0]
    syms = [symbol_name(i) for i in range(SYMBOLS)]
    progress(f"fetch {SYMBOLS} symbols x {DAYS} days ({first}..{last}) from the loopback server, {RUNS} runs")
    with _server_process(source) as url:
        cold, warm, bars, calls = _runs(url, syms, first, last)
    with LoopbackAlpaca(source, KEYS["APCA_API_KEY_ID"], KEYS["APCA_API_SECRET_KEY"]) as srv:
        same, _, _, _ = _runs(srv.data_url, syms, first, last)
    what = f"{SYMBOLS} sym x {DAYS} days 1m ({bars:,} bars, {calls} pages of <= 10,000)"
    return [
        (f"data fetch {what}, server in its own process", median_of(cold), "s"),
        (f"  rate ({bars:,} bars / median)", bars / median_of(cold), "bars/s"),
        ("data fetch, the server in a thread of the same process", median_of(same), "s"),
        ("re-run on the full store (nothing to fetch)", ms(median_of(warm)), "ms"),
    ]


if __name__ == "__main__":
    print_rows(main(), title="data fetch (issue 14)")
