"""Applying a fill to the account: average-cost positions, realized P&L when a position shrinks,
cash and fees, the order's state, and round trips (flat → held → flat)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from trader_cli.core.broker.models import Fill, RoundTrip
from trader_cli.core.calendar import to_ny

if TYPE_CHECKING:
    from trader_cli.core.broker.sim import SimBroker
    from trader_cli.core.engine import Engine


def fee_for(broker: SimBroker, qty: int) -> float:
    """The fee of one fill: max(fee_min, fee_per_share × shares)."""
    cfg = broker.cfg
    return max(cfg.fee_min, cfg.fee_per_share * qty)


def apply_fill(broker: SimBroker, row: int, qty: int, price: float, t: int) -> None:
    """Fill ``qty`` shares of open-book row ``row`` at ``price`` at the bar starting ``t``."""
    b = broker.book
    order = broker.orders[int(b.ref[row])]
    lane, sign = int(b.lane[row]), int(b.sign[row])
    broker._ensure(lane)
    fee = fee_for(broker, qty)
    before = int(broker.qty[lane])
    signed = sign * qty
    after = before + signed
    realized = 0.0
    if before == 0 or (before > 0) == (signed > 0):
        broker.avg[lane] = (float(broker.avg[lane]) * abs(before) + price * qty) / abs(after)
    else:
        closed = min(abs(before), qty)
        realized = (price - float(broker.avg[lane])) * closed * (1 if before > 0 else -1)
        if after == 0:
            broker.avg[lane] = 0.0
        elif (after > 0) != (before > 0):  # flipped through flat: the rest opens at this price
            broker.avg[lane] = price
    broker.qty[lane] = after
    broker.held = None  # the held lanes are rebuilt at the next mark
    broker.realized[lane] += realized
    broker.cash -= signed * price + fee
    origin = order.origin
    broker.origin_cash[origin] = broker.origin_cash.get(origin, 0.0) - (signed * price + fee)
    broker.origin_qty[(origin, lane)] = broker.origin_qty.get((origin, lane), 0) + signed
    broker.fees += fee
    broker.lane_fees[lane] += fee
    if broker.mark[lane] != broker.mark[lane]:
        broker.mark[lane] = price
    when = to_ny(t)
    broker.fills.append(
        Fill(order_id=order.id, symbol=order.symbol, side=order.side, qty=qty, price=price, fee=fee, time=when)
    )
    filled = order.filled_qty + qty
    order.avg_fill_price = ((order.avg_fill_price or 0.0) * order.filled_qty + price * qty) / filled
    order.filled_qty = filled
    order.filled_at = when
    order.status = "filled" if filled >= order.qty else "partially_filled"
    broker._engine().events.emit(
        "fill", f"fill {order.id}: {order.side} {qty:,} {order.symbol} @ {price:,.4f} (fee {fee:,.2f}) at {when:%H:%M}"
    )
    _round_trip(broker, order.symbol, lane, before, after, realized - fee, t)


def _round_trip(broker: SimBroker, symbol: str, lane: int, before: int, after: int, pnl: float, t: int) -> None:
    """Open, carry or close the lane's round trip."""

    trips = broker._trip_open
    if before == 0:
        trips[lane] = (t, 0, pnl)
        return
    opened, _, acc = trips.get(lane, (t, 0, 0.0))
    acc += pnl
    flipped = after != 0 and (after > 0) != (before > 0)
    if after == 0 or flipped:
        eng = broker._engine()
        broker.trips.append(
            RoundTrip(
                symbol=symbol,
                side="long" if before > 0 else "short",
                opened_at=to_ny(opened),
                closed_at=to_ny(t),
                minutes=session_minutes(eng, opened, t),
                pnl=acc,
            )
        )
        trips.pop(lane, None)
        if flipped:
            trips[lane] = (t, 0, 0.0)
    else:
        trips[lane] = (opened, 0, acc)


def session_minutes(eng: Engine, a_ns: int, b_ns: int) -> int:
    """Trading minutes between two times of the backtest (for hold times)."""
    total = 0
    for d in eng.timeline.days:
        o, c = eng.calendar.open_close(d)
        lo, hi = max(o, a_ns), min(c, b_ns)
        if hi > lo:
            total += (hi - lo) // 60_000_000_000
    return int(total)
