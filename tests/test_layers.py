"""The layering rules of DESIGN.md: core/ never imports a face library, and importing the
app stays cheap (the heavy data libraries load only when a command needs them)."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "trader_cli"
CORE = PACKAGE / "core"
FACE_LIBRARIES = {"typer", "prompt_toolkit", "rich", "click"}
HEAVY_LIBRARIES = {"pyarrow", "numpy", "pandas", "exchange_calendars"}


def _imported_modules(path: Path) -> list[tuple[int, str]]:
    """(line, module) for every import statement in a file, at any depth (lazy imports too)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ) or (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "__import__"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            found.append((node.lineno, node.args[0].value))
    return found


def _core_files() -> list[Path]:
    return sorted(CORE.rglob("*.py"))


def test_there_is_a_core_to_check() -> None:
    names = {p.name for p in _core_files()}
    assert {"store.py", "errors.py", "config.py"} <= names


@pytest.mark.parametrize("path", _core_files(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_core_imports_no_face_library(path: Path) -> None:
    bad = [
        f"{path.relative_to(PACKAGE)}:{line}: imports {mod}"
        for line, mod in _imported_modules(path)
        if mod.split(".")[0] in FACE_LIBRARIES
        or mod.startswith(("trader_cli.commands", "trader_cli.shell", "trader_cli.render", "trader_cli.app"))
        or mod in ("trader_cli.context",)
    ]
    assert not bad, "\n".join(bad)


def test_the_import_walker_sees_lazy_and_aliased_imports(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import os\n"
        "def f():\n"
        "    from typer import _click as click\n"
        "    import rich.console as rc\n"
        "    return __import__('prompt_toolkit')\n",
        encoding="utf-8",
    )
    mods = {m for _, m in _imported_modules(sample)}
    assert {"os", "typer", "rich.console", "prompt_toolkit"} <= mods


def _modules_after(statement: str) -> set[str]:
    code = f"import json, sys\n{statement}\nprint(json.dumps(sorted(sys.modules)))"
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=PACKAGE.parent,
        check=True,
    )
    return set(json.loads(proc.stdout))


@pytest.mark.parametrize(
    "statement",
    [
        "import trader_cli.app",
        "from trader_cli.app import command_tree; command_tree()",
    ],
)
def test_importing_the_app_loads_no_heavy_library(statement: str) -> None:
    loaded = {m.split(".")[0] for m in _modules_after(statement)}
    assert not (loaded & HEAVY_LIBRARIES), sorted(loaded & HEAVY_LIBRARIES)


def test_the_subprocess_check_would_see_a_heavy_import() -> None:
    assert "numpy" in _modules_after("import numpy")
