"""Rich renderables for result values (tables, messages, documents)."""

from __future__ import annotations

from collections.abc import Callable
from functools import singledispatch
from typing import Any

from rich.console import RenderableType
from rich.syntax import Syntax
from rich.text import Text

from trader_cli.core.jsonsafe import dumps
from trader_cli.core.results import Document, Message, Tabular
from trader_cli.render.tables import FittedTable


def table_of(t: Tabular) -> FittedTable:
    """The table view of a Tabular: rich Table fitted to the width at print time."""
    return FittedTable(t)


@singledispatch
def renderables(result: Any) -> list[RenderableType]:
    """What to print for a result (override per result type with ``register``)."""
    if isinstance(result, list):
        out: list[RenderableType] = []
        for r in result:
            out.extend(renderables(r))
        return out
    if hasattr(result, "model_dump"):
        return [Syntax(dumps(result.model_dump(mode="json"), indent=2), "json", theme="ansi_dark")]
    return [Text(str(result))]


@renderables.register
def _(result: Tabular) -> list[RenderableType]:
    return [table_of(result)]


@renderables.register
def _(result: Message) -> list[RenderableType]:
    style = {"info": "", "ok": "green", "warn": "yellow"}[result.level]
    return [Text(result.text, style=style)]


@renderables.register
def _(result: Document) -> list[RenderableType]:
    title = [Text(result.title, style="bold")] if result.title else []
    return [*title, Syntax(dumps(result.data, indent=2, default=str), "json", theme="ansi_dark")]


@singledispatch
def as_tables(result: Any) -> list[Tabular]:
    """The tabular form of a result (for CSV)."""
    if isinstance(result, list):
        return [t for r in result for t in as_tables(r)]
    if hasattr(result, "model_dump"):
        data = result.model_dump(mode="json")
        return [
            Tabular(columns=list(data), rows=[[dumps(v) if isinstance(v, (dict, list)) else v for v in data.values()]])
        ]
    return [Tabular(columns=["value"], rows=[[str(result)]])]


@as_tables.register
def _(result: Tabular) -> list[Tabular]:
    return [result]


def typed_rows(items: list[Any]) -> Tabular:
    """Models (or JSON objects) as one CSV table of their JSON data: one row each, a column a
    field; a list or an object in a cell as JSON (the display tables' text is the shell's)."""
    data = [i.model_dump(mode="json") if hasattr(i, "model_dump") else i for i in items]
    columns = list(data[0]) if data else []
    rows = [[dumps(d.get(c)) if isinstance(d.get(c), (dict, list)) else d.get(c) for c in columns] for d in data]
    return Tabular(columns=columns, rows=rows)


@as_tables.register
def _(result: Message) -> list[Tabular]:
    if type(result) is not Message:  # a report with data (a clock step, an export): its fields, typed
        return [typed_rows([result])]
    return [Tabular(columns=["message"], rows=[[result.text]])]


def register_view(
    kind: type, view: Callable[[Any], list[RenderableType]], tables: Callable[[Any], list[Tabular]] | None = None
) -> None:
    """Add the table view (and optionally the CSV tables) for a result type."""
    renderables.register(kind)(view)
    if tables is not None:
        as_tables.register(kind)(tables)
