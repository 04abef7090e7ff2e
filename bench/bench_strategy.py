"""Strategy benchmarks (issue 13): the replay with ``examples/strategies/ema_cross.py`` running
against the same replay without it, our ema_cross beside the peers' on the same 50 symbols, and
the time a plugin takes to load.

1. Replay with the strategy: the 500-symbol session of ``bench_replay.py`` (5 days, 1m/5m/15m, 9
   indicators a symbol), started paused (untimed); "with": ema_cross loaded (its defaults: EMA 10
   and 30 on 5m, 100 shares; its two indicators provisioned, untimed) and the broker's cash 1e9,
   no fees, so no order is refused but those of the last bar (no session left to fill them);
   "without": the same session, no plugin. The whole replay is timed (``coord.advance(10**9)``);
   runs alternate (with, watch, without, …), the ratio is of the medians. Each "with" run must
   place the same orders (a check, not a timing). The floor: ``bench/plugins/ema_watch.py``, the
   same EMAs provisioned and the same reads and masks each 5m bar but no order — what the data
   and the callbacks cost before any order, fill or round trip.
2. Against the peers: ``bench/_peers.py`` generates 50 symbols × 2024-12-02..06 with
   ``synth_bars.py`` (the peers' own data); we import its ``bars.csv`` into a fresh store
   (untimed) and replay it with ema_cross (1m base, no other interval or indicator, no trailing
   history, as the peers start cold), timing the replay; the peers run ``strategy/*_strategy.py``
   on the same files (their engine run only). Ratio = our 1m bars/s ÷ theirs, order and fill
   counts side by side (the peers' fill models differ a little; see their README).
3. Plugin load: ``strategy load examples/strategies/ema_cross.py`` on a paused 50-symbol session
   of (1): the file imported afresh, parameters checked, the 5m interval and two EMAs provisioned
   through the pipeline for 50 symbols (history, warmup, indicator banks); median of 7 fresh
   sessions.

Run alone with ``python bench/bench_strategy.py`` (``--no-peers`` skips 2) or through
``python bench/run.py strategy``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _peers import peer_data, run_peer
from _peers import rows as peer_rows
from _synth import ensure_store
from _util import Row, median_of, ms, print_rows, progress, temp_dir
from bench_replay import STORE, replay_config, replay_to_end

from trader_cli.core.config import parse_config
from trader_cli.core.coordinator import SessionCoordinator
from trader_cli.core.store import DataManager

ROOT = Path(__file__).resolve().parent.parent
EMA_CROSS = str(ROOT / "examples" / "strategies" / "ema_cross.py")
EMA_WATCH = str(ROOT / "bench" / "plugins" / "ema_watch.py")  # ema_cross's reads and masks, no order
SYMBOLS = 500
RUNS = 5
PEER_SYMBOLS = 50
LOADS = 7
LATE = "the backtest has no session left to fill it in"  # the crosses of the very last bar
NO_FEES = {"initial_cash": 1e9, "fee_per_share": 0.0, "fee_min": 0.0}


def _session(data: Path, n: int, plugin: str | None) -> SessionCoordinator:
    raw = replay_config(n).model_dump(mode="json")
    raw["broker"] = NO_FEES
    coord = SessionCoordinator(DataManager)
    coord.start(parse_config(raw), data, paused=True)
    if plugin is not None:
        coord.load_plugin("strategy", plugin, {})
    return coord


def bench_replay(data: Path) -> tuple[float, float, float, int]:
    """(median 1m bars/s with ema_cross, with ema_watch, without, orders a run), interleaved runs."""
    rates: dict[str | None, list[float]] = {EMA_CROSS: [], EMA_WATCH: [], None: []}
    orders: set[int] = set()
    for _ in range(RUNS):
        for plugin in rates:
            coord = _session(data, SYMBOLS, plugin)
            try:
                bars, seconds = replay_to_end(coord)
                b = coord.engine.broker
                if plugin == EMA_CROSS:
                    refused = {o.reason for o in b.orders if o.status == "rejected"}
                    assert refused <= {LATE}, f"orders refused: {refused}"
                    orders.add(len(b.orders))
                elif plugin == EMA_WATCH:
                    assert not b.orders and coord.engine.plugins.slots["ema_watch"].instance.signals_seen > 0
            finally:
                coord.shutdown()
            rates[plugin].append(bars / seconds)
    assert len(orders) == 1, f"every run should place the same orders: {sorted(orders)}"
    return median_of(rates[EMA_CROSS]), median_of(rates[EMA_WATCH]), median_of(rates[None]), orders.pop()


def _peer_store(n: int) -> tuple[Path, list[str]]:
    """The peers' ``bars.csv`` imported into a fresh store (untimed); (store dir, symbols)."""
    from trader_cli.core.csv_import import import_csv

    src = peer_data(n) / "bars.csv"
    store_dir = temp_dir(f"bench-strategy-peer-{n}-")
    done = import_csv(DataManager(store_dir), src, "1m", tz="UTC")
    return store_dir, sorted(d.symbol for d in done)


def bench_ours_on_peer_data(n: int) -> dict[str, float]:
    """Our ema_cross on the peers' data: median 1m bars/s, orders and fills of a run."""
    from _peers import FIRST, LAST

    store_dir, symbols = _peer_store(n)
    raw = {
        "name": f"bench-strategy-peers-{n}",
        "mode": "backtest",
        "backtest_config": {"start_date": FIRST, "end_date": LAST, "speed_multiplier": 0},
        "session_data_config": {"symbols": symbols, "base_interval": "1m", "historical": {"trailing_days": 0}},
        "broker": NO_FEES,
    }
    rates, counts = [], set()
    for _ in range(RUNS):
        coord = SessionCoordinator(DataManager)
        coord.start(parse_config(raw), store_dir, paused=True)
        coord.load_plugin("strategy", EMA_CROSS, {})
        try:
            bars, seconds = replay_to_end(coord)
            b = coord.engine.broker
            counts.add((bars, len(b.orders), len(b.fills)))
        finally:
            coord.shutdown()
        rates.append(bars / seconds)
    assert len(counts) == 1, counts
    bars, orders, fills = counts.pop()
    return {"bars_per_s": median_of(rates), "bars": bars, "orders": orders, "fills": fills}


def bench_load(data: Path, n: int = 50) -> float:
    """Median seconds of ``strategy load ema_cross`` on a fresh paused ``n``-symbol session."""
    times = []
    for _ in range(LOADS):
        coord = _session(data, n, None)
        try:
            t0 = time.perf_counter()
            slot = coord.load_plugin("strategy", EMA_CROSS, {})
            times.append(time.perf_counter() - t0)
            assert slot.state == "running", slot.state
        finally:
            coord.shutdown()
    return median_of(times)


def main(peers: bool = True) -> list[Row]:
    """Every figure of this module (about 3 minutes with the peers on the project machine)."""
    data = ensure_store(*STORE)
    progress(f"replay {SYMBOLS} symbols x 5 days with ema_cross, with ema_watch, without either, {RUNS} runs each")
    with_s, watch_s, without_s, orders = bench_replay(data)
    progress(f"strategy load on 50 symbols, {LOADS} fresh sessions")
    load_s = bench_load(data)
    out: list[Row] = [
        (f"replay {SYMBOLS} sym with ema_cross ({orders:,} orders)", with_s, "1m bars/s"),
        (f"replay {SYMBOLS} sym without it", without_s, "1m bars/s"),
        ("with / without (same run)", with_s / without_s, "x"),
        ("  floor: ema_watch (ema_cross's EMAs, reads and masks, no order) / without", watch_s / without_s, "x"),
        ("strategy load ema_cross, 50 symbols", ms(load_s), "ms"),
    ]
    if not peers:
        return out
    progress(f"ema_cross on the peers' {PEER_SYMBOLS}-symbol data: ours, {RUNS} runs")
    ours = bench_ours_on_peer_data(PEER_SYMBOLS)
    out += [
        (f"trader-cli ema_cross, {PEER_SYMBOLS} symbols: rate", ours["bars_per_s"], "1m bars/s"),
        (f"trader-cli ema_cross, {PEER_SYMBOLS} symbols: orders", ours["orders"], "orders"),
        (f"trader-cli ema_cross, {PEER_SYMBOLS} symbols: fills", ours["fills"], "fills"),
    ]
    for name in ("nautilus", "backtrader", "vectorbt"):
        progress(f"{name} ema_cross on {PEER_SYMBOLS} symbols, 3 runs")
        res = run_peer(name, PEER_SYMBOLS, runs=3)
        if res is None:
            out.append((f"{name}: not measured (see the progress line above)", float("nan"), ""))
            continue
        out += peer_rows(res)
        out.append((f"trader-cli / {name} (1m bars/s)", ours["bars_per_s"] / res["bars_per_s"], "x"))
    return out


if __name__ == "__main__":
    print_rows(main(peers="--no-peers" not in sys.argv), title="strategies (issue 13)")
