"""Alpaca's minute bars: ``StockDataStream.run()`` in a thread of its own (the SDK calls
``asyncio.run``), each bar handed to a sink (the minute assembler's ``add``). Symbols are
subscribed before it starts (its loop spins until then) and added from the session's thread
later (the SDK allows that). The SDK retries bad credentials forever and reports only in its
log: the log is watched, and a fatal error (auth failed, connection limit, insufficient
subscription) ends ``start`` with one line, or is ``fatal`` for a running session.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from trader_cli.core.config import LiveConfig
from trader_cli.core.errors import DataError
from trader_cli.live.assembler import StreamBar

FATAL = ("auth failed", "connection limit exceeded", "insufficient subscription")
CONNECT_TIMEOUT_S = 10.0


class _SdkErrors(logging.Handler):
    """The SDK's stream log, watched for the errors it would otherwise retry forever."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.fatal: str | None = None
        self.warnings: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        for what in FATAL:
            if what in text:
                self.fatal = what
        self.warnings.append(text[:200])
        del self.warnings[:-20]


class BarStream:
    """See the module doc; ``sink(bars, updated)`` gets the streamed bars in order, a stream
    message's at once (``updated``: ``updatedBars`` corrections), in the stream's thread."""

    def __init__(self, keys: tuple[str, str], live: LiveConfig, sink: Callable[..., None]) -> None:
        self.keys, self.live, self.sink = keys, live, sink
        self._stream: Any = None
        self._thread: threading.Thread | None = None
        self._errors = _SdkErrors()
        self._bars: list[dict[str, Any]] = []  # the bars of the message being dispatched

    @property
    def fatal(self) -> str | None:
        """The fatal error the SDK logged, if any."""
        return self._errors.fatal

    def start(self, symbols: list[str]) -> None:
        """Subscribe ``symbols`` and run the stream; DataError (one line) when it does not
        connect within 10 s or refuses (keys, limit, plan)."""
        from alpaca.data.enums import DataFeed
        from alpaca.data.live import StockDataStream

        sdk_log = logging.getLogger("alpaca")
        sdk_log.addHandler(self._errors)
        sdk_log.propagate = False  # its messages go to the session's events, not the terminal
        live = self.live
        self._stream = StockDataStream(
            self.keys[0], self.keys[1], raw_data=True, feed=DataFeed(live.feed), url_override=live.stream_url
        )
        self._stream.subscribe_bars(self._on_bar, *symbols)
        self._stream.subscribe_updated_bars(self._on_updated, *symbols)
        self._thread = threading.Thread(target=self._stream.run, name="alpaca-stream", daemon=True)
        self._thread.start()
        end = time.monotonic() + CONNECT_TIMEOUT_S
        while not getattr(self._stream, "_running", False):
            if self._errors.fatal is not None:
                self.close()
                raise DataError(_fatal_text(self._errors.fatal, live.feed))
            if time.monotonic() > end:
                seen = self._errors.warnings[-1] if self._errors.warnings else "no answer"
                self.close()
                raise DataError(f"the Alpaca stream did not connect within {CONNECT_TIMEOUT_S:g} s ({seen})")
            time.sleep(0.02)

    def subscribe(self, symbol: str) -> None:
        """A symbol added to the running stream."""
        if self._stream is not None:
            self._stream.subscribe_bars(self._on_bar, symbol)
            self._stream.subscribe_updated_bars(self._on_updated, symbol)

    async def _on_bar(self, msg: dict[str, Any]) -> None:
        # The SDK hands a message's bars over one by one, with no await between them: they are
        # kept, and go to the sink at once when its loop next turns (the message dispatched).
        bars = self._bars
        bars.append(msg)
        if len(bars) == 1:
            asyncio.get_running_loop().call_soon(self._flush)

    async def _on_updated(self, msg: dict[str, Any]) -> None:
        self._flush()  # the bars before it first, in order
        self.sink([_bar(msg)], True)

    def _flush(self) -> None:
        msgs, self._bars = self._bars, []
        if msgs:
            self.sink(_bars(msgs))

    def close(self) -> None:
        """Stop the stream thread (the SDK takes up to 5 s)."""
        stream, thread = self._stream, self._thread
        self._stream = self._thread = None
        if stream is not None and getattr(stream, "_loop", None) is not None:
            stream.stop()
        if thread is not None:
            thread.join(6)
        logging.getLogger("alpaca").removeHandler(self._errors)


def _bar(msg: dict[str, Any]) -> StreamBar:
    t = msg["t"]
    try:
        ts = t.seconds * 1_000_000_000 + t.nanoseconds  # a msgpack Timestamp, as the stream sends
    except AttributeError:
        ts = int(np.datetime64(t, "ns").astype(np.int64))
    return StreamBar(msg["S"], ts, msg["o"], msg["h"], msg["l"], msg["c"], msg["v"])


def _bars(msgs: list[dict[str, Any]]) -> list[StreamBar]:
    """A message's bars (hundreds a minute: built in one comprehension, ``_bar``'s way when a
    time is not a msgpack Timestamp)."""
    new = tuple.__new__
    try:
        return [
            new(StreamBar, (m["S"], m["t"].seconds * 1_000_000_000 + m["t"].nanoseconds, m["o"], m["h"], m["l"],
                            m["c"], m["v"]))
            for m in msgs
        ]  # fmt: skip
    except AttributeError:
        return [_bar(m) for m in msgs]


def _fatal_text(what: str, feed: str) -> str:
    if what == "auth failed":
        return "the Alpaca stream refused the keys (auth failed): check APCA_API_KEY_ID and APCA_API_SECRET_KEY"
    if what == "connection limit exceeded":
        return "the Alpaca stream allows one connection per key and another one is open (406): close it, then retry"
    return f"your Alpaca plan does not include the {feed} stream (409 insufficient subscription); try feed iex"
