"""A loopback server that speaks Alpaca's market-data protocol, for the tests and the demo.

It serves a bar store (any ``DataManager`` directory) to the real ``alpaca-py`` clients on
127.0.0.1 (port 0 unless given), in its own thread with its own asyncio loop:

- ``GET /v2/stocks/bars`` — ``symbols``, ``timeframe`` (``1Min``, ``1Day``), ``start``, ``end``
  (RFC 3339), ``limit``, ``page_token``, ``feed``: the bars of ``[start, end]`` by symbol then
  time, at most ``page_cap`` a page (whatever ``limit`` asks; Alpaca caps pages too), with
  ``next_page_token`` while more remain. The key headers are checked (wrong or missing: 401).
- Faults for the tests: ``fail_next(status, times)`` answers the next bars requests with that
  status (429, 403, 504 …) and Alpaca's error body, ``fail_at(n, status)`` the n-th (from 0);
  ``faults.delay_s`` holds every answer back (a server that hangs); ``requests`` lists what was
  asked.

- The stream at ``/v2/{feed}`` (msgpack only, as the SDK speaks it): the ``connected``
  greeting, ``auth`` → ``authenticated`` or an error (402 bad keys, 406 over ``stream_limit``,
  409 the sip feed without ``sip``), ``subscribe``/``unsubscribe`` (cumulative; fragmented
  frames are reassembled) → ``subscription``; then what ``publish``/``publish_minute`` send:
  ``{"T": "b"|"u", "S", "o", "h", "l", "c", "v", "n", "vw", "t"}`` with ``t`` a msgpack
  Timestamp. ``drop_streams()`` aborts every connection (a dropped network, no close frame).

- Trading (Alpaca's REST v2 trading API, for ``TradingClient(url_override=srv.trading_url)``):
  live/loopback_trading.py, on a port of its own; ``desk.orders`` and ``desk.requests`` show
  what happened.

Every bar is ``{"t", "o", "h", "l", "c", "v", "n", "vw"}`` as Alpaca sends them (``n`` and
``vw`` are not in the store: ``n`` is 1 a bar, ``vw`` the bar's typical price).
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import json
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import numpy as np

from trader_cli.core.intervals import Interval
from trader_cli.live.loopback_trading import Desk, TradingServer
from trader_cli.live.wire import ERRORS, parse_ns

TIMEFRAMES = {"1Min": "1m", "1Day": "1d"}


@dataclass
class Faults:
    """What the server does wrong on purpose (shared with the server's thread; set from tests)."""

    statuses: list[int] = field(default_factory=list)  # answer the next bars requests so
    planned: dict[int, int] = field(default_factory=dict)  # bars request number (from 0) -> status
    delay_s: float = 0.0  # hold every answer back this long
    order_answer_delay_s: float = 0.0  # place an order (POST /v2/orders), then answer this late
    lose_orders_s: float = 0.0  # an order (POST /v2/orders) is lost: answered this late, with 504, not placed

    def next_status(self) -> int | None:
        return self.statuses.pop(0) if self.statuses else None


class LoopbackAlpaca:
    """The server (see the module doc). ``with LoopbackAlpaca(store_dir) as srv: srv.data_url``."""

    def __init__(
        self,
        data_dir: str | Path,
        key_id: str = "loopback-key",
        secret: str = "loopback-secret",
        page_cap: int = 10_000,
        port: int = 0,
    ) -> None:
        from trader_cli.core.store import DataManager

        self.store = DataManager(data_dir)
        self.key_id, self.secret = key_id, secret
        self.page_cap = page_cap
        self.port = port
        self.faults = Faults()
        self.requests: list[dict[str, str]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None
        self._streams: dict[Any, dict[str, set[str]]] = {}  # authenticated connections -> subscriptions
        self.clock: Any = None  # a LiveClock: REST then serves only minutes that have ended by it
        self.rest_delay_s = 0.0  # live seconds after a minute's end before REST has its bars (as Alpaca)
        self.silent: set[tuple[str, int]] = set()  # (symbol, minute ns) never streamed (REST has it)
        self.absent: set[tuple[str, int]] = set()  # (symbol, minute ns) with no bar at all (no trade)
        self.inactive: set[str] = set()  # assets the trading API reports inactive (not tradable)
        self.on_sent: Any = None  # called (minute ns, perf_counter) once a minute's bars are sent
        self._player: threading.Thread | None = None
        self._stopping = threading.Event()
        self._days: dict[tuple[str, int], Any] = {}  # (symbol, day) -> its stored 1m bars (publish_minute)
        self.stream_limit: int | None = None  # connections allowed at once (Alpaca: 1 a key); None: any
        self.sip = True  # False: the sip stream answers 409 insufficient subscription
        self.desk = Desk(self)  # the trading endpoints' order book
        self._trading: TradingServer | None = None
        self._trading_thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self) -> LoopbackAlpaca:
        """Serve in a background thread; returns once the port is bound."""
        self._thread = threading.Thread(target=self._run, name="loopback-alpaca", daemon=True)
        self._thread.start()
        if not self._ready.wait(10) or self._error is not None:
            raise RuntimeError(f"the loopback Alpaca server did not start: {self._error}")
        self._trading = TradingServer(self)
        self._trading_thread = threading.Thread(
            target=self._trading.serve_forever, args=(0.05,), name="loopback-trading", daemon=True
        )
        self._trading_thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and join the thread."""
        self._stopping.set()
        if self._player is not None:
            self._player.join(5)
            self._player = None
        if self._loop is not None and self._stop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None
        if self._trading is not None and self._trading_thread is not None:
            self._trading.shutdown()
            self._trading.server_close()
            self._trading_thread.join(10)
            self._trading = self._trading_thread = None

    def __enter__(self) -> LoopbackAlpaca:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def data_url(self) -> str:
        """The base URL for ``StockHistoricalDataClient(url_override=…)``."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def trading_url(self) -> str:
        """The base URL for ``TradingClient(url_override=…)`` (the trading endpoints' own port)."""
        if self._trading is None:
            raise RuntimeError("the loopback Alpaca server is not started (use: with LoopbackAlpaca(...) as srv)")
        return f"http://127.0.0.1:{self._trading.server_address[1]}"

    def fail_next(self, status: int, times: int = 1) -> None:
        """Answer the next ``times`` bars requests with ``status``."""
        self.faults.statuses.extend([status] * times)

    def fail_at(self, n: int, status: int) -> None:
        """Answer bars request number ``n`` (counted from 0 over the server's life) with ``status``."""
        self.faults.planned[n] = status

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as err:  # reported to start(); the thread ends
            self._error = err
            self._ready.set()

    async def _serve(self) -> None:
        from websockets.asyncio.server import serve

        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        async with serve(self._ws, "127.0.0.1", self.port, process_request=self._http) as server:
            self.port = next(iter(server.sockets)).getsockname()[1]
            self._ready.set()
            await self._stop.wait()

    # -- the stream ---------------------------------------------------------------------------
    async def _ws(self, connection: Any) -> None:
        """``/v2/{feed}``: greeting, auth, cumulative subscriptions, then the bars published."""
        import msgpack
        from websockets.exceptions import ConnectionClosed

        path = urlsplit(connection.request.path).path
        if path not in ("/v2/iex", "/v2/sip", "/v2/test"):
            await connection.close(1008, f"no stream at {path}")
            return
        await connection.send(msgpack.packb([{"T": "success", "msg": "connected"}]))
        try:
            auth = msgpack.unpackb(await asyncio.wait_for(connection.recv(), 10))
        except (TimeoutError, ValueError):
            await connection.close(1008, "auth timeout")
            return
        if auth.get("action") != "auth" or (auth.get("key"), auth.get("secret")) != (self.key_id, self.secret):
            await connection.send(msgpack.packb([{"T": "error", "code": 402, "msg": "auth failed"}]))
            await connection.close()
            return
        if self.stream_limit is not None and len(self._streams) >= self.stream_limit:
            await connection.send(msgpack.packb([{"T": "error", "code": 406, "msg": "connection limit exceeded"}]))
            await connection.close()
            return
        if path == "/v2/sip" and not self.sip:
            await connection.send(msgpack.packb([{"T": "error", "code": 409, "msg": "insufficient subscription"}]))
            await connection.close()
            return
        await connection.send(msgpack.packb([{"T": "success", "msg": "authenticated"}]))
        subs: dict[str, set[str]] = {"bars": set(), "updatedBars": set()}
        self._streams[connection] = subs
        try:
            async for raw in connection:
                msg = msgpack.unpackb(raw)
                action = msg.get("action")
                if action not in ("subscribe", "unsubscribe"):
                    continue
                for channel in subs:
                    names = set(msg.get(channel) or [])
                    subs[channel] = subs[channel] | names if action == "subscribe" else subs[channel] - names
                reply = {"T": "subscription", "trades": [], "quotes": [], **{k: sorted(v) for k, v in subs.items()}}
                await connection.send(msgpack.packb([reply]))
        except ConnectionClosed:
            return  # the client went away (or was dropped): its handler ends
        finally:
            self._streams.pop(connection, None)

    def subscribed(self) -> set[str]:
        """The symbols some stream connection subscribed bars for."""
        return {s for subs in list(self._streams.values()) for s in subs["bars"]}

    def wait_subscribed(self, symbols: set[str], timeout: float = 10.0) -> None:
        """Block until every one of ``symbols`` is subscribed (TimeoutError otherwise)."""
        end = time.monotonic() + timeout
        while not symbols <= self.subscribed():
            if time.monotonic() > end:
                raise TimeoutError(f"not subscribed after {timeout:g} s: {sorted(symbols - self.subscribed())}")
            time.sleep(0.01)

    def publish(self, symbol: str, ts_ns: int, bar: dict[str, float], updated: bool = False) -> None:
        """Send a bar (``{"o","h","l","c","v"}``) of minute ``ts_ns`` to every connection
        subscribed to it (``updated``: as an ``updatedBars`` correction)."""
        self._send_bars([(symbol, ts_ns, bar)], updated)

    def _send_bars(self, bars: list[tuple[str, int, dict[str, float]]], updated: bool = False) -> float | None:
        """Bars to the connections subscribed to each, one message a connection (Alpaca sends a
        minute's bars as arrays too); the perf_counter once the last went (None: none did)."""
        import msgpack

        channel = "updatedBars" if updated else "bars"
        per: dict[Any, list[dict[str, Any]]] = {}
        streams = list(self._streams.items())
        for symbol, ts_ns, bar in bars:
            msg = {
                "T": "u" if updated else "b",
                "S": symbol,
                "o": bar["o"],
                "h": bar["h"],
                "l": bar["l"],
                "c": bar["c"],
                "v": int(bar["v"]),
                "n": 1,
                "vw": round((bar["h"] + bar["l"] + bar["c"]) / 3, 4),
                "t": msgpack.Timestamp.from_unix_nano(ts_ns),
            }
            for conn, subs in streams:
                if symbol in subs[channel]:
                    per.setdefault(conn, []).append(msg)
        sent: float | None = self._call(self._send_each({conn: msgpack.packb(msgs) for conn, msgs in per.items()}))
        return sent

    def publish_minute(self, ts_ns: int, symbols: list[str] | None = None) -> int:
        """Send the stored 1m bar of minute ``ts_ns`` of each subscribed symbol (or of
        ``symbols``) that has one, in one message a connection; returns how many were sent.
        Each symbol's day is read once and kept (the server plays a day minute by minute)."""
        out = []
        for sym in sorted(symbols if symbols is not None else self.subscribed()):
            day = self._day_bars(sym, ts_ns)
            if day is None:
                continue
            i = int(np.searchsorted(day.ts, ts_ns))
            if i < len(day) and int(day.ts[i]) == ts_ns:
                row = {"o": day.open[i], "h": day.high[i], "l": day.low[i], "c": day.close[i], "v": day.volume[i]}
                out.append((sym, ts_ns, {k: float(v) for k, v in row.items()}))
        if out:
            sent = self._send_bars(out)
            if self.on_sent is not None and sent is not None:
                self.on_sent(ts_ns, sent)
        return len(out)

    def _day_bars(self, sym: str, ts_ns: int) -> Any:
        """The symbol's stored 1m bars of the New York day of ``ts_ns`` (cached), or None."""
        day_key = (ts_ns - 5 * 3_600_000_000_000) // 86_400_000_000_000  # a day, near enough for a key
        key = (sym, day_key)
        if key not in self._days:
            if not self.store.has(sym, "1m"):
                self._days[key] = None
            else:
                lo = day_key * 86_400_000_000_000
                self._days[key] = self.store.read(sym, "1m", lo, lo + 2 * 86_400_000_000_000)
        return self._days[key]

    def play(self, clock: Any, lag_s: float = 0.2) -> None:
        """Publish the stored bars minute by minute as ``clock`` (a LiveClock) passes each
        minute's end (+ ``lag_s`` live seconds), from the minute in progress on, skipping
        ``silent``; REST serves only ended minutes meanwhile. Stops with the server."""
        self.clock = clock

        def run() -> None:
            t = clock.now_ns() // 60_000_000_000 * 60_000_000_000
            while not self._stopping.is_set():
                due = t + 60_000_000_000 + int(lag_s * 1e9)
                wait = clock.wall_seconds_until(due)
                if wait > 0:
                    time.sleep(min(wait, 0.05))
                    continue
                skip = self.silent | self.absent
                symbols = [s for s in sorted(self.subscribed()) if (s, t) not in skip]
                if symbols:
                    self.publish_minute(t, symbols)
                t += 60_000_000_000

        self._player = threading.Thread(target=run, name="loopback-player", daemon=True)
        self._player.start()

    def drop_streams(self) -> None:
        """Close every stream connection (the clients see a dropped connection)."""
        self._call(self._close_all(list(self._streams)))

    async def _send_each(self, messages: dict[Any, bytes]) -> float | None:
        """Send each connection its message; the perf_counter once the last one was handed to
        its socket, in the server's loop (not when the thread that asked hears of it)."""
        from websockets.exceptions import ConnectionClosed

        last = None
        for c, data in messages.items():
            try:
                await c.send(data)
                last = time.perf_counter()
            except ConnectionClosed:
                continue  # dropped meanwhile: the others still get theirs
        return last

    async def _close_all(self, targets: list[Any]) -> None:
        for c in targets:
            c.transport.abort()  # no close frame: a dropped connection, not a goodbye

    def _call(self, coro: Any) -> Any:
        """Run ``coro`` on the server's loop and wait for its result (None once stopping)."""
        loop = self._loop
        if loop is None or loop.is_closed() or self._stopping.is_set():
            coro.close()  # stopping: nothing is sent any more
            return None
        return asyncio.run_coroutine_threadsafe(coro, loop).result(10)

    # -- REST --------------------------------------------------------------------------------------
    async def _http(self, connection: Any, request: Any) -> Any:
        if request.headers.get("Upgrade", "").lower() == "websocket":
            return None  # the stream
        if self.faults.delay_s:
            await asyncio.sleep(self.faults.delay_s)
        url = urlsplit(request.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        if (
            request.headers.get("APCA-API-KEY-ID") != self.key_id
            or request.headers.get("APCA-API-SECRET-KEY") != self.secret
        ):
            return _json(connection, 401, {"message": ERRORS[401]})
        if url.path == "/v2/stocks/bars":
            self.requests.append(query)
            status = self.faults.planned.pop(len(self.requests) - 1, None) or self.faults.next_status()
            if status is not None:
                return _json(connection, status, {"code": status * 100 + 1, "message": ERRORS.get(status, "error")})
            try:
                return _json(connection, 200, self._bars(query), raw=True)
            except ValueError as err:
                return _json(connection, 422, {"code": 42210000, "message": str(err)})
        return _json(connection, 404, {"message": ERRORS[404]})

    def _bars(self, q: dict[str, str]) -> bytes:
        """One page of bars as Alpaca's JSON (built as text: pages are large)."""
        symbols = [s for s in q.get("symbols", "").split(",") if s]
        if not symbols:
            raise ValueError("symbols is required")
        tf = TIMEFRAMES.get(q.get("timeframe", ""))
        if tf is None:
            raise ValueError(f"unsupported timeframe {q.get('timeframe')!r}")
        start = parse_ns(q["start"]) if q.get("start") else 0
        end = parse_ns(q["end"]) if q.get("end") else 2**62
        if self.clock is not None:  # no bar of a minute that has not ended yet
            end = min(end, self.clock.now_ns() - 60_000_000_000 - int(self.rest_delay_s * 1e9))
        limit = min(int(q.get("limit") or self.page_cap), self.page_cap)
        after: tuple[str, int] | None = None
        if q.get("page_token"):
            sym, ts = base64.urlsafe_b64decode(q["page_token"]).decode().split("|")
            after = (sym, int(ts))
        iv = Interval.parse(tf)
        parts: list[str] = []
        left = limit
        token = None
        for sym in sorted(set(symbols)):
            if after is not None and sym < after[0]:
                continue
            if not self.store.has(sym, iv):
                continue
            lo = after[1] + 1 if after is not None and sym == after[0] else start
            bars = self.store.read(sym, iv, lo, end + 1)
            gone = [t for s2, t in self.absent if s2 == sym]
            if gone and len(bars):
                bars = bars.take(~np.isin(bars.ts, np.array(gone, dtype=np.int64)))
            if not len(bars):
                continue
            if left == 0:
                token = _token(sym, lo - 1)
                break
            take = min(left, len(bars))
            parts.append(f'"{sym}":[{_rows_json(bars, take)}]')
            left -= take
            if take < len(bars):
                token = _token(sym, int(bars.ts[take - 1]))
                break
        return ('{"bars":{' + ",".join(parts) + '},"next_page_token":' + json.dumps(token) + "}").encode()


def _token(sym: str, ts: int) -> str:
    return base64.urlsafe_b64encode(f"{sym}|{ts}".encode()).decode()


_ROW = '{"t":"%sZ","o":%r,"h":%r,"l":%r,"c":%r,"v":%d,"n":1,"vw":%r}'


def _rows_json(bars: Any, n: int) -> str:
    """The first ``n`` bars as Alpaca's JSON objects, comma-separated."""
    times = np.datetime_as_string(bars.ts[:n].astype("datetime64[ns]"), unit="s").tolist()
    typical = np.round((bars.high[:n] + bars.low[:n] + bars.close[:n]) / 3, 4)
    cols = zip(
        times,
        bars.open[:n].tolist(),
        bars.high[:n].tolist(),
        bars.low[:n].tolist(),
        bars.close[:n].tolist(),
        np.nan_to_num(bars.volume[:n]).astype(np.int64).tolist(),
        typical.tolist(),
        strict=True,
    )
    return ",".join([_ROW % row for row in cols])


def _json(connection: Any, status: int, body: Any, raw: bool = False) -> Any:
    from websockets.datastructures import Headers
    from websockets.http11 import Response

    data = body if raw else json.dumps(body).encode()
    headers = Headers(
        [("Content-Type", "application/json"), ("Content-Length", str(len(data))), ("Connection", "close")]
    )  # one request a connection: the server closes it after answering
    reason = "OK" if status == 200 else ERRORS.get(status, "error")
    return Response(status, reason, headers, data)


def main(argv: list[str] | None = None) -> int:
    """``python -m trader_cli.live.loopback DATA_DIR [--page-cap N] [--play START --speed X
    [--sends FILE]]``: serve until stdin closes, after printing one JSON line (data_url, port,
    trading_url) — the server in a process of its own. ``--play`` plays the store from START
    (ISO 8601) at X; ``--sends`` appends "minute_s perf_counter" when a minute's bars are sent."""
    import argparse
    import json
    import os
    import sys

    from trader_cli.live.clock import LiveClock

    ap = argparse.ArgumentParser(description="A loopback server speaking Alpaca's market-data protocol.")
    ap.add_argument("data_dir")
    ap.add_argument("--page-cap", type=int, default=10_000)
    ap.add_argument("--play", help="play the store from this instant (ISO 8601 with offset)")
    ap.add_argument("--speed", type=float, default=1.0)
    ap.add_argument("--sends", help="append 'minute_s perf_counter' lines here as minutes are sent")
    args = ap.parse_args(argv)
    key = os.environ.get("APCA_API_KEY_ID", "loopback-key")
    secret = os.environ.get("APCA_API_SECRET_KEY", "loopback-secret")
    with LoopbackAlpaca(args.data_dir, key, secret, page_cap=args.page_cap) as srv:
        if args.sends:
            log = open(args.sends, "a", encoding="utf-8")  # noqa: SIM115 - open while serving

            def sent(ts_ns: int, at: float) -> None:
                log.write(f"{ts_ns // 1_000_000_000} {at}\n")
                log.flush()

            srv.on_sent = sent
        if args.play:
            start = dt.datetime.fromisoformat(args.play)
            srv.play(LiveClock(int(start.timestamp() * 1e9), args.speed), lag_s=0.0)
        print(json.dumps({"data_url": srv.data_url, "port": srv.port, "trading_url": srv.trading_url}), flush=True)
        sys.stdin.read()  # until the parent closes it (or exits)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
