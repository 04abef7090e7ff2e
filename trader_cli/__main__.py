"""Entry point: ``trader-cli`` and ``python -m trader_cli``."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    """Run the command line (no arguments opens the shell) and return the exit code."""
    from trader_cli.app import main as app_main

    return app_main(sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    sys.exit(main())
