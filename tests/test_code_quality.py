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


def test_no_module_is_over_500_lines() -> None:
    """STYLE.md: no module over ~500 lines (split one that grows past it)."""
    package = REPO / "trader_cli"
    sizes = {
        str(p.relative_to(package)): len(p.read_text(encoding="utf-8").splitlines()) for p in package.rglob("*.py")
    }
    assert not {name: n for name, n in sizes.items() if n > 500}
