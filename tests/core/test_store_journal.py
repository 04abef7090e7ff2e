"""Writes of several store files are all or none: a rename that fails part-way (fault injection,
and a real ``chattr +i``) restores every file; a writer killed with SIGKILL at any point leaves
a store that the next read settles to all-old or all-new with nothing left behind; writers take
turns under the lock; temps of dead writers are swept; a full disk or an unwritable folder is one
clear line and changes nothing."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import make_bars
from trader_cli.core.bars import FIELDS, Bars
from trader_cli.core.calendar import nyse
from trader_cli.core.errors import DataError
from trader_cli.core.store import DataManager
from trader_cli.core.store_journal import JOURNAL_NAME, LOCK_NAME, Journal, writer_lock

OLD_DAY, NEW_DAY = dt.date(2024, 12, 2), dt.date(2024, 12, 3)
STORED = ["AAPL", "AMD", "AMZN"]
NEW = "NVDA"  # not stored before the write


def old_bars(i: int) -> Bars:
    return make_bars(OLD_DAY, 30, seed=i)


def new_bars(i: int) -> Bars:
    return Bars.concat([make_bars(OLD_DAY, 30, seed=100 + i, start_price=50.0), make_bars(NEW_DAY, 30, seed=i)])


def batch() -> dict[str, Bars]:
    return {sym: new_bars(i) for i, sym in enumerate([*STORED, NEW])}


def stored_store(root: Path) -> DataManager:
    store = DataManager(root)
    for i, sym in enumerate(STORED):
        store.write(sym, "1m", old_bars(i), source="old")
    return store


def files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def leftovers(root: Path) -> list[str]:
    """Anything in the data dir but the bar files and the lock file."""
    return sorted(
        str(p.relative_to(root))
        for p in root.rglob("*")
        if p.is_file() and not (p.name.endswith(".parquet") and not p.name.startswith(".")) and p.name != LOCK_NAME
    )


def state(store: DataManager) -> str:
    """'old' or 'new' when every symbol reads as one write left it; AssertionError on a mix."""
    seen = set()
    for i, sym in enumerate([*STORED, NEW]):
        if not store.has(sym, "1m"):
            seen.add("old" if sym == NEW else "missing")
            continue
        got = store.read(sym, "1m")
        want = {"old": old_bars(i) if sym != NEW else None, "new": new_bars(i)}
        match = [k for k, b in want.items() if b is not None and _same(got, b)]
        seen.add(match[0] if match else "other")
    assert len(seen) == 1, seen
    return seen.pop()


def _same(a: Bars, b: Bars) -> bool:
    return len(a) == len(b) and all(np.array_equal(getattr(a, f), getattr(b, f)) for f in FIELDS)


# -- a rename that fails part-way --------------------------------------------------------------
def test_a_rename_failing_on_the_second_file_restores_every_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = stored_store(tmp_path / "data")
    before = files(store.data_dir)
    real = os.replace
    renamed: list[str] = []

    def fail_second(src: object, dst: object) -> None:
        if str(dst).endswith(".parquet") and ".old." not in Path(str(src)).name:  # not a restore
            renamed.append(Path(str(dst)).name)
            if len(renamed) == 2:
                raise PermissionError(1, "Operation not permitted", str(dst))
        real(src, dst)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "replace", fail_second)
    with pytest.raises(DataError) as info:
        store.write_many(batch(), "1m", source="new")
    monkeypatch.undo()
    assert renamed[:2] == ["AAPL.parquet", "AMD.parquet"]
    text = str(info.value)
    assert "\n" not in text
    assert text.startswith(f"cannot write {store.path_for('AMD', '1m')}: permission denied")
    assert text.endswith("nothing was changed")
    assert files(store.data_dir) == {**before, LOCK_NAME: b""}
    assert leftovers(store.data_dir) == []
    assert state(DataManager(store.data_dir)) == "old"


@pytest.fixture
def immutable() -> Iterator[list[Path]]:
    """Paths made immutable with chattr +i during a test (made mutable again after it)."""
    paths: list[Path] = []
    yield paths
    for p in paths:
        subprocess.run(["chattr", "-i", str(p)], check=False)


def chattr_immutable(path: Path, made: list[Path]) -> None:
    if shutil.which("chattr") is None:
        pytest.skip("no chattr here")
    res = subprocess.run(["chattr", "+i", str(path)], capture_output=True, text=True)
    if res.returncode != 0:
        pytest.skip(f"chattr +i is not permitted here: {res.stderr.strip()}")
    made.append(path)


def test_an_immutable_target_leaves_every_file_as_before(tmp_path: Path, immutable: list[Path]) -> None:
    store = stored_store(tmp_path / "data")
    before = files(store.data_dir)
    chattr_immutable(store.path_for("AMD", "1m"), immutable)
    with pytest.raises(DataError, match=r"cannot write .*AMD\.parquet: permission denied.*nothing was changed"):
        store.write_many(batch(), "1m", source="new")
    assert files(store.data_dir) == {**before, LOCK_NAME: b""}
    assert leftovers(store.data_dir) == []
    assert state(DataManager(store.data_dir)) == "old"


def test_an_unwritable_folder_is_one_line_and_changes_nothing(tmp_path: Path, immutable: list[Path]) -> None:
    store = stored_store(tmp_path / "data")
    before = files(store.data_dir)
    chattr_immutable(store.data_dir / "bars" / "1m", immutable)
    with pytest.raises(DataError, match=r"cannot write .*AAPL\.parquet: permission denied") as info:
        store.write_many(batch(), "1m", source="new")
    assert "\n" not in str(info.value)
    assert files(store.data_dir) == {**before, LOCK_NAME: b""}
    assert leftovers(store.data_dir) == []


def tmpfs(where: Path, size: str) -> Iterator[Path | None]:
    """A tmpfs of ``size`` mounted at ``where`` (None where mounting is not permitted); unmounted
    lazily after the test, since the store under test may still hold files open."""
    where.mkdir()
    res = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)], capture_output=True)
    if res.returncode != 0:
        yield None
        return
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 2 MB tmpfs to hold a data dir (skipped where mounting is not permitted)."""
    for mount in tmpfs(tmp_path / "disk", "2M"):
        if mount is None:
            pytest.skip("mounting a tmpfs is not permitted here")
        yield mount


@pytest.fixture
def no_fsync_wait(tmp_path: Path) -> Iterator[Path]:
    """A folder where fsync costs nothing (a tmpfs when permitted), for tests that write a lot."""
    for mount in tmpfs(tmp_path / "ram", "256M"):
        yield mount or tmp_path


def test_a_full_disk_is_one_line_and_changes_nothing(small_disk: Path) -> None:
    store = stored_store(small_disk / "data")
    before = files(store.data_dir)
    rng = np.random.default_rng(1)
    # ~370 kB a symbol of noise that does not compress: 8 symbols do not fit in 2 MB
    days = nyse().trading_days(dt.date(2024, 11, 1), dt.date(2024, 11, 29))[:20]
    big = Bars.concat([make_bars(d, seed=int(rng.integers(1000))) for d in days])
    noisy = Bars(big.ts, big.open, big.high + rng.random(len(big)), big.low, big.close, rng.random(len(big)) * 1e6)
    with pytest.raises(DataError, match="no space left on the device") as info:
        store.write_many({sym: noisy for sym in [*STORED, NEW, "TSLA", "META", "MSFT", "QQQ"]}, "1m", source="big")
    assert "\n" not in str(info.value)
    assert files(store.data_dir) == {**before, LOCK_NAME: b""}
    assert leftovers(store.data_dir) == []
    assert state(DataManager(store.data_dir)) == "old"


# -- kill -9 at any point -----------------------------------------------------------------------
DRIVER = """
import json, os, shutil, signal, sys
import numpy as np
from trader_cli.core.bars import Bars
from trader_cli.core.calendar import ny_dates
from trader_cli.core.store import DataManager

ny_dates(np.zeros(1, dtype=np.int64))  # its first call imports more: once here, not per writer
pristine, work, batch_file = sys.argv[1:4]
saved = np.load(batch_file)
names = sorted({k.split(":")[0] for k in saved.files})
batch = {s: Bars(*(saved[f"{s}:{f}"] for f in ("ts", "open", "high", "low", "close", "volume"))) for s in names}

def write_killed_at(data_dir, kill_at):
    calls = 0
    def hook(fn):
        def wrapped(*args, **kw):
            nonlocal calls
            if isinstance(args[0], int) or data_dir in os.fspath(args[0]):  # fsync takes a descriptor
                calls += 1
                if calls == kill_at:
                    os.kill(os.getpid(), signal.SIGKILL)
            return fn(*args, **kw)
        return wrapped
    for name in ("replace", "link", "unlink", "fsync"):
        setattr(os, name, hook(getattr(os, name)))
    DataManager(data_dir).write_many(batch, "1m", source="new")

for kill_at in range(1, 100):
    data_dir = os.path.join(work, f"run{kill_at}")
    shutil.copytree(pristine, data_dir)
    pid = os.fork()  # a fresh writer per kill point, without paying for the imports again
    if pid == 0:
        write_killed_at(data_dir, kill_at)
        os._exit(0)
    _, status = os.waitpid(pid, 0)
    print(json.dumps([kill_at, data_dir, os.waitstatus_to_exitcode(status)]), flush=True)
    if status == 0:
        break
"""


def test_a_writer_killed_at_any_point_leaves_all_old_or_all_new(no_fsync_wait: Path) -> None:
    tmp_path = no_fsync_wait
    pristine = tmp_path / "pristine"
    stored_store(pristine)
    batch_file = tmp_path / "batch.npz"
    np.savez(batch_file, **{f"{s}:{f}": getattr(b, f) for s, b in batch().items() for f in FIELDS})
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER, encoding="utf-8")
    work = tmp_path / "work"
    work.mkdir()
    proc = subprocess.run(
        [sys.executable, str(driver), str(pristine), str(work), str(batch_file)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "OPENBLAS_NUM_THREADS": "1"},
    )
    assert proc.returncode == 0, proc.stderr
    runs = [json.loads(line) for line in proc.stdout.splitlines()]
    assert runs[-1][2] == 0 and all(code == -9 for _, _, code in runs[:-1]), runs
    assert len(runs) > 15  # the kill points cover the journal, the temps, the backups and the renames
    outcomes = []
    for kill_at, data_dir, _ in runs:
        data = Path(data_dir)
        store = DataManager(data)  # the next command, in another process than the writer
        outcomes.append(state(store))
        left = leftovers(data)
        # Killed while writing the journal itself, only its temp is left; the next write sweeps it.
        assert all(n.startswith(f".{JOURNAL_NAME}.") and n.endswith(".tmp") for n in left), (kill_at, left)
        if left:
            store.write("AAPL", "1m", store.read("AAPL", "1m"), source="again")
            assert leftovers(data) == [], (kill_at, leftovers(data))
    assert outcomes[0] == "old" and outcomes[-1] == "new"
    assert outcomes == sorted(outcomes, key=lambda o: o == "new")  # old until the last rename, then new


# -- one writer at a time; temps of dead writers ------------------------------------------------
def test_a_second_writer_waits_for_the_lock(filled_store: DataManager) -> None:
    before = filled_store.path_for("AAPL", "1m").read_bytes()
    extra = make_bars(dt.date(2024, 12, 4), 10)
    with writer_lock(filled_store.data_dir):
        worker = threading.Thread(target=filled_store.write, args=("AAPL", "1m", extra, "later"))
        worker.start()
        time.sleep(0.3)
        assert worker.is_alive()
        assert filled_store.path_for("AAPL", "1m").read_bytes() == before
    worker.join(10)
    assert not worker.is_alive()
    assert len(filled_store.read("AAPL", "1m")) == 790


def test_a_write_sweeps_the_temps_of_dead_writers_in_its_folder(filled_store: DataManager) -> None:
    folder = filled_store.path_for("AAPL", "1m").parent
    dead = folder / ".MSFT.parquet.999999999.1.tmp"
    live = folder / f".MSFT.parquet.{os.getpid()}.1.tmp"
    dead.write_bytes(b"half a file")
    live.write_bytes(b"another writer's file in progress")
    filled_store.write("AAPL", "1m", make_bars(dt.date(2024, 12, 4), 10), source="test")
    assert not dead.exists() and live.exists()
    assert {p.name for p in folder.iterdir()} == {"AAPL.parquet", live.name}


def test_a_read_settles_a_dead_writers_journal_in_a_relative_data_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    store = stored_store(Path("."))
    before = files(Path("."))
    journal = Journal(Path("."), [store.path_for("AAPL", "1m"), store.path_for(NEW, "1m")])
    for path in (store.path_for("AAPL", "1m"), store.path_for(NEW, "1m")):
        journal.temp(path).write_bytes(b"half-written")
    del journal  # the writer dies here: its lock is gone, its journal and temps stay
    assert Path(JOURNAL_NAME).exists()
    assert state(DataManager(".")) == "old"
    assert leftovers(Path(".")) == []
    assert files(Path(".")) == before
