"""``record start FILE`` / ``record stop`` and ``watch SECONDS CMD``."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from typer import _click as click  # typer 0.29 vendors click (pinned ~=0.29.2), as dispatch.py says

from trader_cli.commands.common import OutputOpt, app_ctx, output_as_default
from trader_cli.context import AppContext
from trader_cli.dispatch import INTERRUPTED, run_args

app = typer.Typer(help="Record the commands you type as a script that 'run' replays.", no_args_is_help=True)


@app.command("start")
def start(
    ctx: typer.Context,
    path: Annotated[str, typer.Argument(help="Script file to write at 'record stop'.")],
    output: OutputOpt = None,
) -> object:
    """Start recording (a session already running is recorded from its start: its config and
    every addition, at the same simulated minutes). The lines are kept in FILE.partial as they
    come; 'record stop', exit or the end of the script writes FILE. Example: record start session.trader"""
    from trader_cli.core.errors import TraderCliError
    from trader_cli.core.results import Message
    from trader_cli.recording import Recording

    obj = app_ctx(ctx)
    if obj.recording is not None:
        raise TraderCliError(f"already recording to {obj.recording.path} (stop with: record stop)")
    from trader_cli.dispatch import in_live_session

    if in_live_session(obj):
        from trader_cli.core.errors import SessionStateError

        raise SessionStateError(
            "a recording replays a backtest; a live session's minutes do not come again and its orders "
            "would go to Alpaca again (record a backtest instead: system stop, record start FILE, then "
            "system start a backtest config)"
        )
    replaces = Path(path).is_file()
    obj.recording = Recording.begin(path, list(obj.session_log), warn=obj.renderer.note)
    held = f" (from the session's start: {len(obj.session_log)} command(s) so far)" if obj.session_log else ""
    over = ", replacing the file there" if replaces else ""
    return Message(
        text=f"recording to {path}{held}; kept as it goes in {obj.recording.journal.path}; "
        f"'record stop' or leaving writes it{over}",
        level="ok",
    )


@app.command("stop")
def stop(ctx: typer.Context, output: OutputOpt = None) -> object:
    """Stop recording and write the script (atomically). Example: record stop"""
    from trader_cli.core.errors import DataError, TraderCliError
    from trader_cli.core.results import Message

    obj = app_ctx(ctx)
    rec = obj.recording
    if rec is None:
        raise TraderCliError("not recording (start with: record start FILE)")
    try:
        count = write_recording(obj)
    except (DataError, OSError) as err:
        raise DataError(f"{_failure(err)}; still recording: fix that and record stop again") from err
    return Message(text=f"wrote {count} command(s) to {rec.path}", level="ok")


def write_recording(obj: AppContext) -> int:
    """Write the active recording's script atomically and end it (its journal removed); the
    number of commands written. DataError (the recording goes on) when it cannot be written."""
    from trader_cli.core.atomic import write_atomic
    from trader_cli.recording import script_lines

    rec = obj.recording
    assert rec is not None, "write_recording needs an active recording"
    active = obj.has_coordinator and obj.coordinator.state.value != "stopped"
    end = obj.coordinator.now_ns() if active else None
    finished = active and obj.coordinator.state.value == "finished"
    lines = script_lines(rec.lines, end, finished)
    header = "# recorded by trader-cli; replay with: trader-cli run " + rec.path + "\n"
    text = header + "".join(line + "\n" for line in lines)
    write_atomic(rec.target, text.encode("utf-8", "surrogateescape"))  # a name typed in another encoding
    rec.journal.remove()
    obj.recording = None
    return len(lines)


def save_on_leaving(obj: AppContext) -> int:
    """Leaving (exit, Ctrl-D, the end of a script run): write an active recording and say so in
    one line; 0, or 1 after one line saying it could not be written and where its lines are."""
    from trader_cli.core.errors import DataError

    rec = obj.recording
    if rec is None:
        return 0
    try:
        count = write_recording(obj)
    except (DataError, OSError) as err:
        kept = (
            f"what was recorded is in {rec.journal.path} (keep it with: mv {rec.journal.path} {rec.target})"
            if rec.journal.intact
            else "it could not be kept on disk either"
        )
        obj.renderer.error(f"the recording was not saved: {_failure(err)}; {kept}")
        return 1
    obj.renderer.note(f"recording saved to {rec.path} ({count} command(s))")
    return 0


def _failure(err: Exception) -> str:
    """An error writing a recording, as one line."""
    from trader_cli.core.atomic import os_error_text

    return f"cannot write it: {os_error_text(err)}" if isinstance(err, OSError) else str(err)


MIN_WATCH_SECONDS = 0.1
MAX_WATCH_SECONDS = 86_400.0  # a day: a longer wait is no longer watching (and sleep overflows)


def register_watch(root: typer.Typer) -> None:
    """Add ``watch`` to the root app."""

    @root.command("watch", context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
    def watch(
        ctx: typer.Context,
        seconds: Annotated[float, typer.Argument(help="Seconds between runs, 0.1 to 86400 (a day).")],
        command: Annotated[list[str], typer.Argument(help="A read-only command, e.g. data session.")],
        count: Annotated[int | None, typer.Option("--count", "-n", min=1, help="Stop after N runs (scripts).")] = None,
        output: OutputOpt = None,
    ) -> object:
        """Re-run a read-only command every SECONDS until Ctrl-C (options go before SECONDS).
        A failing run is shown and watching goes on at the prompt; in a script it stops watching
        and fails the line. Example: watch 2 data session   ·   watch --count 3 1 system status"""

        obj = app_ctx(ctx)
        check_watch(obj, seconds, list(command))
        with output_as_default(obj):  # the mode given to watch carries into each run
            runs, failed, code, interrupted = _watch_runs(obj, seconds, list(command), count)
        if code:
            obj.renderer.error(f"watch stopped after {runs} run(s), {failed} failed: {' '.join(command)}")
            return code  # the exit code of the last failing run
        if interrupted and obj.script_depth > 0:
            return INTERRUPTED  # Ctrl-C stops a script, as it does during any other command
        obj.renderer.note(f"watch stopped after {runs} run(s)")  # a diagnostic: stdout holds the runs' output alone
        return None


def check_watch(obj: AppContext, seconds: float, command: list[str]) -> None:
    """Refuse a watch that could not run as typed, before its first run: an interval out of
    range, an unknown command, one that changes things, or one that does not parse."""
    from trader_cli.core.errors import UsageError
    from trader_cli.recording import READ_ONLY, READ_ONLY_WORDS, read_only

    if not (math.isfinite(seconds) and MIN_WATCH_SECONDS <= seconds <= MAX_WATCH_SECONDS):
        raise UsageError(
            f"watch: SECONDS must be from {MIN_WATCH_SECONDS:g} to {MAX_WATCH_SECONDS:.0f} (a day), "
            f"got {seconds:g} (e.g. watch 2 data session)"
        )
    leaf = _resolve(obj, command)
    if not read_only(command):
        allowed = ", ".join(sorted(READ_ONLY_WORDS | {" ".join(c) for c in READ_ONLY}))
        raise UsageError(f"watch runs read-only commands only ({allowed})")
    name, cmd, args, parent = leaf
    cmd.make_context(name, args, parent=parent)  # parses only: a missing argument or bad option raises


def _resolve(obj: AppContext, command: list[str]) -> tuple[str, Any, list[str], Any]:
    """The watched command's leaf in the tree: (name, command, its arguments, parent context).
    An unknown command raises click's usage error, worded as the shell words it."""
    from typer.core import TyperGroup

    from trader_cli.core.errors import UsageError

    root = obj.command_tree()
    parent = click.Context(root, info_name="trader-cli", obj=obj)
    cmd, name, args = root, "trader-cli", command
    while isinstance(cmd, TyperGroup):
        if cmd is root and args and args[0].startswith("-"):
            raise UsageError(
                f"watch: its options go before SECONDS, the command's after the command; got '{args[0]}' "
                "(e.g. watch --count 3 2 data session -o json)"
            )
        if not args or args[0].startswith("-"):
            path = parent.command_path.removeprefix("trader-cli").strip()
            raise UsageError(f"watch needs a whole command: '{path}' needs a subcommand (see: help {path})")
        found, cmd, args = cmd.resolve_command(parent, args)  # an unknown name raises
        name = found or ""  # never None: resolve_command raises for a name it does not know
        if isinstance(cmd, TyperGroup):
            parent = click.Context(cmd, info_name=name, parent=parent)
    return name, cmd, args, parent


def _watch_runs(obj: AppContext, seconds: float, command: list[str], count: int | None) -> tuple[int, int, int, bool]:
    """Run the command until ``count`` runs or Ctrl-C: (runs, failed runs, the exit code of the
    last failing run or 0, whether Ctrl-C ended it). A script stops at the first failing run."""
    runs = failed = code = 0
    paging, obj.renderer.pager = obj.renderer.pager, False  # a pager each refresh would trap the trader in it
    try:
        while count is None or runs < count:
            if obj.interactive and runs:
                obj.renderer.out.clear()
            obj.renderer.note(f"every {seconds:g} s: {' '.join(command)} (Ctrl-C stops)")
            ran = run_args(obj, command)
            if ran == INTERRUPTED:  # Ctrl-C during a run (run_args has said so)
                return runs, failed, code, True
            runs += 1
            if ran:
                failed, code = failed + 1, ran
                if not obj.interactive:
                    break
            if count is None or runs < count:
                time.sleep(seconds)
    except KeyboardInterrupt:
        return runs, failed, code, True  # Ctrl-C is how watch is meant to end
    finally:
        obj.renderer.pager = paging
    return runs, failed, code, False
