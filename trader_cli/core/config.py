"""Session config: a pydantic model of the JSON files under configs/, the data-dir rule, and
``check_config``, which lists every problem ``system start`` would meet short of reading bars.

Data dir precedence: ``--data-dir``, then ``TRADER_CLI_DATA_DIR``, then the config's
``data_dir`` (relative to the config file), then ``./data``. A file may start with a UTF-8
byte-order mark (as editors on Windows write it).
"""

from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from trader_cli.core.errors import ConfigError, DataError, IntervalError, TraderCliError
from trader_cli.core.intervals import Interval

Source = Literal["config", "strategy", "scanner", "adhoc"]


def _interval(text: str) -> Interval:
    """Interval.parse for validators: pydantic reports ValueError with the field's name."""
    try:
        return Interval.parse(text)
    except IntervalError as err:
        raise ValueError(str(err)) from err


def _ticker(text: str) -> str:
    """check_symbol for validators: each bad symbol is its own error, at its index."""
    from trader_cli.core.store import check_symbol  # lazy: the store pulls in numpy

    try:
        return check_symbol(text)
    except DataError as err:
        raise ValueError(str(err)) from err


Ticker = Annotated[str, AfterValidator(_ticker)]


def _interval_name(text: str) -> str:
    return _interval(text).name


IntervalName = Annotated[str, AfterValidator(_interval_name)]


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

    symbols: list[Ticker] = Field(default_factory=list)
    base_interval: str = "1m"
    derived_intervals: list[IntervalName] = Field(default_factory=list)
    historical: HistoricalConfig = Field(default_factory=HistoricalConfig)
    indicators: list[IndicatorConfig] = Field(default_factory=list)

    @field_validator("base_interval")
    @classmethod
    def _base(cls, v: str) -> str:
        try:
            iv = Interval.parse(v)
        except IntervalError:
            iv = None
        if iv is None or iv.name != "1m":
            # The replay steps minute by minute; 1s bars can be stored and imported, not replayed.
            raise ValueError("base_interval must be 1m (sessions replay minute bars)")
        return iv.name

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


class LiveClockConfig(_Strict):
    """The live clock: ``start`` (ISO 8601 with an offset; null: the wall clock) and ``speed``
    (live seconds a wall second), for demos and tests."""

    start: dt.datetime | None = None
    speed: float = Field(default=1.0, gt=0, le=10_000)

    @field_validator("start")
    @classmethod
    def _aware(cls, v: dt.datetime | None) -> dt.datetime | None:
        if v is not None and v.tzinfo is None:
            raise ValueError("give the start with its offset, e.g. 2024-12-02T09:30:00-05:00")
        return v


ALPACA_KEY_VARS = ("APCA_API_KEY_ID", "APCA_API_SECRET_KEY")  # the only place Alpaca's keys come from: the environment


class LiveConfig(_Strict):
    """A live session's connection (keys only from APCA_API_KEY_ID / APCA_API_SECRET_KEY; the
    URLs override the SDK's for tests and proxies)."""

    provider: Literal["alpaca"] = "alpaca"
    feed: Literal["iex", "sip"] = "iex"
    paper: bool = True
    data_url: str | None = None
    stream_url: str | None = None
    trading_url: str | None = None
    grace_seconds: float = Field(default=2.0, ge=0, le=60)
    clock: LiveClockConfig = Field(default_factory=LiveClockConfig)

    @field_validator("data_url", "trading_url")
    @classmethod
    def _http(cls, v: str | None) -> str | None:
        if v is not None and not v.lower().startswith(("http://", "https://")):
            raise ValueError("give an http(s) URL, e.g. https://data.alpaca.markets")
        return v

    @field_validator("stream_url")
    @classmethod
    def _ws(cls, v: str | None) -> str | None:
        if v is not None and not v.lower().startswith(("ws://", "wss://")):
            raise ValueError("give a ws(s) URL, e.g. wss://stream.data.alpaca.markets/v2/iex")
        return v


class BrokerConfig(_Strict):
    """The simulated broker of a backtest: starting cash, fees (per share, at least a minimum per
    fill), slippage on market and stop orders (basis points), whether short selling is allowed,
    and optional limits (dollars per trade, dollars held per symbol, positions open at once, and
    the share of a bar's volume one fill may take, which makes fills partial)."""

    initial_cash: float = Field(default=100_000, gt=0, le=1e12)
    fee_per_share: float = Field(default=0.005, ge=0, le=100)
    fee_min: float = Field(default=1.0, ge=0, le=1e6)
    slippage_bps: float = Field(default=0, ge=0, le=10_000)
    allow_short: bool = False
    max_per_trade: float | None = Field(default=None, gt=0)
    max_per_symbol: float | None = Field(default=None, gt=0)
    max_open_positions: int | None = Field(default=None, ge=1)
    max_participation: float | None = Field(default=None, gt=0, le=1)


class ScheduleConfig(_Strict):
    """When a scanner runs each session (New York times, HH:MM): before the open, at ``start``,
    then every ``every`` until ``end``."""

    pre_session: bool = False
    every: str | None = None
    start: str | None = None
    end: str | None = None


class PluginSpec(_Strict):
    """A strategy to load at start: its file (relative to the config file), class (when the file
    holds several) and parameters."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    file: str = Field(min_length=1)
    class_: str | None = Field(default=None, alias="class")
    params: dict[str, Any] = Field(default_factory=dict)
    name: str | None = Field(default=None, description="the plugin's name in the session (default: its class's)")

    @model_validator(mode="after")
    def _one_class(self) -> PluginSpec:
        if self.class_ is not None and not self.class_.isidentifier():
            raise ValueError(f'class {self.class_!r} is not a Python class name (e.g. "class": "EmaCross")')
        if self.class_ is not None and self.file.rpartition(":")[2].isidentifier():  # file.py:A and "class": B
            raise ValueError(f'the class is named twice ({self.file!r} and "class": {self.class_!r}): give it once')
        return self

    @property
    def spec(self) -> str:
        """``FILE[:CLASS]``."""
        return f"{self.file}:{self.class_}" if self.class_ else self.file


class ScannerSpec(PluginSpec):
    """A scanner to load at start, with its schedule (default: the scanner's own)."""

    schedule: ScheduleConfig | None = None


class SessionConfig(_Strict):
    """A session config file (see configs/default.json)."""

    name: str = "default"
    mode: Literal["backtest", "live"] = "backtest"
    data_dir: str | None = None
    backtest_config: BacktestConfig | None = None
    session_data_config: SessionDataConfig = Field(default_factory=SessionDataConfig)
    broker: BrokerConfig = Field(default_factory=BrokerConfig)
    live_config: LiveConfig | None = None
    strategies: list[PluginSpec] = Field(default_factory=list)
    scanners: list[ScannerSpec] = Field(default_factory=list)
    _dir: Path | None = PrivateAttr(default=None)  # the config file's folder (plugin paths are relative to it)

    @property
    def base_dir(self) -> Path:
        """The folder plugin paths are relative to: the config file's, else the working dir."""
        return self._dir if self._dir is not None else Path.cwd()

    def located(self, path: Path) -> SessionConfig:
        """This config, read from ``path`` (its relative paths resolve against that folder)."""
        self._dir = path.resolve().parent
        return self

    @model_validator(mode="after")
    def _backtest_needs_dates(self) -> SessionConfig:
        if self.mode == "backtest" and self.backtest_config is None:
            raise ValueError("mode 'backtest' needs backtest_config with start_date and end_date")
        return self

    @model_validator(mode="before")
    @classmethod
    def _live_defaults(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("mode") == "live" and data.get("live_config") is None:
            return {**data, "live_config": {}}
        return data

    def intervals(self) -> list[Interval]:
        """Base then derived intervals, shortest first, without repeats."""
        data = self.session_data_config
        names = {data.base_interval, *data.derived_intervals}
        return sorted(Interval.parse(n) for n in names)


@dataclass(frozen=True)
class ConfigProblem:
    """One thing wrong with a config: where (a dotted key, a line, or the file) and what."""

    location: str
    problem: str


def _problem_of(error: Any) -> ConfigProblem:
    """One pydantic error as a problem naming the field and the value."""
    loc = ".".join(str(p) for p in error["loc"]) or "(top level)"
    if error["type"] == "extra_forbidden":
        return ConfigProblem(loc, "unknown key (remove it; see: config schema)")
    if error["type"] in ("model_type", "model_attributes_type", "dict_type"):
        # pydantic names its class here ("instance of BrokerConfig"): say what the file needs.
        return ConfigProblem(loc, f"should be a JSON object ({{...}}), found {_a_json(error.get('input'))}")
    msg = error["msg"].removeprefix("Value error, ")
    value = error.get("input")
    # A whole object says nothing useful: the message names the offending values itself.
    shown = "" if isinstance(value, dict) else f" (got {json.dumps(value, default=str)[:60]})"
    return ConfigProblem(loc, f"{msg}{shown}")


def _describe(err: ValidationError) -> str:
    first = _problem_of(err.errors()[0])
    more = f" (and {len(err.errors()) - 1} more problem(s))" if len(err.errors()) > 1 else ""
    if first.problem.startswith("unknown key"):
        return f"unknown key '{first.location}' (remove it; see: config schema){more}"
    return f"{first.location}: {first.problem}{more}"


def json_kind(value: Any) -> str:
    """What JSON calls the kind of a decoded value: object, array, string, number, boolean, null."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    kinds = ((dict, "object"), (list, "array"), (str, "string"), (int, "number"), (float, "number"))
    return next((name for kind, name in kinds if isinstance(value, kind)), type(value).__name__)


def _a_json(value: Any) -> str:
    """'an array', 'a string', 'null'…"""
    kind = json_kind(value)
    return kind if kind == "null" else f"{'an' if kind[0] in 'aeiou' else 'a'} {kind}"


def _not_an_object(data: Any) -> str | None:
    """Why decoded JSON cannot be a config (its top level is not an object), else None."""
    if isinstance(data, dict):
        return None
    return f"a config is a JSON object ({{...}}), found {_a_json(data)}"


def parse_config(data: Any, origin: str = "config") -> SessionConfig:
    """Validate a decoded JSON object; ConfigError names the field and the value."""
    why = _not_an_object(data)
    if why is not None:
        raise ConfigError(f"{origin}: {why}")
    try:
        return SessionConfig.model_validate(data)
    except ValidationError as err:
        raise ConfigError(f"{origin}: {_describe(err)}") from err
    except RecursionError as err:
        raise ConfigError(f"{origin}: {_TOO_DEEP}") from err
    except TraderCliError as err:
        raise ConfigError(f"{origin}: {err}") from err


_TOO_DEEP = "nested too deeply (arrays or objects inside one another)"


def _decode(p: Path) -> tuple[Any, ConfigProblem | None, str]:
    """The decoded JSON of a config file (an object), or the problem and the one line that says it."""
    try:
        text = p.read_text(encoding="utf-8-sig")  # -sig: a byte-order mark is not content
    except FileNotFoundError:
        line = f"no config file at {p} (see configs/ for examples)"
        return None, ConfigProblem("(file)", line), line
    except UnicodeDecodeError as err:
        why = f"not UTF-8 text (byte 0x{err.object[err.start]:02x} at offset {err.start}): save it as UTF-8"
        return None, ConfigProblem("(file)", why), f"{_printable(p)}: {why}"
    except (OSError, ValueError) as err:  # ValueError: a NUL in the path
        line = f"cannot read config {_printable(p)}: {err}"
        return None, ConfigProblem("(file)", line), line
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        where = f"line {err.lineno} column {err.colno}"
        return None, ConfigProblem(where, f"not valid JSON: {err.msg}"), f"{p}: not valid JSON at {where}: {err.msg}"
    except ValueError as err:  # Python's limit on the digits of an integer
        why = "a number with more than 4300 digits" if "digits" in str(err) else str(err)
        return None, ConfigProblem("(file)", f"not valid JSON: {why}"), f"{p}: not valid JSON: {why}"
    except RecursionError:
        return None, ConfigProblem("(file)", f"not valid JSON: {_TOO_DEEP}"), f"{p}: not valid JSON: {_TOO_DEEP}"
    wrong = _not_an_object(data)
    if wrong is not None:
        return None, ConfigProblem("(file)", wrong), f"{p}: {wrong}"
    return data, None, ""


def load_config(path: str | Path) -> SessionConfig:
    """Read and validate a config file; ConfigError (one line) for anything wrong with it."""
    p = Path(path)
    data, problem, line = _decode(p)
    if problem is not None:
        raise ConfigError(line)
    return parse_config(data, str(p)).located(p)


def _printable(path: Path) -> str:
    """A path fit for a one-line message: control characters escaped."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(path))


def config_schema() -> dict[str, Any]:
    """The JSON Schema of a session config."""
    return SessionConfig.model_json_schema()


def data_dir_text(option: str | None, config: SessionConfig | None, config_path: str | Path | None) -> str:
    """The data dir by the precedence rule (see module doc), as given: a path or an s3:// URI."""
    from trader_cli.core.objectstore import is_uri

    if option:
        return option
    env = os.environ.get("TRADER_CLI_DATA_DIR")
    if env:
        return env
    if config is not None and config.data_dir:
        if is_uri(config.data_dir):
            return config.data_dir
        base = Path(config_path).parent if config_path else Path.cwd()
        return str(base / config.data_dir)
    return "data"


def resolve_data_dir(option: str | None, config: SessionConfig | None, config_path: str | Path | None) -> Path:
    """Apply the data-dir precedence (see module doc); an s3:// store is read through its local
    mirror, brought up to date (core/objectstore.py)."""
    from trader_cli.core.objectstore import is_uri, mirror

    text = data_dir_text(option, config, config_path)
    return mirror(text) if is_uri(text) else Path(text)
