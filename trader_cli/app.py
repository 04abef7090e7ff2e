"""The typer app: the only command registry (help, completion and "did you mean" come from it),
its global options, and the program's entry point. Lines run through ``trader_cli.dispatch``."""

from __future__ import annotations

import sys
from functools import lru_cache
from typing import Annotated, Any, TextIO

import typer
from typer.core import TyperGroup

from trader_cli.commands import add as add_cmds
from trader_cli.commands import chart as chart_cmds
from trader_cli.commands import config as config_cmds
from trader_cli.commands import data as data_cmds
from trader_cli.commands import demo as demo_cmds
from trader_cli.commands import meta as meta_cmds
from trader_cli.commands import plugins as plugin_cmds
from trader_cli.commands import record as record_cmds
from trader_cli.commands import schemas as schema_cmds
from trader_cli.commands import session as session_cmds
from trader_cli.commands import sweep as sweep_cmds
from trader_cli.commands import system as system_cmds
from trader_cli.commands import time as time_cmds
from trader_cli.commands import trade as trade_cmds
from trader_cli.context import AppContext
from trader_cli.dispatch import OutputClosed, ShellExit, run_args, run_script
from trader_cli.render import OutputMode


class _Root(TyperGroup):
    """The root command: a Ctrl-C that no command turned into its own result is the one
    "cancelled" line and exit 130 (typer would make it a silent exit 130)."""

    def invoke(self, ctx: Any) -> Any:
        from trader_cli.core.errors import Interrupted

        try:
            return super().invoke(ctx)
        except KeyboardInterrupt as err:
            raise Interrupted("cancelled (Ctrl-C); the session is intact") from err


app = typer.Typer(
    cls=_Root,
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
        typer.Option("--output", "-o", help="table, json or csv for every command of the run.", case_sensitive=False),
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
app.add_typer(demo_cmds.app, name="demo")
meta_cmds.register(app)
schema_cmds.register(app)
trade_cmds.register(app)
plugin_cmds.register(app)
record_cmds.register_watch(app)
sweep_cmds.register(app)


@lru_cache(maxsize=1)
def command_tree() -> TyperGroup:
    """The click command built from the typer app (built once)."""
    cmd = typer.main.get_command(app)
    assert isinstance(cmd, TyperGroup)
    return cmd


def make_context(**kw: Any) -> AppContext:
    """A context whose lines run through this app's command tree."""
    return AppContext(tree=command_tree, **kw)


def main(argv: list[str]) -> int:
    """Entry point: no arguments opens the shell (or reads a script from a non-terminal stdin)."""
    from trader_cli.core.file_limits import raise_open_files_limit

    raise_open_files_limit()  # a session of hundreds of symbols keeps their files open
    obj = make_context()
    try:
        if not argv:
            return _finish(obj, _shell_or_script(obj))
        code = run_args(obj, argv)
        if obj.open_shell:
            obj.open_shell = False
            code = _shell_or_script(obj)
        return _finish(obj, code)
    except ShellExit:
        return _finish(obj, 0)
    except (BrokenPipeError, OutputClosed):
        _quiet_stream(sys.stdout)
        from trader_cli.commands.record import save_on_leaving

        return save_on_leaving(obj)
    finally:
        if obj.has_coordinator:
            obj.coordinator.shutdown()


def _shell_or_script(obj: AppContext) -> int:
    """The shell when both stdin and stdout are terminals; input that is not a terminal is a
    script (whatever the options), run to its end, after which an active session is stopped."""
    if not sys.stdin.isatty():
        summary = run_script(obj, sys.stdin, "<stdin>", keep_going=False, params={})
        if summary.failed:  # as exec: the summary line when a command failed
            obj.renderer.note(summary.line())
        return int(summary.exit_code)
    if not sys.stdout.isatty():
        obj.renderer.error(
            "the shell needs a terminal for its output; to run commands with output to a file or pipe, "
            'pipe them in (printf "data list\\n" | trader-cli) or use: trader-cli exec "data list"'
        )
        return 2
    from trader_cli.shell.repl import run_repl

    return run_repl(obj)


def _finish(obj: AppContext, code: int) -> int:
    """The run's exit code once what Python still holds for stdout and stderr is written: a
    closed pipe is quiet (BrokenPipeError goes on to ``main``), any other refusal of stdout one
    line (unless a command already said it) and exit 1 — never a traceback at exit."""
    from trader_cli.commands.record import save_on_leaving
    from trader_cli.core.atomic import os_error_text

    code = save_on_leaving(obj) or code  # the end of stdin, or of any run: a recording is never left unsaved
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        raise
    except OSError as err:
        if not obj.renderer.out_failed:
            obj.renderer.error(f"cannot write the output to stdout: {os_error_text(err)}")
        _quiet_stream(sys.stdout)
        code = code or 1
    try:
        sys.stderr.flush()
    except OSError:  # stderr full or gone: nowhere to say so; the exit code tells
        _quiet_stream(sys.stderr)
    return code


def _quiet_stream(stream: TextIO) -> None:
    """Point a standard stream's descriptor at /dev/null, so what Python still holds for it is
    dropped at exit instead of failing again there."""
    import os

    try:
        fd = stream.fileno()
    except (OSError, ValueError):  # not a real file (a test's capture): nothing to hold back
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, fd)
    os.close(devnull)
