"""The broker of a session: the interface every part uses (the commands, the export, strategies
of a later issue), served by the simulator in a backtest (core/broker/sim.py) and by Alpaca's
paper-trading API in live mode. Orders, fills, positions, the account and the equity curve are
values of core/broker/models.py."""

from __future__ import annotations

from typing import Protocol

from trader_cli.core.broker.models import Account, EquityPoint, Fill, Order, OrderRequest, Position


class Broker(Protocol):
    """Where orders go and what they did."""

    name: str  # "simulator", "alpaca-paper"
    orders: list[Order]  # every order of the session, in submission order (rejected ones too)
    fills: list[Fill]

    def submit(self, req: OrderRequest) -> Order:
        """Check and accept an order (open) or record it rejected with why."""
        ...

    def cancel(self, order_id: str) -> Order:
        """Cancel an open order."""
        ...

    def order(self, order_id: str) -> Order:
        """An order by id."""
        ...

    def open_orders(self) -> list[Order]:
        """The orders that may still fill."""
        ...

    def positions(self) -> list[Position]:
        """What is held."""
        ...

    def account(self) -> Account:
        """Cash, equity, buying power, fees, P&L."""
        ...

    def equity(self) -> list[EquityPoint]:
        """The equity at every session minute so far."""
        ...


__all__ = ["Account", "Broker", "EquityPoint", "Fill", "Order", "OrderRequest", "Position"]
