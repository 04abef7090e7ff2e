"""The loopback server's stream speaks Alpaca's protocol to the real ``StockDataStream``: the
greeting, auth, cumulative subscriptions, msgpack bars with Timestamp times, and a dropped
connection after which the SDK reconnects and subscribes again by itself."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Iterator
from typing import Any

import msgpack
import pytest

from tests.conftest import SAMPLE_DATA
from trader_cli.core.store import DataManager
from trader_cli.live.loopback import LoopbackAlpaca

KEY, SECRET = "loopback-key-id-123", "loopback-secret-456"
OPEN = int(dt.datetime(2024, 12, 2, 14, 30, tzinfo=dt.UTC).timestamp()) * 10**9
MINUTE = 60 * 10**9


@pytest.fixture
def server() -> Iterator[LoopbackAlpaca]:
    with LoopbackAlpaca(SAMPLE_DATA, key_id=KEY, secret=SECRET) as srv:
        yield srv


def _stream(srv: LoopbackAlpaca, got: list[dict[str, Any]], *symbols: str) -> tuple[Any, threading.Thread]:
    from alpaca.data.enums import DataFeed
    from alpaca.data.live import StockDataStream

    async def on_bar(bar: dict[str, Any]) -> None:
        got.append(bar)

    st = StockDataStream(
        KEY, SECRET, raw_data=True, feed=DataFeed.IEX, url_override=f"ws://127.0.0.1:{srv.port}/v2/iex"
    )
    st.subscribe_bars(on_bar, *symbols)  # before run(): its loop spins until a subscription
    th = threading.Thread(target=st.run, daemon=True)
    th.start()
    srv.wait_subscribed(set(symbols))
    return st, th


def _wait(pred: Any, timeout: float = 10.0) -> None:
    end = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.01)


@pytest.mark.slow
def test_bars_arrive_as_the_store_has_them_and_survive_a_drop(server: LoopbackAlpaca) -> None:
    got: list[dict[str, Any]] = []
    st, th = _stream(server, got, "AAPL", "MSFT")
    try:
        for k in range(3):
            assert server.publish_minute(OPEN + k * MINUTE) == 2
        _wait(lambda: len(got) == 6)
        store = DataManager(SAMPLE_DATA)
        for bar in got:
            assert bar["T"] == "b" and isinstance(bar["t"], msgpack.Timestamp)
            ts = bar["t"].to_unix_nano()
            want = store.read(bar["S"], "1m", ts, ts + MINUTE)
            assert (bar["o"], bar["h"], bar["l"], bar["c"], bar["v"]) == (
                want.open[0], want.high[0], want.low[0], want.close[0], int(want.volume[0])
            )  # fmt: skip
        server.drop_streams()
        _wait(lambda: not server.subscribed())
        server.wait_subscribed({"AAPL", "MSFT"}, timeout=15)  # the SDK reconnected and resubscribed
        server.publish("AAPL", OPEN + 3 * MINUTE, {"o": 1.0, "h": 2.0, "l": 0.5, "c": 1.5, "v": 10}, updated=False)
        _wait(lambda: len(got) == 7)
        assert got[-1]["S"] == "AAPL" and got[-1]["t"].to_unix_nano() == OPEN + 3 * MINUTE
    finally:
        st.stop()
        th.join(10)


def test_the_handshake_answers_errors_as_alpaca_does(server: LoopbackAlpaca) -> None:
    """Bad keys → 402; a second connection over the limit → 406; sip without it → 409."""
    import asyncio

    from websockets.asyncio.client import connect

    async def handshake(path: str, key: str) -> list[dict[str, Any]]:
        async with connect(f"ws://127.0.0.1:{server.port}{path}") as ws:
            hello = msgpack.unpackb(await ws.recv())
            assert hello == [{"T": "success", "msg": "connected"}]
            await ws.send(msgpack.packb({"action": "auth", "key": key, "secret": SECRET}))
            reply: list[dict[str, Any]] = msgpack.unpackb(await ws.recv())
            return reply

    assert asyncio.run(handshake("/v2/iex", "wrong"))[0] == {"T": "error", "code": 402, "msg": "auth failed"}
    assert asyncio.run(handshake("/v2/iex", KEY))[0] == {"T": "success", "msg": "authenticated"}
    server.sip = False
    assert asyncio.run(handshake("/v2/sip", KEY))[0]["code"] == 409
    server.stream_limit = 0
    assert asyncio.run(handshake("/v2/iex", KEY))[0]["code"] == 406
