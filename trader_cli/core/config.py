"""Session config: a pydantic model of the JSON files under configs/, and the data-dir rule.

Data dir precedence: ``--data-dir``, then ``TRADER_CLI_DATA_DIR``, then the config's
``data_dir`` (relative to the config file), then ``./data``.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from trader_cli.core.errors import ConfigError, DataError, IntervalError, TraderCliError
from trader_cli.core.intervals import Interval

Source = Literal["config", "strategy", "scanner", "adhoc"]


def _interval(text: str) -> Interval:
    """Interval.parse for validators: pydantic reports ValueError with the field's name."""
    try:
        return Interval.parse(text)
    except IntervalError as err:
        raise ValueError(str(err)) from err


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BacktestConfig(_Strict):
    """Backtest dates (inclusive) and replay speed (0 = as fast as possible, 1 = real time)."""

    start_date: dt.date
    end_date: dt.date
    speed_multiplier: float = Field(default=0, ge=0)

    @model_validator(mode="after")
    def _ordered(self) -> BacktestConfig:
        if self.end_date < self.start_date:
            raise ValueError(f"end_date {self.end_date} is before start_date {self.start_date}")
        return self


class HistoricalConfig(_Strict):
    """How many trading days of history to load before each session day."""

    trailing_days: int = Field(default=5, ge=0, le=2000)


class IndicatorConfig(_Strict):
    """One indicator: name, positional params, interval (default: the base interval)."""

    name: str
    params: list[float | int] = Field(default_factory=list)
    interval: str | None = None

    @field_validator("interval")
    @classmethod
    def _interval(cls, v: str | None) -> str | None:
        return None if v is None else _interval(v).name


class SessionDataConfig(_Strict):
    """What the session holds for each config symbol."""

    symbols: list[str] = Field(default_factory=list)
    base_interval: str = "1m"
    derived_intervals: list[str] = Field(default_factory=list)
    historical: HistoricalConfig = Field(default_factory=HistoricalConfig)
    indicators: list[IndicatorConfig] = Field(default_factory=list)

    @field_validator("symbols")
    @classmethod
    def _symbols(cls, v: list[str]) -> list[str]:
        from trader_cli.core.store import check_symbol  # lazy: the store pulls in numpy

        try:
            return [check_symbol(s) for s in v]
        except DataError as err:
            raise ValueError(str(err)) from err

    @field_validator("base_interval")
    @classmethod
    def _base(cls, v: str) -> str:
        iv = _interval(v)
        if iv.name != "1m":
            # The replay steps minute by minute; 1s bars can be stored and imported, not replayed.
            raise ValueError("base_interval must be 1m (sessions replay minute bars)")
        return iv.name

    @field_validator("derived_intervals")
    @classmethod
    def _derived(cls, v: list[str]) -> list[str]:
        return [_interval(x).name for x in v]

    @model_validator(mode="after")
    def _derived_from_base(self) -> SessionDataConfig:
        base = Interval.parse(self.base_interval)
        for name in self.derived_intervals:
            if Interval.parse(name) < base:
                raise ValueError(
                    f"derived interval '{name}' is shorter than base_interval "
                    f"'{self.base_interval}', so it cannot be built from it"
                )
        return self


class SessionConfig(_Strict):
    """A session config file (see configs/default.json)."""

    name: str = "default"
    mode: Literal["backtest", "live"] = "backtest"
    data_dir: str | None = None
    backtest_config: BacktestConfig | None = None
    session_data_config: SessionDataConfig = Field(default_factory=SessionDataConfig)

    @model_validator(mode="after")
    def _backtest_needs_dates(self) -> SessionConfig:
        if self.mode == "backtest" and self.backtest_config is None:
            raise ValueError("mode 'backtest' needs backtest_config with start_date and end_date")
        return self

    def intervals(self) -> list[Interval]:
        """Base then derived intervals, shortest first, without repeats."""
        data = self.session_data_config
        names = {data.base_interval, *data.derived_intervals}
        return sorted(Interval.parse(n) for n in names)


def _describe(err: ValidationError) -> str:
    first = err.errors()[0]
    loc = ".".join(str(p) for p in first["loc"]) or "(top level)"
    msg = first["msg"].removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        return f"unknown key '{loc}' (remove it; see: config schema)"
    value = first.get("input")
    # A whole object says nothing useful: the message names the offending values itself.
    shown = "" if isinstance(value, dict) else f" (got {json.dumps(value, default=str)[:60]})"
    more = f" (and {len(err.errors()) - 1} more problem(s))" if len(err.errors()) > 1 else ""
    return f"{loc}: {msg}{shown}{more}"


def parse_config(data: Any, origin: str = "config") -> SessionConfig:
    """Validate a decoded JSON object; ConfigError names the field and the value."""
    try:
        return SessionConfig.model_validate(data)
    except ValidationError as err:
        raise ConfigError(f"{origin}: {_describe(err)}") from err
    except TraderCliError as err:
        raise ConfigError(f"{origin}: {err}") from err


def load_config(path: str | Path) -> SessionConfig:
    """Read and validate a config file."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError as err:
        raise ConfigError(f"no config file at {p} (see configs/ for examples)") from err
    except (OSError, ValueError) as err:  # ValueError: undecodable text, a NUL in the path
        raise ConfigError(f"cannot read config {_printable(p)}: {err}") from err
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise ConfigError(f"{p}: not valid JSON at line {err.lineno} column {err.colno}: {err.msg}") from err
    return parse_config(data, str(p))


def _printable(path: Path) -> str:
    """A path fit for a one-line message: control characters escaped."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(path))


def config_schema() -> dict[str, Any]:
    """The JSON Schema of a session config."""
    return SessionConfig.model_json_schema()


def resolve_data_dir(option: str | None, config: SessionConfig | None, config_path: str | Path | None) -> Path:
    """Apply the data-dir precedence (see module doc)."""
    if option:
        return Path(option)
    env = os.environ.get("TRADER_CLI_DATA_DIR")
    if env:
        return Path(env)
    if config is not None and config.data_dir:
        base = Path(config_path).parent if config_path else Path.cwd()
        return base / config.data_dir
    return Path("data")
