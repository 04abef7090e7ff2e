"""The standing code checks: ruff and mypy --strict (configured in pyproject.toml) stay clean."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], cwd=REPO, capture_output=True, text=True, timeout=240)


def test_ruff_is_clean() -> None:
    res = run("ruff", "check", "trader_cli", "tests", "bench", "scripts")
    assert res.returncode == 0, res.stdout + res.stderr


def test_mypy_strict_is_clean() -> None:
    res = run("mypy", "trader_cli")
    assert res.returncode == 0, res.stdout + res.stderr
