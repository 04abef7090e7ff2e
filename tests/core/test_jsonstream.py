"""core/jsonstream.py and core/jsonsafe.py: lazy documents written exactly as json.dumps writes
them, and non-finite numbers as null / empty cells."""

from __future__ import annotations

import io
import json
import math
from typing import Any

import numpy as np
import pytest

from trader_cli.core.jsonsafe import csv_cell, dumps, finite, finite_list
from trader_cli.core.jsonstream import LazyArray, LazyObject, materialize, write_json


def lazy_doc() -> Any:
    """A document with lazy parts at several depths, empty ones included."""
    bars = [{"t": i, "v": [i, {"x": i / 3}]} for i in range(7)]
    return {
        "a": 1,
        "empty_obj": {},
        "empty_list": [],
        "nested": {"list": [1, [2, 3], {"k": "v"}], "s": 'é\n"'},
        "lazy": LazyObject(
            iter(
                [
                    ("bars", LazyArray(iter([bars[:3], [], bars[3:]]))),
                    ("none", LazyArray(iter([[], []]))),
                    ("obj", LazyObject(iter([]))),
                    ("deep", {"more": LazyArray(iter([[1, 2], [3]]))}),
                ]
            )
        ),
        "z": None,
    }


@pytest.mark.parametrize("indent", [None, 1, 2])
def test_a_lazy_document_is_written_as_json_dumps_writes_it(indent: int | None) -> None:
    buf = io.StringIO()
    write_json(buf.write, lazy_doc(), indent)
    assert buf.getvalue() == json.dumps(materialize(lazy_doc()), indent=indent)


def test_non_finite_numbers_are_null_in_json_and_empty_in_csv() -> None:
    doc = {"a": math.nan, "b": [math.inf, -math.inf, 1.5], "c": np.float32("nan"), "d": (2, math.nan)}
    assert finite(doc) == {"a": None, "b": [None, None, 1.5], "c": None, "d": [2, None]}
    assert json.loads(dumps(doc)) == {"a": None, "b": [None, None, 1.5], "c": None, "d": [2, None]}
    buf = io.StringIO()
    write_json(buf.write, {"x": LazyObject(iter([("y", math.nan)]))}, None)
    assert buf.getvalue() == '{"x": {"y": null}}'
    assert finite_list(np.array([1.0, np.nan, np.inf, 2.0])) == [1.0, None, None, 2.0]
    assert [csv_cell(v) for v in (None, math.nan, -math.inf, 0.0, "x")] == ["", "", "", 0.0, "x"]
