"""The sweep driver: a grid of a strategy's parameters over one config, as independent
backtests on an engine (engines.py), results streamed to ``DIR/results.jsonl``.

- ``--param fast=5,10,20`` lists values, ``--param slow=30:120:30`` is a range (start:stop:step,
  stop included); the grid is their product, each combination checked against the strategy's
  declared parameters before anything runs (an unknown name or a bad value is one line).
- ``DIR/results.jsonl``: one JSON object a line — ``spec_hash``, ``params``, ``report`` (the
  broker's report), ``error`` (null or one line), ``seconds`` — appended and flushed as each
  result arrives, so the driver holds no results in memory and a crash loses nothing written.
  A re-run of the same sweep skips every spec whose hash has a line (a line cut by a crash is
  ignored; a task whose worker died is run again). ``DIR/sweep.json`` keeps what the sweep was.
- One folder, one sweep: its definition (``DEFINITION``: the base config and where it was, the
  data dir, the days, the strategy, the grid, the search and, for TPE, the metric it optimises)
  is in sweep.json, and a
  sweep of another definition into the folder is refused before anything runs (``--replace``
  starts the folder over). ``sweep show`` / ``sweep best`` use only the rows of that definition,
  so the best config is the one its row ran.
- The leaderboard ranks by ``--metric`` (a numeric report key, ``rankable()``; higher is better,
  a drawdown being negative), rows without a value last.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import os
import types
from collections.abc import Callable, Generator, Iterator
from contextlib import closing
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union, get_args, get_origin

from trader_cli.core.errors import PluginError, UsageError
from trader_cli.sweep.engines import Engine
from trader_cli.sweep.tasks import spec_hash

if TYPE_CHECKING:
    from trader_cli.core.config import SessionConfig

RESULTS = "results.jsonl"
META = "sweep.json"
SPEC_KEYS = ("config", "config_dir", "data_dir", "from", "to", "strategy")  # a spec but its params
DEFINITION = (*SPEC_KEYS, "grid", "search", "metric")  # what one folder's results are of


def rankable() -> list[str]:
    """The report keys a leaderboard can rank by: the report's numeric ones."""
    from trader_cli.core.broker.models import Report

    def numeric(kind: Any) -> bool:
        parts = get_args(kind) if get_origin(kind) in (Union, types.UnionType) else (kind,)
        return all(p in (int, float, type(None)) for p in parts) and any(p in (int, float) for p in parts)

    return [name for name, field in Report.model_fields.items() if numeric(field.annotation)]


def check_metric(metric: str) -> str:
    """``metric`` if a leaderboard can rank by it, else UsageError listing the keys that can."""
    keys = rankable()
    if metric not in keys:
        raise UsageError(f"--metric {metric}: not a numeric report key; rank by one of {', '.join(keys)}")
    return metric


def parse_param(text: str) -> tuple[str, list[Any]]:
    """``fast=5,10,20`` or ``slow=30:120:30`` → (name, values)."""
    name, sep, values = text.partition("=")
    name = name.strip()
    if not sep or not name.isidentifier() or not values.strip():
        raise UsageError(f"--param '{text}': write NAME=V1,V2,… or NAME=START:STOP:STEP (e.g. fast=5,10,20)")
    if values.count(":") == 2:
        try:
            a, b, step = (float(x) for x in values.split(":"))
        except ValueError:
            raise UsageError(f"--param '{text}': START:STOP:STEP must be numbers, e.g. slow=30:120:30") from None
        if step <= 0 or b < a:
            raise UsageError(f"--param '{text}': give START <= STOP and a STEP above 0")
        n = int((b - a) / step + 1e-9) + 1
        if n > 10_000:
            raise UsageError(f"--param '{text}': {n:,} values; a sweep takes at most 10,000 a parameter")
        return name, [_number(a + k * step) for k in range(n)]
    return name, [_value(v.strip()) for v in values.split(",") if v.strip()]


def _number(x: float) -> int | float:
    return round(x) if abs(x - round(x)) < 1e-9 else round(x, 10)


def _value(text: str) -> Any:
    for cast in (int, float):
        try:
            return _number(cast(text))
        except ValueError:
            continue
    return text


def grid(params: list[str]) -> list[dict[str, Any]]:
    """Every combination of the parameters' values (UsageError when it is empty)."""
    axes = dict(parse_param(p) for p in params)
    if not axes:
        return [{}]
    combos = [dict(zip(axes, values, strict=True)) for values in itertools.product(*axes.values())]
    if not combos:
        raise UsageError("the grid is empty: give each --param at least one value")
    return combos


def build_specs(
    config_path: Path, data_dir: Path | str, strategy: str, params: list[str], first: str | None, last: str | None
) -> list[dict[str, Any]]:
    """The task specs of a sweep, each combination checked against the strategy's parameters."""
    from trader_cli.core.config import load_config
    from trader_cli.core.plugins.loader import find_class, import_file, plugin_name, split_spec, validate_params

    cfg = load_config(config_path)
    file, cls_name = split_spec(strategy)
    path = Path(file).expanduser().resolve()
    cls = find_class(import_file(path), "strategy", cls_name, path)
    name = plugin_name(cls, path)
    validate_params(cls, {}, name)  # its declarations and defaults: the file's fault, not the grid's
    combos = grid(params)
    for combo in combos:
        try:
            validate_params(cls, combo, name)
        except PluginError as err:
            raise UsageError(f"the grid has {combo}: {err}") from None
    spec_file = f"{path}:{cls_name}" if cls_name else str(path)
    base = json.loads(cfg.model_dump_json(by_alias=True, exclude={"strategies"}))
    first, last = _days(cfg, first, last)
    return [
        {
            "config": base,
            "config_dir": str(config_path.resolve().parent),
            "data_dir": data_dir if isinstance(data_dir, str) else str(data_dir.resolve()),  # an s3:// URI stays one
            "from": first,
            "to": last,
            "strategy": spec_file,
            "params": combo,
        }
        for combo in combos
    ]


def _days(cfg: SessionConfig, first: str | None, last: str | None) -> tuple[str | None, str | None]:
    """``--from`` / ``--to`` as ISO days, None where a day is the config's own (so the same sweep
    has the same specs however its days are given); UsageError for a day that is not one."""
    bt = cfg.backtest_config
    own = (bt.start_date, bt.end_date) if bt is not None else (None, None)
    days: list[dt.date | None] = []
    for flag, text in (("--from", first), ("--to", last)):
        try:
            days.append(None if text is None else dt.date.fromisoformat(text.strip()))
        except ValueError:
            raise UsageError(f"{flag} {text}: give a day as YYYY-MM-DD, e.g. 2024-12-02") from None
    start, end = days[0] or own[0], days[1] or own[1]
    if start is not None and end is not None and end < start:
        raise UsageError(f"the sweep would run from {start} to {end}: give a --from on or before its --to")
    canonical = [None if d is None or d == o else d.isoformat() for d, o in zip(days, own, strict=True)]
    return canonical[0], canonical[1]


def sweep_meta(
    specs: list[dict[str, Any]], params: list[str], metric: str, engine: str, search: str, tasks: int
) -> dict[str, Any]:
    """What sweep.json keeps of a sweep: its definition (``DEFINITION``), its engine and tasks."""
    meta = {k: specs[0][k] for k in SPEC_KEYS}
    return meta | {"metric": metric, "engine": engine, "grid": params, "search": search, "tasks": tasks}


def _definition(meta: dict[str, Any]) -> dict[str, Any]:
    """The parts of ``meta`` that say which sweep it is, comparable: the days as run (the
    config's where none was given) and the grid as its values (however they were written)."""
    bt = (meta.get("config") or {}).get("backtest_config") or {}
    out = {k: meta.get(k) for k in DEFINITION}
    out["from"], out["to"] = meta.get("from") or bt.get("start_date"), meta.get("to") or bt.get("end_date")
    axes = dict(parse_param(p) for p in meta.get("grid") or [])
    out["grid"] = {name: sorted(values, key=json.dumps) for name, values in axes.items()}
    return out


def _differences(there: dict[str, Any], here: dict[str, Any]) -> list[str]:
    """How the definition of the sweep in a folder (``there``) differs from this one's."""
    a, b = _definition(there), _definition(here)
    known = [k for k in DEFINITION if k in there]  # a sweep.json of an older version lacks some
    said: list[str] = []
    if any(a[k] != b[k] for k in ("config", "config_dir") if k in known):
        said.append("another base config")
    if any(a[k] != b[k] for k in ("from", "to")):
        said.append(f"days {a['from']}..{a['to']} there, {b['from']}..{b['to']} here")
    for key, label in (("data_dir", "data"), ("strategy", "strategy"), ("search", "search"), ("metric", "metric")):
        if key == "metric" and "tpe" not in (a["search"], b["search"]):
            continue  # a grid's rows are the same whatever ranks them: a re-run re-ranks
        if key in known and a[key] != b[key]:
            said.append(f"{label} {a[key]} there, {b[key]} here")
    if "grid" in known and a["grid"] != b["grid"]:
        said.append(f"grid {' '.join(there['grid']) or '(none)'} there, {' '.join(here['grid']) or '(none)'} here")
    return said


def check_folder(out: Path, meta: dict[str, Any]) -> None:
    """UsageError unless ``out`` is empty of results or holds this sweep's (a re-run resumes)."""
    results = out / RESULTS
    if not results.exists() or results.stat().st_size == 0:
        return
    if not (out / META).exists():
        raise UsageError(f"{out} holds a {RESULTS} but no {META} saying what sweep it is of: give a new --out")
    said = _differences(read_meta(out), meta)
    if said:
        raise UsageError(
            f"{out} holds the results of another sweep ({'; '.join(said)}): give a new --out, "
            "or --replace to start that folder over"
        )


def _prepare(out: Path, meta: dict[str, Any], replace: bool) -> None:
    """The folder ready for this sweep's results: checked (or, with ``replace``, emptied of
    another's), sweep.json written."""
    if not replace:
        check_folder(out, meta)
    out.mkdir(parents=True, exist_ok=True)
    if replace:
        (out / RESULTS).unlink(missing_ok=True)
    _write_meta(out, meta)


def _rows(path: Path) -> Iterator[dict[str, Any]]:
    """The whole lines of results.jsonl in file order (a line cut by a crash is skipped: its
    spec runs again)."""
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            try:
                yield json.loads(line)
            except json.JSONDecodeError:
                continue


def done_hashes(out: Path) -> set[str]:
    """Hashes results.jsonl has a line for (a line cut by a crash, or a worker's death, not)."""
    return set(_results(out))


def _results(out: Path) -> dict[str, dict[str, Any]]:
    """The last row of each spec in results.jsonl that is a result (not a died worker's: that
    spec runs again); none when there is no file yet."""
    path = out / RESULTS
    return {row["spec_hash"]: row for row in _rows(path) if not _died(row)} if path.exists() else {}


def _died(row: dict[str, Any]) -> bool:
    """A row of a task whose worker process died (run again on resume, not a result)."""
    return "worker process died" in str(row.get("error") or "")


def read_results(out: Path) -> Iterator[dict[str, Any]]:
    """The rows of results.jsonl (the last row per spec wins; cut lines skipped)."""
    path = out / RESULTS
    if not path.exists():
        raise UsageError(f"no {RESULTS} in {out} (run a sweep with --out {out} first)")
    yield from {row["spec_hash"]: row for row in _rows(path)}.values()


def leaderboard(rows: list[dict[str, Any]], metric: str) -> list[dict[str, Any]]:
    """Rows ranked by ``metric`` (higher first; rows without it, or failed, last)."""

    def key(row: dict[str, Any]) -> tuple[int, float]:
        value = (row.get("report") or {}).get(metric)
        return (0, -float(value)) if isinstance(value, int | float) else (1, 0.0)

    return sorted(rows, key=key)


def run_sweep(
    specs: list[dict[str, Any]],
    out: Path,
    engine: Engine,
    meta: dict[str, Any],
    on_result: Callable[[dict[str, Any], int, int], None] | None = None,
    replace: bool = False,
) -> tuple[int, int]:
    """Run the specs not done yet, appending each result to results.jsonl as it arrives;
    (ran, skipped). A folder holding another sweep's results is refused (``check_folder``)
    unless ``replace``: then its results are dropped first."""
    _prepare(out, meta, replace)
    done = done_hashes(out)
    todo = [s for s in specs if spec_hash(s) not in done]
    skipped = len(specs) - len(todo)
    ran = 0
    with closing(_appended(engine, todo, out)) as rows:
        for row in rows:
            ran += 1
            if on_result is not None:
                on_result(row, ran, len(todo))
    return ran, skipped


def _appended(engine: Engine, specs: list[dict[str, Any]], out: Path) -> Generator[dict[str, Any], None, None]:
    """``engine.run(specs)``, each row appended to results.jsonl (one write a line, fsynced:
    whole or cut) before it is handed on; closed early (Ctrl-C), the engine cancels what is
    pending and what finished is written."""
    fd = os.open(out / RESULTS, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    results = engine.run(specs)
    try:
        for row in results:
            os.write(fd, (json.dumps(row, default=str) + "\n").encode())
            os.fsync(fd)
            yield row
    finally:
        close = getattr(results, "close", None)
        if close is not None:
            close()
        os.close(fd)


def _write_meta(out: Path, meta: dict[str, Any]) -> None:
    from trader_cli.core.atomic import write_atomic

    write_atomic(out / META, json.dumps(meta, indent=1, default=str))


def read_meta(out: Path) -> dict[str, Any]:
    """What the sweep in ``out`` was (its base spec, metric, engine)."""
    path = out / META
    if not path.exists():
        raise UsageError(f"no {META} in {out} (run a sweep with --out {out} first)")
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def board(out: Path, metric: str | None = None) -> tuple[dict[str, Any], list[dict[str, Any]], int]:
    """The sweep in ``out``: its sweep.json, its rows ranked by ``metric`` (default: the
    sweep's), and how many rows of results.jsonl are of another definition, left out (a folder
    that mixed sweeps before they were refused; a sweep.json of an older version is trusted)."""
    meta = read_meta(out)
    rows = list(read_results(out))
    if all(k in meta for k in SPEC_KEYS):
        ours = [r for r in rows if spec_hash(_spec_of(meta, r["params"])) == r["spec_hash"]]
    else:
        ours = rows
    return meta, leaderboard(ours, metric or meta["metric"]), len(rows) - len(ours)


def _spec_of(meta: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    """The spec of the sweep in sweep.json with ``params``: the one its row ran."""
    return {k: meta[k] for k in SPEC_KEYS} | {"params": params}


def best_config(out: Path, metric: str | None = None) -> dict[str, Any]:
    """The best row's spec as a session config (its strategy with the row's params, its dates)."""
    meta, rows, _ = board(out, metric)
    ok = [r for r in rows if r.get("error") is None and r.get("report")]
    if not ok:
        raise UsageError(f"no finished result in {out / RESULTS} yet")
    best = ok[0]
    cfg = dict(meta["config"])
    bt = dict(cfg.get("backtest_config") or {})
    if meta.get("from"):
        bt["start_date"] = meta["from"]
    if meta.get("to"):
        bt["end_date"] = meta["to"]
    cfg["backtest_config"] = bt
    cfg["data_dir"] = meta["data_dir"]
    file, _, cls = meta["strategy"].partition(":")
    entry: dict[str, Any] = {"file": file, "params": best["params"]}
    if cls:
        entry["class"] = cls
    cfg["strategies"] = [entry]
    return cfg


def run_tpe(
    specs: list[dict[str, Any]],
    params: list[str],
    trials: int,
    metric: str,
    out: Path,
    engine: Engine,
    meta: dict[str, Any],
    on_result: Callable[[dict[str, Any], int, int], None] | None = None,
    seed: int = 0,
    replace: bool = False,
) -> tuple[int, int]:
    """``--search tpe``: Optuna's TPE sampler (ask/tell, in the driver) over the grid's values as
    categorical choices, ``trials`` trials in batches of the engine's workers; every trial's
    result goes to results.jsonl like a grid row (a combination already there is told, not run
    again: a re-run resumes; one whose worker died runs again, as in a grid; the folder is
    checked, or replaced, as ``run_sweep``'s). (ran, reused)."""
    try:
        import optuna
    except ImportError:
        raise UsageError("--search tpe needs the sweep extra: pip install 'trader-cli[sweep]' (optuna)") from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    axes = dict(parse_param(p) for p in params)
    if not axes:
        raise UsageError("--search tpe needs at least one --param to search over")
    by_combo = {json.dumps(s["params"], sort_keys=True): s for s in specs}
    _prepare(out, meta, replace)
    known = _results(out)
    dists: dict[str, optuna.distributions.BaseDistribution] = {
        k: optuna.distributions.CategoricalDistribution(v) for k, v in axes.items()
    }
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed))
    ran = reused = 0
    while ran + reused < trials:
        batch = [study.ask(dists) for _ in range(min(max(1, engine.workers), trials - ran - reused))]
        todo: dict[str, tuple[dict[str, Any], list[Any]]] = {}  # spec hash -> (spec, the trials asking it)
        for trial in batch:
            spec = by_combo[json.dumps(trial.params, sort_keys=True)]
            h = spec_hash(spec)
            row = known.get(h)
            if row is not None:
                _tell(study, trial, _metric_of(row, metric))
                reused += 1
            else:
                todo.setdefault(h, (spec, []))[1].append(trial)
        with closing(_appended(engine, [spec for spec, _ in todo.values()], out)) as rows:
            for row in rows:
                known[row["spec_hash"]] = row
                asking = todo[row["spec_hash"]][1]  # a batch may ask one combination twice: run once
                for trial in asking:
                    _tell(study, trial, _metric_of(row, metric))
                ran += 1
                reused += len(asking) - 1
                if on_result is not None:
                    on_result(row, ran + reused, trials)
    return ran, reused


def _tell(study: Any, trial: Any, value: float | None) -> None:
    """A trial's result to Optuna: its value, or failed (no value: the row failed)."""
    from optuna.trial import TrialState

    if value is None:
        study.tell(trial, state=TrialState.FAIL)
    else:
        study.tell(trial, value)


def _metric_of(row: dict[str, Any], metric: str) -> float | None:
    """A row's metric for Optuna (None: the trial failed or has no value: told as failed)."""
    v = (row.get("report") or {}).get(metric)
    return float(v) if isinstance(v, int | float) and v == v else None
