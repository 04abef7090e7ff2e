"""``demo live``: a live session against a loopback server playing the bundled sample."""

from __future__ import annotations

from typing import Annotated

import typer

from trader_cli.commands.common import OutputOpt, app_ctx

app = typer.Typer(help="Demos that need no account.", no_args_is_help=True)


@app.command("live")
def live(
    ctx: typer.Context,
    speed: Annotated[float, typer.Option("--speed", help="Live seconds a wall second (60: a minute a second).")] = 60.0,
    symbols: Annotated[str, typer.Option("--symbols", help="Comma-separated sample symbols.")] = "AAPL,MSFT,NVDA,TSLA",
    day: Annotated[str, typer.Option("--day", help="The sample day the live clock runs on.")] = "2024-12-02",
    at: Annotated[str, typer.Option("--at", help="Where the live clock starts (New York HH:MM).")] = "09:30",
    output: OutputOpt = None,
) -> object:
    """Live mode without an account: a loopback server speaking Alpaca's protocol plays the
    bundled sample on a live clock; the session streams it through alpaca-py.
    Example: demo live --speed 60"""
    import datetime as dt

    import trader_cli.render.session_views  # noqa: F401 - registers the views
    from trader_cli.core.errors import UsageError
    from trader_cli.live.demo import start_demo

    obj = app_ctx(ctx)
    try:
        when = dt.date.fromisoformat(day)
    except ValueError:
        raise UsageError(f"--day '{day}': give a date as YYYY-MM-DD, e.g. 2024-12-02") from None
    result = start_demo(obj, speed, [s for s in symbols.split(",") if s.strip()], when, at)
    if not obj.interactive:
        obj.open_shell = True  # from the command line: the shell (or a piped script) goes on with it
    return result
