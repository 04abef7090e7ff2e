"""The sweep's one task contract: a JSON-only spec in, a JSON result out.

A spec is ``{"config": {...the session config, as JSON...}, "config_dir": "…", "data_dir":
"…", "from": "YYYY-MM-DD" | null, "to": … | null, "strategy": "FILE[:CLASS]", "params": {…}}``
— nothing but JSON, so any engine (a process pool, a Dask cluster) can carry it, and a worker
opens the store itself: bars never travel with the task. ``run_task(spec)`` runs that backtest to
its end in-process (the same coordinator as ``system start``, the strategy loaded as ``strategy
load`` does) and returns ``{"spec_hash", "params", "report", "error", "seconds", "version"}``;
a task that fails is a result with its error (one line), never an exception.

``spec_hash`` is the SHA-256 of the spec's canonical JSON: the key results.jsonl is resumed by.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any


def spec_hash(spec: dict[str, Any]) -> str:
    """The spec's key (canonical JSON, SHA-256, 16 hex digits)."""
    blob = json.dumps(spec, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def version() -> str:
    """The trader-cli version a worker runs (the sweep checks workers match the driver)."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as dist_version

    try:
        return dist_version("trader-cli")
    except PackageNotFoundError:
        return "unknown"


def run_task(spec: dict[str, Any]) -> dict[str, Any]:
    """One backtest of ``spec`` to its end: its report, or its error (see the module doc)."""
    t0 = time.perf_counter()
    out: dict[str, Any] = {"spec_hash": spec_hash(spec), "params": spec.get("params", {}), "version": version()}
    try:
        out["report"] = _backtest(spec)
        out["error"] = None
    except Exception as err:  # a task's failure is its row, not the sweep's: reported, never raised
        from trader_cli.core.secrets import redact

        out["report"] = None
        out["error"] = redact(f"{type(err).__name__}: {err}" if not _ours(err) else str(err))
    out["seconds"] = round(time.perf_counter() - t0, 4)
    return out


def _ours(err: BaseException) -> bool:
    from trader_cli.core.errors import TraderCliError

    return isinstance(err, TraderCliError)


def _backtest(spec: dict[str, Any]) -> dict[str, Any]:
    from trader_cli.core.broker.report import build_report
    from trader_cli.core.config import parse_config
    from trader_cli.core.coordinator import SessionCoordinator
    from trader_cli.core.store import DataManager

    raw = json.loads(json.dumps(spec["config"]))
    bt = raw.setdefault("backtest_config", {})
    if spec.get("from"):
        bt["start_date"] = spec["from"]
    if spec.get("to"):
        bt["end_date"] = spec["to"]
    bt["speed_multiplier"] = 0
    raw.pop("strategies", None)  # the sweep's strategy is the one swept
    cfg = parse_config(raw).located(Path(spec["config_dir"]) / "sweep.json")
    from trader_cli.core.objectstore import is_uri, mirror

    data_dir = mirror(spec["data_dir"]) if is_uri(spec["data_dir"]) else Path(spec["data_dir"])  # each worker its own
    coord = SessionCoordinator(DataManager)
    try:
        coord.start(cfg, data_dir, paused=True)
        coord.load_plugin("strategy", spec["strategy"], dict(spec.get("params", {})))
        coord.advance(10**9)
        failed = [s for s in coord.engine.plugins.slots.values() if s.state == "failed"]
        if failed:  # a strategy that raised stopped there: what it did so far is not this backtest
            from trader_cli.core.errors import PluginError

            raise PluginError(f"strategy {failed[0].name} failed: {failed[0].last_error}")
        report = coord.read(build_report)
    finally:
        coord.shutdown()
    data: dict[str, Any] = json.loads(report.model_dump_json())
    return data
