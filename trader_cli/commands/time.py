"""``time …``: the simulated clock (now, advance, until)."""

from __future__ import annotations

import re
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer

from trader_cli.commands.common import OutputOpt, app_ctx

app = typer.Typer(help="The simulated clock: where it is, and stepping a paused session.", no_args_is_help=True)

_DURATION = re.compile(r"^\s*(\d+)\s*(m|min|h|d)?\s*$")


def parse_duration(text: str) -> int:
    """'30m', '2h', '90' (minutes) → replay minutes; ``d`` means trading sessions of 390 minutes."""
    from trader_cli.core.errors import UsageError

    m = _DURATION.match(text.lower())
    if not m or int(m.group(1)) <= 0:
        raise UsageError(f"bad duration '{text}' (use minutes or hours, e.g. 30m, 2h)")
    n, unit = int(m.group(1)), m.group(2) or "m"
    return n * {"m": 1, "min": 1, "h": 60, "d": 390}[unit]


@contextmanager
def ctrl_c_between_steps() -> Iterator[Any]:
    """Turn Ctrl-C into a flag checked between two replay minutes (never inside one)."""
    hit = {"flag": False}

    def handler(signum: int, frame: Any) -> None:
        hit["flag"] = True

    try:
        old = signal.signal(signal.SIGINT, handler)
    except ValueError:  # not the main thread: no signal handling to change
        yield lambda: False
        return
    try:
        yield lambda: hit["flag"]
    finally:
        signal.signal(signal.SIGINT, old)


def _stepped(ctx: typer.Context, minutes: int) -> object:
    from trader_cli.core.results import Message

    coord = app_ctx(ctx).coordinator
    with ctrl_c_between_steps() as stop:
        done = coord.advance(minutes, should_stop=stop)
    st = coord.status()
    tail = " (interrupted by Ctrl-C)" if done < minutes and coord.state.value == "paused" else ""
    return Message(text=f"advanced {done} minute(s) to {st['time']}{tail}; state {st['state']}", level="ok")


@app.command("now")
def now(ctx: typer.Context, output: OutputOpt = None) -> object:
    """The simulated time and trading day. Example: time now"""
    from trader_cli.core.results import Message

    obj = app_ctx(ctx)
    st = obj.coordinator.status()
    if (obj.output_request or obj.output).value != "table":
        from trader_cli.core.results import Document

        return Document(data={k: st[k] for k in ("time", "trading_day", "day", "state")})
    if st["time"] is None:
        return Message(text="no session (start one with: system start)")
    return Message(text=f"{st['time']} · trading day {st['trading_day']} ({st['day']}) · {st['state']}")


@app.command("advance")
def advance(
    ctx: typer.Context, duration: Annotated[str, typer.Argument(help="e.g. 30m, 2h.")], output: OutputOpt = None
) -> object:
    """Step a paused session forward, deterministically. Example: time advance 30m"""
    return _stepped(ctx, parse_duration(duration))


@app.command("until")
def until(
    ctx: typer.Context,
    when: Annotated[str, typer.Argument(help="HH:MM (today, New York) or YYYY-MM-DDTHH:MM.")],
    output: OutputOpt = None,
) -> object:
    """Step a paused session until a New York time. Example: time until 11:00"""
    import datetime as dt
    from zoneinfo import ZoneInfo

    from trader_cli.core.errors import UsageError

    coord = app_ctx(ctx).coordinator
    try:
        if re.match(r"^\d{1,2}:\d{2}$", when.strip()):
            t = dt.time.fromisoformat(when.strip().zfill(5))
            local = dt.datetime.combine(coord.session_day, t)
        else:
            local = dt.datetime.fromisoformat(when.strip())
    except ValueError as err:
        raise UsageError(f"bad time '{when}' (use HH:MM or YYYY-MM-DDTHH:MM, New York time)") from err
    target = int(local.replace(tzinfo=ZoneInfo("America/New_York")).timestamp()) * 1_000_000_000
    return _stepped(ctx, coord.minutes_until(target))
