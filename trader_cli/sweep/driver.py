"""The sweep driver: a grid of a strategy's parameters over one config, as independent
backtests on an engine (engines.py), results streamed to ``DIR/results.jsonl``.

- The grid (grid.py: ``--param fast=5,10,20``, ``--param slow=30:120:30``, each NAME once) is
  the product of the parameters' values, each combination checked against the strategy's
  declared parameters, and the days (days.py) against the calendar and the store, before
  anything runs (an unknown name, a bad value, days without bars: one line).
- ``DIR/results.jsonl``: one JSON object a line — ``spec_hash``, ``params``, ``report`` (the
  broker's report), ``error`` (null or one line), ``seconds`` — appended and flushed as each
  result arrives, so the driver holds no results in memory and a crash loses nothing written.
  A re-run of the same sweep skips every spec whose hash has a row (a line that is not a row,
  such as one cut by a crash, is skipped and counted, records.py; a task whose worker died is
  run again). ``DIR/sweep.json`` keeps what the sweep was.
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

import hashlib
import json
import math
import os
from collections.abc import Callable, Generator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trader_cli.core.errors import PluginError, UsageError
from trader_cli.sweep.engines import Engine
from trader_cli.sweep.grid import axes, grid
from trader_cli.sweep.grid import check_metric as check_metric  # the command's: one import for the sweep
from trader_cli.sweep.grid import parse_param as parse_param
from trader_cli.sweep.grid import rankable as rankable
from trader_cli.sweep.records import META, RESULTS, Rows, ends_cut, not_a_definition, read_meta, read_rows, write_meta
from trader_cli.sweep.tasks import spec_hash

SPEC_KEYS = ("config", "config_dir", "data_dir", "from", "to", "strategy", "strategy_sha256")  # a spec but its params
DEFINITION = (*SPEC_KEYS, "grid", "search", "metric")  # what one folder's results are of


def build_specs(
    config_path: Path, data_dir: Path | str, strategy: str, params: list[str], first: str | None, last: str | None
) -> list[dict[str, Any]]:
    """The task specs of a sweep, each combination checked against the strategy's parameters."""
    from trader_cli.core.config import load_config
    from trader_cli.core.plugins.loader import find_class, import_file, plugin_name, split_spec, validate_params
    from trader_cli.sweep.days import sweep_days

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
    first, last = sweep_days(cfg, config_path, first, last, data_dir)
    return [
        {
            "config": base,
            "config_dir": str(config_path.resolve().parent),
            "data_dir": data_dir if isinstance(data_dir, str) else str(data_dir.resolve()),  # an s3:// URI stays one
            "from": first,
            "to": last,
            "strategy": spec_file,
            "strategy_sha256": hashlib.sha256(path.read_bytes()).hexdigest()[:16],  # an edited file: not resumed
            "params": combo,
        }
        for combo in combos
    ]


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
    by_name = axes(meta.get("grid") or [])
    out["grid"] = {name: sorted(values, key=json.dumps) for name, values in by_name.items()}
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
    if "strategy_sha256" in known and a["strategy_sha256"] != b["strategy_sha256"]:
        was, now = a["strategy_sha256"], b["strategy_sha256"]
        said.append(f"the strategy file was edited since (sha256 {was} there, {now} here)")
    if "grid" in known and a["grid"] != b["grid"]:
        said.append(f"grid {' '.join(there['grid']) or '(none)'} there, {' '.join(here['grid']) or '(none)'} here")
    return said


def check_folder(out: Path, meta: dict[str, Any], replace: bool = False) -> None:
    """UsageError unless ``out`` is a folder (or none yet) and, but with ``replace``, is empty of
    results or holds this sweep's (a re-run resumes)."""
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file, not a folder: give a folder for the sweep's results")
    if replace:
        return
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
    check_folder(out, meta, replace)
    out.mkdir(parents=True, exist_ok=True)
    if replace:
        (out / RESULTS).unlink(missing_ok=True)
    write_meta(out, meta)


def done_hashes(out: Path) -> set[str]:
    """Hashes results.jsonl has a result row for (a malformed line, or a worker's death, not)."""
    return set(_results(out))


def _results(out: Path) -> dict[str, dict[str, Any]]:
    """The last row of each spec in results.jsonl that is a result (not a died worker's: that
    spec runs again; a line that is not a row: skipped); none when there is no file yet."""
    return {row["spec_hash"]: row for row in read_rows(out).rows if not _died(row)}


def _died(row: dict[str, Any]) -> bool:
    """A row of a task whose worker process died (run again on resume, not a result)."""
    return "worker process died" in str(row.get("error") or "")


def read_results(out: Path) -> Rows:
    """The rows of results.jsonl, the last row per spec (lines that are not rows: counted)."""
    if not (out / RESULTS).exists():
        raise UsageError(f"no {RESULTS} in {out} (run a sweep with --out {out} first)")
    found = read_rows(out)
    return Rows(list({row["spec_hash"]: row for row in found.rows}.values()), found.malformed)


def leaderboard(rows: list[dict[str, Any]], metric: str) -> list[dict[str, Any]]:
    """Rows ranked by ``metric`` (higher first), then the finished rows without a value of it (a
    sortino with no losing day, a sharpe with no trade: not ranked), then the failed ones."""

    def key(row: dict[str, Any]) -> tuple[int, float]:
        if row.get("error") is not None:
            return (2, 0.0)
        value = ranked_value(row, metric)
        return (1, 0.0) if value is None else (0, -value)

    return sorted(rows, key=key)


def ranked_value(row: dict[str, Any], metric: str) -> float | None:
    """A finished row's ``metric`` as it ranks (None: failed, or no finite value: not ranked)."""
    value = (row.get("report") or {}).get(metric)
    if row.get("error") is None and isinstance(value, int | float) and math.isfinite(value):
        return float(value)
    return None


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
    lead = "\n" if ends_cut(out / RESULTS) else ""  # a line cut by a crash: the next row starts anew
    fd = os.open(out / RESULTS, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    results = engine.run(specs)
    try:
        for row in results:
            os.write(fd, (lead + json.dumps(row, default=str) + "\n").encode())
            lead = ""
            os.fsync(fd)
            yield row
    finally:
        close = getattr(results, "close", None)
        if close is not None:
            close()
        os.close(fd)


@dataclass
class Board:
    """The sweep in a folder: its sweep.json, its rows ranked, and what was left out."""

    out: Path
    meta: dict[str, Any]
    rows: list[dict[str, Any]]  # ranked, best first
    foreign: int  # rows of another definition (a folder that mixed sweeps before they were refused)
    malformed: int  # lines of results.jsonl that are not result rows


def board(out: Path, metric: str | None = None) -> Board:
    """The sweep in ``out``: its rows of its own definition ranked by ``metric`` (default: the
    sweep's); a sweep.json of an older version, lacking some of the spec's keys, is trusted."""
    meta = read_meta(out)
    found = read_results(out)
    if all(k in meta for k in SPEC_KEYS):
        ours = [r for r in found.rows if spec_hash(_spec_of(meta, r["params"])) == r["spec_hash"]]
    else:
        ours = found.rows
    ranked = leaderboard(ours, metric or meta["metric"])
    return Board(out, meta, ranked, len(found.rows) - len(ours), found.malformed)


def _spec_of(meta: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    """The spec of the sweep in sweep.json with ``params``: the one its row ran."""
    return {k: meta[k] for k in SPEC_KEYS if k in meta} | {"params": params}  # a sweep before a key was kept


def best_config(found: Board) -> dict[str, Any]:
    """The best row's spec as a session config (its strategy with the row's params, its dates)."""
    meta = found.meta
    missing = [k for k in ("config", "data_dir", "strategy") if k not in meta]
    if missing:
        raise not_a_definition(found.out, f"no {', '.join(missing)}, which its best config is made of")
    ok = [r for r in found.rows if r.get("error") is None and r.get("report")]
    if not ok:
        raise UsageError(f"no finished result in {found.out / RESULTS} yet")
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
) -> tuple[int, int, int]:
    """``--search tpe``: Optuna's TPE sampler (ask/tell, in the driver) over the grid's values as
    categorical choices, ``trials`` trials in batches of the engine's workers; every trial's
    result goes to results.jsonl like a grid row (a combination already there is told, not run
    again: a re-run resumes; one whose worker died runs again, as in a grid; the folder is
    checked, or replaced, as ``run_sweep``'s). (ran, found in results.jsonl from before, suggested
    again in this run: TPE may ask a combination it has tried; it is told, not run again)."""
    try:
        import optuna
    except ImportError:
        raise UsageError("--search tpe needs the sweep extra: pip install 'trader-cli[sweep]' (optuna)") from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    by_name = axes(params)
    if not by_name:
        raise UsageError("--search tpe needs at least one --param to search over")
    by_combo = {json.dumps(s["params"], sort_keys=True): s for s in specs}
    _prepare(out, meta, replace)
    known = _results(out)
    before = set(known)
    dists: dict[str, optuna.distributions.BaseDistribution] = {
        k: optuna.distributions.CategoricalDistribution(v) for k, v in by_name.items()
    }
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed))
    ran = reused = repeated = 0
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
                repeated += h not in before
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
                repeated += len(asking) - 1
                if on_result is not None:
                    on_result(row, ran + reused, trials)
    return ran, reused - repeated, repeated


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
