"""Log files under the state dir (``$XDG_STATE_HOME/trader-cli``, else ``~/.local/state/trader-cli``):
the crash log of unexpected errors and the plugins' tracebacks. Secrets never reach a log
(core/secrets.py); a log that cannot be written is not an error of the command that wrote it."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

from trader_cli.core.secrets import redact


def state_dir() -> Path:
    """The folder of the product's logs and state."""
    return Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state") / "trader-cli"


def append_log(name: str, text: str) -> Path:
    """Append a timestamped entry to ``state_dir()/name``; the file's path (or a note saying it
    could not be written)."""
    try:
        base = state_dir()
        base.mkdir(parents=True, exist_ok=True)
        path = base / name
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(redact(f"--- {dt.datetime.now().isoformat()}\n{text.rstrip()}\n"))
        return path
    except OSError:
        return Path("(unwritable log)")
