"""``data …``: the bar store (list, import, fetch) and the session's data (session, symbol, bars, quality)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from trader_cli.commands.common import OutputOpt, app_ctx

if TYPE_CHECKING:
    from trader_cli.core.csv_import import ImportedSymbol

app = typer.Typer(help="Stored bars and the session's data.", no_args_is_help=True)


@app.command("list")
def list_(
    ctx: typer.Context,
    symbol: Annotated[str | None, typer.Argument(help="Only this symbol.")] = None,
    output: OutputOpt = None,
) -> object:
    """Show what the bar store holds: symbols, intervals, first/last bar, days; a file that
    cannot be read is a row with its problem. Example: data list"""
    from trader_cli.core.calendar import iso_ny
    from trader_cli.core.results import Tabular
    from trader_cli.core.store import check_symbol

    store = app_ctx(ctx).store()
    covered = store.coverage(check_symbol(symbol) if symbol else None)
    bad = sum(1 for c in covered if c.problem)
    rows = []
    for c in covered:
        first, last = (iso_ny(c.first_ns), iso_ny(c.last_ns)) if not c.problem else (None, None)
        rows.append([c.symbol, c.interval, c.rows, first, last, c.days, c.source, *([c.problem] if bad else [])])
    caption = f"data dir: {store.data_dir}"
    if not rows and store.data_dir.exists() and not store.data_dir.is_dir():
        from trader_cli.core.errors import DataError

        raise DataError(f"data dir {store.data_dir} is a file, not a folder (give the folder that holds bars/)")
    if not rows and not store.data_dir.exists():
        caption += (
            " — no such folder: import bars with: data import FILE.csv --symbol SYM --interval 1m "
            "(it creates it), or check --data-dir, TRADER_CLI_DATA_DIR or the config's data_dir"
        )
    elif not rows:
        caption += " — empty: import bars with: data import FILE.csv --symbol SYM --interval 1m"
    if bad:
        caption += f" — {bad} file cannot be read (see problem)" if bad == 1 else f" — {bad} files cannot be read"
    return Tabular(
        title="bar store",
        columns=["symbol", "interval", "bars", "first", "last", "days", "source", *(["problem"] if bad else [])],
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
    replace: Annotated[
        bool, typer.Option("--replace", help="Start each symbol's stored file over with the file's bars.")
    ] = False,
    output: OutputOpt = None,
) -> object:
    """Import bars from a CSV into the store (atomic; bad rows reject the whole file). The days in
    the file replace those stored (a day in the file replaces that whole day); other days stay.
    Example: data import bars.csv --symbol SPY --interval 1m"""
    from trader_cli.core.calendar import iso_ny
    from trader_cli.core.csv_import import import_csv
    from trader_cli.core.results import Tabular
    from trader_cli.render.progress import progress_for

    obj = app_ctx(ctx)
    store = obj.store()
    with progress_for(obj.renderer, f"importing {path}") as bar:
        done = import_csv(store, path, interval, symbol=symbol, tz=tz, progress=bar, replace=replace)
    rows = [
        [
            d.symbol,
            d.interval,
            d.rows,
            iso_ny(d.first_ns),
            iso_ny(d.last_ns),
            d.stored_rows,
            d.replaced_days,
            d.removed_bars,
            d.outside_session,
            d.off_grid,
        ]
        for d in done
    ]
    notes = [f"data dir: {store.data_dir}"]
    outside, off = sum(d.outside_session for d in done), sum(d.off_grid for d in done)
    if outside or off:
        notes.append(
            f"{outside} bar(s) outside the regular session, {off} off the session's {done[0].interval} grid "
            "(stored; sessions replay the regular session's bars)"
        )
    notes += [_import_note(d) for d in done if d.replaced_days or d.repaired or d.started_over]
    return Tabular(
        title=f"imported {path}",
        columns=[
            "symbol",
            "interval",
            "imported",
            "first",
            "last",
            "stored",
            "replaced_days",
            "removed_bars",
            "outside_session",
            "off_session_grid",
        ],
        rows=rows,
        caption=" — ".join(notes),
    )


def _import_note(d: ImportedSymbol) -> str:
    """What an import did to a symbol's stored days, in words."""
    if d.started_over:
        return f"started {d.symbol}'s {d.interval} file over (--replace); it held {d.started_over}"
    said = []
    if d.repaired:
        said.append(f"repaired {d.symbol}'s damaged {d.repaired}; its other days were kept")
    if d.replaced_days:
        said.append(
            f"{d.symbol}: replaced {d.replaced_days} stored day(s), {d.replaced_bars:,} bars (a day in the file "
            "replaces that whole stored day; the other days are kept)"
        )
    if d.removed_bars:
        said.append(f"{d.removed_bars:,} of those bars are at times the file does not hold and are gone")
    return "; ".join(said)


@app.command("fetch")
def fetch_(
    ctx: typer.Context,
    symbols: Annotated[list[str], typer.Argument(help="Symbols to download, e.g. AAPL MSFT.")],
    interval: Annotated[str, typer.Option("--interval", "-i", help="1m or 1d.")] = "1m",
    from_: Annotated[str, typer.Option("--from", help="First day, YYYY-MM-DD (New York).")] = "",
    to: Annotated[str, typer.Option("--to", help="Last day, YYYY-MM-DD (default: --from).")] = "",
    feed: Annotated[str, typer.Option("--feed", help="iex (free) or sip (a paid plan).")] = "iex",
    data_url: Annotated[
        str | None, typer.Option("--data-url", help="Alpaca data API base URL (proxies, the loopback server).")
    ] = None,
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds an HTTP call may take.")] = 30.0,
    replace: Annotated[
        bool, typer.Option("--replace", help="Fetch every day of the range and start each stored file over with it.")
    ] = False,
    output: OutputOpt = None,
) -> object:
    """Download bars from Alpaca into the store: only the trading days it lacks (keys from
    APCA_API_KEY_ID / APCA_API_SECRET_KEY). Example: data fetch AAPL MSFT --from 2024-12-02 --to 2024-12-06"""
    from trader_cli.core.calendar import iso_ny
    from trader_cli.core.errors import UsageError
    from trader_cli.core.results import Tabular
    from trader_cli.live.fetch import FetchInterrupted, fetch
    from trader_cli.render.progress import progress_for

    if not from_:
        raise UsageError("data fetch needs --from YYYY-MM-DD (and --to for more than a day)")
    first, last = _range(from_, to or from_)
    if not 0 < timeout <= 600:
        raise UsageError(f"--timeout {timeout:g}: give seconds above 0, up to 600")
    obj = app_ctx(ctx)
    store = obj.store()
    try:
        with progress_for(obj.renderer, f"fetching {len(symbols)} symbol(s) from Alpaca") as bar:
            res = fetch(
                store,
                symbols,
                interval,
                first,
                last,
                feed=feed,
                data_url=data_url,
                timeout_s=timeout,
                progress=bar,
                replace=replace,
            )
    except FetchInterrupted as stopped:
        obj.renderer.note(str(stopped))  # what was kept; the cancel itself is said as every Ctrl-C's
        raise

    def note(f: Any) -> str | None:
        if f.repaired:
            return f"repaired its damaged {f.repaired}; its other days were kept"
        if f.started_over:
            return f"started its {f.interval} file over (--replace); it held {f.started_over}"
        if f.damaged:
            return str(f.damaged)
        if f.missing_days and not f.bars and not f.stored_rows and not f.skipped:
            return (
                f"Alpaca has no {interval} bars of it for those days on the {feed} feed (check the ticker and "
                "the dates; nothing is stored, so the next fetch asks again)"
            )
        return None

    rows = [
        [
            f.symbol,
            f.interval,
            f.missing_days,
            f.bars,
            f.empty_days,
            f.stored_rows,
            iso_ny(f.first_ns) if f.first_ns is not None else None,
            iso_ny(f.last_ns) if f.last_ns is not None else None,
            note(f),
        ]
        for f in res.symbols
    ]
    lacking = sum(f.missing_days for f in res.symbols)
    said = (
        f"{res.requests} request(s), {res.calls} HTTP call(s)"
        if lacking
        else "the store has every trading day already: nothing fetched"
    )
    noted = [str(r[0]) for r in rows if r[-1]]
    notes = [f"see the note of {', '.join(noted)}"] if noted else []
    if res.last_day is not None and res.last_day != last:
        notes.append(f"--to {last} is after today: fetched through {res.last_day}")
    last = res.last_day or last
    if notes:
        said += " — " + "; ".join(notes)
    return Tabular(
        title=f"fetched {first}..{last} ({feed})",
        columns=["symbol", "interval", "missing_days", "fetched", "empty_days", "stored", "first", "last", "note"],
        rows=rows,
        caption=f"{said} — data dir: {store.data_dir}",
    )


@app.command("session")
def session(ctx: typer.Context, output: OutputOpt = None) -> object:
    """The session's symbols: provenance, intervals, bars, indicators, quality. Example: data session"""
    from trader_cli.core import reports

    _views()
    return app_ctx(ctx).coordinator.read(reports.session_table)


@app.command("symbol")
def symbol_(
    ctx: typer.Context, symbol: Annotated[str, typer.Argument(help="Ticker.")], output: OutputOpt = None
) -> object:
    """One symbol in detail: metadata, intervals, indicators (latest values, warmup, convergence).
    Example: data symbol AAPL"""
    from trader_cli.core import reports

    _views()
    return app_ctx(ctx).coordinator.read(reports.symbol_detail, symbol)


@app.command("indicator")
def indicator(
    ctx: typer.Context,
    symbol: Annotated[str, typer.Argument(help="Ticker.")],
    key: Annotated[str, typer.Argument(help="Indicator key, e.g. sma_20_5m (see: data symbol SYMBOL).")],
    last: Annotated[int | None, typer.Option("--last", "-n", min=1, help="The latest N bars (default 20).")] = None,
    from_: Annotated[str | None, typer.Option("--from", help="First New York date, e.g. 2024-12-02.")] = None,
    to: Annotated[str | None, typer.Option("--to", help="Last New York date (inclusive).")] = None,
    output: OutputOpt = None,
) -> object:
    """An indicator's values at each bar of its interval, over the whole run (history included).
    Example: data indicator AAPL sma_20_5m --last 10   ·   data indicator AAPL sma_20_5m --from 2024-12-03"""
    from trader_cli.core import reports

    _views()
    start, end = _range(from_, to)
    return app_ctx(ctx).coordinator.read(reports.indicator_view, symbol, key, last, start, end)


def _views() -> None:
    import trader_cli.render.reports  # noqa: F401 - registers the report views


def _date(text: str | None, option: str) -> Any:
    import datetime as dt

    from trader_cli.core.errors import UsageError

    if text is None:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError as err:
        raise UsageError(f"bad date for {option}: '{text}' (use YYYY-MM-DD, e.g. 2024-12-02)") from err


def _range(first: str | None, last: str | None) -> tuple[Any, Any]:
    """The dates of --from and --to (either may be absent), the first on or before the last."""
    from trader_cli.core.errors import UsageError

    start, end = _date(first, "--from"), _date(last, "--to")
    if start is not None and end is not None and start > end:
        raise UsageError(f"--from {start} is after --to {end} (give the earlier date first)")
    return start, end


@app.command("bars")
def bars(
    ctx: typer.Context,
    symbol: Annotated[str, typer.Argument(help="Ticker.")],
    interval: Annotated[str | None, typer.Argument(help="Interval (default: the base interval).")] = None,
    last: Annotated[int, typer.Option("--last", "-n", min=1, help="How many of the latest bars.")] = 20,
    from_: Annotated[
        str | None, typer.Option("--from", help="Without a session: first New York date, e.g. 2024-12-02.")
    ] = None,
    to: Annotated[str | None, typer.Option("--to", help="Without a session: last New York date (inclusive).")] = None,
    output: OutputOpt = None,
) -> object:
    """The latest bars of a symbol: the session's (history, then session), or without a session
    the store's (--from/--to pick New York dates). Example: data bars AAPL 5m --last 10"""
    from trader_cli.core.store import check_symbol

    obj = app_ctx(ctx)
    sym = check_symbol(symbol)
    coord = obj.coordinator
    if coord.state.value == "stopped":
        return _stored_bars(obj.store(), sym, interval or "1m", last, from_, to)
    if from_ or to:
        from trader_cli.core.errors import UsageError

        raise UsageError("--from/--to read the store and work without a session (the session's bars: --last N)")
    from trader_cli.core import reports

    _views()
    return coord.read(reports.bars_view, sym, interval, last)


def _stored_bars(store: Any, symbol: str, interval: str, last: int, first: str | None, final: str | None) -> object:
    """``data bars`` without a session: the last ``last`` stored bars, in a New York date window;
    an interval not stored is built from the 1m bars (regular session, as a session builds it)."""
    from trader_cli.core.bars import aggregate, session_bars
    from trader_cli.core.calendar import nyse
    from trader_cli.core.intervals import Interval
    from trader_cli.core.reports import BarsView, bar_rows

    iv = Interval.parse(interval)
    built = iv.name != "1m" and not store.has(symbol, iv) and store.has(symbol, "1m")
    source = "1m" if built else iv.name
    if first is None and final is None:
        # enough minutes for ``last`` bars, whole days of them
        minutes = store.tail(symbol, source, (last * iv.seconds // 60 + 390) if built else last)
        window = ""
    else:
        _range(first, final)
        lo, hi = _ny_day_start(first, "--from", 0), _ny_day_start(final, "--to", 1)
        minutes = store.read(symbol, source, lo, hi)
        window = f" from {first or 'the first'} to {final or 'the last'} (New York)"
    shown = aggregate(session_bars(minutes, nyse()), iv, nyse()) if built else minutes
    rows = bar_rows(shown, ["store"] * len(shown), last)
    how = " built from 1m" if built else ""
    note = f"{len(shown):,} stored bar(s){how}{window}; showing {len(rows):,} — data dir: {store.data_dir}"
    _views()
    return BarsView(symbol=symbol, interval=iv, total=len(shown), bars=rows, note=note)


def _ny_day_start(text: str | None, option: str, days_after: int) -> int | None:
    """UTC ns of New York midnight of a date (plus ``days_after`` days); None for no date."""
    import datetime as dt
    from zoneinfo import ZoneInfo

    from trader_cli.core.errors import UsageError

    if text is None:
        return None
    try:
        day = dt.date.fromisoformat(text) + dt.timedelta(days=days_after)
    except ValueError as err:
        raise UsageError(f"bad date for {option}: '{text}' (use YYYY-MM-DD, e.g. 2024-12-02)") from err
    start = dt.datetime(day.year, day.month, day.day, tzinfo=ZoneInfo("America/New_York"))
    return int(start.timestamp()) * 1_000_000_000


@app.command("quality")
def quality(
    ctx: typer.Context,
    symbol: Annotated[str | None, typer.Argument(help="Ticker (default: all).")] = None,
    output: OutputOpt = None,
) -> object:
    """Bars present ÷ expected per symbol and interval over the whole run, with gaps.
    Example: data quality RIVN"""
    from trader_cli.core import reports

    _views()
    return app_ctx(ctx).coordinator.read(reports.quality_report, [symbol] if symbol else None)
