"""``system …``: start, stop, pause, resume, wait, status."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from trader_cli.commands.common import NegativeLooking, OutputOpt, app_ctx, clock_report
from trader_cli.core.lifecycle import SPEED_HELP

app = typer.Typer(help="Start, stop and control the session.", no_args_is_help=True)


class SpeedCommand(NegativeLooking):
    """``system speed -1``: a speed is 0 or more."""

    wanted = f"a speed (use {SPEED_HELP})"


@app.command("start")
def start(
    ctx: typer.Context,
    config: Annotated[str | None, typer.Option("--config", "-c", help="Session config (default: the shell's).")] = None,
    paused: Annotated[bool, typer.Option("--paused", help="Provision, then hold the clock at the open.")] = False,
    speed: Annotated[float | None, typer.Option("--speed", help=f"Replay speed: {SPEED_HELP}.")] = None,
    output: OutputOpt = None,
) -> object:
    """Validate and load the config's symbols, then start the replay clock.
    Example: system start --config configs/default.json --paused"""
    import trader_cli.render.session_views  # noqa: F401 - registers the views

    obj = app_ctx(ctx)
    before = obj.config_path
    if config is not None:
        obj.config_path = config
    try:  # the shell's config becomes --config's only once a session started from it
        cfg = obj.config()
        if cfg is None:
            from trader_cli.core.errors import ConfigError

            raise ConfigError("no session config (give --config FILE or set TRADER_CLI_CONFIG)")
        from trader_cli.render.progress import progress_for

        data_dir = obj.data_dir()
        if cfg.mode == "backtest" and not data_dir.is_dir():  # not "no bars stored" for every symbol
            from trader_cli.core.config_check import data_dir_problems
            from trader_cli.core.errors import DataError

            said = data_dir_problems(data_dir, obj.data_dir_option, cfg)[0].problem
            raise DataError(f"{said}: give the folder that holds bars/ (--data-dir, or the config's data_dir)")
        with progress_for(obj.renderer, f"loading {len(cfg.session_data_config.symbols)} symbol(s)") as bar:
            return obj.coordinator.start(cfg, data_dir, paused=paused, speed=speed, progress=bar)
    except BaseException:
        obj.config_path = before
        raise


@app.command("stop")
def stop(ctx: typer.Context, output: OutputOpt = None) -> object:
    """Stop the session and drop its data. Example: system stop"""
    coord = app_ctx(ctx).coordinator
    coord.stop()
    return clock_report(coord, "stop", "session stopped")


@app.command("pause")
def pause(ctx: typer.Context, output: OutputOpt = None) -> object:
    """Hold the replay clock. Example: system pause"""
    coord = app_ctx(ctx).coordinator
    coord.pause()
    return clock_report(coord, "pause", f"paused at {coord.status().time_text}")


@app.command("resume")
def resume(ctx: typer.Context, output: OutputOpt = None) -> object:
    """Let the replay clock run again. Example: system resume"""
    coord = app_ctx(ctx).coordinator
    since = coord.status().time_text  # before the clock moves again
    coord.resume()
    return clock_report(coord, "resume", f"running from {since} at speed {coord.status().speed:g}")


@app.command("speed", cls=SpeedCommand)
def speed(
    ctx: typer.Context,
    value: Annotated[float, typer.Argument(help=f"The new speed: {SPEED_HELP}.")],
    output: OutputOpt = None,
) -> object:
    """Change the replay speed, also while the clock runs. Example: system speed 60"""
    coord = app_ctx(ctx).coordinator
    new = coord.set_speed(value)
    shown = "as fast as possible" if new == 0 else f"{new:g}x"
    return clock_report(coord, "speed", f"speed {shown} ({coord.state.value} at {coord.status().time_text})")


@app.command("wait")
def wait(
    ctx: typer.Context,
    timeout: Annotated[float | None, typer.Option("--timeout", min=0, help="Give up after this many seconds.")] = None,
    until: Annotated[
        str | None, typer.Option("--until", help="Stop waiting once the session's clock reaches HH:MM (New York).")
    ] = None,
    output: OutputOpt = None,
) -> object:
    """Block until the backtest finishes (or, with --until, the session's clock reaches that
    time today; a backtest or a live session alike), showing its progress (Ctrl-C stops waiting;
    the session goes on). Example: system wait, system wait --until 10:30"""
    from trader_cli.core.errors import SessionStateError
    from trader_cli.render.progress import progress_for

    obj = app_ctx(ctx)
    coord = obj.coordinator
    until_ns = _today_at(coord, until) if until is not None else None
    try:
        with progress_for(obj.renderer, "replaying") as bar:

            def show() -> None:
                st = coord.status()
                bar(st.minutes_replayed, st.minutes_total or 1, f"day {st.day_text} · {st.time_text}")

            finished = coord.wait(timeout, on_progress=show, until_ns=until_ns)
    except KeyboardInterrupt:
        st = coord.status()
        text = (
            f"interrupted: stopped waiting at {st.time_text} (day {st.day_text}, {st.progress_pct:.1f}%); "
            f"the {_kind(coord)} is {st.state.value} (system pause holds it, system wait waits again)"
        )
        return clock_report(coord, "wait", text, interrupted=True)
    if not finished:
        from trader_cli.core.plugins.running import STUCK_S, holding

        held = holding(coord.engine.plugins, STUCK_S)
        raise SessionStateError(
            f"still running after {timeout:g} s (at {coord.status().time_text})" + (f"; {held}" if held else "")
        )
    st = coord.status()
    return clock_report(coord, "wait", f"{st.state.value} at {st.time_text} ({st.bars_replayed:,} bars replayed)")


def _kind(coord: Any) -> str:
    cfg = coord.engine.config
    return "live session" if cfg is not None and cfg.mode == "live" else "backtest"


def _today_at(coord: Any, text: str) -> int:
    """HH:MM (New York) of the session's day, as ns; UsageError for a bad time, SessionStateError
    without a session or for a time already passed."""
    import datetime as dt

    from trader_cli.core.calendar import ny_wall
    from trader_cli.core.errors import SessionStateError, UsageError

    st = coord.status()
    try:
        target = ny_wall(st.trading_day or dt.date.today(), text)
    except ValueError:
        raise UsageError(f"--until '{text}': give a New York time as HH:MM, e.g. 10:30") from None
    if st.trading_day is None or st.time is None:
        raise SessionStateError("no session to wait for (start one with: system start)")
    if target <= st.time:
        raise SessionStateError(f"{text} has passed already (the session is at {st.time_text})")
    return int(target.timestamp()) * 1_000_000_000


@app.command("status")
def status(ctx: typer.Context, output: OutputOpt = None) -> object:
    """State, simulated time, trading day, progress, speed, symbols. Example: system status"""
    from trader_cli.core.results import Document
    from trader_cli.render.session_views import status_table

    obj = app_ctx(ctx)
    st = obj.coordinator.status()
    mode = (obj.output_request or obj.output).value
    if mode == "json":
        return Document(data=st.model_dump(mode="json"))
    if mode == "csv":  # one typed row: the JSON's fields
        from trader_cli.render.trade import record_table

        return record_table(st, "status")
    return status_table(st)
