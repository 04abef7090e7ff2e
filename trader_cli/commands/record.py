"""``record start FILE`` / ``record stop`` and ``watch SECONDS CMD``."""

from __future__ import annotations

import time
from typing import Annotated

import typer

from trader_cli.commands.common import app_ctx

app = typer.Typer(help="Record the commands you type as a script that 'run' replays.", no_args_is_help=True)

READ_ONLY = {
    ("data", "list"),
    ("data", "session"),
    ("data", "symbol"),
    ("data", "bars"),
    ("data", "quality"),
    ("system", "status"),
    ("time", "now"),
    ("data", "chart"),
}


@app.command("start")
def start(
    ctx: typer.Context, path: Annotated[str, typer.Argument(help="Script file to write at 'record stop'.")]
) -> object:
    """Start recording the commands you type. Example: record start session.trader"""
    from trader_cli.core.errors import UsageError
    from trader_cli.core.results import Message

    obj = app_ctx(ctx)
    if obj.extras.get("recording") is not None:
        raise UsageError(f"already recording to {obj.extras['recording'][0]} (stop with: record stop)")
    obj.extras["recording"] = (path, [])
    return Message(text=f"recording to {path}; 'record stop' writes it", level="ok")


@app.command("stop")
def stop(ctx: typer.Context) -> object:
    """Stop recording and write the script (atomically). Example: record stop"""
    from pathlib import Path

    from trader_cli.core.atomic import write_atomic
    from trader_cli.core.errors import UsageError
    from trader_cli.core.results import Message

    obj = app_ctx(ctx)
    rec = obj.extras.pop("recording", None)
    if rec is None:
        raise UsageError("not recording (start with: record start FILE)")
    path, lines = rec
    header = "# recorded by trader-cli; replay with: trader-cli run " + path + "\n"
    write_atomic(Path(path), header + "".join(line + "\n" for line in lines))
    return Message(text=f"wrote {len(lines)} command(s) to {path}", level="ok")


def note_line(obj: object, line: str, code: int) -> None:
    """Remember a successful top-level line while recording (not record/help/exit themselves)."""
    rec = getattr(obj, "extras", {}).get("recording")
    if rec is None or code != 0:
        return
    first = line.strip().split(maxsplit=1)[0] if line.strip() else ""
    if first in ("record", "help", "exit", "quit", "watch") or line.strip().startswith("#"):
        return
    rec[1].append(line.strip())


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
        from trader_cli.app import run_args
        from trader_cli.core.errors import UsageError
        from trader_cli.core.results import Message

        if tuple(command[:2]) not in READ_ONLY:
            allowed = ", ".join(" ".join(c) for c in sorted(READ_ONLY))
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
