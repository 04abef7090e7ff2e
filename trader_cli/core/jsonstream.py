"""JSON documents with lazy parts, written piece by piece exactly as ``json.dumps`` would write them.

A document is plain JSON data (dicts, lists, numbers, strings) in which a ``LazyObject``
yields its members and a ``LazyArray`` its items a chunk at a time, so a large document is
produced while it is written and never held whole. ``write_json(write, doc, indent)`` writes the
same text, byte for byte, as ``json.dumps(materialize(doc), indent=indent)``; ``materialize``
builds the plain data (for tests and small documents). Non-finite numbers are written as null
(``core/jsonsafe.py``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from trader_cli.core.jsonsafe import finite


class LazyArray:
    """A JSON array produced chunk by chunk: ``chunks`` yields lists of finite JSON-able items."""

    def __init__(self, chunks: Iterable[list[Any]]) -> None:
        self.chunks = chunks


class LazyObject:
    """A JSON object produced member by member: ``members`` yields (key, value) pairs."""

    def __init__(self, members: Iterable[tuple[str, Any]]) -> None:
        self.members = members


def materialize(value: Any) -> Any:
    """The plain JSON data of a document (lazy parts consumed; non-finite numbers as None)."""
    if isinstance(value, LazyObject):
        return {k: materialize(v) for k, v in value.members}
    if isinstance(value, dict):
        return {k: materialize(v) for k, v in value.items()}
    if isinstance(value, LazyArray):
        return [item for chunk in value.chunks for item in chunk]
    return finite(value)


def write_json(write: Callable[[str], Any], value: Any, indent: int | None, level: int = 0) -> None:
    """Write ``value`` through ``write`` as ``json.dumps(value, indent=indent)`` would, producing
    its lazy parts while writing (``level``: the nesting depth, for indentation)."""
    if isinstance(value, LazyObject | dict):
        members = value.members if isinstance(value, LazyObject) else value.items()
        opener, sep, closer = _brackets("{", "}", indent, level)
        first = True
        for key, item in members:
            write(opener if first else sep)
            first = False
            write(json.dumps(key) + ": ")
            write_json(write, item, indent, level + 1)
        write("{}" if first else closer)
    elif isinstance(value, LazyArray):
        opener, sep, closer = _brackets("[", "]", indent, level)
        first = True
        for chunk in value.chunks:
            if not chunk:
                continue
            write(opener if first else sep)
            first = False
            write(_chunk_text(chunk, indent, level))
        write("[]" if first else closer)
    else:
        text = json.dumps(finite(value), indent=indent, allow_nan=False)
        write(text if indent is None else text.replace("\n", "\n" + " " * (indent * level)))


def _brackets(open_: str, close: str, indent: int | None, level: int) -> tuple[str, str, str]:
    """(opening, separator between items, closing) of a container at ``level``."""
    if indent is None:
        return open_, ", ", close
    inner, outer = "\n" + " " * (indent * (level + 1)), "\n" + " " * (indent * level)
    return open_ + inner, "," + inner, outer + close


def _chunk_text(chunk: list[Any], indent: int | None, level: int) -> str:
    """The items of ``chunk`` as they appear inside an array at ``level`` (no brackets)."""
    text = json.dumps(chunk, indent=indent, allow_nan=False)
    if indent is None:
        return text[1:-1]
    # json.dumps(list, indent) is "[\n" + items one indent in + "\n]": strip that, re-indent to level.
    return text[2 + indent : -2].replace("\n", "\n" + " " * (indent * level))
