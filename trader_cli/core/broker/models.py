"""What a broker deals in: order requests, orders, fills, positions and the account — the same
values for the simulator (backtests) and Alpaca's paper API (live). Times are New York datetimes
(JSON: ISO 8601 with the offset); money is in the account's currency."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Annotated, Literal, NamedTuple

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

Side = Literal["buy", "sell"]
OrderType = Literal["market", "limit", "stop", "stop_limit"]
TimeInForce = Literal["day", "gtc"]
OrderStatus = Literal["open", "partially_filled", "filled", "canceled", "expired", "rejected"]
OPEN_STATUSES: tuple[OrderStatus, ...] = ("open", "partially_filled")

MONEY_PLACES = 8  # an amount to 10^-8 of the currency: sub-cent fees kept, float noise gone
RATIO_PLACES = 12


def money(x: float) -> float:
    """An amount as shown and exported: ``298.00000000000324`` (prices times shares, summed in
    binary floating point) is ``298.0``; sub-cent fees and prices keep their digits."""
    return round(x, MONEY_PLACES)


# Amounts and fractions of the models below leave the engine rounded (the records keep every bit).
Money = Annotated[float, AfterValidator(money)]
Ratio = Annotated[float, AfterValidator(lambda x: round(x, RATIO_PLACES))]


class OrderRequest(BaseModel):
    """An order as asked for: buy or sell QTY shares of SYMBOL; a limit and/or stop price make it a
    limit, stop or stop-limit order; ``origin`` is who placed it (the trader, a strategy)."""

    symbol: str
    side: Side
    qty: int
    limit: float | None = None
    stop: float | None = None
    tif: TimeInForce = "day"
    origin: str = "adhoc"

    @property
    def type(self) -> OrderType:
        """market, limit, stop or stop_limit, from the prices given."""
        if self.limit is not None and self.stop is not None:
            return "stop_limit"
        if self.limit is not None:
            return "limit"
        return "stop" if self.stop is not None else "market"


class Order(BaseModel):
    """An order and what became of it."""

    id: str
    symbol: str
    side: Side
    qty: int
    type: OrderType
    limit: float | None
    stop: float | None
    tif: TimeInForce
    submitted_at: dt.datetime | None
    status: OrderStatus
    reason: str | None = None  # why it was rejected, canceled or expired
    filled_at: dt.datetime | None = None  # the start of the bar that filled it (the last one)
    filled_qty: int = 0
    avg_fill_price: Money | None = None
    origin: str = "adhoc"
    for_session: dt.date | None = None  # the session it is matched from

    @property
    def is_open(self) -> bool:
        """True while it may still fill."""
        return self.status in OPEN_STATUSES


class Fill(BaseModel):
    """Shares changing hands: an order's fill at a bar."""

    order_id: str
    symbol: str
    side: Side
    qty: int
    price: Money
    fee: Money
    time: dt.datetime  # the start of the bar it filled at


class Position(BaseModel):
    """Shares held (negative: short), at their average price, marked at the last close."""

    symbol: str
    qty: int
    avg_price: Money | None
    realized_pnl: Money
    unrealized_pnl: Money
    last_price: Money | None
    market_value: Money


class Account(BaseModel):
    """Cash, what it and the positions are worth, and the P&L so far."""

    initial_cash: Money
    cash: Money
    equity: Money
    buying_power: Money
    fees: Money
    realized_pnl: Money
    unrealized_pnl: Money
    day_pnl: Money  # equity now minus at the previous session's close (or the start)
    open_positions: int
    open_orders: int


class AccountSnapshot(Account):
    """The account as a plugin is handed it: read-only (it is a copy; writing to it is an error,
    as to an order snapshot, rather than a change that goes nowhere)."""

    model_config = ConfigDict(frozen=True)


class EquityPoint(BaseModel):
    """The account's equity at the end of one session minute."""

    time: dt.datetime
    equity: Money


class RoundTrip(BaseModel):
    """A position from flat back to flat: when, how long, and its P&L after fees."""

    symbol: str
    side: Literal["long", "short"]
    opened_at: dt.datetime
    closed_at: dt.datetime
    minutes: int  # trading minutes held
    pnl: Money


class Report(BaseModel):
    """The backtest's performance (see core/broker/report.py for each figure's definition)."""

    initial_cash: Money
    final_equity: Money
    total_return: Ratio
    sharpe: float | None
    sortino: float | None
    volatility: float | None
    max_drawdown: Ratio
    max_drawdown_minutes: int
    exposure: float
    turnover: float
    round_trips: int
    win_rate: float | None
    profit_factor: float | None
    expectancy: Money | None  # dollars a round trip
    avg_hold_minutes: float | None
    fees: Money
    pnl_by_symbol: dict[str, Money] = Field(default_factory=dict)
    pnl_by_source: dict[str, Money] = Field(default_factory=dict)
    pnl_by_plugin: dict[str, Money] = Field(
        default_factory=dict, description="by the orders' origin: adhoc (the trader) or strategy:NAME"
    )
    days: int
    fill_assumptions: str


# -- the simulator's own records -------------------------------------------------------------------
# The broker keeps orders, fills and round trips as plain slotted records (a strategy places and
# fills thousands a session; a pydantic model costs several times more to make and to update)
# and hands out the models above, built from them, wherever they leave the engine.
@dataclass(slots=True)
class OrderRecord:
    """An order as the simulator keeps it (fields as ``Order``)."""

    id: str
    symbol: str
    side: Side
    qty: int
    type: OrderType
    limit: float | None
    stop: float | None
    tif: TimeInForce
    submitted_at: dt.datetime | None
    status: OrderStatus
    reason: str | None = None
    filled_at: dt.datetime | None = None
    filled_qty: int = 0
    avg_fill_price: float | None = None
    origin: str = "adhoc"
    for_session: dt.date | None = None

    @property
    def is_open(self) -> bool:
        """True while it may still fill."""
        return self.status in OPEN_STATUSES

    def model(self) -> Order:
        """The order as its model."""
        return Order.model_validate(self, from_attributes=True)

    def snapshot(self) -> OrderSnapshot:
        """The order as it is now, read-only (what a plugin is handed)."""
        return tuple.__new__(
            OrderSnapshot,
            (self.id, self.symbol, self.side, self.qty, self.type, self.limit, self.stop, self.tif, self.submitted_at,
             self.status, self.reason, self.filled_at, self.filled_qty, self.avg_fill_price, self.origin,
             self.for_session),
        )  # fmt: skip


class OrderSnapshot(NamedTuple):
    """An order as it was when a plugin was handed it (fields as ``Order``; read-only: the
    broker's own record changes as the order fills, this does not)."""

    id: str
    symbol: str
    side: Side
    qty: int
    type: OrderType
    limit: float | None
    stop: float | None
    tif: TimeInForce
    submitted_at: dt.datetime | None
    status: OrderStatus
    reason: str | None
    filled_at: dt.datetime | None
    filled_qty: int
    avg_fill_price: float | None
    origin: str
    for_session: dt.date | None

    @property
    def is_open(self) -> bool:
        """True while it may still fill (when it was handed out)."""
        return self.status in OPEN_STATUSES

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(
            f"an order is a read-only snapshot (its {name} cannot be set): cancel it with bars.cancel(order), "
            "read its state now with bars.open_orders()"
        )


@dataclass(slots=True)
class FillRecord:
    """A fill as the simulator keeps it (fields as ``Fill``)."""

    order_id: str
    symbol: str
    side: Side
    qty: int
    price: float
    fee: float
    time: dt.datetime

    def model(self) -> Fill:
        """The fill as its model."""
        return Fill.model_validate(self, from_attributes=True)


@dataclass(slots=True)
class TripRecord:
    """A round trip as the simulator keeps it (fields as ``RoundTrip``)."""

    symbol: str
    side: Literal["long", "short"]
    opened_at: dt.datetime
    closed_at: dt.datetime
    minutes: int
    pnl: float
