"""Matching: the open orders against the bar that just arrived, the stage before the bars.

Fill rules (deterministic; nothing at or after the clock is used). With the clock at T (bars
before T visible, the bar starting at T not yet), an order submitted at T is matched against its
symbol's 1m bars starting at or after T:

- market: the open of the first such bar; a buy pays open × (1 + slippage), a sell gets
  open × (1 − slippage) (slippage = slippage_bps / 10,000);
- limit buy L: the first bar with low ≤ L, at min(open, L); limit sell L: high ≥ L, at max(open, L);
- stop buy S: the first bar with high ≥ S, at max(open, S); stop sell S: low ≤ S, at min(open, S)
  (slippage as for market orders);
- stop-limit (both prices): the stop's bar triggers it; it fills there at the stop's price
  (max(open, S) for a buy) when that is within the limit, else it rests as a limit order from
  the next bar on;
- a missing minute never fills (the order waits); only regular-session bars fill;
- a DAY order not filled by the session's last bar expires at the close; GTC orders rest across
  days; an order submitted when the session has no bar left (at its close) is for the next
  session, matched from its first bar (a DAY order then expires at that session's close);
- fee per order = max(fee_min, fee_per_share × shares), charged as it fills (a later part fill
  pays only the per-share fees beyond what the order paid); fills are whole unless
  ``max_participation`` is set: then one bar fills at most that share of its volume (rounded
  down), for all of its symbol's orders together (the earlier placed first), and the rest waits
  for the next bars (partially_filled).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from trader_cli.core.broker.accounting import apply_fills

if TYPE_CHECKING:
    from trader_cli.core.broker.models import OrderRecord
    from trader_cli.core.broker.sim import SimBroker
    from trader_cli.core.step import Minute


def match(broker: SimBroker, minute: Minute) -> None:
    """The stage before the bars: fill the open orders against the bar that just arrived.
    One vectorised test finds the orders the bar's low or high reaches (most minutes: none);
    only those are priced: market orders at once, the others one by one. Live: Alpaca's
    fills first (its orders never match here)."""
    if broker.remote is not None:
        broker.remote.stage(broker, minute)
    b = broker.book
    if not b.n:
        return
    t = minute.start_ns
    cols = minute.book.base.cols
    k = minute.row
    lanes = b.lane
    reach = (cols["low"][k][lanes] <= b.lo_trig) | (cols["high"][k][lanes] >= b.hi_trig)  # NaN: False
    if b.latest_start > t:  # some orders are for a later session
        reach &= b.start <= t
    if not reach.any():
        return
    slip = broker.cfg.slippage_bps / 10_000.0
    cap = broker.cfg.max_participation
    hit = np.flatnonzero(reach)
    if cap is None and not b.kind[hit].any():  # market orders only (a strategy's): priced at once
        price = cols["open"][k][lanes[hit]] * (1 + b.sign[hit] * slip)
        _filled(broker, hit, b.left[hit], price, t)
        return
    rows: list[int] = []
    qtys: list[int] = []
    prices: list[float] = []
    room: dict[int, int] = {}  # lane -> shares the bar's volume cap has left (orders in placement order)
    for row in hit.tolist():
        lane, sign, kind = int(lanes[row]), int(b.sign[row]), int(b.kind[row])
        o = float(cols["open"][k, lane])
        buy = sign > 0
        if kind == 0:  # market
            price = o * (1 + sign * slip)
        elif kind == 1 or (kind == 3 and b.triggered[row]):  # limit, or a triggered stop-limit
            lim = float(b.limit[row])
            price = min(o, lim) if buy else max(o, lim)
        elif kind == 2:  # stop
            stp = float(b.stop[row])
            price = (max(o, stp) if buy else min(o, stp)) * (1 + sign * slip)
        else:  # a stop-limit's stop trades: it fills at that price within the limit, else rests
            stp, lim = float(b.stop[row]), float(b.limit[row])
            price = max(o, stp) if buy else min(o, stp)
            if (price > lim) if buy else (price < lim):
                b.trigger(row)
                continue
        qty = int(b.left[row])
        if cap is not None:  # the bar's cap is shared by every order of its symbol
            left = room.get(lane)
            if left is None:
                left = int(cap * float(cols["volume"][k, lane]))
            qty = min(qty, left)
            room[lane] = left - max(qty, 0)
            if qty < 1:
                continue
        rows.append(row)
        qtys.append(qty)
        prices.append(price)
    if rows:
        _filled(broker, np.array(rows, np.int64), np.array(qtys, np.int64), np.array(prices), t)


def _filled(broker: SimBroker, rows: np.ndarray, qtys: np.ndarray, prices: np.ndarray, t: int) -> None:
    """Book the fills of open-book ``rows`` at the bar starting ``t``, then take what is
    done off the book (a part-filled stop's rest turns market, a stop-limit's a limit)."""
    b = broker.book
    unfunded: list[int] = []
    if (b.sign[rows] > 0).any():
        rows, qtys, prices, unfunded = _funded(broker, rows, qtys, prices)
    if len(rows):
        apply_fills(broker, rows, qtys, prices, t)
        broker._flush_fills()
        b.left[rows] -= qtys
    rest = rows[b.left[rows] > 0]
    for row in rest.tolist():
        if b.kind[row] == 2:  # a triggered stop's rest: a market order from the next bar
            b.to_market(row)
        elif b.kind[row] == 3 and not b.triggered[row]:  # a triggered stop-limit's rest: a limit order
            b.trigger(row)
    if unfunded:  # once the rows above are done with: they index the book as it was
        b.keep((b.left > 0) & ~np.isin(b.ref, unfunded))
    elif not len(rest) and len(rows) == b.n:  # every open order filled (a strategy's, usually)
        b.clear()
    elif len(rest) < len(rows):
        b.keep(b.left > 0)


def _funded(
    broker: SimBroker, rows: np.ndarray, qtys: np.ndarray, prices: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[int]]:
    """The fills the cash pays for, in placement order (a sale's proceeds before a later buy),
    and the orders of the buys it cannot: a market or stop buy was checked at the last close, and
    a gap (the next session's open) can move its fill past the cash. Those are canceled at the
    fill, with why, instead of taking the cash below zero."""
    from trader_cli.core.broker.accounting import fee_for
    from trader_cli.core.broker.checks import per_share, usd

    b, cfg = broker.book, broker.cfg
    signs = b.sign[rows]
    buys = signs > 0
    worst_fees = np.maximum(cfg.fee_min, cfg.fee_per_share * qtys)  # a part fill pays no more
    if broker.cash - float((qtys[buys] * prices[buys] + worst_fees[buys]).sum()) >= 0:
        return rows, qtys, prices, []
    keep, unfunded, cash = [], [], broker.cash
    for k, (ref, sign, q, px) in enumerate(
        zip(b.ref[rows].tolist(), signs.tolist(), qtys.tolist(), prices.tolist(), strict=True)
    ):
        order = broker.orders[ref]
        fee = fee_for(broker, order.filled_qty, q)
        flow = sign * q * px + fee
        if sign > 0 and cash - flow < 0:
            order.status = "canceled"
            order.reason = (
                f"not enough cash at the fill: {q:,} x {per_share(px)} + fee = {usd(q * px + fee)} > {usd(cash)} "
                "(it was checked at the last close; the price moved past it)"
            )
            unfunded.append(ref)
            continue
        cash -= flow
        keep.append(k)
    _note_unfunded(broker, [broker.orders[r] for r in unfunded])
    at = np.array(keep, np.int64)
    return rows[at], qtys[at], prices[at], unfunded


def _note_unfunded(broker: SimBroker, gone: list[OrderRecord]) -> None:
    """One line for each of the trader's orders canceled at the fill, one a plugin's minute."""
    events = broker._engine().events
    mine = [o for o in gone if o.origin == "adhoc"]
    for o in mine:
        events.emit("order", f"order {o.id} canceled: {o.reason}")
    theirs = [o for o in gone if o.origin != "adhoc"]
    if theirs:
        more = f" ({len(theirs) - 1} more)" if len(theirs) > 1 else ""
        first = theirs[0]
        events.emit("order", f"{first.origin}: {first.id} {first.symbol} buy canceled: {first.reason}{more}")
