"""Shared helpers for the benchmarks: timing medians, fresh user dirs, and the results table.

Every ``bench_*.py`` module exposes ``main() -> list[Row]`` where a row is
``(label, median, unit)``; ``run.py`` collects the rows of many modules into one table.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

Row = tuple[str, float, str]

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = ROOT / ".venv" / "bin"
TRADER_CLI = VENV_BIN / "trader-cli"
PYTHON = VENV_BIN / "python"
DEFAULT_CONFIG = ROOT / "configs" / "default.json"
SHARED = Path("/work/shared")
SYNTH_BARS = SHARED / "peers" / "synth_bars.py"
REAL_DATA = SHARED / "data" / "real"


def median_seconds(fn: Callable[[], Any], repeat: int, setup: Callable[[], Any] | None = None) -> float:
    """Median wall time of ``fn()`` over ``repeat`` runs; ``setup()`` runs untimed before each."""
    times = []
    for _ in range(repeat):
        if setup is not None:
            setup()
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def median_of(samples: Iterable[float]) -> float:
    """The median of measured samples (seconds)."""
    return statistics.median(list(samples))


def ms(seconds: float) -> float:
    """Seconds to milliseconds, for a row."""
    return seconds * 1000.0


def fresh_user_env(base: Path, pycache: Path | None = None, **extra: str) -> dict[str, str]:
    """An environment with HOME and the XDG dirs inside ``base`` (so no run sees another's
    history, caches or state), plus ``extra`` variables. With ``pycache``, Python caches
    bytecode there (as an installed package does) even where PYTHONDONTWRITEBYTECODE is set."""
    env = dict(os.environ)
    if pycache is not None:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(pycache)
    for key in (
        "TRADER_CLI_CONFIG",
        "TRADER_CLI_DATA_DIR",
        "TRADER_CLI_OUTPUT",
        "TRADER_CLI_HISTORY",
    ):
        env.pop(key, None)
    home = base / "home"
    dirs = {
        "HOME": home,
        "XDG_DATA_HOME": home / ".local" / "share",
        "XDG_CONFIG_HOME": home / ".config",
        "XDG_CACHE_HOME": home / ".cache",
        "XDG_STATE_HOME": home / ".local" / "state",
    }
    for key, path in dirs.items():
        path.mkdir(parents=True, exist_ok=True)
        env[key] = str(path)
    env.update(extra)
    return env


def temp_dir(prefix: str) -> Path:
    """A new temporary directory (the caller removes it)."""
    return Path(tempfile.mkdtemp(prefix=f"trader-bench-{prefix}-"))


def progress(text: str) -> None:
    """A progress line on stderr (the results table goes to stdout)."""
    print(f"  … {text}", file=sys.stderr, flush=True)


def format_table(rows: Sequence[Sequence[Any]], title: str | None = None) -> str:
    """Rows of (label, median, unit[, module]) as an aligned plain-text table."""
    has_module = any(len(r) > 3 for r in rows)
    header = ["benchmark", "median", "unit"] + (["module"] if has_module else [])
    body = [
        [str(r[0]), _fmt_number(r[1]), str(r[2])] + ([str(r[3]) if len(r) > 3 else ""] if has_module else [])
        for r in rows
    ]
    widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header))]
    align_right = {1}

    def line(cells: list[str]) -> str:
        parts = [
            c.rjust(w) if i in align_right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ]
        return "  ".join(parts).rstrip()

    out = [title] if title else []
    out += [line(header), line(["-" * w for w in widths])]
    out += [line(cells) for cells in body]
    return "\n".join(out)


def _fmt_number(value: Any) -> str:
    if isinstance(value, float):
        if value != value:  # NaN: the measurement could not be taken
            return "n/a"
        if abs(value) >= 100:
            return f"{value:,.0f}"
        if abs(value) >= 10:
            return f"{value:.1f}"
        return f"{value:.2f}"
    return str(value)


def print_rows(rows: Sequence[Sequence[Any]], title: str | None = None) -> None:
    """Print one results table to stdout."""
    print(format_table(rows, title))
