"""The simulated broker of a backtest: orders checked at submission, matched inside the minute
step against the bars as they arrive (vectorised over every open order at once), positions
marked at each minute's close, and the account's equity recorded every session minute.

The fill rules and the stage that applies them: core/broker/matching.py.
Accounting (core/broker/accounting.py) keeps, at every minute, cash + Σ shares × mark = equity.
Its other parts: book.py (the open orders), checks.py, remote.py (the live hook).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

import numpy as np

from trader_cli.core.broker.book import FAR, TYPES, Book
from trader_cli.core.broker.models import (
    Account,
    FillRecord,
    OrderRecord,
    OrderRequest,
    Position,
    TripRecord,
)
from trader_cli.core.calendar import NS_PER_MINUTE, ny_at
from trader_cli.core.config import BrokerConfig
from trader_cli.core.errors import SessionStateError

if TYPE_CHECKING:
    from trader_cli.core.broker.models import Side, TimeInForce
    from trader_cli.core.broker.remote import RemoteDesk
    from trader_cli.core.engine import Engine
    from trader_cli.core.step import Minute


def _count(n: int, what: str) -> str:
    return f"{n} {what}{'s' if n != 1 else ''}"


class SimBroker:
    """The backtest's broker (see the module doc)."""

    name = "simulator"

    def __init__(self, cfg: BrokerConfig) -> None:
        self.cfg = cfg
        self.engine: Engine | None = None
        self.remote: RemoteDesk | None = None  # live: Alpaca fills the orders (core/broker/remote.py)
        self.reset(cfg)

    def reset(self, cfg: BrokerConfig) -> None:
        """A new session: cash back to the start, nothing held or ordered."""
        self.cfg = cfg
        self.cash = float(cfg.initial_cash)
        self.fees = 0.0
        self.orders: list[OrderRecord] = []
        self._index: dict[str, int] = {}  # order id -> its place in orders (see find)
        self.numbered = {"o": 0, "r": 0}  # accepted and rejected orders so far
        self.fills: list[FillRecord] = []
        self.trips: list[TripRecord] = []
        self.book = Book()
        cap = 8
        self.qty = np.zeros(cap, np.int64)
        self.avg = np.zeros(cap)
        self.realized = np.zeros(cap)
        self.lane_fees = np.zeros(cap)
        self.mark = np.full(cap, np.nan)
        self.held: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None  # see _held_lanes
        self._trip_open: dict[int, tuple[int, float]] = {}  # lane -> (opened ns, pnl so far)
        self._fills_seen: dict[str, list[Any]] = {}  # a plugin's fills this minute: buys, sells, when
        self.origin_cash: dict[str, float] = {}  # per order origin: its fills' cash flows and fees
        self.origin_qty: dict[tuple[str, int], int] = {}  # (origin, lane) -> shares its fills hold
        self.gone: dict[str, tuple[float, float, str]] = {}  # removed symbols: realized, fees, source
        self.eq_time: list[int] = []
        self.eq_value: list[float] = []
        self.exposure_sum = 0.0
        self.day_start_equity = float(cfg.initial_cash)
        self.active = False  # an order was placed: the toolbar shows the account

    # -- lanes ----------------------------------------------------------------------------------
    def _ensure(self, lane: int) -> None:
        if lane < len(self.qty):
            return
        cap = max(lane + 1, len(self.qty) * 2)
        for name, fill in (("qty", 0), ("avg", 0.0), ("realized", 0.0), ("lane_fees", 0.0), ("mark", np.nan)):
            old = getattr(self, name)
            new = np.full(cap, fill, dtype=old.dtype)
            new[: len(old)] = old
            setattr(self, name, new)

    def holds(self, lane: int) -> tuple[int, int]:
        """(shares held, open orders) of a lane."""
        self._ensure(lane)
        return int(self.qty[lane]), int(np.count_nonzero(self.book.lane == lane))

    def release(self, symbol: str, lane: int, source: str) -> None:
        """A symbol leaves the session (flat, no orders): keep its P&L for the report."""
        self._ensure(lane)
        if self.realized[lane] or self.lane_fees[lane]:
            r, f, _ = self.gone.get(symbol, (0.0, 0.0, source))
            self.gone[symbol] = (r + float(self.realized[lane]), f + float(self.lane_fees[lane]), source)
        mark = float(self.mark[lane])
        for key in [k for k in self.origin_qty if k[1] == lane]:  # flat overall; settle each origin's share
            q = self.origin_qty.pop(key)
            if q and mark == mark:
                self.origin_cash[key[0]] = self.origin_cash.get(key[0], 0.0) + q * mark
        self.qty[lane], self.avg[lane], self.realized[lane], self.lane_fees[lane] = 0, 0.0, 0.0, 0.0
        self.held = None
        self.mark[lane] = np.nan

    # -- submission -------------------------------------------------------------------------------
    def submit(self, req: OrderRequest) -> OrderRecord:
        """Check an order and accept it (open) or record it rejected with why; changes nothing
        else when rejected."""
        return self.submit_many([req])[0]

    def submit_many(self, reqs: list[OrderRequest]) -> list[OrderRecord]:
        """``submit`` for several orders at once, checked one after another against the book as
        the earlier ones leave it (one look at the book for the batch; see checks.Ledger)."""
        from trader_cli.core.broker.checks import Ledger, refusal

        eng, state, when, late, start, day_close, session = self._window(all(r.origin == "adhoc" for r in reqs))
        ledger = Ledger.of(self)
        self.active = True
        placed: list[OrderRecord] = []
        rows: list[tuple[float, ...]] = []
        over = None  # why no order can be placed now (no session left to fill it in)
        if late and self.remote is not None:
            over = self.remote.ended(day_close)  # a live session: the market has closed
        elif late:
            over = "the backtest has no session left to fill it in" + (
                " (it finished; start a new one with: system start)" if state == "finished" else ""
            )
        for req in reqs:
            why, px, held = refusal(self, req, eng, ledger)
            if over is not None:  # no session left: that is the reason, whatever else the order breaks
                why = over
            # Rejected orders number apart (r000001…): accepted ids stay the same whether or not
            # a replay of the session repeats the refused lines.
            order = OrderRecord(
                id=self._next_id(why is None), symbol=req.symbol, side=req.side, qty=req.qty, type=req.type,
                limit=req.limit, stop=req.stop, tif=req.tif, submitted_at=when,
                status="open" if why is None else "rejected", reason=why, filled_at=None, filled_qty=0,
                avg_fill_price=None, origin=req.origin, for_session=session if why is None else None,
            )  # fmt: skip
            self.orders.append(order)
            placed.append(order)
            if why is not None:
                continue
            lane = eng.session.symbols[req.symbol].lane
            buy = req.side == "buy"
            ledger.accept(lane, buy, req.qty, held)
            rows.append(
                (lane, 1 if buy else -1, req.qty, TYPES[req.type], np.nan if req.limit is None else req.limit,
                 np.nan if req.stop is None else req.stop, start, day_close if req.tif == "day" else FAR,
                 len(self.orders) - 1, px)
            )  # fmt: skip
        if rows:
            self.book.push_many(rows)
        refused = [o for o in placed if o.status == "rejected"]  # by the checks here
        if self.remote is not None:
            refused += self.remote.submit(self, len(self.orders) - len(placed), placed)
        self._note_placed([o for o in placed if o.status == "open"])
        self._note_refused([o for o in refused if o.origin != "adhoc"])
        return placed

    def _note_refused(self, refused: list[OrderRecord]) -> None:
        """A plugin's rejected orders: one line a batch, with the first one's reason (the
        trader's own are answered by their command)."""
        if not refused:
            return
        first = refused[0]
        more = f" ({len(refused) - 1} more)" if len(refused) > 1 else ""
        self._engine().events.emit(
            "order",
            f"{first.origin}: {_count(len(refused), 'order')} rejected: {first.symbol} {first.side} "
            f"{first.qty:,}: {first.reason}{more}",
        )

    def _window(self, trader: bool = False) -> tuple[Engine, str, dt.datetime, bool, int, int, dt.date]:
        """(engine, state, now in New York, late, start, day close, session) of an order placed
        now: late when no bar is left today and no session after it (live: or the market has
        closed); placed after the day's last bar, an order is for the next session (its first
        bar and close). ``trader``: the trader's own orders, live, are stamped with the market's
        minute (a plugin's with the bar it answers)."""
        eng = self._engine()
        book = eng.replay.book
        state = eng.clock.state.value
        if book is None or state not in ("running", "paused", "finished"):
            raise SessionStateError(f"orders need an active session (state: {state}; start one with: system start)")
        now = book.now_ns
        tl = eng.timeline
        late = book.done and tl.is_last
        market = self.remote.now_ns() if self.remote is not None and self.remote.now_ns is not None else None
        stamp = now
        if market is not None:  # live: the market's clock (the session's lags it while paused, catching up)
            late = late or market >= book.close_ns
            if trader:  # placed now, not at a bar the session steps; a fill's time is its minute's
                minute = min(market, book.close_ns) // NS_PER_MINUTE * NS_PER_MINUTE
                now = max(now, minute)
                stamp = minute if minute < book.open_ns else now  # before the bell: stamped with the market's minute
        if book.done and not late:
            nxt = tl.pos + 1
            return eng, state, ny_at(now), late, tl.bound(nxt, 0), tl.bound(nxt, 1), tl.days[nxt]
        return eng, state, ny_at(stamp), late, now, book.close_ns, book.day

    def submit_market(
        self, symbols: list[str], lanes: np.ndarray, side: Side, qty: np.ndarray, tif: TimeInForce, origin: str
    ) -> list[OrderRecord] | None:
        """A plugin's market orders for distinct symbols, checked at once (``submit_many``'s
        checks, vectorised); None where they need the order-by-order checks (a symbol twice,
        a quantity out of range, a symbol without a close yet, a configured limit, a sale
        that would go short, or a buy the buying power would refuse) — then use that."""
        from trader_cli.core.broker.checks import market_batch_holds

        n = len(lanes)
        distinct = set(lanes.tolist())
        if not n or len(distinct) != n:
            return None
        eng, _, when, late, start, day_close, session = self._window()
        if late or not all(map(eng.session.symbols.__contains__, symbols)):
            return None
        hold = market_batch_holds(self, lanes, side == "buy", qty, max(distinct))
        if hold is None:
            return None
        sign = 1 if side == "buy" else -1
        first = len(self.orders)
        o = self.numbered["o"]
        placed = [  # positional: OrderRecord's field order (id … for_session)
            OrderRecord(f"o{o + k:06d}", sym, side, q, "market", None, None, tif, when, "open", None, None, 0, None,
                        origin, session)
            for k, (sym, q) in enumerate(zip(symbols, qty.tolist(), strict=True), start=1)
        ]  # fmt: skip
        self.numbered["o"] = o + n
        self.orders.extend(placed)
        self.active = True
        self.book.push_columns(
            {
                "lane": lanes, "sign": sign, "left": qty, "kind": TYPES["market"], "limit": np.nan, "stop": np.nan,
                "start": start, "expire": day_close if tif == "day" else FAR, "ref": np.arange(first, first + n),
                "ref_px": hold,
            },
            n,
            market=True,
        )  # fmt: skip
        if self.remote is not None:
            self._note_refused(self.remote.submit(self, first, placed))  # a plugin's batch: no adhoc order
            placed_open = [o for o in placed if o.is_open]
            if placed_open:
                self._note_placed(placed_open)
            return placed
        self._note_placed(placed, n if side == "buy" else 0)
        return placed

    def _note_placed(self, accepted: list[OrderRecord], buys: int | None = None) -> None:
        """The event lines of accepted orders (``buys`` of them buys, when known): one each for
        the trader's, one for a plugin's batch."""
        eng = self._engine()
        if accepted and accepted[0].origin != "adhoc":  # a plugin's batch: one line
            if buys is None:
                buys = sum(1 for o in accepted if o.side == "buy")
            eng.events.emit(
                "order",
                f"{accepted[0].origin}: {_count(buys, 'buy')}, {_count(len(accepted) - buys, 'sell')} placed "
                f"({accepted[0].id}..{accepted[-1].id})",
            )
            return
        for order in accepted:
            eng.events.emit(
                "order", f"order {order.id}: {order.side} {order.qty:,} {order.symbol} {order.type} ({order.tif})"
            )

    # -- events -----------------------------------------------------------------------------------
    def note_fill(self, order: OrderRecord, qty: int, price: float, fee: float, when: dt.datetime) -> None:
        """A fill's event: one line for the trader's orders; a plugin's are summed up per minute."""
        if order.origin == "adhoc":
            self._engine().events.emit(
                "fill",
                f"fill {order.id}: {order.side} {qty:,} {order.symbol} @ {price:,.4f} (fee {fee:,.2f}) at {when:%H:%M}",
            )
            return
        self.note_plugin_fill(order.origin, order.side, when)

    def note_plugin_fill(self, origin: str, side: str, when: dt.datetime) -> None:
        """A plugin's fill, counted for the minute's one line."""
        seen = self._fills_seen.get(origin)
        if seen is None:
            seen = self._fills_seen[origin] = [0, 0, when]
        seen[0 if side == "buy" else 1] += 1

    def _flush_fills(self) -> None:
        for origin, (buys, sells, when) in self._fills_seen.items():
            self._engine().events.emit(
                "fill", f"{origin}: {_count(buys, 'buy')}, {_count(sells, 'sell')} filled at {when:%H:%M}"
            )
        self._fills_seen.clear()

    def _next_id(self, accepted: bool) -> str:
        prefix = "o" if accepted else "r"
        self.numbered[prefix] += 1
        return f"{prefix}{self.numbered[prefix]:06d}"

    def cancel(self, order_id: str) -> OrderRecord:
        """Cancel an open order (SessionStateError for one that is not open, or that the remote
        would not cancel or had filled meanwhile)."""
        order = self.order(order_id)
        if not order.is_open:
            raise SessionStateError(
                f"order {order_id} is {order.status}, not open; nothing to cancel (see: orders --all)"
            )
        done, refused = self.cancel_many([self._index[order_id]])
        if refused:
            raise refused[0][1]
        if not done:
            raise SessionStateError(f"order {order_id} was {order.status} at Alpaca before the cancel reached it")
        return done[0]

    def cancel_many(
        self, idxs: list[int], reason: str = "canceled by request"
    ) -> tuple[list[OrderRecord], list[tuple[OrderRecord, SessionStateError]]]:
        """Cancel open orders ``self.orders[i]`` (live: at the remote first, and what it filled of
        them since its last poll booked before they leave the book); (canceled, refused with why:
        the remote's refusal leaves an order open). One the remote had filled is not canceled."""
        sent, refused = [], []
        for idx in idxs:
            if self.remote is not None:
                try:
                    self.remote.cancel(self.orders[idx].id)
                except SessionStateError as err:
                    refused.append((self.orders[idx], err))
                    continue
            sent.append(idx)
        if sent and self.remote is not None:
            self.remote.settle(self, sent)
        canceled = [i for i in sent if self.orders[i].is_open or self.orders[i].status == "canceled"]
        gone = [i for i in canceled if self.orders[i].is_open]
        if gone:
            self.book.keep(~np.isin(self.book.ref, gone))
        for idx in canceled:
            self.orders[idx].status, self.orders[idx].reason = "canceled", reason
        return [self.orders[i] for i in canceled], refused

    def find(self, order_id: str) -> int | None:
        """The place of order ``order_id`` in ``orders`` (None: no such order); the index is
        brought up to date as orders were added since the last look."""
        index = self._index
        for k in range(len(index), len(self.orders)):
            index[self.orders[k].id] = k
        return index.get(order_id)

    def order(self, order_id: str) -> OrderRecord:
        """An order by id (SessionStateError naming what exists otherwise)."""
        idx = self.find(order_id)
        if idx is not None:
            return self.orders[idx]
        spans = []
        for prefix, what in (("o", "orders"), ("r", "rejected")):
            n = self.numbered[prefix]
            if n:
                spans.append(f"{what} {prefix}000001" + (f"..{prefix}{n:06d}" if n > 1 else ""))
        known = ", ".join(spans) or "none yet"
        raise SessionStateError(f"no order {order_id} ({known}; list them with: orders --all)")

    def _engine(self) -> Engine:
        if self.engine is None:
            raise SessionStateError("no session (start one with: system start)")
        return self.engine

    # -- the minute step -----------------------------------------------------------------------
    def mark_stage(self, minute: Minute) -> None:
        """The stage after the indicators: mark positions at the minute's closes, record equity,
        and at the session's close expire what was for it alone."""
        if minute.row == 0 and self.eq_value:  # a new session: its P&L counts from the last close
            self.day_start_equity = self.eq_value[-1]
        closes = minute.book.base.cols["close"][minute.row]
        n = min(len(closes), len(self.mark))
        np.copyto(self.mark[:n], closes[:n], where=closes[:n] == closes[:n])  # a missing bar keeps its mark
        lanes, shares, gross_shares = self._held_lanes()
        equity = self.cash
        if len(lanes):
            marks = self.mark[lanes]
            equity += float(shares @ marks)
            if equity > 0:
                self.exposure_sum += float(gross_shares @ marks) / equity
        self.eq_time.append(minute.start_ns)
        self.eq_value.append(equity)
        if minute.book.done and self.remote is None:  # live: the remote says (RemoteDesk.final)
            self._expire(minute.book.close_ns)

    def end_live(self, last_ns: int) -> None:
        """A live session's last minute stepped: the remote's last word on the orders open there
        (RemoteDesk.final), and the last equity point marked again with what it filled."""
        if self.remote is None:
            return
        self.remote.final(self, last_ns)
        if self.eq_value:
            self.eq_value[-1] = self.equity_now()

    def _held_lanes(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(lanes held, their signed shares, their absolute shares) as floats; rebuilt only
        after the shares changed (``self.held = None``: a fill, a release, a reset)."""
        if self.held is None:
            lanes = np.flatnonzero(self.qty)
            shares = self.qty[lanes].astype(np.float64)
            self.held = (lanes, shares, np.abs(shares))
        return self.held

    def _expire(self, close_ns: int) -> None:
        b = self.book
        gone = b.expire <= close_ns
        for ref in b.ref[gone].tolist():
            o = self.orders[ref]
            o.status = "expired"
            o.reason = "a DAY order not filled by the session's close"
        if gone.any():
            b.keep(~gone)

    # -- reading ---------------------------------------------------------------------------------
    def positions(self) -> list[Position]:
        """Every symbol held (and flat ones traded: realized P&L or fees paid), by symbol."""
        eng = self._engine()
        out = []
        for sym, data in sorted(eng.session.symbols.items()):
            lane = data.lane
            self._ensure(lane)
            q, r = int(self.qty[lane]), float(self.realized[lane])
            if q == 0 and r == 0 and not self.lane_fees[lane]:  # never traded (a round trip at cost still paid)
                continue
            mark = float(self.mark[lane]) if self.mark[lane] == self.mark[lane] else None
            avg = float(self.avg[lane]) if q else None
            unreal = (mark - float(self.avg[lane])) * q if (q and mark is not None) else 0.0
            out.append(
                Position(
                    symbol=sym,
                    qty=q,
                    avg_price=avg,
                    realized_pnl=r,
                    unrealized_pnl=unreal,
                    last_price=mark,
                    market_value=q * mark if mark is not None else 0.0,
                )
            )
        return out

    def snapshot(self) -> tuple[float, float]:
        """(equity, equity at the last close) without the symbol lock (the toolbar's): the last
        minute's recorded equity, one list item read at once, never a half-applied fill."""
        values = self.eq_value
        equity = values[-1] if values else float(self.cfg.initial_cash)
        return equity, self._day_start()

    def _day_start(self) -> float:
        """The equity the day's P&L counts from: the last close's; at a new session's open, before
        its first bar stepped, the last point recorded (the day before's close)."""
        eng = self.engine
        book = eng.replay.book if eng is not None else None
        times, values = self.eq_time, self.eq_value
        if book is not None and times and values and times[-1] < book.open_ns:
            return values[-1]
        return self.day_start_equity

    def equity_now(self) -> float:
        """Cash plus the positions at their marks."""
        held = self.qty != 0
        return self.cash + (float(np.dot(self.qty[held], self.mark[held])) if held.any() else 0.0)

    def account(self) -> Account:
        """Cash, equity, buying power, fees and P&L now."""
        from trader_cli.core.broker.checks import buying_power

        held = self.qty != 0
        unreal = float(((self.mark[held] - self.avg[held]) * self.qty[held]).sum()) if held.any() else 0.0
        realized = float(self.realized.sum()) + sum(r for r, _, _ in self.gone.values())
        equity = self.equity_now()
        return Account(
            initial_cash=float(self.cfg.initial_cash),
            cash=self.cash,
            equity=equity,
            buying_power=buying_power(self),
            fees=self.fees,
            realized_pnl=realized,
            unrealized_pnl=unreal,
            day_pnl=equity - self._day_start(),
            open_positions=int(np.count_nonzero(held)),
            open_orders=len(self.book),
        )

    def open_orders(self) -> list[OrderRecord]:
        """The orders that may still fill."""
        return [o for o in self.orders if o.is_open]
