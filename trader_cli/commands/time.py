"""``time …``: the simulated clock (now, advance, until).

Units of ``time advance``: ``m``/``min`` are trading minutes and ``h`` is 60 of them (nights,
weekends and holidays are skipped: the clock moves only through session minutes); ``session``
(also ``d``/``day``) is a whole session: to the same time of day N sessions on (that session's
close when it closes earlier), or, from a close, to the open N sessions on.
"""

from __future__ import annotations

import os
import re
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any

import typer

from trader_cli.commands.common import OutputOpt, app_ctx, clock_report

if TYPE_CHECKING:
    from trader_cli.core.results import ClockAction

app = typer.Typer(help="The simulated clock: where it is, and stepping a paused session.", no_args_is_help=True)

_DURATION = re.compile(r"^\s*(\d{1,9})\s*([a-z]*)\s*$")
_MINUTE_UNITS = {"": 1, "m": 1, "min": 1, "mins": 1, "minute": 1, "minutes": 1, "h": 60, "hour": 60, "hours": 60}
_SESSION_UNITS = {"d", "day", "days", "session", "sessions"}
UNITS_HELP = (
    "m = trading minutes, h = 60 trading minutes (nights, weekends, holidays skipped); "
    "session (or d) = to the same time of day N sessions on, or from a close to the open N sessions on"
)


def parse_duration(text: str) -> tuple[int, str]:
    """'30m', '2h', '90' (minutes), '1 session', '2d' → (count, 'minutes' | 'sessions')."""
    from trader_cli.core.errors import UsageError

    m = _DURATION.match(text.lower())
    unit = m.group(2) if m else ""
    if not m or int(m.group(1)) <= 0 or (unit not in _MINUTE_UNITS and unit not in _SESSION_UNITS):
        raise UsageError(f"bad duration '{text}' (e.g. 30m, 2h, 1 session; {UNITS_HELP})")
    n = int(m.group(1))
    if unit in _SESSION_UNITS:
        return n, "sessions"
    return n * _MINUTE_UNITS[unit], "minutes"


@contextmanager
def ctrl_c_between_steps(in_plugin: Callable[[], Any] = lambda: None) -> Iterator[Callable[[], bool]]:
    """Turn Ctrl-C into a flag checked between two replay minutes (never inside one). A plugin
    callback that does not return holds the minute: a Ctrl-C while the callback that ran at the
    one before still runs, in the plugin's own code (not the session's code it called), is
    raised there as a KeyboardInterrupt, which stops that plugin (the minute ends as usual)."""
    hit: dict[str, Any] = {"flag": False, "at": None}

    def handler(signum: int, frame: Any) -> None:
        running = in_plugin()  # the callback under way (core/plugins/host.py Running) or None
        mine = frame is not None and running is not None and os.path.realpath(frame.f_code.co_filename) == running[1]
        if hit["flag"] and running is not None and running == hit["at"] and mine:
            raise KeyboardInterrupt(f"Ctrl-C twice while {running[0]}'s callback ran")
        hit["flag"], hit["at"] = True, running

    try:
        old = signal.signal(signal.SIGINT, handler)
    except ValueError:  # not the main thread: no signal handling to change
        yield lambda: False
        return
    try:
        yield lambda: hit["flag"]
    finally:
        signal.signal(signal.SIGINT, old)


def _stepped(
    ctx: typer.Context,
    action: ClockAction,
    step: Callable[[Callable[[], bool]], int],
    asked: str = "",
    reached: Callable[[int], bool] = lambda done: True,
) -> object:
    """Step (``step(should_stop)`` → minutes done) and say where it got to; a step the backtest's
    end cut short (``reached(done)`` False once finished) says so."""
    coord = app_ctx(ctx).coordinator
    with ctrl_c_between_steps(lambda: coord.engine.plugins.in_callback) as stop:
        done = step(stop)
        interrupted = stop()
    st = coord.status()
    tail = " (interrupted by Ctrl-C)" if interrupted else ""
    if not interrupted and st.state.value == "finished" and not reached(done):
        tail = f" (the backtest ends there, at its last close: short of the {asked} asked for)"
    text = f"advanced {done} minute(s) to {st.time_text}{tail}; state {st.state.value}"
    return clock_report(coord, action, text, minutes=done, interrupted=interrupted)


def _refuse_finished(coord: Any, command: str) -> None:
    """SessionStateError saying what still works once the session is over (nothing steps it)."""
    from trader_cli.core.errors import SessionStateError
    from trader_cli.core.lifecycle import SessionState

    if coord.state is SessionState.finished:
        raise SessionStateError(
            f"{command} steps a paused session (state: finished; the session ended at {coord.status().time_text}: "
            "save it with: session export FILE.json, or start a new one with: system start)"
        )


@app.command("now")
def now(ctx: typer.Context, output: OutputOpt = None) -> object:
    """The simulated time and trading day. Example: time now"""
    from trader_cli.core.results import Message

    obj = app_ctx(ctx)
    st = obj.coordinator.status()
    if (obj.output_request or obj.output).value != "table":
        return st  # the whole status, typed (schema: SessionStatus)
    if st.time is None:
        return Message(text="no session (start one with: system start)")
    return Message(text=f"{st.time_text} · trading day {st.trading_day} ({st.day_text}) · {st.state.value}")


@app.command("advance", context_settings={"ignore_unknown_options": True})
def advance(
    ctx: typer.Context,
    duration: Annotated[list[str], typer.Argument(help=f"e.g. 30m, 2h, 1 session. {UNITS_HELP}.")],
    output: OutputOpt = None,
) -> object:
    """Step a paused session forward, deterministically.
    Example: time advance 30m   ·   time advance 1 session"""
    n, unit = parse_duration(" ".join(duration))
    coord = app_ctx(ctx).coordinator
    _refuse_finished(coord, "time advance")
    asked = " ".join(duration)
    if unit == "sessions":
        target, within = coord.session_target(n), n <= coord.sessions_left()
        step = lambda stop: coord.advance_to(target, stop, "time advance")  # noqa: E731
        return _stepped(ctx, "advance", step, asked, lambda _: within)
    return _stepped(ctx, "advance", lambda stop: coord.advance(n, should_stop=stop), asked, lambda done: done >= n)


@app.command("until")
def until(
    ctx: typer.Context,
    when: Annotated[
        str,
        typer.Argument(
            help="HH:MM (today, New York), YYYY-MM-DDTHH:MM, or open / close / next-open "
            "(the next session open after now, the next close, the open of the session after this one)."
        ),
    ],
    output: OutputOpt = None,
) -> object:
    """Step a paused session until a New York time or the next open or close.
    Example: time until 11:00   ·   time until close   ·   time until next-open"""
    import datetime as dt
    from zoneinfo import ZoneInfo

    from trader_cli.core.errors import UsageError

    coord = app_ctx(ctx).coordinator
    _refuse_finished(coord, "time until")
    word = when.strip().lower()
    if word in ("open", "close", "next-open"):
        target = coord.named_target(word)
    else:
        try:
            if re.match(r"^\d{1,2}:\d{2}$", word):
                local = dt.datetime.combine(coord.session_day, dt.time.fromisoformat(word.zfill(5)))
            else:
                local = dt.datetime.fromisoformat(when.strip())
        except ValueError as err:
            raise UsageError(
                f"bad time '{when}' (use HH:MM or YYYY-MM-DDTHH:MM, New York time, or open, close, next-open)"
            ) from err
        target = int(local.replace(tzinfo=ZoneInfo("America/New_York")).timestamp()) * 1_000_000_000
    step = lambda stop: coord.advance_to(target, should_stop=stop)  # noqa: E731
    return _stepped(ctx, "until", step, when.strip(), lambda _: (coord.now_ns() or 0) >= target)
