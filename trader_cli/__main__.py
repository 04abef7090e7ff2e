"""Entry point: ``trader-cli`` and ``python -m trader_cli``."""

from __future__ import annotations

import io
import os
import sys
from typing import TextIO


def main(argv: list[str] | None = None) -> int:
    """Run the command line (no arguments opens the shell) and return the exit code."""
    args = sys.argv[1:] if argv is None else argv
    problem = _launch_problem()
    if problem is not None:
        from trader_cli.render import Renderer

        Renderer().error(problem)  # stderr closed too: nothing is shown, the exit code tells
        return 2
    if not args and sys.stdin.isatty() and sys.stdout.isatty():
        # Straight to the prompt: the command tree is built in the background meanwhile.
        from trader_cli.shell.repl import open_shell

        return open_shell(_command_tree)
    from trader_cli.app import main as app_main

    return app_main(args)


def _launch_problem() -> str | None:
    """Why the run cannot start (stdout closed, a bad TRADER_CLI_OUTPUT), else None. A closed
    stdin or stderr is /dev/null from here on: an empty script, diagnostics dropped, and no file
    the session opens later takes their descriptor."""
    from trader_cli.render import env_output_problem

    if sys.stdout is None:
        return (
            "stdout is closed, so results have nowhere to go "
            "(redirect it instead, e.g. trader-cli … >/dev/null, or >out.txt to keep them)"
        )
    if sys.stdin is None:
        sys.stdin = _devnull(0, "r")
    if sys.stderr is None:
        sys.stderr = _devnull(2, "w")
    return env_output_problem()


def _devnull(fd: int, mode: str) -> TextIO:
    """/dev/null opened on descriptor ``fd`` (closed at launch), as a text stream."""
    opened = os.open(os.devnull, os.O_RDWR)
    if opened != fd:
        os.dup2(opened, fd)
        os.close(opened)
    return io.TextIOWrapper(io.FileIO(fd, mode, closefd=False), encoding="utf-8")  # open as long as the process


def _command_tree() -> object:
    """The app's command tree, imported on first use (the shell opens before it is built)."""
    from trader_cli.app import command_tree

    return command_tree()


if __name__ == "__main__":
    sys.exit(main())
