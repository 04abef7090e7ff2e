"""What the broker commands show, read under the symbol lock: orders, positions with the
account, the account, the report (with the minute equity curve for its chart)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from trader_cli.core.broker.models import Account, Order, Position, Report

if TYPE_CHECKING:
    from trader_cli.core.engine import Engine


class OrdersView(BaseModel):
    """``orders``: the open ones, or all of them."""

    all: bool
    orders: list[Order]


class PositionsView(BaseModel):
    """``positions``: what is held, and the account beside it."""

    positions: list[Position]
    account: Account


class ReportView(BaseModel):
    """``report``: the figures, the PNG drawn (if any) and, for the chart, the equity curve."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    report: Report
    png: str | None = None
    curve_ns: np.ndarray = Field(default_factory=lambda: np.empty(0, np.int64), exclude=True)
    curve: np.ndarray = Field(default_factory=lambda: np.empty(0), exclude=True)


def _in_session(eng: Engine, what: str) -> None:
    """SessionStateError when there is no session: a fresh account's zeros would read as a
    result (after ``system stop`` dropped the real one)."""
    if eng.replay.book is None:
        from trader_cli.core.errors import SessionStateError

        raise SessionStateError(
            f"no session, so no {what} (state: {eng.clock.state.value}; start one with: system start; "
            "system stop drops a session's trades: report or export before stopping)"
        )


def orders_view(eng: Engine, everything: bool) -> OrdersView:
    """The orders (copies: the view does not change as the session goes on)."""
    _in_session(eng, "orders")
    b = eng.broker
    chosen = b.orders if everything else b.open_orders()
    return OrdersView(all=everything, orders=[o.model() for o in chosen])


def positions_view(eng: Engine) -> PositionsView:
    """The positions and the account."""
    _in_session(eng, "positions")
    return PositionsView(positions=eng.broker.positions(), account=eng.broker.account())


def account_view(eng: Engine) -> Account:
    """The account now."""
    _in_session(eng, "account")
    return eng.broker.account()


def report_view(eng: Engine) -> ReportView:
    """The report so far, with the equity curve."""
    from trader_cli.core.broker.report import build_report

    _in_session(eng, "report")
    b = eng.broker
    return ReportView(
        report=build_report(eng), curve_ns=np.asarray(b.eq_time, dtype=np.int64), curve=np.asarray(b.eq_value)
    )
