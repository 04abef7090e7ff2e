"""Numbers that JSON and CSV can carry: NaN and ±infinity become null (JSON) or an empty cell (CSV).

Python's ``json`` writes ``NaN`` and ``Infinity`` by default, which no standard JSON reader
accepts. Every JSON writer of the product (``render.write_json``, the views' JSON documents and
the session export) goes through ``dumps`` or, for large columns, ``finite_list``; every CSV
writer through ``csv_cell`` / ``finite_list``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

import numpy as np


def finite(value: Any) -> Any:
    """``value`` with every NaN or infinite float (in dicts, lists and tuples too) replaced by None."""
    if isinstance(value, float | np.floating):
        f = float(value)
        return f if math.isfinite(f) else None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite(v) for v in value]
    return value


def finite_list(values: np.ndarray) -> list[Any]:
    """A float array as a list, with None where it holds NaN or ±inf (one vectorised check)."""
    out: list[Any] = values.tolist()
    ok = np.isfinite(values)
    if not ok.all():
        for i in np.flatnonzero(~ok).tolist():
            out[i] = None
    return out


def dumps(value: Any, indent: int | None = None, default: Callable[[Any], Any] | None = None) -> str:
    """JSON text of ``value`` with non-finite numbers as null (never NaN / Infinity tokens)."""
    return json.dumps(finite(value), indent=indent, default=default, allow_nan=False)


def csv_cell(value: Any) -> Any:
    """A CSV cell: None, NaN and ±inf as an empty cell; a list or dict as its JSON (not Python's
    repr); anything else as it is."""
    if value is None:
        return ""
    if isinstance(value, float) and not math.isfinite(value):
        return ""
    if isinstance(value, list | tuple | dict):
        return dumps(value)
    return value
