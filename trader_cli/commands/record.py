"""``record start FILE`` / ``record stop`` and ``watch SECONDS CMD``."""

from __future__ import annotations

import time
from typing import Annotated

import typer

from trader_cli.commands.common import app_ctx

app = typer.Typer(help="Record the commands you type as a script that 'run' replays.", no_args_is_help=True)


@app.command("start")
def start(
    ctx: typer.Context, path: Annotated[str, typer.Argument(help="Script file to write at 'record stop'.")]
) -> object:
    """Start recording (a session already running is recorded from its start: its config and
    every addition, at the same simulated minutes). Example: record start session.trader"""
    from trader_cli.core.errors import UsageError
    from trader_cli.core.results import Message
    from trader_cli.recording import Recording

    obj = app_ctx(ctx)
    if obj.recording is not None:
        raise UsageError(f"already recording to {obj.recording.path} (stop with: record stop)")
    obj.recording = Recording(path, list(obj.session_log))
    held = f" (from the session's start: {len(obj.session_log)} command(s) so far)" if obj.session_log else ""
    return Message(text=f"recording to {path}{held}; 'record stop' writes it", level="ok")


@app.command("stop")
def stop(ctx: typer.Context) -> object:
    """Stop recording and write the script (atomically). Example: record stop"""
    from pathlib import Path

    from trader_cli.core.atomic import write_atomic
    from trader_cli.core.errors import UsageError
    from trader_cli.core.results import Message
    from trader_cli.recording import script_lines

    obj = app_ctx(ctx)
    rec = obj.recording
    if rec is None:
        raise UsageError("not recording (start with: record start FILE)")
    active = obj.has_coordinator and obj.coordinator.state.value != "stopped"
    end = obj.coordinator.now_ns() if active else None
    finished = active and obj.coordinator.state.value == "finished"
    lines = script_lines(rec.lines, end, finished)
    header = "# recorded by trader-cli; replay with: trader-cli run " + rec.path + "\n"
    write_atomic(Path(rec.path), header + "".join(line + "\n" for line in lines))
    obj.recording = None
    return Message(text=f"wrote {len(lines)} command(s) to {rec.path}", level="ok")


def register_watch(root: typer.Typer) -> None:
    """Add ``watch`` to the root app."""

    @root.command("watch", context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
    def watch(
        ctx: typer.Context,
        seconds: Annotated[float, typer.Argument(min=0.1, help="Seconds between runs.")],
        command: Annotated[list[str], typer.Argument(help="A read-only command, e.g. data session.")],
        count: Annotated[int | None, typer.Option("--count", "-n", min=1, help="Stop after N runs (scripts).")] = None,
    ) -> object:
        """Re-run a read-only command every SECONDS until Ctrl-C (options go before SECONDS).
        Example: watch 2 data session   ·   watch --count 3 1 system status"""
        from trader_cli.core.errors import UsageError
        from trader_cli.core.results import Message
        from trader_cli.dispatch import run_args
        from trader_cli.recording import READ_ONLY, READ_ONLY_WORDS, read_only

        if not read_only(list(command)):
            allowed = ", ".join(sorted(READ_ONLY_WORDS | {" ".join(c) for c in READ_ONLY}))
            raise UsageError(f"watch runs read-only commands only ({allowed})")
        obj = app_ctx(ctx)
        runs = 0
        try:
            while count is None or runs < count:
                if obj.interactive and runs:
                    obj.renderer.out.clear()
                obj.renderer.note(f"every {seconds:g} s: {' '.join(command)} (Ctrl-C stops)")
                run_args(obj, list(command))
                runs += 1
                if count is None or runs < count:
                    time.sleep(seconds)
        except KeyboardInterrupt:
            pass  # Ctrl-C is how watch is meant to end
        return Message(text=f"watch stopped after {runs} run(s)")
