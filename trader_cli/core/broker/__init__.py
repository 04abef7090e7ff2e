"""The broker of a session: the interface every part uses (the commands, the export, strategies
of a later issue), served by the simulator in a backtest (core/broker/sim.py) and by Alpaca's
paper-trading API in live mode. Orders, fills, positions, the account and the equity curve are
values of core/broker/models.py (the broker keeps records, ``OrderRecord`` …, and the models
are built from them where they leave the engine)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from trader_cli.core.broker.models import Account, EquityPoint, Fill, Order, OrderRecord, OrderRequest, Position

if TYPE_CHECKING:
    import numpy as np

    from trader_cli.core.broker.models import Side, TimeInForce


class Broker(Protocol):
    """Where orders go and what they did."""

    name: str  # "simulator", "alpaca-paper"
    orders: list[OrderRecord]  # every order of the session, in submission order (rejected ones too)

    def submit(self, req: OrderRequest) -> OrderRecord:
        """Check and accept an order (open) or record it rejected with why."""
        ...

    def submit_many(self, reqs: list[OrderRequest]) -> list[OrderRecord]:
        """``submit`` for a batch (a strategy's callback), checked one after another."""
        ...

    def submit_market(
        self, symbols: list[str], lanes: np.ndarray, side: Side, qty: np.ndarray, tif: TimeInForce, origin: str
    ) -> list[OrderRecord] | None:
        """Market orders for distinct symbols at once where the broker can check them so, else
        None (then ``submit_many``): a strategy's vectorised batch."""
        ...

    def cancel(self, order_id: str) -> OrderRecord:
        """Cancel an open order."""
        ...

    def order(self, order_id: str) -> OrderRecord:
        """An order by id."""
        ...

    def open_orders(self) -> list[OrderRecord]:
        """The orders that may still fill."""
        ...

    def positions(self) -> list[Position]:
        """What is held."""
        ...

    def account(self) -> Account:
        """Cash, equity, buying power, fees, P&L."""
        ...

    def snapshot(self) -> tuple[float, float]:
        """(equity now, equity at the last close), cheap and safe without the session's lock."""
        ...


__all__ = ["Account", "Broker", "EquityPoint", "Fill", "Order", "OrderRecord", "OrderRequest", "Position"]
