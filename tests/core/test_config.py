"""Session config: defaults, the shipped config, error messages naming field and value, and the
data-dir precedence."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from trader_cli.core.config import (
    ConfigProblem,
    SessionConfig,
    config_schema,
    load_config,
    parse_config,
    resolve_data_dir,
)
from trader_cli.core.config_check import check_config
from trader_cli.core.errors import ConfigError
from trader_cli.core.intervals import Interval

REPO = Path(__file__).resolve().parents[2]
BACKTEST = {"start_date": "2024-12-02", "end_date": "2024-12-03"}


def backtest(**session_data: Any) -> dict[str, Any]:
    """A minimal valid backtest config with the given session_data_config keys."""
    return {"backtest_config": dict(BACKTEST), "session_data_config": session_data}


def write_json(tmp_path: Path, data: Any, name: str = "session.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(data, indent=2), encoding="utf-8")
    return path


# -- defaults and the shipped config -----------------------------------------------------------
def test_defaults_of_a_minimal_backtest_config() -> None:
    cfg = parse_config({"backtest_config": BACKTEST})
    assert (cfg.name, cfg.mode, cfg.data_dir) == ("default", "backtest", None)
    assert cfg.backtest_config is not None
    assert cfg.backtest_config.start_date == dt.date(2024, 12, 2)
    assert cfg.backtest_config.speed_multiplier == 0
    data = cfg.session_data_config
    assert (data.symbols, data.base_interval, data.derived_intervals, data.indicators) == ([], "1m", [], [])
    assert data.historical.trailing_days == 5
    assert cfg.intervals() == [Interval.parse("1m")]


def test_a_live_config_needs_no_dates() -> None:
    cfg = parse_config({"mode": "live"})
    assert cfg.mode == "live" and cfg.backtest_config is None


def test_the_shipped_default_config_loads() -> None:
    cfg = load_config(REPO / "configs" / "default.json")
    assert cfg.mode == "backtest"
    assert cfg.backtest_config is not None
    assert cfg.backtest_config.start_date <= cfg.backtest_config.end_date
    data = cfg.session_data_config
    assert data.symbols == ["AAPL", "RIVN"]
    assert [iv.name for iv in cfg.intervals()] == ["1m", "5m", "15m"]
    assert [(i.name, i.params, i.interval) for i in data.indicators] == [("sma", [20], "5m")]
    # Its data_dir points at the shipped sample.
    assert resolve_data_dir(None, cfg, REPO / "configs" / "default.json").resolve() == (REPO / "data").resolve()


def test_every_shipped_config_loads() -> None:
    for path in sorted((REPO / "configs").glob("*.json")):
        load_config(path)


def test_values_are_normalised() -> None:
    cfg = parse_config(
        backtest(
            symbols=["aapl", " brk.b "],
            derived_intervals=["5M", "1h", "5m"],
            base_interval="1M",
            indicators=[{"name": "ema", "params": [9], "interval": "15M"}],
        )
    )
    data = cfg.session_data_config
    assert data.symbols == ["AAPL", "BRK.B"]
    assert data.base_interval == "1m"
    assert data.indicators[0].interval == "15m"
    assert [iv.name for iv in cfg.intervals()] == ["1m", "5m", "1h"]


def test_the_model_is_frozen() -> None:
    cfg = parse_config({"mode": "live"})
    with pytest.raises(ValueError, match="frozen"):
        cfg.name = "other"  # type: ignore[misc]


def test_the_schema_describes_the_top_level_keys() -> None:
    schema = config_schema()
    assert set(schema["properties"]) == set(SessionConfig.model_fields)
    assert schema.get("additionalProperties") is False


# -- error messages ----------------------------------------------------------------------------
def test_an_unknown_key_is_named() -> None:
    with pytest.raises(ConfigError, match=r"^config: unknown key 'sesion_data_config' \(remove it"):
        parse_config({"mode": "live", "sesion_data_config": {}})


def test_an_unknown_nested_key_is_named_with_its_path() -> None:
    with pytest.raises(ConfigError, match=r"unknown key 'session_data_config\.historical\.days'"):
        parse_config(backtest(historical={"days": 3}))


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (
            backtest(derived_intervals=["5m", "7m"]),
            "session_data_config.derived_intervals.1: unknown interval '7m' (use one of 1s, 1m, 5m, 15m, 30m, 1h, 1d)",
        ),
        (
            backtest(base_interval="5m"),
            'session_data_config.base_interval: base_interval must be 1m (sessions replay minute bars) (got "5m")',
        ),
        (  # not "use one of 1s, …": only 1m is a base
            backtest(base_interval="7m"),
            'session_data_config.base_interval: base_interval must be 1m (sessions replay minute bars) (got "7m")',
        ),
        (
            backtest(derived_intervals=["1s"]),
            "session_data_config: derived interval '1s' is shorter than base_interval '1m'",
        ),
        (
            backtest(indicators=[{"name": "sma", "interval": "2m"}]),
            "session_data_config.indicators.0.interval: unknown interval '2m'",
        ),
        (
            backtest(historical={"trailing_days": -1}),
            "session_data_config.historical.trailing_days: Input should be greater than or equal to 0 (got -1)",
        ),
        (backtest(symbols=["AAPL", "no good"]), "session_data_config.symbols.1: bad symbol 'no good'"),
        ({"mode": "paper"}, "mode: Input should be 'backtest' or 'live' (got \"paper\")"),
        (
            {"backtest_config": {"start_date": "2024-12-03", "end_date": "2024-12-02"}},
            "backtest_config: end_date 2024-12-02 is before start_date 2024-12-03",
        ),
        (
            {"backtest_config": {"start_date": "2024-13-01", "end_date": "2024-12-02"}},
            "backtest_config.start_date: Input should be a valid date",
        ),
        (
            {"backtest_config": {**BACKTEST, "speed_multiplier": -2}},
            "backtest_config.speed_multiplier: Input should be greater than or equal to 0 (got -2)",
        ),
        ({"mode": "backtest"}, "mode 'backtest' needs backtest_config with start_date and end_date"),
        ({}, "mode 'backtest' needs backtest_config with start_date and end_date"),
        ([], "a config is a JSON object ({...}), found an array"),
    ],
)
def test_bad_values_name_the_field_and_the_value(data: Any, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(data, "session.json")
    message = str(info.value)
    assert message.startswith("session.json: ")
    assert expected in message
    assert "{…}" not in message


def test_several_problems_are_counted() -> None:
    with pytest.raises(ConfigError, match=r"\(and 1 more problem\(s\)\)$"):
        parse_config({"mode": "paper", "name": 3, "backtest_config": BACKTEST})


def test_bad_json_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{\n  "name": "x",\n  "mode": "live"\n  "data_dir": "d"\n}\n')
    with pytest.raises(ConfigError, match=r"broken\.json: not valid JSON at line 4 column 3"):
        load_config(path)


def test_a_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"no config file at .*nope\.json"):
        load_config(tmp_path / "nope.json")


def test_a_config_file_error_names_the_file(tmp_path: Path) -> None:
    path = write_json(tmp_path, {"mode": "live", "colour": "blue"})
    with pytest.raises(ConfigError, match=rf"^{path}: unknown key 'colour'"):
        load_config(path)


# -- data dir precedence -----------------------------------------------------------------------
@pytest.fixture
def no_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    monkeypatch.delenv("TRADER_CLI_DATA_DIR", raising=False)
    return monkeypatch


def test_the_option_wins(no_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    no_env.setenv("TRADER_CLI_DATA_DIR", "/from/env")
    cfg = parse_config({"mode": "live", "data_dir": "from-config"})
    assert resolve_data_dir("/from/option", cfg, tmp_path / "c.json") == Path("/from/option")


def test_then_the_environment(no_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    no_env.setenv("TRADER_CLI_DATA_DIR", "/from/env")
    cfg = parse_config({"mode": "live", "data_dir": "from-config"})
    assert resolve_data_dir(None, cfg, tmp_path / "c.json") == Path("/from/env")


def test_then_the_config_relative_to_its_file(no_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "cfg").mkdir()
    path = write_json(tmp_path, {"mode": "live", "data_dir": "../bars"}, name="cfg/c.json")
    cfg = load_config(path)
    got = resolve_data_dir(None, cfg, path)
    assert got == tmp_path / "cfg" / ".." / "bars"
    assert got.resolve() == (tmp_path / "bars").resolve()


def test_an_absolute_config_data_dir_is_kept(no_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    cfg = parse_config({"mode": "live", "data_dir": str(tmp_path / "abs")})
    assert resolve_data_dir(None, cfg, "/elsewhere/c.json") == tmp_path / "abs"


def test_a_config_without_a_file_is_relative_to_the_working_dir(no_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    no_env.chdir(tmp_path)
    cfg = parse_config({"mode": "live", "data_dir": "mine"})
    assert resolve_data_dir(None, cfg, None) == tmp_path / "mine"


def test_finally_data_in_the_working_dir(no_env: pytest.MonkeyPatch) -> None:
    assert resolve_data_dir(None, None, None) == Path("data")
    cfg = parse_config({"mode": "live"})  # a config without data_dir falls through too
    assert resolve_data_dir(None, cfg, "/x/c.json") == Path("data")


def test_empty_option_and_environment_are_unset(no_env: pytest.MonkeyPatch) -> None:
    no_env.setenv("TRADER_CLI_DATA_DIR", "")
    assert resolve_data_dir("", None, None) == Path("data")


# -- hostile files are one ConfigError line ----------------------------------------------------
@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ('{"name": "x", "mode": ' + "9" * 5000 + "}", r"a number with more than 4300 digits"),
        ("[" * 100_000 + "]" * 100_000, r"nested too deeply"),
    ],
    ids=["5000-digit-integer", "100k-nested"],
)
def test_hostile_json_is_one_config_error(tmp_path: Path, text: str, reason: str) -> None:
    path = tmp_path / "hostile.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=rf"^{path}: not valid JSON: {reason}") as info:
        load_config(path)
    assert "\n" not in str(info.value)
    assert [p.location for p in check_config(path).problems] == ["(file)"]


def test_a_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "excel.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps({"mode": "live", "name": "bom"}).encode())
    assert load_config(path).name == "bom"


# -- check_config: every problem start would meet, short of reading bars -----------------------
def good(tmp_path: Path, **over: Any) -> Path:
    """A config over a data dir with a bars/ folder (over: top-level keys to replace)."""
    (tmp_path / "data" / "bars").mkdir(parents=True, exist_ok=True)
    data: dict[str, Any] = {
        "mode": "backtest",
        "data_dir": "data",
        "backtest_config": dict(BACKTEST),
        "session_data_config": {
            "symbols": ["AAPL", "MSFT"],
            "derived_intervals": ["5m"],
            "indicators": [{"name": "sma", "params": [20], "interval": "5m"}],
        },
    }
    data.update(over)
    return write_json(tmp_path, data)


def problems_of(path: Path, data_dir_option: str | None = None) -> dict[str, str]:
    return {p.location: p.problem for p in check_config(path, data_dir_option).problems}


def test_a_good_config_has_no_problems(no_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    check = check_config(good(tmp_path))
    assert check.problems == []
    assert check.config is not None and check.data_dir == tmp_path / "data"


def test_the_shipped_configs_have_no_problems(no_env: pytest.MonkeyPatch) -> None:
    for path in sorted((REPO / "configs").glob("*.json")):
        assert check_config(path).problems == [], path


def test_an_unknown_key_does_not_hide_the_problems_behind_it(no_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    sd = {"symbols": ["AAPL"], "indicators": [{"name": "smaa", "params": [20]}], "colour": "red"}
    found = problems_of(good(tmp_path, foo=1, session_data_config=sd))
    assert found["foo"].startswith("unknown key") and found["session_data_config.colour"].startswith("unknown key")
    assert "smaa" in found["session_data_config.indicators.0"], found


@pytest.mark.parametrize(
    "backtest_config",
    [
        {"start_date": "2024-12-07", "end_date": "2024-12-01"},  # a check of its own (the order of the dates)
        {"start_date": "2024-12-02", "end_date": "2024-12-06", "speed_multiplier": -1},  # a field's bound
    ],
)
def test_a_bad_part_does_not_hide_the_problems_of_the_others(
    no_env: pytest.MonkeyPatch, tmp_path: Path, backtest_config: dict[str, Any]
) -> None:
    """Bad dates or speed are one problem; the indicators and the data dir are still checked,
    and the part left out adds no problem of its own stand-in."""
    sd = {"symbols": ["AAPL"], "indicators": [{"name": "foo", "params": [3]}, {"name": "sma", "params": [0]}]}
    found = problems_of(good(tmp_path, backtest_config=backtest_config, session_data_config=sd, data_dir="nowhere"))
    assert set(found) == {
        "backtest_config" + (".speed_multiplier" if "speed_multiplier" in backtest_config else ""),
        "session_data_config.indicators.0",
        "session_data_config.indicators.1",
        "data_dir",
    }, found
    assert "unknown indicator 'foo'" in found["session_data_config.indicators.0"]


def test_behind_an_unknown_key_plugins_and_the_data_dir_are_checked_where_the_config_is(
    no_env: pytest.MonkeyPatch, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "cfg"
    folder.mkdir()
    (folder / "mine.py").write_text((REPO / "examples" / "strategies" / "ema_cross.py").read_text())
    path = good(folder, foo=1, data_dir="nowhere", strategies=[{"file": "mine.py"}])
    monkeypatch.chdir(tmp_path)  # elsewhere: relative paths are the config folder's
    found = problems_of(path)
    assert set(found) == {"foo", "data_dir"}, found  # the strategy file is there, next to the config


def test_every_schema_problem_is_listed_not_just_the_first(no_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path = write_json(
        tmp_path,
        {
            "mode": "paper",
            "name": 3,
            "backtest_config": dict(BACKTEST),
            "session_data_config": {"symbols": ["AAPL", "no good", "1X"], "derived_intervals": ["7m"]},
        },
    )
    found = problems_of(path)
    assert set(found) == {
        "mode",
        "name",
        "session_data_config.symbols.1",
        "session_data_config.symbols.2",
        "session_data_config.derived_intervals.0",
    }, found
    assert "bad symbol 'no good'" in found["session_data_config.symbols.1"]
    assert "unknown interval '7m'" in found["session_data_config.derived_intervals.0"]


def test_what_start_refuses_is_a_problem(no_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path = good(
        tmp_path,
        data_dir="nowhere",
        backtest_config={"start_date": "2024-12-25", "end_date": "2024-12-25", "speed_multiplier": 1e9},
        session_data_config={
            "symbols": ["AAPL"],
            "indicators": [
                {"name": "smaa", "params": [20]},
                {"name": "sma", "params": [0]},
                {"name": "rsi", "params": [14], "interval": "5m"},
            ],
        },
    )
    found = problems_of(path)
    assert set(found) == {
        "data_dir",
        "backtest_config",
        "backtest_config.speed_multiplier",
        "session_data_config.indicators.0",
        "session_data_config.indicators.1",
    }, found
    assert found["data_dir"].startswith(f"data dir {tmp_path / 'nowhere'} does not exist")
    assert "no NYSE trading days between 2024-12-25 and 2024-12-25" in found["backtest_config"]
    assert "smaa" in found["session_data_config.indicators.0"]
    assert "sma" in found["session_data_config.indicators.1"]


def test_a_data_dir_without_bars_and_the_data_dir_rule(no_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path = good(tmp_path)
    (tmp_path / "empty").mkdir()
    assert "has no bars/ folder" in problems_of(path, str(tmp_path / "empty"))["data_dir"]
    no_env.setenv("TRADER_CLI_DATA_DIR", str(tmp_path / "gone"))
    assert "(from TRADER_CLI_DATA_DIR)" in problems_of(path)["data_dir"]


def test_a_live_config_has_its_keys_and_checked_values(no_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    check = check_config(good(tmp_path, mode="live", backtest_config=None))
    assert check.problems == [] and check.config is not None and check.config.live_config is not None
    lc = check.config.live_config
    assert (lc.provider, lc.feed, lc.paper, lc.grace_seconds, lc.clock.speed) == ("alpaca", "iex", True, 2.0, 1.0)
    bad = good(tmp_path, mode="live", live_config={"clock": {"start": "2024-12-02T09:30:00", "speed": 0}})
    found = problems_of(bad)
    assert "offset" in found["live_config.clock.start"] and "greater than 0" in found["live_config.clock.speed"]
    assert "live_config.feed" in problems_of(good(tmp_path, mode="live", live_config={"feed": "otc"}))


def test_an_unreadable_or_invalid_file_is_one_problem(tmp_path: Path) -> None:
    assert check_config(tmp_path / "nope.json").problems == [
        ConfigProblem("(file)", f"no config file at {tmp_path / 'nope.json'} (see configs/ for examples)")
    ]
    broken = tmp_path / "broken.json"
    broken.write_text('{\n  "name": "x",\n  oops\n}\n')
    (problem,) = check_config(broken).problems
    assert problem.location == "line 3 column 3"


def test_config_check_meets_the_plugins_as_the_start_does(no_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A strategy's constructor runs (its PluginError is a problem), and a scanner's schedule in
    the config changes the fields it gives of the scanner's own, as at the start."""
    (tmp_path / "picky.py").write_text(
        "from trader_cli.plugins import Param, PluginError, Strategy\n"
        "class P(Strategy):\n    name = 'picky'\n    params = (Param('n', int, 3),)\n"
        "    def __init__(self, **kw):\n        super().__init__(**kw)\n"
        "        if self.n % 2:\n            raise PluginError(f'n={self.n} must be even')\n"
    )
    (tmp_path / "window.py").write_text(
        "from trader_cli.plugins import Scanner, Schedule\n"
        "class W(Scanner):\n    name = 'window'\n"
        "    def default_schedule(self):\n        return Schedule(start='09:45', end='10:00')\n"
    )
    found = problems_of(
        good(
            tmp_path,
            strategies=[{"file": "picky.py"}],
            scanners=[{"file": "window.py", "schedule": {"start": "11:00"}}],  # after its own end: never runs
        )
    )
    assert found["strategies.0"] == "n=3 must be even", found
    assert "schedule start 11:00 is after its end 10:00" in found["scanners.0"], found
