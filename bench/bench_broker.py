"""Broker benchmarks: the replay with the simulated broker busy against the same replay without
orders, and one ``order`` command from the prompt with its table.

Replay: the 500-symbol session of ``bench_replay.py`` (5 days, 1m/5m/15m, 9 indicators a symbol),
started paused (untimed). "With the broker": one untimed minute is stepped, every symbol gets a
market buy of 10 shares, one more minute fills them, then every symbol gets a GTC limit buy at
half its last close (resting, never filling); the rest of the five days is then timed with
``coord.advance(10**9)``, so every minute matches 500 open orders and marks 500 positions.
"Without": the same session, no orders, stepped the same two minutes untimed. Runs alternate
(with, without, with, …) so both see the same machine; the ratio is of the two medians.

Order latency: ``run_line(obj, "order buy SYM 1 --limit P")`` in-process on a paused 50-symbol
session, its order table rendered by the shell's renderer (rich, 160 columns) into a buffer; the
parse, dispatch, checks, submission and table are all inside the timing. 200 orders, median.
Run alone with ``python bench/bench_broker.py`` or through ``python bench/run.py broker``.
"""

from __future__ import annotations

import io
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _synth import ensure_store, symbol_name
from _util import Row, median_of, ms, print_rows, progress
from bench_replay import STORE, replay_config, replay_to_end

from trader_cli.core.broker.models import OrderRequest
from trader_cli.core.config import parse_config
from trader_cli.core.coordinator import SessionCoordinator
from trader_cli.core.store import DataManager

SYMBOLS = 500
RUNS = 5
ORDERS = 200


def _session(data: Path, n: int, busy: bool) -> SessionCoordinator:
    raw = replay_config(n).model_dump(mode="json")
    raw["broker"] = {"initial_cash": 1e9}
    coord = SessionCoordinator(DataManager)
    coord.start(parse_config(raw), data, paused=True)
    coord.advance(1)
    if busy:
        for i in range(n):
            coord.submit(OrderRequest(symbol=symbol_name(i), side="buy", qty=10))
    coord.advance(1)
    if busy:
        b = coord.engine.broker
        assert sum(1 for o in b.orders if o.status == "filled") == n, "every market order should fill"
        for i in range(n):
            last = float(coord.series(symbol_name(i), "1m").close[-1])
            rest = OrderRequest(symbol=symbol_name(i), side="buy", qty=1, limit=round(last / 2, 2), tif="gtc")
            o = coord.submit(rest)
            assert o.status == "open", o.reason
    return coord


def bench_replay(data: Path) -> tuple[float, float]:
    """(median 1m bars/s with the broker busy, without), interleaved runs."""
    rates: dict[bool, list[float]] = {True: [], False: []}
    for _ in range(RUNS):
        for busy in (True, False):
            coord = _session(data, SYMBOLS, busy)
            try:
                bars, seconds = replay_to_end(coord)
                if busy:
                    b = coord.engine.broker
                    assert len(b.open_orders()) == SYMBOLS and int((b.qty != 0).sum()) == SYMBOLS
            finally:
                coord.shutdown()
            rates[busy].append(bars / seconds)
    return median_of(rates[True]), median_of(rates[False])


def bench_order_command(data: Path) -> float:
    """Median seconds of one ``order buy … --limit …`` line with its table."""
    from trader_cli.app import make_context
    from trader_cli.dispatch import run_line
    from trader_cli.render import Renderer

    out = io.StringIO()
    obj = make_context(renderer=Renderer(out=out, err=out, width=160))
    raw = replay_config(50).model_dump(mode="json")
    raw["broker"] = {"initial_cash": 1e9}
    cfg = Path(data).parent / "bench-broker-50.json"
    import json

    cfg.write_text(json.dumps(raw))
    obj.config_path = str(cfg)
    obj.data_dir_option = str(data)
    assert run_line(obj, "system start --paused") == 0
    assert run_line(obj, "time advance 30m") == 0
    times = []
    try:
        for k in range(ORDERS + 10):
            line = f"order buy {symbol_name(k % 50)} 1 --limit 1.5"
            out.seek(0)
            out.truncate()
            t0 = time.perf_counter()
            code = run_line(obj, line)
            elapsed = time.perf_counter() - t0
            assert code == 0 and "order o" in out.getvalue(), out.getvalue()
            if k >= 10:  # the first lines warm the command tree and rich
                times.append(elapsed)
    finally:
        obj.coordinator.shutdown()
    return median_of(times)


def main() -> list[Row]:
    """Every figure of this module (about 60 s on the project machine)."""
    data = ensure_store(*STORE)
    progress(f"replay {SYMBOLS} symbols x 5 days with/without 500 positions + 500 resting limits, {RUNS} runs each")
    busy, idle = bench_replay(data)
    progress(f"{ORDERS} order commands with their tables, in-process")
    order = bench_order_command(data)
    return [
        (f"replay {SYMBOLS} sym, broker: {SYMBOLS} positions + {SYMBOLS} resting limits: 1m bars/s", busy, "bars/s"),
        (f"replay {SYMBOLS} sym, no orders (same run): 1m bars/s", idle, "bars/s"),
        ("  ratio with / without (target >= 0.85)", busy / idle, "x"),
        ("order buy … --limit, from the prompt incl. its table (target <= 2 ms)", ms(order), "ms"),
    ]


if __name__ == "__main__":
    print_rows(main(), title="bench_broker (medians)")
