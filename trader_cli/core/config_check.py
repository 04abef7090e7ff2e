"""``config check``: every problem ``system start`` would meet with a config, short of reading
bars (the schema, the start's own checks, the plugins, the data dir), listed at once."""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from trader_cli.core.config import (
    _TOO_DEEP,
    ConfigProblem,
    SessionConfig,
    _decode,
    _problem_of,
    resolve_data_dir,
)
from trader_cli.core.errors import TraderCliError


@dataclass
class ConfigCheck:
    """What ``check_config`` found: the config when it validates, the data dir it would use, and
    every problem (none: ``system start`` would accept it, short of the bars themselves)."""

    path: Path
    config: SessionConfig | None = None
    data_dir: Path | None = None
    problems: list[ConfigProblem] = field(default_factory=list)


class ProblemOut(BaseModel):
    """One problem: where (a dotted key, a line, or ``(file)``) and what."""

    location: str
    problem: str


class PluginOut(BaseModel):
    """A configured plugin: ``FILE[:CLASS]`` and its parameters as given."""

    spec: str
    params: dict[str, Any]


class ConfigSummary(BaseModel):
    """What a valid config sets up (paths as the start resolves them)."""

    name: str
    mode: str
    data_dir: str
    start_date: dt.date | None
    end_date: dt.date | None
    speed: float | None
    symbols: list[str]
    base_interval: str
    derived_intervals: list[str]
    trailing_days: int
    indicators: list[str]
    strategies: list[PluginOut]
    scanners: list[PluginOut]


class ConfigCheckOut(BaseModel):
    """``config check``: the file, whether ``system start`` would accept it, every problem,
    and (valid) what it sets up; a config with problems fails the command (exit 1)."""

    file: str
    valid: bool
    problems: list[ProblemOut]
    config: ConfigSummary | None

    @property
    def failed_text(self) -> str:
        """'FILE: N problem(s)' for a config with problems, else ''."""
        return f"{self.file}: {len(self.problems)} problem(s)" if self.problems else ""

    @classmethod
    def of(cls, check: ConfigCheck, shown_path: str) -> ConfigCheckOut:
        """The result of ``check`` (``shown_path``: the file as the user gave it)."""
        from trader_cli.core.indicators import IndicatorRequest

        problems = [ProblemOut(location=p.location, problem=p.problem) for p in check.problems]
        cfg = check.config
        if problems or cfg is None or check.data_dir is None:
            return cls(file=shown_path, valid=False, problems=problems, config=None)
        sd, bt = cfg.session_data_config, cfg.backtest_config
        summary = ConfigSummary(
            name=cfg.name,
            mode=cfg.mode,
            data_dir=str(check.data_dir),
            start_date=bt.start_date if bt else None,
            end_date=bt.end_date if bt else None,
            speed=bt.speed_multiplier if bt else None,
            symbols=list(sd.symbols),
            base_interval=sd.base_interval,
            derived_intervals=list(sd.derived_intervals),
            trailing_days=sd.historical.trailing_days,
            indicators=[
                str(IndicatorRequest.parse(i.name, list(i.params), i.interval or sd.base_interval))
                for i in sd.indicators
            ],
            strategies=[PluginOut(spec=p.spec, params=dict(p.params)) for p in cfg.strategies],
            scanners=[PluginOut(spec=p.spec, params=dict(p.params)) for p in cfg.scanners],
        )
        return cls(file=shown_path, valid=True, problems=[], config=summary)


def check_config(path: str | Path, data_dir_option: str | None = None) -> ConfigCheck:
    """Every problem ``system start`` would meet with this config, short of reading bars: the
    file and its JSON, every schema error, mode, dates with NYSE trading days, speed, each
    indicator and its params (the indicator registry), and the data dir (the precedence rule)."""
    check = ConfigCheck(Path(path))
    data, problem, _ = _decode(check.path)
    if problem is not None:
        check.problems.append(problem)
        return check
    try:
        cfg = SessionConfig.model_validate(data)
    except ValidationError as err:
        check.problems += [_problem_of(e) for e in err.errors()]
        rest, replaced = _without_bad_parts(data, err)  # the checks behind the schema errors run too
        if rest is not None:
            found = _problems(rest.located(check.path), check.path, data_dir_option)[1]
            check.problems += [p for p in found if p.location.split(".")[0] not in replaced]
        return check
    except RecursionError:
        check.problems.append(ConfigProblem("(file)", _TOO_DEEP))
        return check
    check.config = cfg.located(check.path)
    check.data_dir, found = _problems(check.config, check.path, data_dir_option)
    check.problems += found
    return check


def _problems(cfg: SessionConfig, path: Path, data_dir_option: str | None) -> tuple[Path, list[ConfigProblem]]:
    """(the data dir it would use, the problems the start would meet) of a config that validates."""
    data_dir = resolve_data_dir(data_dir_option, cfg, path)
    found = _start_problems(cfg) + _plugin_problems(cfg) + data_dir_problems(data_dir, data_dir_option, cfg)
    return data_dir, found


def _without_bad_parts(data: Any, err: ValidationError) -> tuple[SessionConfig | None, set[str]]:
    """The config with its unknown keys dropped and each top-level part holding another schema
    error left at its default (the dates: a stand-in), so ``config check`` lists the problems of
    the other parts too; (that config or None, the parts left out: their own checks' problems are
    not listed, the schema's are)."""
    import copy

    errors = err.errors()
    if not errors or not isinstance(data, dict):
        return None, set()
    rest = copy.deepcopy(data)
    replaced: set[str] = set()
    for e in errors:
        loc = e["loc"]
        if not loc or not isinstance(loc[0], str):  # the whole config's (mode backtest without dates): no rest
            return None, set()
        if e["type"] != "extra_forbidden":
            replaced.add(loc[0])
            continue
        *path, key = loc
        node = rest
        for part in path:
            node = node[part]
        node.pop(key, None)
    for key in replaced:
        rest.pop(key, None)
    if "backtest_config" in replaced and rest.get("mode", "backtest") == "backtest":
        rest["backtest_config"] = {"start_date": "2024-01-02", "end_date": "2024-01-02"}  # its checks left out
    try:
        return SessionConfig.model_validate(rest), replaced
    except (ValidationError, KeyError, TypeError, IndexError):
        return None, set()


def _plugin_problems(cfg: SessionConfig) -> list[ConfigProblem]:
    """Each configured plugin: its file imports, its class is there, its params validate."""
    from trader_cli.core.plugins.loader import check_spec

    found = []
    names: dict[str, str] = {}
    for kind, specs in (("strategy", cfg.strategies), ("scanner", cfg.scanners)):
        for i, spec in enumerate(specs):
            where = f"{'strategies' if kind == 'strategy' else 'scanners'}.{i}"
            raw_schedule = getattr(spec, "schedule", None)  # the keys given change the scanner's own (as at start)
            schedule = raw_schedule.model_dump(exclude_unset=True) if raw_schedule is not None else None
            name, why = check_spec(kind, spec.spec, spec.params, cfg.base_dir, schedule, spec.name)
            if why:
                found.append(ConfigProblem(where, why))
                continue
            if name in names:
                found.append(
                    ConfigProblem(where, f"a second plugin named {name} (as {names[name]}): names must differ")
                )
            names[name] = where
    return found


def _start_problems(cfg: SessionConfig) -> list[ConfigProblem]:
    """What ``system start`` checks before it reads bars: mode, dates, speed, symbols, indicators."""
    from trader_cli.core.calendar import nyse
    from trader_cli.core.indicators import IndicatorRequest, analyze_indicator_requirements
    from trader_cli.core.lifecycle import check_speed

    found: list[ConfigProblem] = []
    days: list[dt.date] = []
    bt = cfg.backtest_config
    if bt is not None:
        try:
            days = nyse().trading_days(bt.start_date, bt.end_date)
            if not days:
                found.append(
                    ConfigProblem("backtest_config", f"no NYSE trading days between {bt.start_date} and {bt.end_date}")
                )
        except TraderCliError as err:
            found.append(ConfigProblem("backtest_config", str(err)))
        try:
            check_speed(bt.speed_multiplier)
        except TraderCliError as err:
            found.append(ConfigProblem("backtest_config.speed_multiplier", str(err)))
    sd = cfg.session_data_config
    if cfg.mode == "backtest" and not sd.symbols:
        found.append(ConfigProblem("session_data_config.symbols", 'no symbols (list at least one, e.g. ["AAPL"])'))
    for i, ind in enumerate(sd.indicators):
        try:
            request = IndicatorRequest.parse(ind.name, list(ind.params), ind.interval or sd.base_interval)
            if days:
                analyze_indicator_requirements(request, days[0])
        except TraderCliError as err:
            found.append(ConfigProblem(f"session_data_config.indicators.{i}", str(err)))
    return found


def data_dir_problems(data_dir: Path, option: str | None, cfg: SessionConfig) -> list[ConfigProblem]:
    """The data dir must exist and hold a bars/ folder (it says where the dir came from)."""
    if option:
        source = "--data-dir"
    elif os.environ.get("TRADER_CLI_DATA_DIR"):
        source = "TRADER_CLI_DATA_DIR"
    elif cfg.data_dir:
        source = "the config's data_dir, relative to the config file"
    else:
        source = "the default, ./data"
    if not data_dir.is_dir():
        return [ConfigProblem("data_dir", f"data dir {data_dir} does not exist (from {source})")]
    if not (data_dir / "bars").is_dir():
        return [
            ConfigProblem(
                "data_dir",
                f"data dir {data_dir} has no bars/ folder (from {source}); import bars with: "
                "data import FILE.csv --symbol SYM --interval 1m",
            )
        ]
    return []
