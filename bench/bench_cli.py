"""CLI benchmark: a mid-session ``add symbol`` through the real binary, default tables included.

``trader-cli --data-dir STORE run SCRIPT`` as a subprocess on the 60-symbol synthetic store of
``bench_session.py``: the script starts a paused 1-symbol session (20 trailing days, 1m base,
5m and 15m derived, sma 20 on 5m, ema 50 on 1m, rsi 14 on 15m), advances an hour, then adds
``ADDS`` symbols (each prints its plan and step-report tables). The same script without the
adds is the baseline; per add = median over interleaved pairs of (with - without) / ADDS. Output goes where a
user would redirect it: a pipe into ``cat``, a file, and a pty (pexpect, 40x160) as a
terminal shows it. ``TRADER_CLI_OUTPUT=json`` is the same script with JSON output (no tables) for comparison.
Run alone with ``python bench/bench_cli.py`` or through ``python bench/run.py cli``.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _synth import ensure_store, symbol_name
from _util import TRADER_CLI, Row, fresh_user_env, median_of, ms, print_rows, progress, temp_dir
from bench_session import INDICATORS, STORE

ADDS = 50  # of the store's 59 symbols the session does not start with
RUNS = 9


def write_inputs(base: Path) -> tuple[Path, Path]:
    """The session config and the two scripts (with and without the adds) in ``base``."""
    cfg = base / "session.json"
    cfg.write_text(
        json.dumps(
            {
                "name": "bench-cli",
                "mode": "backtest",
                "backtest_config": {"start_date": "2024-12-02", "end_date": "2024-12-06", "speed_multiplier": 0},
                "session_data_config": {
                    "symbols": [symbol_name(0)],
                    "base_interval": "1m",
                    "derived_intervals": ["5m", "15m"],
                    "historical": {"trailing_days": 20},
                    "indicators": INDICATORS,
                },
            }
        )
    )
    head = [f"system start --config {cfg} --paused", "time advance 60m"]
    adds = [f"add symbol {symbol_name(i)} --source strategy" for i in range(1, ADDS + 1)]
    without, with_adds = base / "base.trader", base / "adds.trader"
    without.write_text("\n".join(head) + "\n")
    with_adds.write_text("\n".join(head + adds) + "\n")
    return without, with_adds


def _argv(data: Path, script: Path) -> list[str]:
    return [str(TRADER_CLI), "--data-dir", str(data), "run", str(script)]


def _run(argv: list[str], env: dict[str, str], stdout: Any, err: Path) -> int:
    with open(err, "w") as err_fh:
        return subprocess.run(argv, env=env, stdout=stdout, stderr=err_fh, timeout=120).returncode


def _check(code: int, script: Path, err: Path) -> None:
    if code != 0:
        raise RuntimeError(f"{script.name} failed: {err.read_text().strip()[-400:]}")


def run_piped(data: Path, script: Path, env: dict[str, str], work: Path, json_out: bool = False) -> float:
    """Wall time of one run with stdout a pipe into ``cat`` (``trader-cli run S | cat``); stderr
    to a file, so this process reads nothing while the run goes on."""
    if json_out:
        env = {**env, "TRADER_CLI_OUTPUT": "json"}
    err = work / "stderr.txt"
    with open(err, "w") as err_fh:
        t0 = time.perf_counter()
        child = subprocess.Popen(_argv(data, script), env=env, stdout=subprocess.PIPE, stderr=err_fh)
        reader = subprocess.Popen(["cat"], stdin=child.stdout, stdout=subprocess.DEVNULL)
        assert child.stdout is not None
        child.stdout.close()  # cat holds the read end now
        code = child.wait(timeout=120)
        reader.wait(timeout=120)
        elapsed = time.perf_counter() - t0
    _check(code, script, err)
    return elapsed


def run_to_file(data: Path, script: Path, env: dict[str, str], work: Path) -> float:
    """Wall time of one run with stdout redirected to a file (``trader-cli run S > out``)."""
    err = work / "stderr.txt"
    with open(work / "out.txt", "w") as fh:
        t0 = time.perf_counter()
        code = _run(_argv(data, script), env, fh, err)
        elapsed = time.perf_counter() - t0
    _check(code, script, err)
    return elapsed


def run_in_pty(data: Path, script: Path, env: dict[str, str]) -> float:
    """Wall time of one run in a 40x160 pty (tables as a terminal shows them)."""
    import pexpect

    argv = _argv(data, script)
    t0 = time.perf_counter()
    child = pexpect.spawn(argv[0], argv[1:], env=env, dimensions=(40, 160), encoding="utf-8", timeout=120)
    try:
        child.expect(pexpect.EOF)
        elapsed = time.perf_counter() - t0
    finally:
        child.close(force=True)
    if child.exitstatus != 0:
        raise RuntimeError(f"{script.name} failed in the pty (exit {child.exitstatus})")
    return elapsed


def per_add(run: Callable[[Path], float], without: Path, with_adds: Path) -> float:
    """Seconds per add: the median over RUNS interleaved pairs of (run with adds - run without)
    / ADDS (a pair sees the same machine load, so the difference drifts less than two medians)."""
    return median_of((run(with_adds) - run(without)) / ADDS for _ in range(RUNS))


def main() -> list[Row]:
    """Every figure of this module (about 60 s on the project machine)."""
    data = ensure_store(*STORE)
    work = temp_dir("cli")
    try:
        env = fresh_user_env(work, work / "pycache", TERM="xterm-256color")
        without, with_adds = write_inputs(work)
        run_piped(data, with_adds, env, work)  # warm-up: bytecode cache, OS page cache
        progress(f"{ADDS} adds through `trader-cli run`, stdout a pipe, {RUNS} runs each way")
        piped = per_add(lambda s: run_piped(data, s, env, work), without, with_adds)
        progress("the same, stdout a file")
        filed = per_add(lambda s: run_to_file(data, s, env, work), without, with_adds)
        progress("the same, JSON output")
        as_json = per_add(lambda s: run_piped(data, s, env, work, json_out=True), without, with_adds)
        progress("the same, in a 40x160 pty")
        in_pty = per_add(lambda s: run_in_pty(data, s, env), without, with_adds)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return [
        ("cli add symbol, 20d x 3 ind, tables, stdout a pipe (target <= 10 ms)", ms(piped), "ms"),
        ("cli add symbol, 20d x 3 ind, tables, stdout a file", ms(filed), "ms"),
        ("cli add symbol, 20d x 3 ind, tables, stdout a 40x160 pty", ms(in_pty), "ms"),
        ("cli add symbol, 20d x 3 ind, JSON output (no tables)", ms(as_json), "ms"),
    ]


if __name__ == "__main__":
    print_rows(main(), title="bench_cli (medians)")
