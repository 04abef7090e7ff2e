"""Tables for the broker's results: an order, the orders, positions, the account, the report
(and its equity and drawdown chart as a PNG)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from trader_cli.core.broker.models import Account, Order
from trader_cli.core.broker.views import OrdersView, PositionsView, ReportView
from trader_cli.core.export_trading import ORDER_COLUMNS, POSITION_COLUMNS
from trader_cli.core.results import Tabular
from trader_cli.render.tables import FitTabular
from trader_cli.render.views import register_view, table_of


class Placed(Order):
    """An order as a command placed or canceled it; a rejected one fails the command (exit 1)."""

    @classmethod
    def of(cls, order: Order) -> Placed:
        """The order, as this result."""
        return cls(**order.model_dump())

    @property
    def failed_text(self) -> str:
        """'order o000003 rejected: …' for a rejected order, else ''."""
        return f"order {self.id} rejected: {self.reason}" if self.status == "rejected" else ""


def ny(when: dt.datetime | None) -> str | None:
    """A New York time as the prompt shows it."""
    return None if when is None else f"{when:%Y-%m-%d %H:%M}"


def _price(o: Order) -> str | None:
    """The order's prices as the broker holds them (``:g`` showed 1234567.89 as 1.23457e+06)."""
    import math

    from trader_cli.core.broker.checks import MAX_PRICE, MIN_PRICE, as_typed, per_share

    def px(x: float | None) -> str:  # a rejected order's price may be out of range: shown as given
        x = 0.0 if x is None else x
        return per_share(x) if math.isfinite(x) and MIN_PRICE <= x <= MAX_PRICE else as_typed(x)

    if o.type == "stop_limit":
        return f"stop {px(o.stop)} limit {px(o.limit)}"
    if o.type == "limit":
        return f"limit {px(o.limit)}"
    return f"stop {px(o.stop)}" if o.type == "stop" else None


def order_table(o: Order) -> Tabular:
    """One order as key/value rows."""
    rows: list[list[Any]] = [
        ["id", o.id],
        ["order", f"{o.side} {o.qty:,} {o.symbol} {o.type}" + (f" ({_price(o)})" if _price(o) else "")],
        ["time in force", o.tif],
        ["status", o.status],
        ["submitted", ny(o.submitted_at)],
        ["for session", o.for_session.isoformat() if o.for_session else None],
        ["filled", f"{o.filled_qty:,} @ {o.avg_fill_price:,.4f}" if o.filled_qty and o.avg_fill_price else None],
        ["filled at", ny(o.filled_at)],
    ]
    if o.reason:
        rows.append(["reason", o.reason])
    return Tabular(title=f"order {o.id}", columns=["field", "value"], rows=rows, show_header=False)


def orders_table(v: OrdersView) -> Tabular:
    """One row per order."""
    rows = [
        [o.id, o.symbol, o.side, o.qty, o.type, o.limit, o.stop, o.tif, ny(o.submitted_at), o.status, o.filled_qty,
         o.avg_fill_price, ny(o.filled_at), o.reason]
        for o in v.orders
    ]  # fmt: skip
    return FitTabular(
        title="orders" if v.all else "open orders",
        columns=["id", "symbol", "side", "qty", "type", "limit", "stop", "tif", "submitted", "status", "filled",
                 "avg_price", "filled_at", "reason"],
        rows=rows,
        caption=None if v.orders else ("no orders yet" if v.all else "no open orders (every order: orders --all)"),
        money=["limit", "stop", "avg_price"],
        drop_first=["submitted", "filled_at", "tif"],
    )  # fmt: skip


def positions_table(v: PositionsView) -> Tabular:
    """One row per position, the account in the caption."""
    rows = [
        [p.symbol, p.qty, p.avg_price, p.last_price, p.market_value, p.unrealized_pnl, p.realized_pnl]
        for p in v.positions
    ]
    a = v.account
    caption = f"cash {a.cash:,.2f} · equity {a.equity:,.2f} · day P&L {a.day_pnl:+,.2f} · realized before fees"
    return FitTabular(
        title="positions",
        columns=["symbol", "qty", "avg_price", "last_price", "market_value", "unrealized", "realized"],
        rows=rows,
        caption=caption if rows else f"no positions · {caption}",
        money=["avg_price", "last_price", "market_value", "unrealized", "realized"],
    )


def money(x: float | None) -> str | None:
    """Dollars with cents and thousands separators (None stays None)."""
    return None if x is None else f"{x:,.2f}"


def signed(x: float) -> str:
    """Dollars with a sign: +662.00, -12.50."""
    return f"{x:+,.2f}"


def account_table(a: Account) -> Tabular:
    """The account as key/value rows, as a trader reads it."""
    rows: list[list[Any]] = [
        ["initial cash", money(a.initial_cash)],
        ["cash", money(a.cash)],
        ["equity", money(a.equity)],
        ["buying power", money(a.buying_power)],
        ["realized P&L", signed(a.realized_pnl)],
        ["unrealized P&L", signed(a.unrealized_pnl)],
        ["fees", money(a.fees)],
        ["day P&L", signed(a.day_pnl)],
        ["open positions", str(a.open_positions)],
        ["open orders", str(a.open_orders)],
    ]
    return Tabular(title="account", columns=["field", "value"], rows=rows, show_header=False)


def record_table(model: Any, title: str = "") -> Tabular:
    """A model's fields as one CSV row, values as they are."""
    data = model.model_dump(mode="json")
    return Tabular(title=title, columns=list(data), rows=[list(data.values())])


def pct(x: float | None) -> str | None:
    """A fraction as a percentage with two decimals (None stays None)."""
    return None if x is None else f"{round(100 * x, 2) + 0.0:.2f}%"  # + 0.0: never "-0.00%"


def ratio(x: float | None) -> str | None:
    """A ratio with two decimals (None stays None)."""
    return None if x is None else f"{x:,.2f}"


def _pnl_tables(r: Any) -> list[Tabular]:
    out: list[Tabular] = []
    if r.pnl_by_symbol:
        out.append(
            FitTabular(
                title="P&L by symbol", columns=["symbol", "pnl after fees"],
                rows=[[k, x] for k, x in r.pnl_by_symbol.items()], money=["pnl after fees"],
            )
        )  # fmt: skip
    if len(r.pnl_by_plugin) > 1 or set(r.pnl_by_plugin) - {"adhoc"}:
        out.append(
            FitTabular(
                title="P&L by plugin", columns=["placed by", "pnl"], rows=[[k, x] for k, x in r.pnl_by_plugin.items()],
                money=["pnl"],
            )
        )  # fmt: skip
    if r.pnl_by_source:
        out.append(
            FitTabular(
                title="P&L by who added the symbol", columns=["added by", "pnl after fees"],
                rows=[[k, x] for k, x in r.pnl_by_source.items()], money=["pnl after fees"],
            )
        )  # fmt: skip
    return out


def report_tables(v: ReportView) -> list[Tabular]:
    """The figures, then P&L by symbol and by source."""
    r = v.report
    hold = None if r.avg_hold_minutes is None else f"{r.avg_hold_minutes:,.1f} min"
    figures: list[list[Any]] = [
        ["initial cash", money(r.initial_cash)],
        ["final equity", money(r.final_equity)],
        ["total return", pct(r.total_return)],
        ["sharpe (daily, x252)", ratio(r.sharpe)],
        ["sortino (daily, x252)", ratio(r.sortino)],
        ["volatility (annual)", pct(r.volatility)],
        ["max drawdown", pct(r.max_drawdown)],
        ["max drawdown duration", f"{r.max_drawdown_minutes:,} min"],
        ["exposure", pct(r.exposure)],
        ["turnover", ratio(r.turnover)],
        ["round trips", str(r.round_trips)],
        ["win rate", pct(r.win_rate)],
        ["profit factor", ratio(r.profit_factor)],
        ["expectancy", None if r.expectancy is None else signed(r.expectancy)],
        ["avg hold", hold],
        ["fees", money(r.fees)],
        ["sessions", str(r.days)],
    ]
    out = [Tabular(title="report", columns=["figure", "value"], rows=figures, show_header=False)]
    out += _pnl_tables(r)
    return out


def report_csv(v: ReportView) -> list[Tabular]:
    """The report for CSV: its figures as one row of raw values, then the P&L tables."""
    figures = v.report.model_dump(mode="json")
    for key in ("pnl_by_symbol", "pnl_by_source", "pnl_by_plugin"):
        figures.pop(key)
    return [Tabular(title="report", columns=list(figures), rows=[list(figures.values())]), *_pnl_tables(v.report)]


def write_equity_png(v: ReportView, path: Path) -> Path:
    """Equity (top) and drawdown (bottom) over the session minutes, as a PNG (atomic)."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from trader_cli.core.atomic import write_atomic
    from trader_cli.core.errors import DataError

    eq = v.curve
    if not len(eq):
        raise DataError("no equity curve yet: the replay has not stepped a minute (advance the clock first)")
    peak = np.maximum.accumulate(np.r_[v.report.initial_cash, eq])[1:]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(12, 6), sharex=True, height_ratios=[3, 1])
    x = np.arange(len(eq))
    top.plot(x, eq, color="#1f77b4", linewidth=1)
    top.set_ylabel("equity")
    top.set_title(
        f"equity · total return {100 * v.report.total_return:.2f}% · max drawdown {100 * v.report.max_drawdown:.2f}%"
    )
    bottom.fill_between(x, 100 * (eq / peak - 1), 0, color="#ef5350", linewidth=0)
    bottom.set_ylabel("drawdown %")
    bottom.set_xlabel("session minutes")
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    return write_atomic(path, buf.getvalue())


def _kv(make: Any) -> Any:
    return lambda r: [table_of(make(r))]


def records(title: str, models: list[Any], columns: list[str]) -> Tabular:
    """Models as CSV rows, their JSON fields and values (the export's tables, the commands' JSON)."""
    rows = [list(m.model_dump(mode="json").values()) for m in models]
    return Tabular(title=title, columns=columns, rows=rows)


register_view(Placed, _kv(order_table), lambda r: [records("order", [r], ORDER_COLUMNS)])
register_view(Order, _kv(order_table), lambda r: [records("order", [r], ORDER_COLUMNS)])
register_view(OrdersView, _kv(orders_table), lambda r: [records("orders", r.orders, ORDER_COLUMNS)])
register_view(
    PositionsView,
    _kv(positions_table),
    lambda r: [records("positions", r.positions, POSITION_COLUMNS), record_table(r.account, "account")],
)
register_view(Account, _kv(account_table), lambda r: [record_table(r, "account")])


def _report_view(v: ReportView) -> list[Any]:
    from trader_cli.core.results import Message
    from trader_cli.render.views import renderables

    rules = Message(text=f"fill rules: {v.report.fill_assumptions}")
    out = [table_of(t) for t in report_tables(v)] + renderables(rules)
    if v.png:
        from rich.text import Text

        out.append(Text(f"wrote {v.png}", style="green"))  # as data chart --png says it
    return out


register_view(ReportView, _report_view, report_csv)
