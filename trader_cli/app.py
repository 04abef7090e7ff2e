"""The typer app (the only command registry) and ``run_line``, which the REPL, scripts, ``exec``
and the tests all use to run one command."""

from __future__ import annotations

import contextlib
import re
import shlex
import sys
import traceback
from functools import lru_cache
from pathlib import Path
from typing import Annotated

import typer
from typer import _click as click  # typer 0.29 vendors click (pinned ~=0.29.2)
from typer.core import TyperGroup

from trader_cli.commands import add as add_cmds
from trader_cli.commands import chart as chart_cmds
from trader_cli.commands import config as config_cmds
from trader_cli.commands import data as data_cmds
from trader_cli.commands import meta as meta_cmds
from trader_cli.commands import record as record_cmds
from trader_cli.commands import session as session_cmds
from trader_cli.commands import system as system_cmds
from trader_cli.commands import time as time_cmds
from trader_cli.context import AppContext
from trader_cli.render import OutputMode

app = typer.Typer(
    name="trader-cli",
    help="An interactive shell for trading sessions. Run with no arguments to open the shell.",
    add_completion=False,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["--help", "-h"], "max_content_width": 240},
)


@app.callback(invoke_without_command=True)
def _root(
    ctx: typer.Context,
    data_dir: Annotated[
        str | None, typer.Option("--data-dir", help="Bar store folder (overrides env and config).")
    ] = None,
    config: Annotated[str | None, typer.Option("--config", "-c", help="Session config file.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Do not print replay events.")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    output: Annotated[
        OutputMode | None,
        typer.Option(
            "--output", "-o", help="table, json or csv for every command of the run.", case_sensitive=False
        ),
    ] = None,
) -> None:
    """Global options; they apply to the rest of the run."""
    obj: AppContext = ctx.obj
    if output is not None:
        obj.output = output
    if data_dir is not None:
        obj.data_dir_option = data_dir
    if config is not None:
        obj.config_path = config
    obj.quiet = obj.quiet or quiet
    obj.assume_yes = obj.assume_yes or yes
    if ctx.invoked_subcommand is None and not obj.interactive:
        obj.open_shell = True


app.add_typer(system_cmds.app, name="system")
chart_cmds.register(data_cmds.app)
app.add_typer(data_cmds.app, name="data")
app.add_typer(add_cmds.add_app, name="add")
app.add_typer(add_cmds.remove_app, name="remove")
app.add_typer(add_cmds.plan_app, name="plan")
app.add_typer(time_cmds.app, name="time")
app.add_typer(session_cmds.app, name="session")
app.add_typer(config_cmds.app, name="config")
app.add_typer(record_cmds.app, name="record")
meta_cmds.register(app)
record_cmds.register_watch(app)


@lru_cache(maxsize=1)
def command_tree() -> TyperGroup:
    """The click command built from the typer app (built once)."""
    cmd = typer.main.get_command(app)
    assert isinstance(cmd, TyperGroup)
    return cmd


class OutputClosed(Exception):
    """Stdout's reader went away (``| head``). Not an OSError, so the command tree's own EPIPE
    handling does not turn it into an exit: ``main`` ends quietly, with status 0, in one place."""


def _usage_message(err: click.exceptions.UsageError, args: list[str]) -> str:
    text = err.format_message().strip().rstrip(".")
    if isinstance(err, click.exceptions.NoSuchOption) and re.match(r"^-\d", err.option_name):
        # '-5m' reads as options -5 and -m: it is a value that cannot be negative.
        word = next((a for a in args if a.startswith(err.option_name)), err.option_name)
        text = (
            f"'{word}' is not a valid value (an interval is one of 1m, 5m, 15m, 30m, 1h, 1d; "
            "counts, prices and durations are positive)"
        )
    path = err.ctx.command_path.removeprefix("trader-cli").strip() if err.ctx else ""
    hint = f"help {path}" if path else "help"
    return f"{text} (see: {hint})"


def run_args(obj: AppContext, args: list[str]) -> int:
    """Run one command given as arguments; render its result; return the exit code."""
    from trader_cli.core.errors import TraderCliError, exit_code_for
    from trader_cli.core.secrets import redact

    obj.output_request = None
    target = obj.renderer.out_file
    try:
        # Help pages are printed by the command tree itself: send them where results go.
        with contextlib.redirect_stdout(target) if target is not None else contextlib.nullcontext():
            rv = command_tree().main(args, prog_name="trader-cli", standalone_mode=False, obj=obj)
    except click.exceptions.NoArgsIsHelpError as err:
        obj.renderer.text(err.ctx.get_help() if err.ctx else "")
        return 0
    except click.exceptions.UsageError as err:
        obj.renderer.error(_usage_message(err, args))
        return 2
    except typer.Abort:
        obj.renderer.error("cancelled")
        return 1
    except typer.Exit as err:
        return int(err.exit_code)
    except (meta_cmds.ShellExit, OutputClosed):
        raise
    except BrokenPipeError as err:
        raise OutputClosed() from err
    except TraderCliError as err:
        obj.renderer.error(str(err))
        return exit_code_for(err)
    except KeyboardInterrupt:
        obj.renderer.error("cancelled (Ctrl-C); the session is intact")
        return 130
    except MemoryError:
        obj.renderer.error(
            "out of memory: the command was abandoned and the session is as it was "
            "(free memory, or use fewer symbols or days)"
        )
        return 1
    except RecursionError:
        obj.renderer.error("the input nests too deeply to be read (simplify it); nothing changed")
        return 1
    except OSError as err:  # the machine's limits (open files, disk, permissions): not a bug
        from trader_cli.core.atomic import os_error_text

        where = f" ({err.filename})" if getattr(err, "filename", None) else ""
        obj.renderer.error(f"the system refused: {os_error_text(err)}{where}; nothing changed")
        return 1
    except Exception as err:
        log = _log_crash()
        shown = redact(str(err))
        obj.renderer.error(f"internal error: {type(err).__name__}: {shown} (details in {log}; please report it)")
        return 1
    if isinstance(rv, int) and not isinstance(rv, bool):
        return rv  # click's exit code (e.g. after --help)
    from trader_cli.core.results import ScriptSummary

    if isinstance(rv, ScriptSummary):
        # A diagnostic, not data: stdout carries only the commands' own output.
        if obj.script_depth == 0 and (rv.failed or obj.interactive or rv.script != "exec"):
            obj.renderer.note(rv.line())
        return rv.exit_code
    if rv is not None:
        try:
            obj.renderer.result(rv, obj.output_request or obj.output)
        except BrokenPipeError as err:
            raise OutputClosed() from err
        failed = getattr(rv, "failed_text", None)  # a result reporting a failure: shown, then one line
        if failed:
            obj.renderer.error(failed)
            return 1
    return 0


def run_line(obj: AppContext, line: str) -> int:
    """Run one command line (the REPL, scripts, exec and tests all come through here)."""
    text = line.strip()
    if not text or text.startswith("#"):
        return 0
    try:
        args = shlex.split(text)
    except ValueError as err:
        obj.renderer.error(f"cannot split the line into words: {err} (check the quotes)")
        return 2
    before, changes = _sim_now(obj), obj.coordinator.changes if obj.has_coordinator else 0
    code = run_args(obj, args)
    if code == 0:
        # A change took effect at the minute the coordinator applied it (a running clock may
        # have moved on since the line was typed).
        changed = obj.has_coordinator and obj.coordinator.changes != changes
        at = obj.coordinator.changed_at_ns if changed else before
        record_cmds.note_line(obj, text, at, _sim_now(obj))
    return code


def _sim_now(obj: AppContext) -> int | None:
    """The simulated time of an active session (None without one)."""
    if not obj.has_coordinator or obj.coordinator.state.value == "stopped":
        return None
    return obj.coordinator.now_ns()


def _log_crash() -> Path:
    import datetime as dt
    import os

    from trader_cli.core.secrets import redact

    base = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state") / "trader-cli"
    try:
        base.mkdir(parents=True, exist_ok=True)
        path = base / "crash.log"
        with open(path, "a", encoding="utf-8") as fh:  # secrets never reach a log (core/secrets.py)
            fh.write(redact(f"--- {dt.datetime.now().isoformat()}\n{traceback.format_exc()}\n"))
        return path
    except OSError:
        return Path("(unwritable log)")


def main(argv: list[str]) -> int:
    """Entry point: no arguments opens the shell (or reads a script from a non-terminal stdin)."""
    from trader_cli.core.store import raise_open_files_limit

    raise_open_files_limit()  # a session of hundreds of symbols keeps their files open
    obj = AppContext()
    try:
        if not argv:
            return _shell_or_script(obj)
        code = run_args(obj, argv)
        if obj.open_shell:
            obj.open_shell = False
            return _shell_or_script(obj)
        sys.stdout.flush()  # a closed pipe shows up here, not as noise at interpreter exit
        return code
    except meta_cmds.ShellExit:
        return 0
    except (BrokenPipeError, OutputClosed):
        _quiet_broken_pipe()
        return 0
    finally:
        if obj.has_coordinator:
            obj.coordinator.shutdown()


def _shell_or_script(obj: AppContext) -> int:
    """The shell when both stdin and stdout are terminals; input that is not a terminal is a
    script (whatever the options), run to its end, after which an active session is stopped."""
    if not sys.stdin.isatty():
        summary = meta_cmds.run_stream(obj, sys.stdin, "<stdin>", keep_going=False, params={})
        sys.stdout.flush()
        return int(summary.exit_code)
    if not sys.stdout.isatty():
        obj.renderer.error(
            "the shell needs a terminal for its output; to run commands with output to a file or pipe, "
            'pipe them in (printf "data list\\n" | trader-cli) or use: trader-cli exec "data list"'
        )
        return 2
    from trader_cli.shell.repl import run_repl

    return run_repl(obj)


def _quiet_broken_pipe() -> None:
    import os

    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
