"""Recordings that replay to the same session.

Every command line that changes the session (not the read-only ones, not help, record, watch,
run or exec themselves) is kept in a ``SessionLog`` from the last ``system start`` on, with the
simulated time before and after it ran. ``record start`` begins from that log, so a recording
started mid-session holds what built the session; ``record stop`` writes a script that:

- starts the same config and data dir, paused (``system start --config ABS --paused``);
- brings the clock to the simulated time each command ran at (``time until …``) before it, so
  additions happen at the same minute whatever the wall-clock timing was;
- drops the commands that only steered the live clock (pause, resume, wait, speed), which the
  positioning replaces; ends at the clock's position when recording stopped.

Failed lines are not kept (a refused order included: rejected orders number apart, r000001…, so
the accepted orders keep their ids, o000001…, in the replay and its ``order cancel`` lines
cancel the same orders). Lines holding a secret environment value are never written
(core/secrets.py).
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from pathlib import Path

from trader_cli.core.secrets import contains_secret

READ_ONLY = {
    ("data", "list"),
    ("data", "session"),
    ("data", "symbol"),
    ("data", "bars"),
    ("data", "quality"),
    ("data", "chart"),
    ("data", "indicator"),
    ("system", "status"),
    ("time", "now"),
    ("config", "check"),
    ("config", "schema"),
    ("session", "schema"),
    ("plan", "add"),
    ("strategy", "status"),
    ("scanner", "status"),
}
NOT_LOGGED = {"record", "help", "exit", "quit", "watch", "run", "exec", "orders", "positions", "account", "report"}
READ_ONLY_WORDS = {"orders", "positions", "account", "report"}  # one-word commands that only read
CLOCK_ONLY = {("system", "pause"), ("system", "resume"), ("system", "wait"), ("system", "speed")}


@dataclass(frozen=True)
class LoggedLine:
    """One command that changed the session: its text, the simulated time it took effect at
    and the simulated time after it."""

    text: str
    at_ns: int | None
    after_ns: int | None


@dataclass
class Recording:
    """An active ``record start FILE``: where it goes and the lines so far."""

    path: str
    lines: list[LoggedLine] = field(default_factory=list)


def words_of(line: str) -> list[str]:
    """The line's words (global options before the command are skipped)."""
    try:
        words = shlex.split(line)
    except ValueError:
        return []
    while words and words[0].startswith("-"):
        words = words[2:] if words[0] in ("--config", "-c", "--data-dir", "--output", "-o") else words[1:]
    return words


def changes_session(line: str) -> bool:
    """True for a command line worth keeping: it may change the session or its files."""
    words = words_of(line)
    if not words or words[0] in NOT_LOGGED:
        return False
    return tuple(words[:2]) not in READ_ONLY and not (len(words) > 1 and words[1] in ("--help", "-h"))


def read_only(words: list[str]) -> bool:
    """True for a command (its words) that only reads: what ``watch`` may re-run."""
    return bool(words) and (words[0] in READ_ONLY_WORDS or tuple(words[:2]) in READ_ONLY)


def is_start(line: str) -> bool:
    """True for ``system start …``."""
    return words_of(line)[:2] == ["system", "start"]


def start_line(line: str, config_path: str | None, data_dir: str | None) -> str:
    """``system start`` made explicit: the config and data dir in use, absolute, and paused."""
    words = words_of(line)[2:]
    kept: list[str] = []
    skip = False
    for w in words:
        if skip:
            skip = False
            continue
        if w in ("--config", "-c"):
            skip = True
            continue
        if w.startswith("--config=") or w == "--paused":
            continue
        kept.append(w)
    parts = ["system", "start"]
    if config_path:
        parts += ["--config", str(Path(config_path).resolve())]
    if data_dir:
        parts = ["--data-dir", str(Path(data_dir).resolve()), *parts]
    return shlex.join([*parts, "--paused", *kept])


def _at(ns: int) -> str:
    from trader_cli.core.calendar import to_ny  # lazy: numpy stays out of the app's import

    return f"time until {to_ny(ns):%Y-%m-%dT%H:%M}"


def script_lines(lines: list[LoggedLine], end_ns: int | None, finished: bool) -> list[str]:
    """The recording as script lines (see the module doc)."""
    out: list[str] = []
    clock: int | None = None
    for entry in lines:
        if contains_secret(entry.text):
            continue
        words = words_of(entry.text)
        if tuple(words[:2]) in CLOCK_ONLY:
            continue
        if clock is not None and entry.at_ns is not None and entry.at_ns > clock:
            out.append(_at(entry.at_ns))
        out.append(entry.text)
        # time advance/until move the clock themselves; anything else leaves it where the
        # command took effect (a running clock went on, but the replay is paused).
        moved = entry.after_ns if words[:1] == ["time"] else entry.at_ns
        clock = moved if moved is not None else clock
    if finished and out:
        out += ["system resume", "system wait"]
    elif clock is not None and end_ns is not None and end_ns > clock:
        out.append(_at(end_ns))
    return out
