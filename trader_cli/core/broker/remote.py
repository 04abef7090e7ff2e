"""The simulated broker's live hook: a remote broker (Alpaca's trading API, live/trading.py)
places and fills what the simulator accepts. The simulator still checks and records every order
(buying power, limits, the account); ``RemoteDesk`` sends the accepted ones, keeps them in the
book with triggers no bar reaches (only the remote's fills fill them), polls the remote once per
minute while orders are open there, and books each fill at the remote's price in the minute the
remote filled it (its ``filled_at``, to the minute: a fill seen a poll late is still booked in
its own minute; a fill of a later bar waits for that bar's step). None in a backtest.

A plugin's order placed while the session is catching up (``stale``: live/feed.py decides — the
morning stepped at a start after the open, the backlog after ``system resume``) is not sent: it
is rejected with why — a strategy's signal of an old bar is not traded at today's price. The
trader's own orders are always sent. Every order that never reached the remote's book (refused
there, not sent, lost on the way) keeps its id and is ``rejected``, its reason starting
``not placed:`` (and for no session).

A cancel the remote accepts may still be overtaken by a fill (the remote cancels asynchronously):
the order is canceled here at once, and polled on until the remote's final word; a fill it makes
meanwhile is booked and the order ends as the remote says (filled, or canceled after a part fill).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple, Protocol

import numpy as np

from trader_cli.core.broker.book import FAR, INF, TYPES
from trader_cli.core.calendar import NS_PER_MINUTE, ny_at
from trader_cli.core.errors import SessionStateError, TraderCliError

if TYPE_CHECKING:
    from trader_cli.core.broker.book import Book
    from trader_cli.core.broker.models import OrderRecord
    from trader_cli.core.broker.sim import SimBroker
    from trader_cli.core.step import Minute


class RemoteError(TraderCliError):
    """The remote broker refused a request or did not answer (one line: what to do)."""


class RemoteUnconfirmed(RemoteError):
    """An order's submission got no answer in time: the remote may have placed it or not (it
    is looked up by the session's order id until it shows or is known not to be there)."""


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

    def lookup(self, ref: str) -> str | None: ...


UNCONFIRMED_S = 30.0  # wall seconds an unanswered submission is looked for before it counts as not placed
FINAL_WAIT_S = 5.0  # wall seconds the session's end waits for the remote's last word on its open orders
FINAL_POLL_S = 0.5  # wall seconds between those polls
REMOTE_ENDED = {"canceled": "canceled", "expired": "expired", "rejected": "rejected", "done_for_day": "expired"}
FINAL = ("filled", "canceled", "expired", "rejected", "replaced", "done_for_day")  # Alpaca's last word on an order
AFTER = ", after "  # a canceled order's reason, then what the remote filled of it before the cancel
NOT_PLACED = "not placed: "  # how the reason of an order that never reached the remote's book starts


def fill_minute(update: RemoteUpdate, now: int) -> int:
    """The start of the minute the remote last filled the order in (``now`` for an update
    without a fill time)."""
    at = update.filled_at_ns
    return now if at is None else at // NS_PER_MINUTE * NS_PER_MINUTE


class RemoteDesk:
    """A session's orders at the remote broker (see the module doc)."""

    def __init__(
        self,
        orders: RemoteOrders,
        stale: Callable[[], str | None] = lambda: None,
        now_ns: Callable[[], int] | None = None,
    ) -> None:
        self.orders = orders
        self.stale = stale  # why a plugin's order placed now is not sent (the session catches up), or None
        self.now_ns = now_ns  # the market's clock (the live clock), ahead of the session's while it is paused
        self.ids: dict[str, str] = {}  # order id -> the remote's order id
        self._refs: dict[str, int] = {}  # the remote's order id -> index into SimBroker.orders
        self._due: list[RemoteUpdate] = []  # the remote's fills of a minute not stepped yet
        self._unconfirmed: dict[str, tuple[int, float]] = {}  # order id -> (its index, monotonic time sent)
        self._canceling: set[int] = set()  # canceled here, the remote's final word not in yet (it may fill)
        self.unconfirmed_s = UNCONFIRMED_S
        self.final_wait_s = FINAL_WAIT_S
        self.left_said = False  # the orders left open at Alpaca said (at the end, or the stop)

    def ended(self, close_ns: int) -> str:
        """Why an order placed after the live session's close is refused."""
        return (
            f"the live session has ended (the market closed at {ny_at(close_ns):%H:%M}); orders are refused "
            "(a new live session starts on the next market day: system start)"
        )

    def submit(self, broker: SimBroker, first: int, placed: list[OrderRecord]) -> list[OrderRecord]:
        """Submit the accepted ones of ``placed`` (``broker.orders[first:]``); one the remote
        refuses is rejected here with its reason. Returns those (a plugin's orders not sent
        while the session catches up are rejected too, and said once by the feed's warning)."""
        b = broker.book
        behind = self.stale() if any(o.is_open and o.origin != "adhoc" for o in placed) else None
        stale: list[int] = []
        refused: list[OrderRecord] = []
        for idx, order in enumerate(placed, start=first):
            if not order.is_open:
                continue
            if behind is not None and order.origin != "adhoc":
                stale.append(idx)
                _not_placed(order, behind)
                continue
            try:
                alpaca_id = self.orders.submit(
                    order.symbol, order.side, order.qty, order.type, order.limit, order.stop, order.tif, order.id
                )
            except RemoteUnconfirmed as err:  # it may be there: open here, looked up each minute
                self._unconfirmed[order.id] = (idx, time.monotonic())
                self._remote_only(b, idx)
                broker._engine().events.emit("order", f"order {order.id}: {err}")
                continue
            except RemoteError as err:
                b.keep(b.ref != idx)
                _not_placed(order, str(err))
                refused.append(order)
                continue
            self._placed(b, idx, order.id, alpaca_id)
        if stale:  # out of the book at once (a catch-up refuses many a minute)
            b.keep(~np.isin(b.ref, stale))
        return refused

    def _placed(self, b: Book, idx: int, order_id: str, alpaca_id: str) -> None:
        self.ids[order_id] = alpaca_id
        self._refs[alpaca_id] = idx
        self._remote_only(b, idx)

    def _remote_only(self, b: Book, idx: int) -> None:
        row = b.ref == idx
        b.lo_trig[row], b.hi_trig[row] = -INF, INF  # no bar fills it here: the remote's fills do

    def _confirm(self, broker: SimBroker) -> None:
        """The orders whose submission went unanswered, looked up at the remote: placed after
        all (then polled as the others), or not there ``unconfirmed_s`` on (then rejected)."""
        b = broker.book
        for order_id, (idx, since) in list(self._unconfirmed.items()):
            order = broker.orders[idx]
            try:
                alpaca_id = self.orders.lookup(order.id)
            except RemoteError as err:
                broker._engine().events.emit("order", f"order {order.id}: {err} (looked up again next minute)")
                continue
            if alpaca_id is not None:
                del self._unconfirmed[order_id]
                if order.is_open:
                    self._placed(b, idx, order.id, alpaca_id)
                broker._engine().events.emit("order", f"order {order.id}: placed at Alpaca after all ({alpaca_id})")
            elif time.monotonic() - since > self.unconfirmed_s:
                del self._unconfirmed[order_id]
                if order.is_open:
                    b.keep(b.ref != idx)
                    _not_placed(order, f"Alpaca did not answer and has no such order {self.unconfirmed_s:g} s on")
                    broker._engine().events.emit("order", f"order {order.id}: {order.reason}")

    def cancel(self, order_id: str) -> None:
        """Cancel at the remote first (orders it never had: nothing to do); its refusal leaves
        the order open here."""
        if order_id in self._unconfirmed:
            raise SessionStateError(
                f"order {order_id} went to Alpaca without an answer yet (it is looked up each minute); "
                "cancel it once it shows"
            )
        alpaca_id = self.ids.get(order_id)
        if alpaca_id is None:
            return
        try:
            self.orders.cancel(alpaca_id)
        except RemoteError as err:
            raise SessionStateError(f"{err}; order {order_id} stays open (its fill shows at the next minute)") from None

    def settle(self, broker: SimBroker, idxs: list[int]) -> None:
        """After the remote accepted the cancels of ``broker.orders[i]``: what it filled of them
        since the last poll, booked now (in the minute it filled, at the latest the one about to
        step), while they are still in the book; the other orders' news waits for its minute, as
        the poll's always does. The ones still open here are canceled by the caller and polled on
        until the remote's final word (a fill may overtake the cancel)."""
        ours = {self.ids[broker.orders[i].id] for i in idxs if broker.orders[i].id in self.ids}
        if not ours:
            return
        try:
            updates = self.orders.poll()
        except RemoteError as err:
            updates = []
            broker._engine().events.emit(
                "order", f"{err}: what Alpaca filled of the canceled order(s) is booked at a later minute's poll"
            )
        now = broker._engine().replay.now_ns()
        fresh = {u.alpaca_id for u in updates}
        self._due = [u for u in self._due if not (u.alpaca_id in fresh and u.alpaca_id in ours)]  # superseded
        for update in updates:
            if update.alpaca_id in ours and now is not None:
                self._apply(broker, update, min(fill_minute(update, now), now))
            else:
                self._due.append(update)
        broker._flush_fills()
        self._canceling.update(i for i in idxs if broker.orders[i].is_open and broker.orders[i].id in self.ids)

    def stage(self, broker: SimBroker, minute: Minute) -> None:
        """Poll the remote (while orders are open there, or canceled here and not yet final
        there) and apply its fills due by this minute, each in the minute it filled."""
        t = minute.start_ns
        if self._unconfirmed:
            self._confirm(broker)
        if self._canceling or any(broker.orders[i].is_open for i in self._refs.values()):
            try:
                self._due.extend(self.orders.poll())
            except RemoteError as err:
                broker._engine().events.emit("order", f"{err} (polled again next minute)")
        waiting: list[RemoteUpdate] = []
        held: set[str] = set()
        # in the order the remote filled them (Alpaca lists the newest order first), a poll's and
        # the ones held from before alike; one order's updates keep their order (a stable sort)
        for update in sorted(self._due, key=lambda u: fill_minute(u, t)):
            at = fill_minute(update, t)
            if update.alpaca_id in held or at > t:
                held.add(update.alpaca_id)
                waiting.append(update)
            else:
                self._apply(broker, update, at)
        self._due = waiting
        broker._flush_fills()

    def final(self, broker: SimBroker, last_ns: int) -> None:
        """The live session's end (its last minute, starting at ``last_ns``, stepped): poll the
        remote until every order open there has its last word or ``final_wait_s`` passed, and
        book what it filled (in the minute it filled, at the latest the last one), also fills a
        failed poll had not brought. An order the remote has not ended by then (a GTC one stays
        open there) is untracked from here on: said, with what to do."""
        deadline = time.monotonic() + self.final_wait_s
        failed: str | None = None
        while True:
            if self._unconfirmed:
                self._confirm(broker)
            if not (self._canceling or self._due or self._open(broker)):
                break
            try:
                self._due.extend(self.orders.poll())
                failed = None
            except RemoteError as err:
                failed = str(err)
            for update in sorted(self._due, key=lambda u: fill_minute(u, last_ns)):
                self._apply(broker, update, min(fill_minute(update, last_ns), last_ns))
            self._due = []
            broker._flush_fills()
            if not (self._canceling or self._open(broker)) or time.monotonic() >= deadline:
                break
            time.sleep(FINAL_POLL_S)
        waited = f"Alpaca had not ended them {self.final_wait_s:g} s on"
        self._left_open(broker, f"Alpaca did not answer ({failed})" if failed else waited)

    def _open(self, broker: SimBroker) -> list[int]:
        return [i for i in self._refs.values() if broker.orders[i].is_open] + [
            i for i, _ in self._unconfirmed.values() if broker.orders[i].is_open
        ]

    def stopping(self, broker: SimBroker) -> None:
        """``system stop`` of a live session: the orders still open at the remote, said (once a
        session: its end may have said them already)."""
        self._left_open(broker, "the session stopped with them open")

    def _left_open(self, broker: SimBroker, why: str) -> None:
        """The orders the remote had not ended at the session's end: said, left as they are (what
        became of them is Alpaca's to say: one may still fill, a DAY one ends there soon)."""
        left = sorted(set(self._open(broker)) | self._canceling)
        if not left or self.left_said:
            return
        self.left_said = True
        names = ", ".join(f"{broker.orders[i].id} ({broker.orders[i].tif})" for i in left)
        broker._engine().events.emit(
            "warning",
            f"orders still open at Alpaca when the session ended: {names}; {why}. What they fill from now on is "
            "not in this session's positions, report or export: see Alpaca's dashboard (cancel a GTC order there "
            "if it should not stay)",
        )

    def _apply(self, broker: SimBroker, update: RemoteUpdate, t: int) -> None:
        """One remote order's new state: the shares it filled since (at the price that makes the
        order's average the remote's) at the minute ``t``, then its end if the remote ended it."""
        from trader_cli.core.broker.accounting import apply_fill

        idx = self._refs.get(update.alpaca_id)
        if idx is None:
            return
        order, b = broker.orders[idx], broker.book
        late = idx in self._canceling  # canceled here; the remote may have filled it before the cancel landed
        if not order.is_open and not late:
            return
        qty = update.filled_qty - order.filled_qty
        booked = qty > 0 and update.avg_price is not None and (not late or self._back_in_book(broker, idx, qty, t))
        if booked and update.avg_price is not None:
            row = int(np.flatnonzero(b.ref == idx)[0])
            qty = min(qty, int(b.left[row]))
            price = update.avg_price  # a first fill: Alpaca's price as is; a later one: what makes the average its
            if order.filled_qty:
                price = (price * (order.filled_qty + qty) - (order.avg_fill_price or 0.0) * order.filled_qty) / qty
            apply_fill(broker, row, qty, price, t)
            b.left[row] -= qty
        if late:
            self._cancel_landed(broker, idx, update, booked)
            return
        ended = REMOTE_ENDED.get(update.status)
        if ended is not None and order.is_open:
            order.status, order.reason = ended, f"{update.status} at Alpaca"  # type: ignore[assignment]
        if not order.is_open:
            b.keep(b.ref != idx)

    def _back_in_book(self, broker: SimBroker, idx: int, qty: int, t: int) -> bool:
        """A canceled order the remote filled ``qty`` shares of before the cancel landed, back
        in the book for that fill (False, and said, when its symbol has left the session)."""
        order = broker.orders[idx]
        data = broker._engine().session.symbols.get(order.symbol)
        if data is None:
            broker._engine().events.emit(
                "warning",
                f"order {order.id}: Alpaca filled {qty:,} {order.symbol} before the cancel took effect, but "
                f"{order.symbol} has left the session: not booked (see Alpaca's dashboard)",
            )
            return False
        broker._ensure(data.lane)
        left = order.qty - order.filled_qty
        sign = 1 if order.side == "buy" else -1
        broker.book.push_many([(data.lane, sign, left, TYPES[order.type], np.nan, np.nan, t, FAR, idx, 0.0)])
        self._remote_only(broker.book, idx)
        return True

    def _cancel_landed(self, broker: SimBroker, idx: int, update: RemoteUpdate, booked: bool) -> None:
        """A canceled order's news from the remote (``booked``: a fill of it was just booked):
        out of the book again, its status the remote's (filled: the fill overtook the cancel;
        else canceled, after what it filled), and said when it filled."""
        order, b = broker.orders[idx], broker.book
        b.keep(b.ref != idx)
        if update.status in FINAL:
            self._canceling.discard(idx)
        was = (order.reason or "canceled by request").split(AFTER)[0]
        if update.status == "filled":
            order.status, order.reason = "filled", "filled at Alpaca before the cancel took effect"
        else:
            order.status = "canceled"
            if order.filled_qty:
                order.reason = f"{was}{AFTER}{order.filled_qty:,} of {order.qty:,} shares filled at Alpaca"
        if booked:
            broker._engine().events.emit("order", f"order {order.id}: {order.status} ({order.reason})")


def _not_placed(order: OrderRecord, why: str) -> None:
    """An order that never reached the remote's book: rejected with why, for no session."""
    order.status, order.reason, order.for_session = "rejected", NOT_PLACED + why, None
