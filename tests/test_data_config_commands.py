"""``data list`` with a bad file, ``data import``'s caption and columns, ``data bars`` without a
session, and ``config check`` listing every problem (also as JSON) — through ``run_line``."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.test_app import ENV_VARS, GOOD_CSV, Shell

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for var in ENV_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "home" / "state"))
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def sample(tmp_path: Path) -> Shell:
    """A shell over a private copy of the bundled sample store."""
    shutil.copytree(ROOT / "data" / "bars", tmp_path / "data" / "bars")
    return Shell(tmp_path / "data")


# -- data list ---------------------------------------------------------------------------------
def test_one_bad_file_is_flagged_and_the_rest_listed(sample: Shell) -> None:
    bad = sample.data_dir / "bars" / "1m" / "MSFT.parquet"
    bad.write_bytes(b"not a parquet file" * 20)
    res = sample("data list --output json")
    assert res.code == 0, res.err
    rows = json.loads(res.out)
    assert len(rows) == 24
    msft = next(r for r in rows if (r["symbol"], r["interval"]) == ("MSFT", "1m"))
    assert "the file is corrupt" in msft["problem"]
    assert all(r["problem"] == "" for r in rows if r is not msft)
    table = sample("data list")
    assert table.code == 0 and "1 file cannot be read" in " ".join(table.out.split())


# -- data import -------------------------------------------------------------------------------
def test_import_names_the_data_dir_and_counts_bars_off_the_session(shell: Shell, tmp_path: Path) -> None:
    hourly = tmp_path / "hourly.csv"
    hourly.write_text(
        "timestamp,open,high,low,close,volume\n"
        + "".join(f"2024-12-02T{h:02d}:00:00-05:00,10,11,9,10.5,100\n" for h in (9, 10, 11, 16)),
        encoding="utf-8",
    )
    res = shell(f"data import {hourly} --symbol SPY --interval 1h --output json")
    assert res.code == 0, res.err
    (row,) = json.loads(res.out)
    assert (row["outside_session"], row["off_session_grid"]) == (2, 2)
    table = shell(f"data import {hourly} --symbol SPY --interval 1h")
    flat = " ".join(table.out.split())
    assert f"data dir: {shell.data_dir}" in flat
    assert "2 bar(s) outside the regular session" in flat and "2 off the session's 1h grid" in flat


def test_import_over_an_unreadable_file_is_refused_unless_replace(shell: Shell, tmp_path: Path) -> None:
    good = tmp_path / "good.csv"
    good.write_text(GOOD_CSV, encoding="utf-8")
    target = shell.data_dir / "bars" / "1m" / "SPY.parquet"
    target.parent.mkdir(parents=True)
    target.write_bytes(b"garbage" * 50)
    res = shell(f"data import {good} --symbol SPY")
    assert res.code == 1 and "SPY's stored 1m file cannot be read" in res.err and "--replace" in res.err
    assert target.read_bytes() == b"garbage" * 50
    res = shell(f"data import {good} --symbol SPY --replace")
    assert res.code == 0, res.err
    flat = " ".join(res.out.split())
    assert "started SPY's 1m file over (--replace); it held an unreadable file" in flat and "corrupt" in flat
    assert shell.stored() == {"SPY": 3}


@pytest.fixture
def shell(tmp_path: Path) -> Shell:
    return Shell(tmp_path / "store")


# -- data bars without a session ---------------------------------------------------------------
def test_data_bars_without_a_session_reads_the_store(sample: Shell) -> None:
    res = sample("data bars AAPL --last 3 --output json")
    assert res.code == 0, res.err
    rows = json.loads(res.out)["bars"]
    assert [r["time"][11:16] for r in rows] == ["15:57", "15:58", "15:59"]
    assert rows[-1]["time"] == "2024-12-31T15:59:00-05:00"
    assert {r["part"] for r in rows} == {"store"}
    window = sample("data bars AAPL 5m --from 2024-12-02 --to 2024-12-02 --last 500 --output json")
    assert window.code == 0, window.err
    got = json.loads(window.out)["bars"]
    assert len(got) == 78 and got[0]["time"][11:16] == "09:30" and got[-1]["time"][11:16] == "15:55"


def test_data_bars_of_a_symbol_not_stored_says_how_to_import(sample: Shell) -> None:
    res = sample("data bars ZZZZ")
    assert res.code == 1 and len(res.err_lines) == 1
    assert "no bars stored" in res.err and "data import" in res.err and "system start" not in res.err


# -- config check ------------------------------------------------------------------------------
def write(tmp_path: Path, data: Any, name: str = "cfg.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def bad_config(tmp_path: Path) -> Path:
    cfg = json.loads((ROOT / "configs" / "default.json").read_text(encoding="utf-8"))
    cfg["data_dir"] = str(ROOT / "data")
    cfg["session_data_config"]["indicators"] = [{"name": "smaa", "params": [20]}, {"name": "sma", "params": [0]}]
    return write(tmp_path, cfg)


def test_config_check_lists_every_problem_as_json_and_fails(tmp_path: Path) -> None:
    sh = Shell(ROOT / "data")
    sh.obj.data_dir_option = None
    res = sh(f"config check {bad_config(tmp_path)} --output json")
    assert res.code == 1
    doc = json.loads(res.out)
    assert doc["valid"] is False and doc["config"] is None
    problems = doc["problems"]
    assert [p["location"] for p in problems] == ["session_data_config.indicators.0", "session_data_config.indicators.1"]
    assert "smaa" in problems[0]["problem"]


def test_config_check_in_a_table_is_one_line_with_every_problem(tmp_path: Path) -> None:
    sh = Shell(ROOT / "data")
    sh.obj.data_dir_option = None
    res = sh(f"config check {bad_config(tmp_path)}")
    assert res.code == 1 and res.out == "" and len(res.err_lines) == 1
    assert "2 problem(s)" in res.err
    assert "session_data_config.indicators.0" in res.err and "session_data_config.indicators.1" in res.err


def test_config_check_shows_indicators_without_a_trailing_comma(tmp_path: Path) -> None:
    sh = Shell(ROOT / "data")
    res = sh(f"config check {ROOT / 'configs' / 'default.json'} --output json")
    assert res.code == 0, res.err
    doc = json.loads(res.out)
    assert doc["valid"] is True and doc["problems"] == []
    values = doc["config"]
    assert values["indicators"] == ["sma(20) on 5m"]
    assert values["symbols"] == ["AAPL", "RIVN"] and values["start_date"] == "2024-12-02"
    assert values["data_dir"] == str(ROOT / "data")


def test_data_list_of_a_data_dir_that_is_not_there_says_so(tmp_path: Path) -> None:
    res = Shell(tmp_path / "typo")("data list")
    said = " ".join(res.out.split())  # the line wraps where the temp path's length puts it
    assert res.code == 0 and "no such folder" in said and "--data-dir" in said
    (tmp_path / "f.csv").write_text("x\n")
    res = Shell(tmp_path / "f.csv")("data list")
    assert res.code == 1
    assert res.err_lines == [
        f"error: data dir {tmp_path / 'f.csv'} is a file, not a folder (give the folder that holds bars/)"
    ]
