"""``data chart``: a symbol's bars as candles (or a line) with volume and indicators, drawn in the
terminal; ``--png`` also writes the chart as an image."""

from __future__ import annotations

from typing import Annotated

import typer

from trader_cli.commands.common import OutputOpt, app_ctx
from trader_cli.render import OutputMode


def chart(
    ctx: typer.Context,
    symbol: Annotated[str, typer.Argument(help="Ticker.")],
    interval: Annotated[str | None, typer.Argument(help="Interval (default: the base interval).")] = None,
    last: Annotated[int, typer.Option("--last", "-n", min=1, help="How many of the latest bars.")] = 120,
    with_: Annotated[
        list[str] | None,
        typer.Option(
            "--with",
            "-w",
            help="Indicator keys to draw, comma-separated (e.g. sma_20_5m,rsi_14_5m).",
        ),
    ] = None,
    png: Annotated[str | None, typer.Option("--png", help="Also write the chart as a PNG image to this file.")] = None,
    line: Annotated[bool, typer.Option("--line", help="Draw the close as a line instead of candles.")] = False,
    output: OutputOpt = None,
) -> object:
    """Candles (or a line) with volume beneath and indicators overlaid, in the terminal.
    Example: data chart AAPL 5m --last 60 --with sma_20_5m --png aapl.png"""
    from trader_cli.render.chart import draw_chart

    obj = app_ctx(ctx)
    shown = (obj.output_request or obj.output) is OutputMode.table
    console = obj.renderer.out if shown else None
    color = console is not None and console.color_system is not None and not console.no_color
    return draw_chart(
        obj.coordinator,
        symbol,
        interval,
        last=last,
        indicators=with_,
        png=png,
        line=line,
        text=shown,
        color=color,
    )


def register(data_app: typer.Typer) -> None:
    """Add ``chart`` to the ``data`` command group."""
    data_app.command("chart")(chart)
