"""``data …``: the bar store (list, import) and the session's data (session, symbol, bars, quality)."""

from __future__ import annotations

from typing import Annotated

import typer

from trader_cli.commands.common import OutputOpt, app_ctx

app = typer.Typer(help="Stored bars and the session's data.", no_args_is_help=True)


@app.command("list")
def list_(
    ctx: typer.Context,
    symbol: Annotated[str | None, typer.Argument(help="Only this symbol.")] = None,
    output: OutputOpt = None,
) -> object:
    """Show what the bar store holds: symbols, intervals, first/last bar, days. Example: data list"""
    from trader_cli.core.calendar import iso_utc
    from trader_cli.core.results import Tabular
    from trader_cli.core.store import check_symbol

    store = app_ctx(ctx).store()
    rows = []
    for c in store.coverage(check_symbol(symbol) if symbol else None):
        rows.append([c.symbol, c.interval, c.rows, iso_utc(c.first_ns), iso_utc(c.last_ns), c.days, c.source])
    caption = f"data dir: {store.data_dir}"
    if not rows:
        caption += " — empty: import bars with: data import FILE.csv --symbol SYM --interval 1m"
    return Tabular(title="bar store", columns=["symbol", "interval", "bars", "first", "last", "days", "source"],
                   rows=rows, caption=caption)


@app.command("import")
def import_(
    ctx: typer.Context,
    path: Annotated[str, typer.Argument(help="CSV file: timestamp,open,high,low,close,volume[,symbol].")],
    symbol: Annotated[str | None, typer.Option("--symbol", "-s", help="Symbol (when the CSV has no symbol column).")] = None,
    interval: Annotated[str, typer.Option("--interval", "-i", help="Bar interval of the file.")] = "1m",
    tz: Annotated[str, typer.Option("--tz", help="Time zone of timestamps without an offset.")] = "America/New_York",
    output: OutputOpt = None,
) -> object:
    """Import bars from a CSV into the store (atomic; bad rows reject the whole file).
    Example: data import bars.csv --symbol SPY --interval 1m"""
    from trader_cli.core.calendar import iso_utc
    from trader_cli.core.csv_import import import_csv
    from trader_cli.core.results import Tabular

    done = import_csv(app_ctx(ctx).store(), path, interval, symbol=symbol, tz=tz)
    rows = [[d.symbol, d.interval, d.rows, iso_utc(d.first_ns), iso_utc(d.last_ns), d.stored_rows] for d in done]
    return Tabular(title=f"imported {path}", columns=["symbol", "interval", "imported", "first", "last", "stored"],
                   rows=rows)
