"""Options shared by many commands."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any, ClassVar

import typer
from typer import _click as click  # typer 0.29 vendors click (pinned ~=0.29.2)
from typer.core import TyperCommand

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


class NegativeLooking(TyperCommand):
    """A command whose argument a trader may type as a negative number: click reads '-1' as an
    unknown option, this says it is a bad value of the argument (``wanted``: what it should be)."""

    wanted: ClassVar[str] = "a valid value"

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        """Parse as usual; a negative-looking word is refused as a value, not an option."""
        given = list(args)  # the parser consumes ``args`` as it goes
        try:
            return super().parse_args(ctx, args)
        except click.exceptions.NoSuchOption as err:
            if not re.match(r"^-\d", err.option_name):
                raise
            word = next((a for a in given if a.startswith(err.option_name)), err.option_name)
            raise click.exceptions.UsageError(f"'{word}' is not {self.wanted}", ctx) from None
