"""The simulated broker's live hook: a remote broker (Alpaca's trading API, live/trading.py)
places and fills what the simulator accepts. The simulator still checks and records every order
(buying power, limits, the account); ``RemoteDesk`` sends the accepted ones, keeps them in the
book with triggers no bar reaches (only the remote's fills fill them), polls the remote once per
minute while orders are open there, and books each fill at the remote's price in the minute the
remote filled it (a fill of a later bar waits for that bar's step). None in a backtest.

A plugin's order placed while the session is catching up (``stale``: live/feed.py decides — the
morning stepped at a start after the open, the backlog after ``system resume``) is not sent: it
is rejected with why — a strategy's signal of an old bar is not traded at today's price. The
trader's own orders are always sent."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple, Protocol

import numpy as np

from trader_cli.core.broker.book import INF
from trader_cli.core.errors import SessionStateError, TraderCliError

if TYPE_CHECKING:
    from trader_cli.core.broker.models import OrderRecord
    from trader_cli.core.broker.sim import SimBroker
    from trader_cli.core.step import Minute


class RemoteError(TraderCliError):
    """The remote broker refused a request or did not answer (one line: what to do)."""


class RemoteUpdate(NamedTuple):
    """A remote order's state now: cumulative filled shares, their average price, when it last filled."""

    alpaca_id: str
    filled_qty: int
    avg_price: float | None
    filled_at_ns: int | None
    status: str  # Alpaca's: new, accepted, partially_filled, filled, canceled, expired, rejected …


class RemoteOrders(Protocol):
    """Where a live session's orders are placed and filled."""

    def submit(
        self, symbol: str, side: str, qty: int, type: str, limit: float | None, stop: float | None, tif: str, ref: str
    ) -> str: ...

    def cancel(self, alpaca_id: str) -> None: ...

    def poll(self) -> list[RemoteUpdate]: ...


REMOTE_ENDED = {"canceled": "canceled", "expired": "expired", "rejected": "rejected", "done_for_day": "expired"}


class RemoteDesk:
    """A session's orders at the remote broker (see the module doc)."""

    def __init__(self, orders: RemoteOrders, stale: Callable[[], str | None] = lambda: None) -> None:
        self.orders = orders
        self.stale = stale  # why a plugin's order placed now is not sent (the session catches up), or None
        self.ids: dict[str, str] = {}  # order id -> the remote's order id
        self._refs: dict[str, int] = {}  # the remote's order id -> index into SimBroker.orders
        self._due: list[RemoteUpdate] = []  # the remote's fills of a minute not stepped yet

    def submit(self, broker: SimBroker, first: int, placed: list[OrderRecord]) -> None:
        """Submit the accepted ones of ``placed`` (``broker.orders[first:]``); one the remote
        refuses is rejected here with its reason."""
        b = broker.book
        behind = self.stale() if any(o.is_open and o.origin != "adhoc" for o in placed) else None
        stale: list[int] = []
        for idx, order in enumerate(placed, start=first):
            if not order.is_open:
                continue
            if behind is not None and order.origin != "adhoc":
                stale.append(idx)
                order.status, order.reason = "rejected", behind
                continue
            try:
                alpaca_id = self.orders.submit(
                    order.symbol, order.side, order.qty, order.type, order.limit, order.stop, order.tif, order.id
                )
            except RemoteError as err:
                b.keep(b.ref != idx)
                order.status, order.reason = "rejected", str(err)
                continue
            self.ids[order.id] = alpaca_id
            self._refs[alpaca_id] = idx
            row = b.ref == idx
            b.lo_trig[row], b.hi_trig[row] = -INF, INF  # no bar fills it here
        if stale:  # out of the book at once (a catch-up refuses many a minute)
            b.keep(~np.isin(b.ref, stale))

    def cancel(self, order_id: str) -> None:
        """Cancel at the remote first (orders it never had: nothing to do); its refusal leaves
        the order open here."""
        alpaca_id = self.ids.get(order_id)
        if alpaca_id is None:
            return
        try:
            self.orders.cancel(alpaca_id)
        except RemoteError as err:
            raise SessionStateError(f"{err}; order {order_id} stays open (its fill shows at the next minute)") from None

    def stage(self, broker: SimBroker, minute: Minute) -> None:
        """Poll the remote (while orders are open there) and apply its fills due by this minute."""
        t = minute.start_ns
        if any(broker.orders[i].is_open for i in self._refs.values()):
            try:
                self._due.extend(self.orders.poll())
            except RemoteError as err:
                broker._engine().events.emit("order", f"{err} (polled again next minute)")
        waiting: list[RemoteUpdate] = []
        held: set[str] = set()
        for update in self._due:
            if update.alpaca_id in held or (update.filled_at_ns or 0) > t:
                held.add(update.alpaca_id)
                waiting.append(update)
            else:
                self._apply(broker, update, t)
        self._due = waiting
        broker._flush_fills()

    def _apply(self, broker: SimBroker, update: RemoteUpdate, t: int) -> None:
        """One remote order's new state: the shares it filled since (at the price that makes the
        order's average the remote's), then its end if the remote ended it."""
        from trader_cli.core.broker.accounting import apply_fill

        idx = self._refs.get(update.alpaca_id)
        if idx is None or not broker.orders[idx].is_open:
            return
        order, b = broker.orders[idx], broker.book
        rows = np.flatnonzero(b.ref == idx)
        qty = min(update.filled_qty - order.filled_qty, int(b.left[rows[0]]) if len(rows) else 0)
        if qty > 0 and update.avg_price is not None:
            paid = update.avg_price * (order.filled_qty + qty) - (order.avg_fill_price or 0.0) * order.filled_qty
            apply_fill(broker, int(rows[0]), qty, paid / qty, t)
            b.left[rows[0]] -= qty
        ended = REMOTE_ENDED.get(update.status)
        if ended is not None and order.is_open:
            order.status, order.reason = ended, f"{update.status} at Alpaca"  # type: ignore[assignment]
        if not order.is_open:
            b.keep(b.ref != idx)
