"""Applying a fill to the account: average-cost positions, realized P&L when a position shrinks,
cash and fees, the order's state, and round trips (flat → held → flat)."""

from __future__ import annotations

import bisect
import datetime as dt
from typing import TYPE_CHECKING, Literal

import numpy as np

from trader_cli.core.broker.models import FillRecord, OrderRecord, TripRecord
from trader_cli.core.calendar import ny_at

if TYPE_CHECKING:
    from trader_cli.core.broker.sim import SimBroker


def fee_for(broker: SimBroker, before: int, qty: int) -> float:
    """The fee of a fill of ``qty`` shares of an order that had filled ``before``: an order pays
    max(fee_min, fee_per_share × its shares) in all, as it fills (its first fill at least the
    minimum, a later part fill only the per-share fees beyond what it paid), so the fee its
    buying-power hold reserved is what its fills pay."""
    cfg = broker.cfg
    paid = max(cfg.fee_min, cfg.fee_per_share * before) if before else 0.0
    return max(cfg.fee_min, cfg.fee_per_share * (before + qty)) - paid


def apply_fills(broker: SimBroker, rows: np.ndarray, qty: np.ndarray, price: np.ndarray, t: int) -> None:
    """Fill open-book ``rows`` (``qty`` shares each at ``price``) at the bar starting ``t``: the
    account's arrays updated at once for the minute's fills (one order per symbol, the usual
    case), else one fill after another; then each fill's record, its order, and its round trip."""
    b = broker.book
    lanes = b.lane[rows]
    if len(rows) == 1 or len(set(lanes.tolist())) != len(rows):
        for row, one_qty, one_price in zip(rows.tolist(), qty.tolist(), price.tolist(), strict=True):
            apply_fill(broker, row, one_qty, one_price, t)
        return
    broker._ensure(int(lanes.max()))
    cfg = broker.cfg
    fee = np.maximum(cfg.fee_min, cfg.fee_per_share * qty)
    if cfg.max_participation is not None:  # part fills: an order's fees as fee_for charges them
        filling = [broker.orders[r] for r in b.ref[rows].tolist()]
        fee = np.array([fee_for(broker, o.filled_qty, q) for o, q in zip(filling, qty.tolist(), strict=True)])
    signed = b.sign[rows] * qty
    before = broker.qty[lanes]
    after = before + signed
    avg = broker.avg[lanes]
    adding = (before == 0) | ((before > 0) == (signed > 0))
    closed = np.where(adding, 0, np.minimum(np.abs(before), qty))
    realized = (price - avg) * closed * np.sign(before)
    grown = np.divide(
        avg * np.abs(before) + price * qty, np.abs(after), out=price.astype(float), where=adding & (before != 0)
    )
    flipped = (after != 0) & ((after > 0) != (before > 0)) & ~adding
    broker.avg[lanes] = np.where(adding, grown, np.where(flipped, price, np.where(after == 0, 0.0, avg)))
    broker.qty[lanes] = after
    broker.held = None
    broker.realized[lanes] += realized
    flow = signed * price + fee
    broker.cash -= float(flow.sum())
    broker.fees += float(fee.sum())
    broker.lane_fees[lanes] += fee
    unmarked = np.isnan(broker.mark[lanes])
    if unmarked.any():
        broker.mark[lanes[unmarked]] = price[unmarked]
    when = ny_at(t)
    columns = (b.ref[rows], qty, price, fee, lanes, flow, signed, before, after, realized - fee)
    cash, held, orders, fills, trips = (
        broker.origin_cash,
        broker.origin_qty,
        broker.orders,
        broker.fills,
        broker._trip_open,
    )
    append = fills.append
    eq_time = broker.eq_time
    at = bisect.bisect_left(eq_time, t)
    for ref, q, px, f, lane, fl, sg, was, now, won in zip(*(c.tolist() for c in columns), strict=True):
        order = orders[ref]
        origin = order.origin
        cash[origin] = cash.get(origin, 0.0) - fl
        key = (origin, lane)
        held[key] = held.get(key, 0) + sg
        append(FillRecord(order.id, order.symbol, order.side, q, px, f, when))
        if order.filled_qty == 0 and q >= order.qty and origin != "adhoc":  # a plugin's whole fill
            order.avg_fill_price, order.filled_qty, order.filled_at, order.status = px, q, when, "filled"
            broker.note_plugin_fill(origin, order.side, when)
        else:
            _record(broker, order, q, px, f, when)
        if was == 0:  # a round trip opens (see _round_trip)
            trips[lane] = (t, won)
        elif now == 0:  # one closes: the common end, written out
            opened, pnl = trips.pop(lane, (t, 0.0))
            minutes = at - bisect.bisect_left(eq_time, opened)
            side: Literal["long", "short"] = "long" if was > 0 else "short"
            broker.trips.append(TripRecord(order.symbol, side, ny_at(opened), when, minutes, pnl + won))
        else:
            _round_trip(broker, order.symbol, lane, was, now, won, t, at, f)


def _record(broker: SimBroker, order: OrderRecord, qty: int, price: float, fee: float, when: dt.datetime) -> None:
    """The order's fill so far, and the event (one line each for the trader's orders; a plugin's
    fills of a minute are summed up in one line by the caller's stage)."""
    filled = order.filled_qty + qty
    prev = order.avg_fill_price
    # the first fill's price exactly (price * qty / qty need not be), then the running mean
    order.avg_fill_price = price if prev is None or not order.filled_qty else prev + (price - prev) * qty / filled
    order.filled_qty = filled
    order.filled_at = when
    order.status = "filled" if filled >= order.qty else "partially_filled"
    broker.note_fill(order, qty, price, fee, when)


def apply_fill(broker: SimBroker, row: int, qty: int, price: float, t: int) -> None:
    """Fill ``qty`` shares of open-book row ``row`` at ``price`` at the bar starting ``t``."""
    b = broker.book
    order = broker.orders[int(b.ref[row])]
    lane, sign = int(b.lane[row]), int(b.sign[row])
    broker._ensure(lane)
    fee = fee_for(broker, order.filled_qty, qty)
    before = int(broker.qty[lane])
    signed = sign * qty
    after = before + signed
    realized = 0.0
    if before == 0:  # an opening fill: its price as is (x * q / q need not be x)
        broker.avg[lane] = price
    elif (before > 0) == (signed > 0):
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
    when = ny_at(t)
    broker.fills.append(
        FillRecord(order_id=order.id, symbol=order.symbol, side=order.side, qty=qty, price=price, fee=fee, time=when)
    )
    _record(broker, order, qty, price, fee, when)
    _round_trip(broker, order.symbol, lane, before, after, realized - fee, t, fee=fee)


def _round_trip(
    broker: SimBroker,
    symbol: str,
    lane: int,
    before: int,
    after: int,
    pnl: float,
    t: int,
    at: int | None = None,
    fee: float = 0.0,
) -> None:
    """Open, carry or close the lane's round trip (its hold time: the session minutes stepped
    between its first fill and its last, counted on the equity curve's minutes; ``at``: where
    ``t`` falls on them, when the caller knows). ``pnl`` is the fill's realized P&L less its
    ``fee``; a fill that flips the position splits the fee by shares between the trip it
    closes and the one it opens."""
    trips = broker._trip_open
    if before == 0:
        trips[lane] = (t, pnl)
        return
    opened, acc = trips.get(lane, (t, 0.0))
    flipped = after != 0 and (after > 0) != (before > 0)
    carried = fee * abs(after) / (abs(after) + abs(before)) if flipped else 0.0  # the new trip's share
    acc += pnl + carried
    if after == 0 or flipped:
        if at is None:
            at = bisect.bisect_left(broker.eq_time, t)
        broker.trips.append(
            TripRecord(
                symbol=symbol,
                side="long" if before > 0 else "short",
                opened_at=ny_at(opened),
                closed_at=ny_at(t),
                minutes=at - bisect.bisect_left(broker.eq_time, opened),
                pnl=acc,
            )
        )
        if flipped:
            trips[lane] = (t, -carried)
        else:
            trips.pop(lane, None)
    else:
        trips[lane] = (opened, acc)
