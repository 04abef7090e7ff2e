"""The shell's history (shell/history.py): a failing disk, secrets, failed lines kept out of the
suggestions and the exit question's answer kept out of the file — unit tests of the module and
the real ``trader-cli`` in a pty."""

from __future__ import annotations

import errno
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from prompt_toolkit.buffer import Buffer
from prompt_toolkit.document import Document

from trader_cli.shell.history import ShellHistory, SuggestFromSucceeded, parse_history

from .conftest import DEFAULT_CONFIG, Repl, leave, run

SECRET = "PKx7QeTestSecretValue0042"


def history_file(tmp_path: Path) -> Path:
    """Where a spawned shell keeps its history (XDG_DATA_HOME under the test's HOME)."""
    return tmp_path / "home" / ".local" / "share" / "trader-cli" / "history"


def entries(path: Path) -> list[str]:
    """The lines a history file holds, oldest first."""
    return parse_history(path.read_text(encoding="utf-8"))[0]


@pytest.fixture
def full_disk(tmp_path: Path) -> Iterator[Path]:
    """A 2 MB tmpfs filled to the last byte (skipped where mounting is not permitted)."""
    mnt = tmp_path / "full"
    mnt.mkdir()
    try:
        res = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mnt)], capture_output=True, text=True, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired) as err:
        pytest.skip(f"cannot mount a tmpfs here: {err}")
    if res.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {res.stderr.strip()}")
    try:
        fd = os.open(mnt / "filler", os.O_WRONLY | os.O_CREAT)
        try:
            for chunk in (b"\0" * 65536, b"\0"):
                try:
                    while os.write(fd, chunk):
                        pass
                except OSError as err:
                    assert err.errno == errno.ENOSPC, err
        finally:
            os.close(fd)
        yield mnt
    finally:
        if subprocess.run(["umount", str(mnt)], capture_output=True, timeout=30).returncode != 0:
            subprocess.run(["umount", "-l", str(mnt)], capture_output=True, timeout=30)


# -- the module ----------------------------------------------------------------------------------------
def test_parse_history_reads_entries_and_failed_marks() -> None:
    text = (
        '\n# 2024-12-02\n+data list\n\n# 2024-12-02\n+add symbol NOPE\n# failed: "add symbol NOPE"\n'
        '\n# 2024-12-02\n+time now\n# failed: "time now"\n# succeeded: "time now"\n# failed: "cut sho\n'
        "\n# 2024-12-02\n+two\n+lines"
    )
    lines, failed = parse_history(text)
    assert lines == ["data list", "add symbol NOPE", "time now", "two\nlines"]
    assert failed == {"add symbol NOPE"}


def test_a_failed_write_warns_once_and_keeps_the_lines_in_memory(tmp_path: Path) -> None:
    warnings: list[str] = []
    history = ShellHistory(tmp_path / "a-dir", warn=warnings.append)
    (tmp_path / "a-dir").mkdir()  # opening a directory to append fails (IsADirectoryError)
    for line in ("time now", "data list", "system status"):
        history.append_string(line)
        history.note_outcome(line, failed=True)
    assert len(warnings) == 1 and "history is off" in warnings[0], warnings
    assert history.get_strings() == ["time now", "data list", "system status"]
    assert not history.saving


def test_suggestions_skip_failed_lines(tmp_path: Path) -> None:
    history = ShellHistory(tmp_path / "history", warn=pytest.fail)
    suggest = SuggestFromSucceeded(history)
    buffer = Buffer(history=history)
    history.append_string("config check configs/default.json")
    history.append_string("config check missing.json")
    history.note_outcome("config check missing.json", failed=True)
    found = suggest.get_suggestion(buffer, Document("config c"))
    assert found is not None and found.text == "heck configs/default.json"
    history.note_outcome("config check missing.json", failed=False)  # it ran fine once since
    found = suggest.get_suggestion(buffer, Document("config c"))
    assert found is not None and found.text == "heck missing.json"
    assert suggest.get_suggestion(buffer, Document("  ")) is None


# -- the shell -------------------------------------------------------------------------------------------
def test_a_full_disk_warns_once_and_every_line_still_runs(full_disk: Path, spawn: Callable[..., Repl]) -> None:
    repl = spawn(TRADER_CLI_HISTORY=str(full_disk / "history"))
    out = run(repl, "time now", r"start one with")
    out += run(repl, f"config check {DEFAULT_CONFIG}", r"valid")
    if "history is off" not in out:  # the failed write is said when it happens, maybe after a line's output
        out += repl.expect(r"history is off")
    assert out.count("history is off") == 1, out
    assert "Unhandled exception" not in out and "Press ENTER" not in out, out
    repl.child.send("\x1b[A")  # Up: the lines typed are still recalled, from memory
    assert "valid" in run(repl, "", r"valid")
    repl.child.sendline("exit")
    code, text = leave(repl)
    assert code == 0 and "history is off" not in text


def test_a_line_holding_a_secret_never_reaches_the_history_file(spawn: Callable[..., Repl], tmp_path: Path) -> None:
    repl = spawn(APCA_API_SECRET_KEY=SECRET)
    run(repl, f"config check {SECRET}.json", r"no config file")  # fails: would be marked as well
    run(repl, f"record start {SECRET}.trader", r"recording to")  # succeeds: still not written
    run(repl, "record stop", r"wrote \d+ command")
    run(repl, "time now", r"start one with")
    repl.child.sendline("exit")
    assert leave(repl)[0] == 0
    text = history_file(tmp_path).read_text(encoding="utf-8")
    assert SECRET not in text, text
    assert entries(history_file(tmp_path)) == ["record stop", "time now", "exit"]


def test_a_failed_line_is_never_suggested(spawn: Callable[..., Repl], tmp_path: Path) -> None:
    good = f"config check {DEFAULT_CONFIG}"
    first = spawn()
    run(first, good, r"valid")
    run(first, "config check missing.json", r"no config file")
    for shell in (first, spawn()):  # this session, and the next one reading the file
        shell.child.send("config c")
        seen = shell.expect(r"heck (?:missing\.json|\S*default\.json)")
        assert seen.rstrip().endswith("default.json"), seen
        shell.child.send("\x1b[C")  # Right: take the suggestion
        assert "valid" in run(shell, "", r"valid")
        shell.child.sendline("exit")
        assert leave(shell)[0] == 0
    assert "config check missing.json" in entries(history_file(tmp_path))  # still recalled with Up


def test_the_exit_answer_is_not_kept_in_history(spawn: Callable[..., Repl], tmp_path: Path) -> None:
    repl = spawn()
    run(repl, "system start --paused", r"started in")
    repl.child.sendline("exit")
    repl.expect(r"\[y/N\]")
    run(repl, "n", r"\n")  # stay
    repl.child.sendline("exit")
    repl.expect(r"\[y/N\]")
    repl.child.sendline("yes")
    assert leave(repl)[0] == 0
    assert entries(history_file(tmp_path)) == ["system start --paused", "exit"]
