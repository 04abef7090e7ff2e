"""The machine's limits are user-facing conditions, never "internal error … please report it":
out of memory, too many open files, a full disk — one line, the session unchanged."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from tests.test_app import Shell


@pytest.mark.parametrize(
    ("fault", "words"),
    [
        (MemoryError(), "out of memory"),
        (OSError(errno.EMFILE, "Too many open files"), "too many open files"),
        (OSError(errno.ENOSPC, "No space left on device", "/x/y"), "no space left"),
        (RecursionError("maximum recursion depth exceeded"), "nests too deeply"),
    ],
)
def test_machine_limits_are_one_clear_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fault: BaseException, words: str
) -> None:
    sh = Shell(tmp_path / "store")

    def failing(*args: object, **kwargs: object) -> object:
        raise fault

    monkeypatch.setattr(type(sh.obj), "store", failing)  # the fault arrives inside a command
    res = sh("data list")
    assert res.code == 1
    assert len(res.err_lines) == 1 and words in res.err
    assert "internal error" not in res.err and "report" not in res.err
