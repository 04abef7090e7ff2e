"""Atomic writes: one rename, nothing left behind on failure, stale temps of dead writers swept."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from pathlib import Path

import pytest

from trader_cli.core.atomic import atomic_open, os_error_text, sweep_stale, temp_path, write_atomic
from trader_cli.core.errors import DataError


def _dead_pid() -> int:
    """The id of a process that has exited (and been reaped)."""
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(proc.stdout)


def test_a_failed_write_leaves_the_target_and_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "out.json"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_open(target) as fh:
        fh.write(b"half")
        raise RuntimeError("boom")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.json"]


def test_stale_temps_of_dead_writers_are_swept_by_the_next_write(tmp_path: Path) -> None:
    dead = tmp_path / f".big.json.{_dead_pid()}.140000.tmp"
    dead.write_bytes(b"x" * 1000)
    live = tmp_path / f".big.json.{os.getpid()}.1.tmp"  # this process: alive
    live.write_bytes(b"y")
    write_atomic(tmp_path / "other.json", "{}")
    assert not dead.exists()
    assert live.exists()
    assert (tmp_path / "other.json").read_text() == "{}"


def test_sweep_leaves_files_that_are_not_temps(tmp_path: Path) -> None:
    keep = tmp_path / ".hidden.123.notatemp"
    keep.write_text("k")
    assert sweep_stale(tmp_path) == 0
    assert keep.exists()


def test_temp_path_is_in_the_same_folder(tmp_path: Path) -> None:
    t = temp_path(tmp_path / "a.parquet")
    assert t.parent == tmp_path and t.name.startswith(".a.parquet.") and t.name.endswith(".tmp")


def test_os_errors_say_what_to_do() -> None:
    assert "no space left" in os_error_text(OSError(errno.ENOSPC, "No space left on device"))
    assert "permission denied" in os_error_text(OSError(errno.EACCES, "Permission denied"))


def test_an_unwritable_folder_is_one_data_error(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("root writes into read-only folders")
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        with pytest.raises(DataError, match="permission denied"):
            write_atomic(ro / "x.json", "{}")
    finally:
        ro.chmod(0o700)
