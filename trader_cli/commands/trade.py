"""``order buy|sell|cancel``, ``orders``, ``positions``, ``account``, ``report``: the session's
broker (the simulator in a backtest; see ``help order buy`` for its fill rules)."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Any

import typer

from trader_cli.commands.common import NegativeLooking, OutputOpt, app_ctx
from trader_cli.core.broker.rules import fill_rules

FILL_RULES = "Fill rules: " + fill_rules() + "."

order_app = typer.Typer(help="Place and cancel orders with the session's broker.", no_args_is_help=True)


class Tif(StrEnum):
    """Time in force."""

    day = "day"
    gtc = "gtc"


SymbolArg = Annotated[str, typer.Argument(help="Ticker (in the session).")]
QtyArg = Annotated[str, typer.Argument(help="Shares, a whole number above 0.")]
LimitOpt = Annotated[
    str | None, typer.Option("--limit", metavar="PRICE", help="Limit price (a limit order; with --stop a stop-limit).")
]
StopOpt = Annotated[str | None, typer.Option("--stop", metavar="PRICE", help="Stop price (a stop order).")]
SHARES = re.compile(r"[+-]?[0-9]+")  # ASCII digits only: int() also reads 1_000 and other scripts' digits
PRICE = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
TifOpt = Annotated[Tif, typer.Option("--tif", help="day (expires at the close) or gtc (rests across days).")]


def _place(ctx: typer.Context, side: str, symbol: str, qty: str, limit: str | None, stop: str | None, tif: Tif) -> Any:
    from trader_cli.core.broker.models import OrderRequest
    from trader_cli.core.errors import UsageError
    from trader_cli.core.store import check_symbol

    _views()
    digits = qty.lstrip("+-").lstrip("0")
    if not SHARES.fullmatch(qty) or len(digits) > 100:  # int() refuses over 4,300 digits; no order is that big
        shown = qty if len(qty) <= 40 else f"{qty[:40]}… ({len(qty):,} characters)"
        raise UsageError(f"bad quantity '{shown}' (a whole number of shares above 0, e.g. 100)")
    prices = {}
    for name, text in (("limit", limit), ("stop", stop)):
        if text is not None and not PRICE.fullmatch(text):
            raise UsageError(f"bad --{name} price '{text}' (a price in dollars, e.g. 189.50)")
        prices[name] = float(text) if text is not None else None
    req = OrderRequest(symbol=check_symbol(symbol), side=side, qty=int(qty), tif=tif.value, **prices)  # type: ignore[arg-type]
    from trader_cli.render.trade import Placed

    return Placed.of(app_ctx(ctx).coordinator.submit(req))


@order_app.command("buy", context_settings={"ignore_unknown_options": True}, epilog=FILL_RULES)
def buy(
    ctx: typer.Context,
    symbol: SymbolArg,
    qty: QtyArg,
    limit: LimitOpt = None,
    stop: StopOpt = None,
    tif: TifOpt = Tif.day,
    output: OutputOpt = None,
) -> object:
    """Buy shares: market, limit, stop or stop-limit. A refused order is recorded (rejected) with why.
    Example: order buy AAPL 100   ·   order buy AAPL 100 --limit 189.50 --tif gtc"""
    return _place(ctx, "buy", symbol, qty, limit, stop, tif)


@order_app.command("sell", context_settings={"ignore_unknown_options": True}, epilog=FILL_RULES)
def sell(
    ctx: typer.Context,
    symbol: SymbolArg,
    qty: QtyArg,
    limit: LimitOpt = None,
    stop: StopOpt = None,
    tif: TifOpt = Tif.day,
    output: OutputOpt = None,
) -> object:
    """Sell shares (short only when the config's broker.allow_short is true).
    Example: order sell AAPL 100   ·   order sell AAPL 100 --stop 185"""
    return _place(ctx, "sell", symbol, qty, limit, stop, tif)


class CancelCommand(NegativeLooking):
    """``order cancel -1``: an order id is a word like o000001."""

    wanted = "an order id (an order id looks like o000001; list them with: orders --all)"


@order_app.command("cancel", cls=CancelCommand)
def cancel(
    ctx: typer.Context,
    order_id: Annotated[str, typer.Argument(help="The order's id, e.g. o000001 (see: orders --open).")],
    output: OutputOpt = None,
) -> object:
    """Cancel an open order. Example: order cancel o000001"""
    from trader_cli.render.trade import Placed

    _views()
    return Placed.of(app_ctx(ctx).coordinator.cancel(order_id))


def _views() -> None:
    import trader_cli.render.trade  # noqa: F401 - registers the views


def register(app: typer.Typer) -> None:
    """Add ``order`` and the broker's read commands to the root app."""
    app.add_typer(order_app, name="order")

    @app.command("orders")
    def orders(
        ctx: typer.Context,
        open_: Annotated[
            bool, typer.Option("--open", help="Only the orders that may still fill (the default).")
        ] = False,
        all_: Annotated[
            bool, typer.Option("--all", help="Every order, filled, canceled, expired and rejected too.")
        ] = False,
        output: OutputOpt = None,
    ) -> object:
        """The session's orders. Example: orders --all"""
        from trader_cli.core.broker.views import orders_view
        from trader_cli.core.errors import UsageError

        if open_ and all_:
            raise UsageError("give one of --open, --all (--open: the orders that may still fill; --all: every order)")
        _views()
        return app_ctx(ctx).coordinator.read(orders_view, all_)

    @app.command("positions")
    def positions(ctx: typer.Context, output: OutputOpt = None) -> object:
        """What is held: shares, average price, last price, realized and unrealized P&L. Example: positions"""
        from trader_cli.core.broker.views import positions_view

        _views()
        return app_ctx(ctx).coordinator.read(positions_view)

    @app.command("account")
    def account(ctx: typer.Context, output: OutputOpt = None) -> object:
        """Cash, equity, buying power, realized and unrealized P&L, fees, day P&L. Example: account"""
        from trader_cli.core.broker.views import account_view

        _views()
        return app_ctx(ctx).coordinator.read(account_view)

    @app.command("report")
    def report(
        ctx: typer.Context,
        png: Annotated[
            str | None, typer.Option("--png", help="Also draw equity and drawdown to this PNG file.")
        ] = None,
        output: OutputOpt = None,
    ) -> object:
        """The backtest's performance: return, Sharpe, Sortino, drawdown, exposure, turnover, round
        trips, win rate, profit factor, fees, P&L by symbol and by source, and the fill rules.
        Example: report   ·   report --png equity.png"""
        from pathlib import Path

        from trader_cli.core.broker.views import report_view

        if png:  # a bad place is said before the report is worked out
            from trader_cli.core.atomic import check_target

            check_target(Path(png))
        _views()
        res = app_ctx(ctx).coordinator.read(report_view)
        if png:
            from trader_cli.render.trade import write_equity_png

            res.png = str(write_equity_png(res, Path(png)))
        return res
