"""``session …``: export the session, print the export's JSON Schema."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer

from trader_cli.commands.common import OutputOpt, app_ctx

app = typer.Typer(help="Export the session (JSON, CSV) and its schema.", no_args_is_help=True)


class Format(StrEnum):
    """Export file formats."""

    json = "json"
    csv = "csv"


@app.command("export")
def export(
    ctx: typer.Context,
    path: Annotated[str, typer.Argument(help="File to write (atomically); .json or .csv picks the format.")],
    fmt: Annotated[
        Format | None,
        typer.Option(
            "--format",
            "-f",
            help="json or csv (default: from the name: .json or .csv; json for a name without an extension).",
        ),
    ] = None,
    bars: Annotated[bool, typer.Option("--bars", help="Include every bar and indicator value.")] = False,
    output: OutputOpt = None,
) -> object:
    """Write the session to a file (JSON or CSV, atomically). Example: session export out/session.json --bars

    CSV is one file of tables separated by a blank line: the symbols (one row each); with --bars
    also every bar (symbol,interval,timestamp,open,high,low,close,volume) and every indicator
    value (symbol,indicator,interval,timestamp,output,value). Then the trading tables: orders,
    fills, positions, account, equity, the report's figures and its P&L by symbol and source.
    Bar timestamps are bar starts in UTC; order, fill and equity times are New York time with
    its offset."""
    from pathlib import Path

    from trader_cli.core.export import export_session
    from trader_cli.render.progress import progress_for

    if fmt is None and Path(path).suffix.lower() not in ("", ".json", ".csv"):
        from trader_cli.core.errors import UsageError

        stem = Path(path).stem
        raise UsageError(
            f"{Path(path).name}: the format comes from the name: call it {stem}.json or {stem}.csv "
            "(or give --format json|csv)"
        )
    obj = app_ctx(ctx)
    with progress_for(obj.renderer, f"exporting to {path}") as bar:
        done = export_session(obj.coordinator, Path(path), fmt.value if fmt else None, bars, progress=bar)
    return done


@app.command("schema")
def schema(output: OutputOpt = None) -> object:
    """The JSON Schema of the session export. Example: session schema"""
    from trader_cli.core.export import export_schema
    from trader_cli.core.results import Document

    return Document(title="session export JSON Schema", data=export_schema())
