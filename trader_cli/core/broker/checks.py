"""The checks an order passes at submission (a refused one is recorded, rejected, with why):
a whole positive quantity, the symbol in the session, prices above 0, buying power, short
selling only when allowed, and the configured limits."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from trader_cli.core.broker.models import OrderRequest

if TYPE_CHECKING:
    from trader_cli.core.broker.sim import SimBroker
    from trader_cli.core.engine import Engine


def buying_power(broker: SimBroker) -> float:
    """Cash less what open buy orders would cost (at their limit or stop, else the last close)
    and less the collateral of short positions (their market value)."""
    b = broker.book
    reserved = 0.0
    buys = b.sign > 0
    if buys.any():
        marks = broker.mark[b.lane[buys]] if len(broker.mark) else np.empty(0)
        ref = np.where(
            b.limit[buys] == b.limit[buys], b.limit[buys], np.where(b.stop[buys] == b.stop[buys], b.stop[buys], marks)
        )
        reserved = float(np.nansum(b.left[buys] * ref))
    shorts = broker.qty < 0
    collateral = float(np.nansum(-broker.qty[shorts] * broker.mark[shorts])) if shorts.any() else 0.0
    return broker.cash - reserved - collateral


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


def refusal(broker: SimBroker, req: OrderRequest, eng: Engine) -> str | None:
    """Why the order is refused, or None."""
    cfg = broker.cfg
    if isinstance(req.qty, bool) or req.qty <= 0:
        return f"quantity must be a whole number of shares above 0 (got {req.qty})"
    data = eng.session.get(req.symbol)
    if data is None:
        return f"{req.symbol} is not in the session (add it with: add symbol {req.symbol})"
    for name, price in (("limit", req.limit), ("stop", req.stop)):
        if price is not None and not (math.isfinite(price) and price > 0):
            return f"the {name} price must be above 0 (got {price:g})"
    ref = (
        req.limit
        if req.limit is not None
        else (req.stop if req.stop is not None else last_price(eng, req.symbol, broker))
    )
    if ref is None:
        return f"{req.symbol} has no bar yet to price the order at (advance the clock first, or give --limit)"
    pos, _ = broker.holds(data.lane)
    b = broker.book
    committed = int(b.left[(b.lane == data.lane) & (b.sign < 0)].sum())  # shares open sell orders will take
    if req.side == "buy":
        opening = req.qty - min(req.qty, max(0, -pos))
        slip = 1 + cfg.slippage_bps / 10_000.0 if req.limit is None else 1.0
        cost = opening * ref * slip + (max(cfg.fee_min, cfg.fee_per_share * req.qty) if opening else 0.0)
        power = buying_power(broker)
        if opening and cost > power:
            return f"not enough buying power: {opening:,} x ${ref:,.2f} + fee = ${cost:,.2f} > ${power:,.2f} available"
        after = pos + req.qty
    else:
        free = max(0, pos - committed)
        if req.qty > free and not cfg.allow_short:
            held = f"you hold {pos:,} share(s) of {req.symbol}" + (
                f" ({committed:,} in open sell orders)" if committed else ""
            )
            return f"{held}; selling {req.qty:,} would go short, which allow_short (false) forbids"
        short = max(0, req.qty - free)
        if short and short * ref > buying_power(broker):
            return f"not enough buying power to short {short:,} x ${ref:,.2f} = ${short * ref:,.2f}"
        after = pos - req.qty
    return _limits(broker, req, ref, pos, after, data.lane)


def _limits(broker: SimBroker, req: OrderRequest, ref: float, pos: int, after: int, lane: int) -> str | None:
    cfg = broker.cfg
    notional = req.qty * ref
    if cfg.max_per_trade is not None and notional > cfg.max_per_trade:
        return f"{req.qty:,} x ${ref:,.2f} = ${notional:,.2f} is above max_per_trade ${cfg.max_per_trade:,.2f}"
    if cfg.max_per_symbol is not None and abs(after) * ref > cfg.max_per_symbol and abs(after) > abs(pos):
        return f"{req.symbol} would hold ${abs(after) * ref:,.2f}, above max_per_symbol ${cfg.max_per_symbol:,.2f}"
    if cfg.max_open_positions is not None and pos == 0 and after != 0:
        held = broker.qty != 0
        pending = set(broker.book.lane.tolist()) - set(np.flatnonzero(held).tolist())
        if int(np.count_nonzero(held)) + len(pending - {lane}) >= cfg.max_open_positions:
            return f"{cfg.max_open_positions} position(s) are open or ordered already (max_open_positions)"
    return None
