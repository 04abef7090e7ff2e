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
cancel the same orders); a line that failed in part is kept as what it did (dispatch's
``recorded_as``: ``add symbol AMD ZZZZ`` → ``add symbol AMD``), and a step Ctrl-C stopped as
``time until`` where it got to. Plugin files are made absolute (``plugin_line``), as the start's
config is. Lines holding a secret environment value are never written (core/secrets.py).

Nothing recorded is lost. ``record start`` checks the place first (a folder, a missing folder, a
place it cannot write: one line, nothing started; an existing file is replaced at the end, as
every export replaces its file, and the start says so). From then on the script grows on disk a
line at a time in ``FILE.partial`` beside FILE (a journal, flushed per line: a kill -9 leaves
it whole up to the last command, and ``run`` replays it); ``record stop``, and leaving the shell
or the end of a script run, write FILE atomically and remove the journal. A journal whose
trader-cli is gone is an unfinished recording: ``record start`` to the same file refuses to go
over it and the shell names it when it opens (a marker in the state dir says where it is).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from trader_cli.core.secrets import contains_secret, redact

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


def plugin_line(line: str) -> str:
    """``strategy|scanner load FILE[:CLASS] …`` with FILE made absolute (a recording replays from
    any folder, as its start names the config absolute); any other line as it is."""
    try:
        words = shlex.split(line)
    except ValueError:
        return line
    loads = (["strategy", "load"], ["scanner", "load"])
    at = next((i for i in range(len(words) - 1) if words[i : i + 2] in loads), None)
    if at is None:
        return line
    i = at + 2
    while i < len(words) and words[i].startswith("-"):  # options before FILE (--as NAME, --every 15m, …)
        i += 1 if "=" in words[i] or words[i] == "--pre-session" else 2
    if i >= len(words):
        return line
    spec = words[i]
    path, sep, cls = spec.rpartition(":")
    file, tail = (path, sep + cls) if sep and path and cls.isidentifier() else (spec, "")
    where = Path(file).expanduser()
    if where.is_absolute() or not where.is_file():
        return line
    words[i] = str(where.absolute()) + tail  # not resolved: a symlink keeps its name (the plugin's, by default)
    return shlex.join(words)


def until_line(ns: int) -> str:
    """``time until`` the minute ``ns`` (how the replay's clock is brought to where a line ran, and
    how a step Ctrl-C stopped is kept: where it got to)."""
    from trader_cli.core.calendar import to_ny  # lazy: numpy stays out of the app's import

    return f"time until {to_ny(ns):%Y-%m-%dT%H:%M}"


class ScriptWriter:
    """Logged lines to script lines one at a time (see the module doc): the journal is written as
    the lines come, and ``script_lines`` runs the same writer over a whole list."""

    def __init__(self) -> None:
        self.clock: int | None = None  # where the replay's clock is after the lines so far
        self.written = 0

    def feed(self, entry: LoggedLine) -> list[str]:
        """The script lines for one logged line (none for a secret or a clock-only command)."""
        if contains_secret(entry.text):
            return []
        words = words_of(entry.text)
        if tuple(words[:2]) in CLOCK_ONLY:
            return []
        out: list[str] = []
        if self.clock is not None and entry.at_ns is not None and entry.at_ns > self.clock:
            out.append(until_line(entry.at_ns))
        out.append(entry.text)
        # time advance/until move the clock themselves; anything else leaves it where the
        # command took effect (a running clock went on, but the replay is paused).
        moved = entry.after_ns if words[:1] == ["time"] else entry.at_ns
        self.clock = moved if moved is not None else self.clock
        self.written += len(out)
        return out

    def tail(self, end_ns: int | None, finished: bool) -> list[str]:
        """The closing lines: run to the end of a finished backtest (unless a step went there
        already), else to the clock's end."""
        at_end = self.clock is not None and end_ns is not None and self.clock >= end_ns
        if finished and self.written and not at_end:
            return ["system resume", "system wait"]
        if self.clock is not None and end_ns is not None and end_ns > self.clock:
            return [until_line(end_ns)]
        return []


def script_lines(lines: list[LoggedLine], end_ns: int | None, finished: bool) -> list[str]:
    """The recording as script lines (see the module doc)."""
    writer = ScriptWriter()
    out = [line for entry in lines for line in writer.feed(entry)]
    return out + writer.tail(end_ns, finished)


JOURNAL_SUFFIX = ".partial"
_OWNER = re.compile(r"^# trader-cli is recording \(pid (\d+)\)")


def journal_of(target: Path) -> Path:
    """Where a recording to ``target`` keeps its lines as they come: ``target.partial`` beside it."""
    return target.with_name(target.name + JOURNAL_SUFFIX)


def target_of(journal: Path) -> Path:
    """The file a journal's recording was going to."""
    return journal.with_name(journal.name.removesuffix(JOURNAL_SUFFIX))


def owner_pid(journal: Path) -> int | None:
    """The process that writes a journal, from its first line (None when it names none)."""
    try:
        with open(journal, encoding="utf-8", errors="replace") as fh:
            first = fh.readline(200)
    except OSError:
        return None
    m = _OWNER.match(first)
    return int(m.group(1)) if m else None


def keep_hint(journal: Path) -> str:
    """What a trader does with an unfinished recording."""
    return f"keep it with: mv {journal} {target_of(journal)} (or delete it)"


class Journal:
    """A recording on disk as it goes: a script that ``run`` replays up to the last command
    recorded, written and flushed a line at a time (so a kill -9 leaves it whole)."""

    def __init__(self, target: Path, warn: Callable[[str], None]) -> None:
        """Create ``target.partial`` (DataError, and nothing created, when it cannot be)."""
        self.path = journal_of(target)
        self.target = target
        self.writer = ScriptWriter()
        self._warn = warn
        self._fh: TextIO | None = _create(self.path, target)

    @property
    def intact(self) -> bool:
        """True while every line recorded is on disk."""
        return self._fh is not None

    def add(self, entry: LoggedLine) -> None:
        """Put one logged line's script lines on disk."""
        self._write(self.writer.feed(entry))

    def _write(self, lines: list[str]) -> None:
        if self._fh is None or not lines:
            return
        try:
            self._fh.write(redact("".join(line + "\n" for line in lines)))
            self._fh.flush()  # in the OS's hands: a kill -9 of this process loses nothing
        except (OSError, ValueError) as err:  # ValueError: the file closed under us
            from trader_cli.core.atomic import os_error_text

            self.close()
            reason = os_error_text(err) if isinstance(err, OSError) else str(err)
            self._warn(
                f"warning: the recording can no longer be kept in {self.path} ({reason}); "
                f"it goes on in memory and 'record stop' writes {self.target}"
            )

    def close(self) -> None:
        """Close the file (it stays on disk)."""
        fh, self._fh = self._fh, None
        if fh is not None:
            try:
                fh.close()
            except OSError:
                return  # a failed last flush: what the journal holds is all it can hold

    def remove(self) -> None:
        """Close and delete the journal, and drop its marker (the recording was written)."""
        self.close()
        try:
            self.path.unlink(missing_ok=True)
        except OSError as err:
            from trader_cli.core.atomic import os_error_text

            self._warn(f"warning: could not remove {self.path} ({os_error_text(err)}); delete it")
        _unmark(self.path)


def _create(journal: Path, target: Path) -> TextIO:
    """Open a new journal for writing; DataError when the place is wrong or one is in the way."""
    from trader_cli.core.atomic import os_error_text, pid_alive
    from trader_cli.core.errors import DataError

    if not target.parent.is_dir():
        raise DataError(f"{target.parent} is a file, not a folder (give a path inside a folder)")
    if journal.exists() or journal.is_symlink():
        pid = owner_pid(journal)
        if pid is not None and pid_alive(pid):
            raise DataError(f"{target} is being recorded by another trader-cli (pid {pid}); record to another file")
        raise DataError(
            f"an unfinished recording to {target} is in {journal} (trader-cli ended before 'record stop'); "
            f"{keep_hint(journal)}, then record start again"
        )
    header = (
        f"# trader-cli is recording (pid {os.getpid()}) to {target}; 'record stop' writes it\n"
        f"# what was recorded so far; replay it with: trader-cli run {journal}\n"
    )
    try:
        # Open for the whole recording (closed by Journal.close); bytes as typed.
        fh = open(journal, "x", encoding="utf-8", errors="surrogateescape")  # noqa: SIM115
    except OSError as err:
        raise DataError(f"cannot record to {target}: {os_error_text(err)}") from err
    try:
        fh.write(redact(header))
        fh.flush()
    except OSError as err:  # a full disk: refused now, not at the first command
        with contextlib.suppress(OSError):  # closing flushes again: the same refusal
            fh.close()
        journal.unlink(missing_ok=True)
        raise DataError(f"cannot record to {target}: {os_error_text(err)}") from err
    return fh


@dataclass
class Recording:
    """An active ``record start FILE``: the path as typed, the file it writes, the lines so far."""

    path: str
    target: Path
    journal: Journal  # its ``.partial`` file: each line is there as soon as it is recorded
    lines: list[LoggedLine] = field(default_factory=list)
    left_out_live: bool = False  # a live session's lines were left out (said once)

    def add(self, entry: LoggedLine) -> None:
        """Keep a line, in memory and on disk."""
        self.lines.append(entry)
        self.journal.add(entry)

    @classmethod
    def begin(cls, path: str, held: list[LoggedLine], warn: Callable[[str], None]) -> Recording:
        """Check the place and start (DataError, and nothing started, when it cannot be written);
        ``held``: the lines that built the session so far."""
        from trader_cli.core.atomic import check_target

        target = check_target(Path(path))  # a folder, a device, a missing folder
        rec = cls(path, target, Journal(target, warn))
        for entry in held:
            rec.add(entry)
        _mark(rec.journal.path)
        return rec


# -- unfinished recordings: a marker per journal in the state dir, so the shell can name them ---


def _marker(journal: Path) -> Path:
    from trader_cli.core.logs import state_dir

    name = hashlib.sha256(str(journal).encode("utf-8", "surrogateescape")).hexdigest()[:20]
    return state_dir() / "recordings" / name


def _mark(journal: Path) -> None:
    """Note where a journal is (best effort: the journal is beside its file whatever happens)."""
    from trader_cli.core.atomic import write_atomic
    from trader_cli.core.errors import DataError

    marker = _marker(journal)
    try:
        marker.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(marker, (str(journal) + "\n").encode("utf-8", "surrogateescape"))
    except (OSError, DataError):
        return  # no state dir: 'record start' to the same file still finds the journal


def _unmark(journal: Path) -> None:
    try:
        _marker(journal).unlink(missing_ok=True)
    except OSError:
        return  # a marker whose journal is gone is dropped by the next unfinished_recordings()


def unfinished_recordings() -> list[Path]:
    """The journals of recordings whose trader-cli ended before writing them (markers of
    journals that are gone are dropped)."""
    from trader_cli.core.atomic import pid_alive
    from trader_cli.core.logs import state_dir

    found: list[Path] = []
    try:
        markers = sorted((state_dir() / "recordings").iterdir())
    except OSError:
        return found
    for marker in markers:
        try:
            journal = Path(marker.read_bytes().decode("utf-8", "surrogateescape").strip())
            if not journal.exists():
                marker.unlink()
                continue
        except OSError:
            continue  # unreadable, or already dropped by another shell
        pid = owner_pid(journal)
        if pid is None or not pid_alive(pid):
            found.append(journal)
    return found
