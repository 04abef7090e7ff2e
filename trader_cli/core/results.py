"""Result values that commands return and ``render/`` shows as a table, JSON or CSV."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field


class Message(BaseModel):
    """A one-line outcome ("AAPL is already loaded in full; nothing changed")."""

    kind: Literal["message"] = "message"
    text: str
    level: Literal["info", "ok", "warn"] = "info"


class Tabular(BaseModel):
    """Rows under named columns; JSON output is the list of row objects."""

    kind: Literal["table"] = "table"
    title: str = ""
    columns: list[str]
    rows: list[list[Any]] = Field(default_factory=list)
    caption: str | None = None
    show_header: bool = True  # key/value tables read better without one

    def records(self) -> list[dict[str, Any]]:
        """Rows as objects keyed by column name."""
        return [dict(zip(self.columns, r, strict=False)) for r in self.rows]


class Document(BaseModel):
    """Free-form data (a JSON-able object) with a title, e.g. a JSON Schema."""

    kind: Literal["document"] = "document"
    title: str = ""
    data: Any


class ScriptSummary(BaseModel):
    """What a script run did; its exit code is the run's (0 ok, 1 failed, 2 usage)."""

    kind: Literal["script"] = "script"
    script: str
    commands_run: int
    failed: int
    failed_lines: list[str] = Field(default_factory=list)
    seconds: float
    exit_code: int = 0

    def line(self) -> str:
        """One summary line, e.g. 'demo.trader: 12 command(s) run, 1 failed (line 7), 0.41 s'."""
        where = f" ({', '.join(self.failed_lines)})" if self.failed_lines else ""
        return f"{self.script}: {self.commands_run} command(s) run, {self.failed} failed{where}, {self.seconds:.2f} s"
