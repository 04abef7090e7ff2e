"""One exception tree for the whole product; every error carries a message a user can act on.

    TraderCliError                  exit code 1 unless stated
    ├── UsageError                  a command line that does not parse (exit 2)
    ├── ConfigError                 a session config that is malformed or invalid
    ├── IntervalError               an unknown or unsupported bar interval
    ├── IndicatorError              an unknown indicator or bad parameters
    ├── DataError                   the bar store or an input file
    │   ├── StoreError              a missing, corrupt or mismatched Parquet file
    │   └── ImportRejected          a CSV with bad rows (lists them, with line numbers)
    ├── SessionStateError           an illegal lifecycle transition or a command needing a session
    ├── ValidationFailed            a symbol that cannot be provisioned (no data, …)
    ├── ProvisioningError           a provisioning step failed (the session is left as it was)
    ├── PluginError                 a strategy or scanner that cannot be loaded
    └── Interrupted                 Ctrl-C stopped a command before it changed anything (exit 130)

Exit codes are mapped in one place: ``exit_code_for``.
"""

from __future__ import annotations

from collections.abc import Iterable

MAX_LISTED = 5  # an error names at most this many items, then a count


class TraderCliError(Exception):
    """Base of every error the product raises on purpose; ``str(err)`` is the user-facing line."""

    exit_code = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class UsageError(TraderCliError):
    """A command line that does not parse: unknown command, bad option, missing argument."""

    exit_code = 2


class ConfigError(TraderCliError):
    """A session config that cannot be read or does not validate."""


class IntervalError(TraderCliError):
    """An interval name that is not one we support."""


class IndicatorError(TraderCliError):
    """An unknown indicator name or invalid indicator parameters."""


class DataError(TraderCliError):
    """A problem with stored bars or an input data file."""


class StoreError(DataError):
    """A Parquet file in the store is missing, unreadable or has the wrong schema."""


class ImportRejected(DataError):
    """A CSV import rejected as a whole; ``problems`` lists (line number, reason)."""

    def __init__(self, message: str, problems: list[tuple[int, str]] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or []


class SessionStateError(TraderCliError):
    """A command that the session's current lifecycle state does not allow."""


class ValidationFailed(TraderCliError):
    """A symbol (or bar, or indicator) whose data cannot be had."""


class ProvisioningError(TraderCliError):
    """A provisioning step that failed; the session was rolled back."""


class PluginError(TraderCliError):
    """A strategy or scanner file that cannot be loaded, or parameters it does not accept."""


class Interrupted(TraderCliError):
    """Ctrl-C while a command ran code that cannot be stopped half-way cleanly (a plugin's import,
    constructor or ``needs()``): the command was abandoned with nothing changed."""

    exit_code = 130


def exit_code_for(err: BaseException) -> int:
    """The process exit code for an error: 2 for usage errors, 130 for Ctrl-C, 1 for every other
    failure."""
    if isinstance(err, TraderCliError):
        return err.exit_code
    return 1


def clip(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, ending in … when it was longer."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def few(items: Iterable[str], limit: int = MAX_LISTED, sep: str = ", ") -> str:
    """At most ``limit`` items, then how many more: 'A, B, C, D, E and 12 more' ('none' if empty)."""
    shown = list(items)
    if not shown:
        return "none"
    head = sep.join(shown[:limit])
    return head if len(shown) <= limit else f"{head} and {len(shown) - limit} more"
