"""Options shared by many commands."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from trader_cli.render import OutputMode


def _remember_output(ctx: typer.Context, value: OutputMode | None) -> OutputMode | None:
    if value is not None and ctx.obj is not None:
        ctx.obj.output_request = value
    return value


OutputOpt = Annotated[
    OutputMode | None,
    typer.Option(
        "--output",
        "-o",
        help="table, json or csv (default: table, or $TRADER_CLI_OUTPUT).",
        callback=_remember_output,
        case_sensitive=False,
    ),
]


def app_ctx(ctx: typer.Context) -> Any:
    """The AppContext of this invocation."""
    return ctx.obj
