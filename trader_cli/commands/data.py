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
    return Tabular(
        title="bar store",
        columns=["symbol", "interval", "bars", "first", "last", "days", "source"],
        rows=rows,
        caption=caption,
    )


@app.command("import")
def import_(
    ctx: typer.Context,
    path: Annotated[str, typer.Argument(help="CSV file: timestamp,open,high,low,close,volume[,symbol].")],
    symbol: Annotated[
        str | None, typer.Option("--symbol", "-s", help="Symbol (when the CSV has no symbol column).")
    ] = None,
    interval: Annotated[str, typer.Option("--interval", "-i", help="Bar interval of the file.")] = "1m",
    tz: Annotated[str, typer.Option("--tz", help="Time zone of timestamps without an offset.")] = "America/New_York",
    output: OutputOpt = None,
) -> object:
    """Import bars from a CSV into the store (atomic; bad rows reject the whole file).
    Example: data import bars.csv --symbol SPY --interval 1m"""
    from trader_cli.core.calendar import iso_utc
    from trader_cli.core.csv_import import import_csv
    from trader_cli.core.results import Tabular
    from trader_cli.render.progress import progress_for

    obj = app_ctx(ctx)
    with progress_for(obj.renderer, f"importing {path}") as bar:
        done = import_csv(obj.store(), path, interval, symbol=symbol, tz=tz, progress=bar)
    rows = [[d.symbol, d.interval, d.rows, iso_utc(d.first_ns), iso_utc(d.last_ns), d.stored_rows] for d in done]
    return Tabular(
        title=f"imported {path}", columns=["symbol", "interval", "imported", "first", "last", "stored"], rows=rows
    )


@app.command("session")
def session(ctx: typer.Context, output: OutputOpt = None) -> object:
    """The session's symbols: provenance, intervals, bars, indicators, quality. Example: data session"""
    from trader_cli.render.session_views import session_table

    return session_table(app_ctx(ctx).coordinator)


@app.command("symbol")
def symbol_(
    ctx: typer.Context, symbol: Annotated[str, typer.Argument(help="Ticker.")], output: OutputOpt = None
) -> object:
    """One symbol in detail: metadata, intervals, indicators with latest values. Example: data symbol AAPL"""
    from trader_cli.core.export import symbol_detail
    from trader_cli.core.store import check_symbol
    from trader_cli.render.session_views import SymbolDetail

    return SymbolDetail(symbol_detail(app_ctx(ctx).coordinator, check_symbol(symbol)))


@app.command("bars")
def bars(
    ctx: typer.Context,
    symbol: Annotated[str, typer.Argument(help="Ticker.")],
    interval: Annotated[str | None, typer.Argument(help="Interval (default: the base interval).")] = None,
    last: Annotated[int, typer.Option("--last", "-n", min=1, help="How many of the latest bars.")] = 20,
    output: OutputOpt = None,
) -> object:
    """The latest bars of a symbol (history, then session). Example: data bars AAPL 5m --last 10"""
    from trader_cli.core.store import check_symbol
    from trader_cli.render.session_views import bars_table

    coord = app_ctx(ctx).coordinator
    sym = check_symbol(symbol)
    iv = interval or coord.session.require(sym).base_interval
    hist, sess = coord.bars(sym, iv)
    return bars_table(sym, iv, hist, sess, last)


@app.command("quality")
def quality(
    ctx: typer.Context,
    symbol: Annotated[str | None, typer.Argument(help="Ticker (default: all).")] = None,
    output: OutputOpt = None,
) -> object:
    """Bars present ÷ expected per symbol and interval, with gaps. Example: data quality RIVN"""
    from trader_cli.core.results import Tabular
    from trader_cli.core.store import check_symbol

    coord = app_ctx(ctx).coordinator
    syms = [check_symbol(symbol)] if symbol else sorted(coord.session.symbols)
    rows = []
    for sym in syms:
        coord.session.require(sym)
        for q in coord.quality_of(sym):
            gaps = "; ".join(_gap_text(g.start, g.end, g.missing) for g in q.gaps[:3])
            more = f" +{len(q.gaps) - 3} more" if len(q.gaps) > 3 else ""
            rows.append([sym, q.interval, q.present, q.expected, f"{q.ratio:.2%}", len(q.gaps), (gaps + more) or "—"])
    return Tabular(
        title="data quality",
        columns=["symbol", "interval", "present", "expected", "quality", "gaps", "first gaps"],
        rows=rows,
    )


def _gap_text(start: str, end: str, missing: int) -> str:
    """A gap in New York time: '11-22 09:36 (1)' or '11-22 09:36–09:40 (5)'."""
    import datetime as dt
    from zoneinfo import ZoneInfo

    ny = ZoneInfo("America/New_York")
    a = dt.datetime.fromisoformat(start.replace("Z", "+00:00")).astimezone(ny)
    b = dt.datetime.fromisoformat(end.replace("Z", "+00:00")).astimezone(ny)
    span = f"{a:%m-%d %H:%M}" if a == b else f"{a:%m-%d %H:%M}–{b:%H:%M}"
    return f"{span} ({missing})"
