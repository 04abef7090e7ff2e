"""The checks an order passes at submission (a refused one is recorded, rejected, with why):
a whole quantity within 1..1e9 shares, the symbol in the session, prices within the store's
range, buying power, short selling only when allowed, and the configured limits.

Every check prices an order at what it could cost at worst: a market or stop buy at the last
close (or its stop, if higher) plus slippage, a limit or stop-limit buy at its limit; a sell at
the last close or its price, whichever is higher. Open orders count as if filled at their
price: buys hold back their cost, short sales their value, and both count towards the limits.
What an open order holds back follows the position (``held_back``): a buy's shares that would
cover a short hold nothing (the short is held back already) until the short is gone some other
way, a sale's shares hold only where they would go short.

Buying power = cash − what open buy orders would cost − what open short sales would take −
twice the market value of short positions (a short is unlevered: its proceeds stay in cash and as
much again is held back).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from trader_cli.core.broker.models import OrderRequest

if TYPE_CHECKING:
    from trader_cli.core.broker.sim import SimBroker
    from trader_cli.core.engine import Engine

MAX_SHARES = 1_000_000_000
MIN_PRICE, MAX_PRICE = 0.0001, 10_000_000.0  # the store's price range (core/bar_checks.py), to a tick


@dataclass
class Ledger:
    """What the checks of a batch of orders read (buying power, the shares open orders will buy
    and sell per lane, the lanes held or ordered), computed once and kept up to date as the
    batch's orders are accepted: a strategy's hundred orders cost one look at the book."""

    power: float
    buying: dict[int, int] = field(default_factory=dict)
    selling: dict[int, int] = field(default_factory=dict)
    busy: set[int] = field(default_factory=set)

    @classmethod
    def of(cls, broker: SimBroker) -> Ledger:
        """The ledger of the broker's book now."""
        b = broker.book
        out = cls(buying_power(broker))
        if b.n:
            lanes, left, sign = b.lane.tolist(), b.left.tolist(), b.sign.tolist()
            for lane, q, s in zip(lanes, left, sign, strict=True):
                side = out.buying if s > 0 else out.selling
                side[lane] = side.get(lane, 0) + q
            out.busy.update(lanes)
        out.busy.update(np.flatnonzero(broker.qty != 0).tolist())
        return out

    def accept(self, lane: int, buy: bool, qty: int, held: float) -> None:
        """An accepted order of the batch: it holds back ``held`` of buying power."""
        self.power -= held
        side = self.buying if buy else self.selling
        side[lane] = side.get(lane, 0) + qty
        self.busy.add(lane)


def usd(x: float) -> str:
    """Dollars with cents, the sign before them: $1,234.50, -$3,511.65."""
    return f"-${-x:,.2f}" if x < 0 else f"${x:,.2f}"


def per_share(x: float) -> str:
    """A price as the broker uses it, to the cent or the 1/100 cent it has: $223.10, $223.1015."""
    text = f"{x:,.4f}".rstrip("0")
    return "$" + (text + "0" * (2 - len(text.split(".")[1])))


def as_typed(x: float) -> str:
    """A number in full, as a trader would type it: 10,000,001 (``:g`` made it 1e+07), 0.00005."""
    if not math.isfinite(x) or x == 0 or not 1e-4 <= abs(x) < 1e15:
        return f"{x:g}"
    return f"{x:,.10f}".rstrip("0").rstrip(".")


def buying_power(broker: SimBroker) -> float:
    """Cash less what open orders hold back and twice the short positions' value (module doc)."""
    shorts = broker.qty < 0
    short_value = float(-np.dot(broker.qty[shorts], broker.mark[shorts])) if shorts.any() else 0.0
    return broker.cash - held_back(broker) - 2.0 * short_value


def held_back(broker: SimBroker) -> float:
    """What the open orders hold back now, against the positions now: per symbol, its open buys'
    cost (``ref_px``: each share's worst price, its fee share included) for the shares that would
    open or add to a position, not those that would cover a short; its open sales' value for the
    shares that would go short. A side's orders share its covered shares pro rata."""
    b = broker.book
    if not b.n:
        return 0.0
    value = b.left * b.ref_px
    buy = b.sign > 0
    if buy.all() and (broker.qty[b.lane] >= 0).all():  # buys only, none covering: each holds in full
        return float(value.sum())
    lane = b.lane
    broker._ensure(int(lane.max()))  # (its arrays grow for an order's lane already: a no-op)
    pos = broker.qty
    k = len(pos)
    bought = np.bincount(lane, np.where(buy, b.left, 0), k)
    sold = np.bincount(lane, np.where(buy, 0, b.left), k)
    opening = bought - np.minimum(bought, np.maximum(0, -pos))
    short = np.maximum(0, sold - np.maximum(0, pos))
    held = np.bincount(lane, np.where(buy, value, 0.0), k) * np.divide(
        opening, bought, out=np.zeros(k), where=bought > 0
    ) + np.bincount(lane, np.where(buy, 0.0, value), k) * np.divide(short, sold, out=np.zeros(k), where=sold > 0)
    return float(held.sum())


def last_price(eng: Engine, symbol: str, broker: SimBroker) -> float | None:
    """The symbol's last close before now (its mark, else its latest bar)."""
    from trader_cli.core import queries
    from trader_cli.core.intervals import BASE_1M

    data = eng.session.require(symbol)
    broker._ensure(data.lane)
    mark = float(broker.mark[data.lane])
    if mark == mark:
        return mark
    hist, today = queries.bars(eng, data, BASE_1M)
    for part in (today, hist):
        if len(part):
            return float(part.close[-1])
    return None


def worst_price(req: OrderRequest, last: float, slippage: float) -> float:
    """What one share of the order could cost (a buy) or bring in (a sale) at worst, for checks."""
    if req.side == "buy":
        if req.limit is not None:  # limit and stop-limit: never above the limit
            return req.limit
        return max(last, req.stop or 0.0) * (1 + slippage)
    return max(last, req.limit or 0.0, req.stop or 0.0)


def refusal(broker: SimBroker, req: OrderRequest, eng: Engine, ledger: Ledger) -> tuple[str | None, float, float]:
    """(why the order is refused or None, each share's worst price for the book's holds — a
    buy's with its fee share —, what the order holds back of buying power now: a buy its cost
    where it opens a position, a sale its value where it goes short, nothing where it closes one)."""
    cfg = broker.cfg
    if isinstance(req.qty, bool) or not isinstance(req.qty, int) or not 0 < req.qty <= MAX_SHARES:
        return f"quantity must be a whole number of shares from 1 to {MAX_SHARES:,} (got {req.qty})", 0.0, 0.0
    data = eng.session.get(req.symbol)
    if data is None:
        return f"{req.symbol} is not in the session (add it with: add symbol {req.symbol})", 0.0, 0.0
    for name, price in (("limit", req.limit), ("stop", req.stop)):
        if price is not None and not (math.isfinite(price) and MIN_PRICE <= price <= MAX_PRICE):
            return f"the {name} price must be from {MIN_PRICE:g} to {MAX_PRICE:,.0f} (got {as_typed(price)})", 0.0, 0.0
    last = last_price(eng, req.symbol, broker)
    if last is None:
        return f"{req.symbol} has no bar yet to price the order at (advance the clock first)", 0.0, 0.0
    slip = cfg.slippage_bps / 10_000.0
    ref = worst_price(req, last, slip)
    lane = data.lane
    pos = int(broker.qty[lane])
    buying = ledger.buying.get(lane, 0)  # shares open buy orders will add
    selling = ledger.selling.get(lane, 0)  # and open sell orders take
    power = ledger.power
    fee = max(cfg.fee_min, cfg.fee_per_share * req.qty)
    if req.side == "buy":
        covering = min(req.qty, max(0, -pos - buying))  # shares that close a short (already held back)
        opening = req.qty - covering
        cost = opening * ref + fee
        if opening and cost > power:
            return (
                f"not enough buying power: {opening:,} x {per_share(ref)} + fee = {usd(cost)} > {usd(power)} available",
                0.0,
                0.0,
            )
        px, holding = ref + fee / req.qty, cost if opening else 0.0
    else:
        free = max(0, pos - selling)
        short = max(0, req.qty - free)
        if short and not cfg.allow_short:
            held = f"you hold {pos:,} share(s) of {req.symbol}"
            if selling:
                held += f" ({selling:,} in open sell orders)"
            return f"{held}; selling {req.qty:,} would go short, which allow_short (false) forbids", 0.0, 0.0
        if short and short * ref > power:
            return (
                f"not enough buying power to short {short:,} x {per_share(ref)} = {usd(short * ref)} "
                f"({usd(power)} available; a short holds back its value)",
                0.0,
                0.0,
            )
        px, holding = ref, short * ref
    after = pos + buying - selling + (req.qty if req.side == "buy" else -req.qty)
    return _limits(broker, req, ref, pos + buying - selling, after, lane, ledger), px, holding


def _limits(
    broker: SimBroker, req: OrderRequest, ref: float, before: int, after: int, lane: int, ledger: Ledger
) -> str | None:
    """The config's limits; ``before``/``after``: the shares held once the open orders fill,
    without and with this one."""
    cfg = broker.cfg
    notional = req.qty * ref
    if cfg.max_per_trade is not None and notional > cfg.max_per_trade:
        return f"{req.qty:,} x {per_share(ref)} = {usd(notional)} is above max_per_trade {usd(cfg.max_per_trade)}"
    if cfg.max_per_symbol is not None and abs(after) > abs(before) and abs(after) * ref > cfg.max_per_symbol:
        return (
            f"{req.symbol} would hold {usd(abs(after) * ref)} with its open orders, "
            f"above max_per_symbol {usd(cfg.max_per_symbol)}"
        )
    cap = cfg.max_open_positions
    if cap is not None and before == 0 and after != 0 and len(ledger.busy - {lane}) >= cap:
        return f"{cfg.max_open_positions} position(s) are open or ordered already (max_open_positions)"
    return None


def market_batch_holds(
    broker: SimBroker, lanes: np.ndarray, buy: bool, qty: np.ndarray, top_lane: int
) -> np.ndarray | None:
    """``refusal`` for market orders of distinct lanes at once (``top_lane``: the highest), each
    checked against the book as the earlier ones of the batch leave it: each share's worst price
    for the book's holds (``refusal``'s), or None where the batch needs the order-by-order checks (a configured limit,
    a quantity out of range, a lane without a close yet, a sale that would go short, a buy the
    buying power refuses)."""
    cfg = broker.cfg
    if cfg.max_per_trade is not None or cfg.max_per_symbol is not None or cfg.max_open_positions is not None:
        return None
    shares = qty.tolist()
    if min(shares) < 1 or max(shares) > MAX_SHARES:
        return None
    broker._ensure(top_lane)
    mark = broker.mark[lanes]
    if not np.isfinite(mark).all():
        return None
    if buy:
        buying = _ordered(broker, lanes, 1)
        opening = qty - np.minimum(qty, np.maximum(0, -broker.qty[lanes] - buying))  # less what covers a short
        fee = np.maximum(cfg.fee_min, cfg.fee_per_share * qty)
        worst = mark * (1 + cfg.slippage_bps / 10_000.0)
        cost = np.where(opening > 0, opening * worst + fee, 0.0)
        power = buying_power(broker)
        running = np.cumsum(cost)
        if float(running[-1]) > power and np.any((opening > 0) & (running > power)):  # costs >= 0: the last is the most
            return None
        holds: np.ndarray = worst + fee / qty
        return holds
    if (qty > broker.qty[lanes] - _ordered(broker, lanes, -1)).any():
        return None
    worst_sale: np.ndarray = mark  # a sale's worst price: its value should it go short later (it closes now)
    return worst_sale


def _ordered(broker: SimBroker, lanes: np.ndarray, sign: int) -> np.ndarray | int:
    """The shares the open orders of one side (``sign``: +1 buys, -1 sells) still hold for each
    of ``lanes`` (0 when there is none)."""
    b = broker.book
    side = b.sign == sign
    if not b.n or not side.any():
        return 0
    out: np.ndarray = np.bincount(b.lane, np.where(side, b.left, 0), minlength=len(broker.qty))[lanes]
    return out
