"""The simulated broker's open orders as parallel arrays (one row an order), so a minute is
matched against every open order at once (core/broker/matching.py), and the one rule of what bar
may fill an order (``triggers``)."""

from __future__ import annotations

from typing import Any

import numpy as np

TYPES = {"market": 0, "limit": 1, "stop": 2, "stop_limit": 3}
FAR = 2**63 - 1  # a GTC order's expiry
INF = float("inf")
COLUMNS = {
    "lane": np.int64,
    "sign": np.int64,  # +1 buy, -1 sell
    "left": np.int64,  # shares still to fill
    "kind": np.int64,  # TYPES
    "limit": np.float64,
    "stop": np.float64,
    "start": np.int64,  # the first bar start it may fill at
    "expire": np.int64,
    "triggered": np.bool_,  # a stop-limit whose stop has traded
    "lo_trig": np.float64,  # a bar with low <= this may fill it
    "hi_trig": np.float64,  # a bar with high >= this may fill it
    "ref_px": np.float64,  # each open share's worst price, for what it holds back (core/broker/checks.py)
    "ref": np.int64,  # index into SimBroker.orders
}
PUSHED = ("lane", "sign", "left", "kind", "limit", "stop", "start", "expire", "ref", "ref_px")


def triggers(
    sign: np.ndarray, kind: np.ndarray, limit: np.ndarray, stop: np.ndarray, triggered: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(lo_trig, hi_trig) of orders: the bar low at or under, or high at or over, that may fill
    each. A market order: any bar (low <= +inf); a limit or a triggered stop-limit: its limit (a
    buy on the low, a sell on the high); a stop or an untriggered stop-limit: its stop (a buy on
    the high, a sell on the low). A missing bar (NaN) compares False: it never fills."""
    limit_like = (kind == 1) | ((kind == 3) & triggered)
    price = np.where(limit_like, limit, stop)
    on_low = (sign > 0) == limit_like  # a buy limit, a sell stop
    market = kind == 0
    return np.where(market, INF, np.where(on_low, price, -INF)), np.where(market, INF, np.where(on_low, INF, price))


class Book:
    """The open orders as parallel arrays (one row an order, grown by doubling), so a minute is
    matched against every order at once; each column is a view of its first ``n`` rows."""

    lane: np.ndarray
    sign: np.ndarray
    left: np.ndarray
    kind: np.ndarray
    limit: np.ndarray
    stop: np.ndarray
    start: np.ndarray
    expire: np.ndarray
    triggered: np.ndarray
    lo_trig: np.ndarray
    hi_trig: np.ndarray
    ref_px: np.ndarray
    ref: np.ndarray

    def __init__(self) -> None:
        self._store: dict[str, np.ndarray] = {name: np.zeros(16, dtype) for name, dtype in COLUMNS.items()}
        self.n = 0
        self.latest_start = 0  # the latest ``start``: every order is live from then on
        self._views()

    def _views(self) -> None:
        for name, arr in self._store.items():
            setattr(self, name, arr[: self.n])

    def __len__(self) -> int:
        return self.n

    def push_many(self, rows: list[tuple[float, ...]]) -> None:
        """Add open orders, each (lane, sign, left, kind, limit, stop, start, expire, ref, ref_px)."""
        self.push_columns(dict(zip(PUSHED, (np.asarray(c) for c in zip(*rows, strict=True)), strict=True)))

    def push_columns(self, cols: dict[str, Any], k: int | None = None, market: bool = False) -> None:
        """Add ``k`` open orders given as columns (``PUSHED``; a scalar stands for every row);
        ``market``: all of them market orders (their triggers need no working out)."""
        if k is None:
            k = max(np.size(v) for v in cols.values())
        need = self.n + k
        st = self._store
        if need > len(st["ref"]):
            size = max(need, 2 * len(st["ref"]))
            for name, arr in st.items():
                grown = np.zeros(size, arr.dtype)
                grown[: self.n] = arr[: self.n]
                st[name] = grown
        at = slice(self.n, need)
        for name in PUSHED:
            st[name][at] = cols[name]
        st["triggered"][at] = False
        if market:
            st["lo_trig"][at] = st["hi_trig"][at] = INF
        else:
            st["lo_trig"][at], st["hi_trig"][at] = triggers(
                st["sign"][at], st["kind"][at], st["limit"][at], st["stop"][at], st["triggered"][at]
            )
        self.n = need
        start = cols["start"]
        self.latest_start = max(self.latest_start, start if isinstance(start, int) else int(np.max(start)))
        self._views()

    def keep(self, mask: np.ndarray) -> None:
        """Keep only the rows of ``mask`` (the rest filled, expired or canceled)."""
        kept = int(np.count_nonzero(mask))
        for arr in self._store.values():
            arr[:kept] = arr[: self.n][mask]
        self.n = kept
        self.latest_start = int(self._store["start"][:kept].max()) if kept else 0
        self._views()

    def clear(self) -> None:
        """No open order left."""
        self.n = self.latest_start = 0
        self._views()

    def to_market(self, row: int) -> None:
        """A stop whose stop traded (and part filled): the rest is a market order."""
        self.kind[row] = 0
        self.lo_trig[row] = self.hi_trig[row] = INF

    def trigger(self, row: int) -> None:
        """A stop-limit's stop traded: from the next bar it rests as a limit order."""
        self.triggered[row] = True
        at = slice(row, row + 1)
        self.lo_trig[at], self.hi_trig[at] = triggers(
            self.sign[at], self.kind[at], self.limit[at], self.stop[at], self.triggered[at]
        )
