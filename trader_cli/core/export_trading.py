"""The trading part of the session export: orders, fills, positions, the account, the minute
equity curve and the report (names fixed: scripts and consumers read them).

JSON: top-level ``orders`` (id, symbol, side, qty, type, limit, stop, tif, submitted_at,
status, reason, filled_at, …), ``fills`` (order_id, symbol, side, qty, price, fee, time; in time order),
``positions`` (symbol, qty, avg_price, realized_pnl, unrealized_pnl, last_price, …),
``account`` (cash, equity, fees, realized_pnl, unrealized_pnl, …), ``equity`` (time, equity:
one point per session minute) and ``report`` (core/broker/report.py). Times are ISO 8601 with
the New York offset.

CSV: after the symbols (and bars and values) tables, one table each, separated by a blank line:
orders, fills, positions, account (one row), equity, the report's figures (one row), and its
P&L breakdown (``by,key,pnl``: by symbol, by source, by plugin).
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from operator import attrgetter
from typing import IO, TYPE_CHECKING, Any

from pydantic import BaseModel

from trader_cli.core.broker.models import Account, EquityPoint, Fill, Order, Position, Report, money
from trader_cli.core.calendar import to_ny
from trader_cli.core.jsonsafe import csv_cell, finite
from trader_cli.core.jsonstream import LazyArray

if TYPE_CHECKING:
    from trader_cli.core.broker.models import FillRecord
    from trader_cli.core.broker.sim import SimBroker
    from trader_cli.core.engine import Engine

CHUNK = 4096

ORDER_COLUMNS = list(Order.model_fields)
FILL_COLUMNS = list(Fill.model_fields)
POSITION_COLUMNS = list(Position.model_fields)
ACCOUNT_COLUMNS = list(Account.model_fields)


class TradingOut(BaseModel):
    """The trading part of the export's schema."""

    orders: list[Order]
    fills: list[Fill]
    positions: list[Position]
    account: Account
    equity: list[EquityPoint]
    report: Report


def _equity_chunks(eng: Engine) -> Iterator[list[dict[str, Any]]]:
    b = eng.broker
    for lo in range(0, len(b.eq_time), CHUNK):
        yield [
            {"time": to_ny(t).isoformat(), "equity": finite(money(e))}
            for t, e in zip(b.eq_time[lo : lo + CHUNK], b.eq_value[lo : lo + CHUNK], strict=True)
        ]


def fills_in_time_order(b: SimBroker) -> list[FillRecord]:
    """The fills by the minute they happened at (a stable sort: a backtest's are already). A live
    fill Alpaca reported a poll late is booked when it comes, in its own minute: after the fills
    of later minutes booked meanwhile."""
    return sorted(b.fills, key=attrgetter("time"))


def trading_document(eng: Engine) -> dict[str, Any]:
    """The export's trading keys (the equity curve as a lazy array)."""
    from trader_cli.core.broker.report import build_report

    b = eng.broker
    return {
        "orders": [finite(o.model().model_dump(mode="json")) for o in b.orders],
        "fills": [finite(f.model().model_dump(mode="json")) for f in fills_in_time_order(b)],
        "positions": [finite(p.model_dump(mode="json")) for p in b.positions()],
        "account": finite(b.account().model_dump(mode="json")),
        "equity": LazyArray(_equity_chunks(eng)),
        "report": finite(build_report(eng).model_dump(mode="json")),
    }


def write_trading_csv(fh: IO[str], eng: Engine) -> None:
    """The orders, fills, positions, account and equity tables (see the module doc)."""
    w = csv.writer(fh, lineterminator="\n")
    b = eng.broker
    tables: list[tuple[list[str], list[BaseModel]]] = [
        (ORDER_COLUMNS, [o.model() for o in b.orders]),
        (FILL_COLUMNS, [f.model() for f in fills_in_time_order(b)]),
        (POSITION_COLUMNS, list(b.positions())),
        (ACCOUNT_COLUMNS, [b.account()]),
    ]
    for columns, rows in tables:
        fh.write("\n")
        w.writerow(columns)
        for row in rows:
            data = row.model_dump(mode="json")
            w.writerow([csv_cell(data[c]) for c in columns])
    fh.write("\n")
    w.writerow(["time", "equity"])
    for chunk in _equity_chunks(eng):
        w.writerows([[p["time"], csv_cell(p["equity"])] for p in chunk])
    from trader_cli.core.broker.report import build_report

    report = build_report(eng).model_dump(mode="json")
    by = {k: report.pop(f"pnl_by_{k}") for k in ("symbol", "source", "plugin")}
    fh.write("\n")
    w.writerow(list(report))
    w.writerow([csv_cell(v) for v in report.values()])
    fh.write("\n")
    w.writerow(["by", "key", "pnl"])
    for kind, values in by.items():
        w.writerows([[kind, k, csv_cell(v)] for k, v in values.items()])
