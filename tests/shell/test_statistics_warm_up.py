"""The shell imports the report's statistics library once a backtest has finished (in a thread,
while the trader reads the result), so the first ``report`` does not wait for it; not before."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.core.test_broker_rules import run, sample, write_config  # noqa: F401 (a fixture)
from tests.test_app import Shell
from trader_cli.shell import repl


def test_the_statistics_are_imported_once_a_backtest_finished(
    sample: Path,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(repl, "_statistics_warm", False)
    monkeypatch.delitem(sys.modules, "empyrical", raising=False)  # imported again, as in a new shell
    sh = Shell(sample)
    sh.obj.config_path = str(write_config(tmp_path))
    try:
        assert repl._warm_up_statistics(sh.obj) is None  # no session: nothing to report yet
        run(sh, "system start --paused")
        assert repl._warm_up_statistics(sh.obj) is None  # paused: not yet
        assert not repl._statistics_warm
        run(sh, "system resume")
        run(sh, "system wait")
        thread = repl._warm_up_statistics(sh.obj)
        assert thread is not None and thread.name == "warm-up-statistics"
        assert repl._warm_up_statistics(sh.obj) is None  # once a shell
        thread.join(30)
        assert "empyrical" in sys.modules
    finally:
        sh.obj.coordinator.shutdown()
