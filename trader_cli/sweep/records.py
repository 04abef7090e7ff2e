"""A sweep folder's two files, read defensively: ``sweep.json`` (what the sweep is) and
``results.jsonl`` (one result row a line).

Both may have been cut by a crash or edited by hand. A sweep.json that is not a sweep's
definition is one line naming the file and what to do (never an internal error); a line of
results.jsonl that is not a result row (not JSON, cut short, or JSON of another shape) is
skipped and counted (``Rows.malformed``), so show, best and a resume work on the good rows,
and a resume runs the spec of a skipped line again.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trader_cli.core.config import json_kind
from trader_cli.core.errors import UsageError
from trader_cli.sweep.grid import parse_param, rankable

RESULTS = "results.jsonl"
META = "sweep.json"
REQUIRED = ("metric",)  # what show needs; the other keys are checked when there (best needs more)


@dataclass
class Rows:
    """The result rows of a results.jsonl in file order, and how many lines were not rows."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    malformed: int = 0


def malformed_note(out: Path, n: int) -> str:
    """The one line saying results.jsonl had lines that are not rows ('' for none)."""
    if not n:
        return ""
    return (
        f"skipped {n} malformed row(s) in {out / RESULTS} (lines that are not result rows, such as one "
        "cut by a crash: left out; a re-run of the sweep runs a spec that has no good row)"
    )


def row_problem(row: Any) -> str:
    """Why ``row`` (a decoded line) is not a result row ('' when it is one)."""
    if not isinstance(row, dict):
        return f"a JSON {json_kind(row)}, not an object"
    kinds: dict[str, tuple[type, ...]] = {
        "spec_hash": (str,),
        "params": (dict,),
        "report": (dict, type(None)),
        "error": (str, type(None)),
    }
    for key, kinds_of in kinds.items():
        if key not in row:
            return f"no {key}"
        if not isinstance(row[key], kinds_of):
            return f"{key} is a JSON {json_kind(row[key])}"
    if not row["spec_hash"]:
        return "an empty spec_hash"
    if row["report"] is None and row["error"] is None:
        return "neither a report nor an error"
    seconds = row.get("seconds")
    if seconds is not None and (isinstance(seconds, bool) or not isinstance(seconds, int | float)):
        return f"seconds is a JSON {json_kind(seconds)}"
    return ""


def read_rows(out: Path) -> Rows:
    """The result rows of ``out``'s results.jsonl (none when there is no file yet)."""
    found = Rows()
    path = out / RESULTS
    if not path.exists():
        return found
    for line in _lines(path):
        if not line.strip():
            continue  # an empty line is no row, nor a damaged one
        try:
            row = json.loads(line)
        except (ValueError, RecursionError):  # not JSON, cut by a crash, not UTF-8, nested too deep
            found.malformed += 1
            continue
        if row_problem(row):
            found.malformed += 1
            continue
        found.rows.append(row)
    return found


def _lines(path: Path) -> Iterator[str]:
    """Each line of ``path`` decoded on its own (a line that is not UTF-8 comes back as one
    that does not parse, so only it is skipped)."""
    with open(path, "rb") as fh:
        for raw in fh:
            try:
                yield raw.decode("utf-8")
            except UnicodeDecodeError:
                yield "\x00"


def ends_cut(path: Path) -> bool:
    """True when ``path`` is not empty and its last line has no newline (a crash cut it): the
    next row appended must start on a line of its own."""
    try:
        with open(path, "rb") as fh:
            fh.seek(0, 2)
            if fh.tell() == 0:
                return False
            fh.seek(-1, 2)
            return fh.read(1) != b"\n"
    except FileNotFoundError:
        return False


def write_meta(out: Path, meta: dict[str, Any]) -> None:
    """sweep.json, written atomically."""
    from trader_cli.core.atomic import write_atomic

    write_atomic(out / META, json.dumps(meta, indent=1, default=str))


def read_meta(out: Path) -> dict[str, Any]:
    """What the sweep in ``out`` was (its definition, metric, engine, tasks); UsageError when
    there is no sweep.json or it is not a sweep's definition."""
    path = out / META
    if not path.exists():
        raise UsageError(f"no {META} in {out} (run a sweep with --out {out} first)")
    try:
        data = json.loads(path.read_bytes().decode("utf-8"))
    except (ValueError, RecursionError) as err:
        raise not_a_definition(out, f"not JSON: {_short(err)}") from None
    why = meta_problem(data)
    if why:
        raise not_a_definition(out, why)
    checked: dict[str, Any] = data
    return checked


def _short(err: BaseException) -> str:
    text = str(err) or type(err).__name__
    return text if len(text) <= 80 else text[:77] + "..."


def not_a_definition(out: Path, why: str) -> UsageError:
    """The one line of a sweep.json that is not a sweep's definition, and what to do."""
    return UsageError(
        f"{META} in {out} is not a sweep definition ({why}); remove the folder, or sweep into it with --replace"
    )


def meta_problem(meta: Any) -> str:
    """Why ``meta`` (a decoded sweep.json) is not a sweep's definition ('' when it is one)."""
    if not isinstance(meta, dict):
        return f"a JSON {json_kind(meta)}, not an object"
    missing = [k for k in REQUIRED if k not in meta]
    if missing:
        return f"no {', '.join(missing)}"
    kinds: dict[str, tuple[type, ...]] = {
        "config": (dict,),
        "data_dir": (str,),
        "strategy": (str,),
        "metric": (str,),
        "grid": (list,),
        "from": (str, type(None)),
        "to": (str, type(None)),
        "config_dir": (str,),
        "search": (str,),
        "engine": (str,),
        "tasks": (int,),
    }
    for key, kinds_of in kinds.items():
        if key in meta and (not isinstance(meta[key], kinds_of) or isinstance(meta[key], bool)):
            return f"{key} is a JSON {json_kind(meta[key])}"
    bt = meta.get("config", {}).get("backtest_config")
    if bt is not None and not isinstance(bt, dict):
        return f"config.backtest_config is a JSON {json_kind(bt)}"
    return _value_problem(meta)


def _value_problem(meta: dict[str, Any]) -> str:
    """The values sweep.json's keys must hold: days, a metric to rank by, a grid that parses."""
    for key in ("from", "to"):
        if meta.get(key) is not None:
            try:
                dt.date.fromisoformat(meta[key])
            except ValueError:
                return f"{key} {meta[key]!r} is not a day"
    if meta["metric"] not in rankable():
        return f"metric {meta['metric']!r} is not a numeric report key"
    if meta.get("search", "grid") not in ("grid", "tpe"):
        return f"search {meta['search']!r} is neither grid nor tpe"
    names: list[str] = []
    for entry in meta.get("grid", []):
        try:
            names.append(parse_param(entry)[0] if isinstance(entry, str) else "")
        except UsageError:
            names.append("")
        if not names[-1]:
            return f"grid entry {entry!r} is not NAME=VALUES"
        if names[-1] in names[:-1]:
            return f"grid gives {names[-1]} twice"
    return ""
