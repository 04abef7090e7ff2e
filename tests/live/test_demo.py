"""``demo live``: the bundled sample played by the loopback server on a fast live clock, a live
session against it — what a newcomer runs. Checked: it runs and its bars equal the sample's; a
second ``demo live`` while it runs is refused without touching the running one's server; a day
or symbols the sample does not have are refused with what it has."""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path

import pytest

from tests.live.test_live_session import NY, _now, assert_bars_as_served
from tests.test_app import Shell
from trader_cli.live.demo import DEMO_KEYS


@pytest.fixture
def sh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Shell:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    for k, v in DEMO_KEYS.items():
        monkeypatch.setenv(k, v)  # what the demo sets when none are set (undone after the test)
    s = Shell(tmp_path / "store")
    s.obj.data_dir_option = None
    return s


def _until(sh: Shell, hhmm: str, timeout: float = 30.0) -> None:
    h, m = map(int, hhmm.split(":"))
    want = dt.datetime(2024, 12, 2, h, m, tzinfo=NY)
    end = time.monotonic() + timeout
    while _now(sh) < want:
        assert time.monotonic() < end, f"the demo did not reach {hhmm} (at {_now(sh)})"
        time.sleep(0.05)


@pytest.mark.slow
def test_demo_live_runs_and_a_second_one_is_refused_without_touching_it(sh: Shell, tmp_path: Path) -> None:
    try:
        res = sh("demo live --speed 240 --symbols AAPL,MSFT --at 09:31")
        assert res.code == 0, res.err
        _until(sh, "09:36")
        res = sh("demo live --at 11:00")
        assert res.code == 1 and "a session is already running (stop it first with: system stop)" in res.err
        _until(sh, "09:45")
        out = tmp_path / "x.json"
        assert sh(f"session export {out} --bars").code == 0
        assert "failed" not in sh.err.getvalue()  # no REST backfill failed: the server still serves
    finally:
        sh("system stop")
    export = json.loads(out.read_text())
    assert_bars_as_served(export, ("AAPL", "MSFT"), "09:44")


@pytest.mark.parametrize(
    ("line", "says"),
    [
        ("demo live --day 2025-03-03", "--day 2025-03-03: the sample covers 2024-11-01..2024-12-31"),
        ("demo live --symbols ,", "--symbols: give sample symbols"),
        ("demo live --symbols ZZZZ", "the sample has none of them (it has: AAPL"),
        ("demo live --at 25:00", "--at '25:00': give a New York time"),
    ],
)
def test_what_the_sample_does_not_have_is_refused(sh: Shell, line: str, says: str) -> None:
    res = sh(line)
    assert res.code == 2 and says in res.err, res.err
    assert json.loads(sh("system status --output json").out)["state"] == "stopped"
