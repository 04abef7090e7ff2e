"""Shell-level commands: help, exit, run (scripts), exec."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Annotated, Any

import typer
from typer import _click as click  # typer 0.29 vendors click (pinned ~=0.29.2)
from typer.core import TyperCommand, TyperGroup

from trader_cli.commands.common import OutputOpt, app_ctx, output_as_default
from trader_cli.dispatch import ShellExit, run_script
from trader_cli.render import OutputMode

YesOpt = Annotated[
    bool, typer.Option("--yes", "-y", help="Leave without asking (a session active, a backtest not exported).")
]


class ExecCommand(TyperCommand):
    """``exec "-o json report"``: an argument holding a space is a command line, even when it
    starts with a dash (click would read it as exec's own ``-o`` with the value ' json report')."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        """A dash-led word with a space in it gets a leading space: a command, not an option
        (a command line's leading space is nothing)."""
        return super().parse_args(ctx, [" " + a if a[:1] == "-" and any(c.isspace() for c in a) else a for a in args])


def register(app: typer.Typer) -> None:
    """Add the shell-level commands to the root app."""

    @app.command("help")
    def help_(
        ctx: typer.Context,
        command: Annotated[list[str] | None, typer.Argument(help="A command, e.g. data import.")] = None,
        output: OutputOpt = None,
    ) -> object:
        """List the commands, or show one command's help (as rows with -o json|csv).
        Example: help data import"""
        obj = app_ctx(ctx)
        root = obj.command_tree()
        cmd: click.core.Command = root
        path: list[str] = []
        for word in command or []:
            if not isinstance(cmd, TyperGroup) or cmd.get_command(ctx, word) is None:
                from trader_cli.core.errors import UsageError

                hint = suggest(word, list(cmd.commands) if isinstance(cmd, TyperGroup) else [])
                raise UsageError(f"no command '{' '.join([*path, word])}'{hint} (see: help)")
            cmd = cmd.get_command(ctx, word)  # type: ignore[assignment]
            path.append(word)
        if not path or (obj.output_request or obj.output) is not OutputMode.table:
            return commands_table(cmd, " ".join(path))
        with click.core.Context(
            cmd, info_name=" ".join(path), parent=None, help_option_names=["--help", "-h"], max_content_width=240
        ) as sub:
            obj.renderer.text(cmd.get_help(sub))
        return None

    @app.command("exit")
    def exit_(ctx: typer.Context, yes: YesOpt = False) -> None:
        """Leave the shell, stopping the session and saving a recording (same as quit).
        Example: exit --yes"""
        leave(app_ctx(ctx), yes)

    @app.command("quit")
    def quit_(ctx: typer.Context, yes: YesOpt = False) -> None:
        """Leave the shell, stopping the session and saving a recording (same as exit).
        Example: quit"""
        leave(app_ctx(ctx), yes)

    @app.command("run")
    def run(
        ctx: typer.Context,
        path: Annotated[str, typer.Argument(help="A script of commands ('-' for stdin).")],
        args: Annotated[
            list[str] | None, typer.Argument(help="Parameters: $1..$N, NAME=VALUE for ${NAME}; each one word.")
        ] = None,
        keep_going: Annotated[bool, typer.Option("--keep-going", "-k", help="Go on after a failing line.")] = False,
        output: OutputOpt = None,
    ) -> object:
        """Run a script of commands (# comments, blank lines, $1/${NAME} parameters).
        Example: run examples/scenarios.trader examples/scenarios.json out/session.json"""
        import sys

        from trader_cli.core.errors import DataError

        is_named = re.compile(r"^[A-Za-z_]\w*=").match
        positional = [a for a in args or [] if not is_named(a)]
        named = dict(a.split("=", 1) for a in args or [] if is_named(a))
        params = {"positional": positional, "named": named}
        obj = app_ctx(ctx)
        if path == "-":
            if obj.interactive:  # the shell's stdin is the terminal: the prompt's own replies would be read
                from trader_cli.core.errors import UsageError

                raise UsageError("run - reads a script from stdin: pipe it, e.g. trader-cli run - < file")
            lines: Iterable[str] = sys.stdin
            name = "<stdin>"
        else:
            p = Path(path)
            try:
                lines = p.read_text(encoding="utf-8").splitlines()
            except (FileNotFoundError, IsADirectoryError) as err:
                raise DataError(f"no script at {path!r} (give the path of a file of commands)") from err
            except (OSError, UnicodeDecodeError, ValueError) as err:
                raise DataError(f"cannot read script {path!r}: {err}") from err
            name = path  # as given: two scripts of one name in two folders are told apart
        with output_as_default(obj):
            return run_to_end(obj, lambda: run_script(obj, lines, name, keep_going, params))

    @app.command("exec", cls=ExecCommand)
    def exec_(
        ctx: typer.Context,
        commands: Annotated[list[str], typer.Argument(help="Commands, one per argument.")],
        keep_going: Annotated[bool, typer.Option("--keep-going", "-k", help="Go on after a failing command.")] = False,
        output: OutputOpt = None,
    ) -> object:
        """Run commands given as arguments. Example: exec "data list" "config check configs/default.json" """
        obj = app_ctx(ctx)
        with output_as_default(obj):
            return run_to_end(obj, lambda: run_script(obj, commands, "exec", keep_going, {}))


def leave(obj: Any, confirmed: bool) -> None:
    """``exit``: the shell asks first (shell/repl.py) and saves a recording as it goes; a script
    saves it here, and a recording that cannot be saved fails the line."""
    if not obj.interactive:
        from trader_cli.commands.record import save_on_leaving

        code = save_on_leaving(obj)
        if code:
            raise typer.Exit(code)
    raise ShellExit(confirmed=confirmed)


def run_to_end(obj: Any, run: Callable[[], Any]) -> Any:
    """Run a script; one that is the whole run (``trader-cli run F``, ``trader-cli exec …``)
    saves the recording it left running when it ends, however it ends."""
    if obj.script_depth or obj.interactive:
        return run()
    from trader_cli.commands.record import save_on_leaving

    try:
        summary = run()
    finally:
        saved = save_on_leaving(obj)
    if saved and not summary.exit_code:
        summary = summary.model_copy(update={"exit_code": saved})
    return summary


def suggest(word: str, choices: list[str]) -> str:
    """' (did you mean X?)' for a near miss, else ''."""
    import difflib

    close = difflib.get_close_matches(word, choices, n=2, cutoff=0.5)
    return f" (did you mean {' or '.join(close)}?)" if close else ""


def commands_table(top: click.core.Command, path: str = "") -> Any:
    """Every command under ``top`` (the root, a group, or one command at ``path``) with its
    one-line help."""
    from trader_cli.core.results import Tabular

    rows: list[list[Any]] = []

    def walk(cmd: click.core.Command, full: str) -> None:
        if not isinstance(cmd, TyperGroup):
            rows.append([full, cmd.get_short_help_str(limit=80)])
            return
        for name in sorted(cmd.commands):
            sub = cmd.commands[name]
            if not sub.hidden:
                walk(sub, f"{full} {name}".strip())

    walk(top, path)
    return Tabular(
        title=f"commands: {path}" if path else "commands",
        columns=["command", "what_it_does"],
        rows=rows,
        caption="help COMMAND for details and an example",
    )
