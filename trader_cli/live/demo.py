"""``demo live``: live mode on a fresh machine, no account needed. A loopback server that speaks
Alpaca's protocol (live/loopback.py) plays the bundled sample minute by minute on a live clock
that starts at a sample day's open (2024-12-02 09:30 New York by default) and runs ``speed``
times real time; a live session opens against it with the real ``alpaca-py`` clients: warmup
history over REST into a store of its own (under the state dir), today's bars streamed.

The demo's keys are its own (``demo-key-id`` / ``demo-secret-key``, set for this process only
when APCA_API_KEY_ID / APCA_API_SECRET_KEY are not set: real keys are never sent anywhere else
than the loopback server, and never written).
"""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path
from typing import Any

from trader_cli.core.calendar import ny_wall
from trader_cli.core.errors import SessionStateError, UsageError

DEMO_KEYS = {"APCA_API_KEY_ID": "demo-key-id", "APCA_API_SECRET_KEY": "demo-secret-key"}
SAMPLE = Path(__file__).resolve().parents[2] / "data"


def demo_config(server: Any, store: Path, symbols: list[str], start: dt.datetime, speed: float) -> dict[str, Any]:
    """The live session config of the demo."""
    return {
        "name": "demo-live",
        "mode": "live",
        "data_dir": str(store),
        "session_data_config": {
            "symbols": symbols,
            "base_interval": "1m",
            "derived_intervals": ["5m", "15m"],
            "historical": {"trailing_days": 5},
            "indicators": [{"name": "sma", "params": [20], "interval": "5m"}],
        },
        "live_config": {
            "provider": "alpaca",
            "feed": "iex",
            "paper": True,
            "data_url": server.data_url,
            "stream_url": f"ws://127.0.0.1:{server.port}/v2/iex",
            "trading_url": server.trading_url,
            "grace_seconds": 2,
            "clock": {"start": start.isoformat(), "speed": speed},
        },
    }


def start_demo(obj: Any, speed: float, symbols: list[str], day: dt.date, at: str) -> Any:
    """Start the server and the live session (the StartResult); the server lives as long as
    the process (``obj.demo_server``)."""
    from trader_cli.core.config import parse_config
    from trader_cli.core.logs import state_dir
    from trader_cli.live.clock import LiveClock
    from trader_cli.live.loopback import LoopbackAlpaca

    if not 0 < speed <= 10_000:
        raise UsageError(f"--speed {speed:g}: give live seconds a wall second, above 0 and up to 10,000")
    try:
        start = ny_wall(day, at)
    except ValueError:
        raise UsageError(f"--at '{at}': give a New York time as HH:MM, e.g. 09:30") from None
    if not (SAMPLE / "bars").is_dir():
        raise UsageError(f"the bundled sample is not at {SAMPLE} (regenerate it: scripts/make_sample_data.py)")
    if obj.has_coordinator and obj.coordinator.engine.clock.active:  # before the running one's server stops
        state = obj.coordinator.engine.clock.state.value
        raise SessionStateError(f"a session is already {state} (stop it first with: system stop)")
    if not symbols:
        raise UsageError("--symbols: give sample symbols, e.g. --symbols AAPL,MSFT")
    _check_sample_day(day, symbols)
    for k, v in DEMO_KEYS.items():
        os.environ.setdefault(k, v)
    if obj.demo_server is not None:
        obj.demo_server.stop()
    server = LoopbackAlpaca(SAMPLE, os.environ["APCA_API_KEY_ID"], os.environ["APCA_API_SECRET_KEY"]).start()
    obj.demo_server = server
    server.play(LiveClock(int(start.timestamp() * 1e9), speed))
    store = state_dir() / "demo-store"
    path = state_dir() / "demo-live.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    cfg = demo_config(server, store, [s.upper() for s in symbols], start, speed)
    path.write_text(json.dumps(cfg, indent=1), encoding="utf-8")
    try:
        result = obj.coordinator.start(parse_config(cfg).located(path), store)
    except BaseException:
        server.stop()
        obj.demo_server = None
        raise
    obj.config_path = str(path)  # the shell's config from now on, once the session started
    return result


def _check_sample_day(day: dt.date, symbols: list[str]) -> None:
    """UsageError unless the sample has 1m bars of ``day`` (for the first symbol it has)."""
    from trader_cli.core.store import DataManager

    store = DataManager(SAMPLE)
    have = [s.upper() for s in symbols if store.has(s.upper(), "1m")]
    if not have:
        known = ", ".join(store.symbols("1m")) or "none"
        raise UsageError(f"--symbols {','.join(symbols)}: the sample has none of them (it has: {known})")
    epoch = dt.date(1970, 1, 1)
    days = [epoch + dt.timedelta(days=int(d)) for d in store.trading_days_present(have[0], "1m")]
    if not days or not days[0] <= day <= days[-1]:
        span = f"{days[0]}..{days[-1]}" if days else "no days"
        raise UsageError(f"--day {day}: the sample covers {span}; pick a day in it")
