"""The import graph of trader_cli: no cycles among its modules (lazy imports inside functions
count; imports only for type checking do not), and the faces (render/, commands/, shell/) read
the session through the read side, never the engine's parts."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "trader_cli"
ENGINE_PARTS = ("trader_cli.core.replay", "trader_cli.core.streams", "trader_cli.core.feed", "trader_cli.core.history")
FACES = ("trader_cli.render", "trader_cli.commands", "trader_cli.shell")


def module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _type_checking_lines(tree: ast.Module) -> set[int]:
    """Line numbers of imports under ``if TYPE_CHECKING:``."""
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            for inner in ast.walk(node):
                if isinstance(inner, ast.Import | ast.ImportFrom):
                    lines.add(inner.lineno)
    return lines


def imports_of(path: Path, known: set[str]) -> set[str]:
    """The trader_cli modules a file imports at run time (at any depth)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip = _type_checking_lines(tree)
    me = module_name(path)
    found: set[str] = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Import | ast.ImportFrom) or node.lineno in skip:
            continue
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            assert node.level == 0, f"{path}: relative import (the package uses absolute imports)"
            base = node.module or ""
            names = [f"{base}.{a.name}" for a in node.names] + [base]
        for name in names:
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name and name.startswith("trader_cli") and name != me:
                found.add(name)
    return found


def graph() -> dict[str, set[str]]:
    files = sorted(PACKAGE.rglob("*.py"))
    known = {module_name(p) for p in files}
    return {module_name(p): imports_of(p, known) - {"trader_cli"} for p in files}


def cycles(g: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected group of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in g.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                out.append(sorted(group))

    for v in sorted(g):
        if v not in index:
            visit(v)
    return out


def test_the_graph_is_seen() -> None:
    g = graph()
    assert "trader_cli.core.lifecycle" in g["trader_cli.commands.system"]
    assert "trader_cli.dispatch" in g["trader_cli.commands.meta"]


def test_no_import_cycles_among_trader_cli_modules() -> None:
    assert cycles(graph()) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_faces_do_not_reach_into_the_engine_parts() -> None:
    bad = [
        f"{mod} imports {dep}"
        for mod, deps in graph().items()
        if mod.startswith(FACES)
        for dep in deps
        if dep.startswith(ENGINE_PARTS)
    ]
    assert not bad, bad
