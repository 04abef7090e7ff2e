"""Entry point: ``trader-cli`` and ``python -m trader_cli``."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    """Run the command line (no arguments opens the shell) and return the exit code."""
    args = sys.argv[1:] if argv is None else argv
    if not args and sys.stdin.isatty() and sys.stdout.isatty():
        # Straight to the prompt: the command tree is built in the background meanwhile.
        from trader_cli.shell.repl import open_shell

        return open_shell(_command_tree)
    from trader_cli.app import main as app_main

    return app_main(args)


def _command_tree() -> object:
    """The app's command tree, imported on first use (the shell opens before it is built)."""
    from trader_cli.app import command_tree

    return command_tree()


if __name__ == "__main__":
    sys.exit(main())
