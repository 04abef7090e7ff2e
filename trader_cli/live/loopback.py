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

Every bar is ``{"t", "o", "h", "l", "c", "v", "n", "vw"}`` as Alpaca sends them (``n`` and
``vw`` are not in the store: ``n`` is 1 a bar, ``vw`` the bar's typical price).
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import json
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import numpy as np

from trader_cli.core.intervals import Interval

TIMEFRAMES = {"1Min": "1m", "1Day": "1d"}
ERRORS = {
    401: "unauthorized.",
    403: "subscription does not permit querying recent SIP data",
    404: "not found",
    422: "invalid request",
    429: "too many requests.",
    500: "internal server error",
    504: "gateway timeout",
}


@dataclass
class Faults:
    """What the server does wrong on purpose (shared with the server's thread; set from tests)."""

    statuses: list[int] = field(default_factory=list)  # answer the next bars requests so
    planned: dict[int, int] = field(default_factory=dict)  # bars request number (from 0) -> status
    delay_s: float = 0.0  # hold every answer back this long

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

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self) -> LoopbackAlpaca:
        """Serve in a background thread; returns once the port is bound."""
        self._thread = threading.Thread(target=self._run, name="loopback-alpaca", daemon=True)
        self._thread.start()
        if not self._ready.wait(10) or self._error is not None:
            raise RuntimeError(f"the loopback Alpaca server did not start: {self._error}")
        return self

    def stop(self) -> None:
        """Stop serving and join the thread."""
        if self._loop is not None and self._stop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None

    def __enter__(self) -> LoopbackAlpaca:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def data_url(self) -> str:
        """The base URL for ``StockHistoricalDataClient(url_override=…)``."""
        return f"http://127.0.0.1:{self.port}"

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

    async def _ws(self, connection: Any) -> None:
        await connection.close(1008, "no stream here")

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
        start = _ns(q["start"]) if q.get("start") else 0
        end = _ns(q["end"]) if q.get("end") else 2**62
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


def _rfc3339(ns: int) -> str:
    return dt.datetime.fromtimestamp(ns / 1e9, tz=dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _ns(text: str) -> int:
    t = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.UTC)
    return int(t.timestamp()) * 1_000_000_000


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
    """``python -m trader_cli.live.loopback DATA_DIR [--page-cap N]``: serve until stdin closes,
    after printing the data URL (a line) — the server in a process of its own."""
    import argparse
    import os
    import sys

    ap = argparse.ArgumentParser(description="A loopback server speaking Alpaca's market-data protocol.")
    ap.add_argument("data_dir")
    ap.add_argument("--page-cap", type=int, default=10_000)
    args = ap.parse_args(argv)
    key = os.environ.get("APCA_API_KEY_ID", "loopback-key")
    secret = os.environ.get("APCA_API_SECRET_KEY", "loopback-secret")
    with LoopbackAlpaca(args.data_dir, key, secret, page_cap=args.page_cap) as srv:
        print(srv.data_url, flush=True)
        sys.stdin.read()  # until the parent closes it (or exits)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
