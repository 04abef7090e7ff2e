"""Options shared by many commands."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any

import typer

from trader_cli.render import OutputMode

if TYPE_CHECKING:
    from trader_cli.core.results import ClockAction


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


def clock_report(coord: Any, action: ClockAction, text: str, **extra: Any) -> Any:
    """A ClockReport of ``action``: its line, and where the session is now."""
    from trader_cli.core.results import ClockReport

    st = coord.status()
    return ClockReport(
        text=text,
        level="warn" if extra.get("interrupted") else "ok",
        action=action,
        state=st.state,
        time=st.time,
        trading_day=st.trading_day,
        speed=st.speed,
        minutes_replayed=st.minutes_replayed,
        bars_replayed=st.bars_replayed,
        **extra,
    )


@contextmanager
def output_as_default(obj: Any) -> Iterator[None]:
    """``run -o json …`` (and ``exec``, ``watch``): the commands it runs default to the output
    mode asked of it."""
    saved = obj.output
    if obj.output_request is not None:
        obj.output = obj.output_request
    try:
        yield
    finally:
        obj.output = saved
