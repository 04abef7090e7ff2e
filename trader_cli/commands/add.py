"""``add …``, ``remove symbol`` and ``plan add …``: every addition goes analyze → validate → provision."""

from __future__ import annotations

import shlex
from enum import StrEnum
from typing import Annotated

import typer
from typer import _click as click  # typer 0.29 vendors click (pinned ~=0.29.2)
from typer.core import TyperCommand

from trader_cli.commands.common import NegativeLooking, OutputOpt, app_ctx


class Source(StrEnum):
    """Who asks for an addition."""

    strategy = "strategy"
    scanner = "scanner"
    adhoc = "adhoc"


add_app = typer.Typer(help="Add a symbol, a bar interval or an indicator to the session.", no_args_is_help=True)
remove_app = typer.Typer(help="Remove things from the session.", no_args_is_help=True)
plan_app = typer.Typer(help="Show what an addition would need and do, without changing anything.", no_args_is_help=True)
plan_add = typer.Typer(help="Plan an addition.", no_args_is_help=True)
plan_app.add_typer(plan_add, name="add")

SymbolArg = Annotated[str, typer.Argument(help="Ticker, e.g. AAPL.")]
IntervalArg = Annotated[str, typer.Argument(help="Bar interval: 1m 5m 15m 30m 1h 1d.")]
NameArg = Annotated[str, typer.Argument(help="Indicator: sma ema wma rsi macd bbands atr stoch obv vwap.")]
ParamsArg = Annotated[list[str] | None, typer.Argument(help="Indicator parameters, e.g. 20 (or 12 26 9 for macd).")]
IvOpt = Annotated[str | None, typer.Option("--interval", "-i", help="Interval (default: the base interval).")]
DaysOpt = Annotated[int | None, typer.Option("--days", min=0, max=2000, help="Trading days of history to load.")]


def _views() -> None:
    import trader_cli.render.session_views  # noqa: F401 - registers the views


def _run(ctx: typer.Context, plan: bool, operation: str, symbol: str, source: str, **kw: object) -> object:
    _views()
    coord = app_ctx(ctx).coordinator
    if plan:
        return coord.analyze(operation, symbol, source, **kw)
    return coord.add(operation, symbol, source, **kw)


def _symbol(ctx: typer.Context, symbol: str, source: Source, plan: bool) -> object:
    return _run(ctx, plan, "symbol", symbol, source.value)


def _bar(ctx: typer.Context, symbol: str, interval: str, days: int | None, source: Source, plan: bool) -> object:
    from trader_cli.core.intervals import Interval

    return _run(ctx, plan, "bar", symbol, source.value, interval=Interval.parse(interval), days=days)


def _indicator(
    ctx: typer.Context,
    symbol: str,
    name: str,
    params: list[str] | None,
    interval: str | None,
    source: Source,
    plan: bool,
) -> object:
    return _run(ctx, plan, "indicator", symbol, source.value, indicator=(name, list(params or []), interval))


@add_app.command("symbol")
def add_symbol(
    ctx: typer.Context,
    symbols: Annotated[list[str] | None, typer.Argument(help="Tickers, e.g. AAPL MSFT NVDA.")] = None,
    file: Annotated[
        str | None, typer.Option("--file", "-f", help="A watchlist: one ticker a line, # comments.")
    ] = None,
    source: Annotated[Source, typer.Option("--source", help="strategy, scanner or adhoc.")] = Source.strategy,
    output: OutputOpt = None,
) -> object:
    """Add symbols in full (config intervals, history, indicators); upgrades adhoc ones.
    A malformed ticker refuses the whole command (nothing is added). Several at once give one
    table: each is its own addition, so one without data fails alone and the command fails too.
    Example: add symbol TSLA   ·   add symbol AAPL MSFT NVDA   ·   add symbol --file watchlist.txt"""
    from trader_cli.core.errors import UsageError

    names = [*(symbols or []), *(read_watchlist(file) if file else [])]
    if not names:
        raise UsageError("give a ticker (add symbol TSLA) or a watchlist file (add symbol --file FILE)")
    tickers = well_formed(names)
    if len(tickers) == 1:
        return _symbol(ctx, tickers[0], source, plan=False)
    _views()
    import trader_cli.render.additions  # noqa: F401 - registers the batch view

    batch = app_ctx(ctx).coordinator.add_many("symbol", tickers, source.value)
    if batch.failures and batch.results:  # what was added is kept in a recording: its replay adds it too
        added = [r.requirements.symbol for r in batch.results]
        batch.recorded_as = shlex.join(["add", "symbol", *added, "--source", source.value])
    return batch


def well_formed(names: list[str]) -> list[str]:
    """The tickers upper-cased, each once, in order; DataError naming the malformed ones, before
    anything is added (a typo never leaves half a watchlist in the session)."""
    from trader_cli.core.errors import DataError, few
    from trader_cli.core.store import check_symbol

    tickers: list[str] = []
    bad: list[tuple[str, DataError]] = []
    for name in names:
        try:
            tickers.append(check_symbol(name))
        except DataError as err:
            bad.append((name, err))
    if bad:
        also = f"; also bad: {few(repr(name) for name, _ in bad[1:])}" if len(bad) > 1 else ""
        raise DataError(f"{bad[0][1]}{also}; nothing was added")
    return list(dict.fromkeys(tickers))


def read_watchlist(path: str) -> list[str]:
    """Tickers from a watchlist file: one a line (or several separated by spaces or commas),
    ``#`` starting a comment, blank lines skipped."""
    from pathlib import Path

    from trader_cli.core.errors import DataError

    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except FileNotFoundError as err:
        raise DataError(f"no watchlist at {path!r} (one ticker a line, # comments)") from err
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise DataError(f"cannot read watchlist {path!r}: {err}") from err
    names = [w for line in text.splitlines() for w in line.split("#", 1)[0].replace(",", " ").split()]
    if not names:
        raise DataError(f"the watchlist {path!r} holds no tickers (one a line, # comments)")
    return names


class BarCommand(NegativeLooking):
    """``add bar AAPL -5m``: an interval is never negative."""

    wanted = "a valid value (an interval is one of 1m, 5m, 15m, 30m, 1h, 1d)"


@add_app.command("bar", cls=BarCommand)
def add_bar(
    ctx: typer.Context,
    symbol: SymbolArg,
    interval: IntervalArg,
    days: DaysOpt = None,
    source: Annotated[Source, typer.Option("--source")] = Source.adhoc,
    output: OutputOpt = None,
) -> object:
    """Add a bar interval to a symbol (auto-provisions an unknown symbol lightweight).
    Example: add bar TSLA 15m --days 3"""
    return _bar(ctx, symbol, interval, days, source, plan=False)


class IndicatorHelp(TyperCommand):
    """``add indicator --help`` / ``help add indicator``: the options, then every indicator with
    its parameters and their defaults (from the indicator registry, read only when shown)."""

    def format_epilog(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """Write the epilog, then the indicators and their default parameters."""
        super().format_epilog(ctx, formatter)
        from trader_cli.core.indicators import get_indicator, indicator_names

        formatter.write_paragraph()
        formatter.write_text("Indicators and their default parameters (give them in this order):")
        with formatter.indentation():
            families = [get_indicator(name) for name in indicator_names()]
            formatter.write_dl([(ind.name, f"{ind.usage()}  {ind.description}") for ind in families])


@add_app.command("indicator", cls=IndicatorHelp, context_settings={"ignore_unknown_options": True})
def add_indicator(
    ctx: typer.Context,
    symbol: SymbolArg,
    name: NameArg,
    params: ParamsArg = None,
    interval: IvOpt = None,
    source: Annotated[Source, typer.Option("--source")] = Source.adhoc,
    output: OutputOpt = None,
) -> object:
    """Add an indicator to a symbol (auto-provisions an unknown symbol lightweight).
    Example: add indicator AAPL sma 20 --interval 5m"""
    return _indicator(ctx, symbol, name, params, interval, source, plan=False)


@remove_app.command("symbol")
def remove_symbol(ctx: typer.Context, symbol: SymbolArg, output: OutputOpt = None) -> object:
    """Remove a symbol and everything it holds. Example: remove symbol TSLA"""
    from trader_cli.core.results import Message

    data = app_ctx(ctx).coordinator.remove_symbol(symbol)
    return Message(
        text=f"removed {data.symbol} ({len(data.intervals)} interval(s), {len(data.indicators)} indicator(s))",
        level="ok",
    )


@plan_add.command("symbol")
def plan_symbol(
    ctx: typer.Context,
    symbol: SymbolArg,
    source: Annotated[Source, typer.Option("--source")] = Source.strategy,
    output: OutputOpt = None,
) -> object:
    """Show the plan for adding a symbol. Example: plan add symbol TSLA"""
    return _symbol(ctx, symbol, source, plan=True)


@plan_add.command("bar", cls=BarCommand)
def plan_bar(
    ctx: typer.Context,
    symbol: SymbolArg,
    interval: IntervalArg,
    days: DaysOpt = None,
    source: Annotated[Source, typer.Option("--source")] = Source.adhoc,
    output: OutputOpt = None,
) -> object:
    """Show the plan for adding a bar interval. Example: plan add bar TSLA 15m"""
    return _bar(ctx, symbol, interval, days, source, plan=True)


@plan_add.command("indicator", cls=IndicatorHelp, context_settings={"ignore_unknown_options": True})
def plan_indicator(
    ctx: typer.Context,
    symbol: SymbolArg,
    name: NameArg,
    params: ParamsArg = None,
    interval: IvOpt = None,
    source: Annotated[Source, typer.Option("--source")] = Source.adhoc,
    output: OutputOpt = None,
) -> object:
    """Show the plan for adding an indicator. Example: plan add indicator AAPL sma 200 --interval 5m"""
    return _indicator(ctx, symbol, name, params, interval, source, plan=True)
