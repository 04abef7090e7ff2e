"""A plugin that refuses its own parameters on purpose, gap_scanner's ``at`` before the first bar
has ended, and a scanner told once about a universe ticker the store has no bars of."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.core.test_plugin_faults import plugin, sample, shell, status  # noqa: F401 (sample: a fixture)
from tests.core.test_plugins import REPO, run

GAP = REPO / "examples" / "scanners" / "gap_scanner.py"


@pytest.fixture(autouse=True)
def _isolated(isolated: Path) -> None:
    """Each test in a HOME and working directory of its own (tests/conftest.py)."""


@pytest.mark.parametrize("where", ["init", "needs", "schedule"])
def test_a_plugin_error_raised_while_loading_is_its_one_line(sample: Path, tmp_path: Path, where: str) -> None:  # noqa: F811
    kind = "scanner" if where == "schedule" else "strategy"
    path = plugin(
        tmp_path,
        "picky",
        f"""
        class P({"Scanner" if kind == "scanner" else "Strategy"}):
            name = "picky"
            params = (Param("n", int, 3),)
            def __init__(self, **kw):
                super().__init__(**kw)
                if "{where}" == "init":
                    raise PluginError(f"n={{self.n}} must be even")
            def needs(self):
                raise PluginError(f"n={{self.n}} must be even")
            def default_schedule(self):
                raise PluginError(f"n={{self.n}} must be even")
        """,
    )
    sh = shell(sample, tmp_path)
    try:
        res = sh(f"{kind} load {path}")
        assert res.code == 1 and status(sh, kind) == {}, res.err
        assert res.err.strip() == "error: picky: n=3 must be even", res.err  # no traceback pointer, no "raised"
        assert not (tmp_path / "home" / "state" / "trader-cli" / "plugins.log").exists()
    finally:
        sh.obj.coordinator.shutdown()


@pytest.mark.parametrize("at", ["09:30", "08:00", "9:15"])
def test_gap_scanner_refuses_a_scan_before_the_first_bar_has_ended(sample: Path, tmp_path: Path, at: str) -> None:  # noqa: F811
    sh = shell(sample, tmp_path)
    try:
        res = sh(f"scanner load {GAP} at={at}")
        assert res.code == 1 and status(sh, "scanner") == {}, res.err
        assert f"gap_scanner: at {at}: today's 09:30 bar has not ended by then" in res.err, res.err
        assert "give 09:31 or later" in res.err
        run(sh, f"scanner load {GAP} at=09:31 min_gap_pct=0")  # the first minute it can read a gap
        run(sh, "time advance 2m")
        assert status(sh, "scanner")["gap_scanner"]["adds"] == 5
    finally:
        sh.obj.coordinator.shutdown()


def test_a_universe_ticker_without_stored_bars_is_said_once(sample: Path, tmp_path: Path) -> None:  # noqa: F811
    sh = shell(sample, tmp_path)
    try:
        run(sh, f"scanner load {GAP} universe=ZZZZ,AMZN min_gap_pct=0")
        first = sh("time advance 1d")
        second = sh("time advance 1d")
        said = "gap_scanner: ZZZZ has no 1m bars in the store, so its scans skip it"
        assert (first.out + first.err).count(said) == 1, first.out
        assert said not in second.out + second.err  # once, not every day
        assert "AMZN" in run(sh, "data session")  # the stored one is scanned and added
        assert status(sh, "scanner")["gap_scanner"]["add_failures"] == 0
    finally:
        sh.obj.coordinator.shutdown()


def test_a_symbol_removed_and_added_back_gets_its_strategys_needs_again(sample: Path, tmp_path: Path) -> None:  # noqa: F811
    """The bars and indicators a strategy needs left with the symbol; added back (typed, or a
    scanner's), it is in the strategy's bars again, so they come back with it."""
    seen = tmp_path / "seen.txt"
    path = plugin(
        tmp_path,
        "hourly",
        f"""
        import math
        class H(Strategy):
            name = "hourly"
            def needs(self):
                return Needs(intervals=["1h"], indicators=[("sma", [3], "1h")])
            def on_bars(self, bars):
                values = bars.indicator("sma_3_1h")
                for s in bars.symbols:
                    bars.history(s)  # a symbol without its 1h bars would stop the strategy here
                pairs = " ".join(f"{{s}}={{v}}" for s, v in zip(bars.symbols, values))
                with open({str(seen)!r}, "a") as fh:
                    fh.write(f"{{bars.time:%H:%M}} {{pairs}}\\n")
        """,
    )
    sh = shell(sample, tmp_path)
    try:
        run(sh, f"strategy load {path}")
        run(sh, "time advance 70m")
        run(sh, "remove symbol MSFT")
        run(sh, "time advance 5m")
        back = sh("add symbol MSFT")
        assert back.code == 0, back.err
        run(sh, "time advance 2h")
        detail = run(sh, "data symbol MSFT -o json")
        assert "sma_3_1h" in detail and '"1h"' in detail, detail
        assert status(sh)["hourly"]["state"] == "running", status(sh)["hourly"]
    finally:
        sh.obj.coordinator.shutdown()
    last = seen.read_text().splitlines()[-1]
    assert last.startswith("11:30 ") and "MSFT=" in last and "MSFT=nan" not in last, seen.read_text()


@pytest.mark.parametrize("every_at_load", [None, "10m"])
def test_a_scanner_reload_takes_its_edited_schedule_keeping_what_the_load_changed(
    sample: Path,  # noqa: F811
    tmp_path: Path,
    every_at_load: str | None,
) -> None:
    seen = tmp_path / "scans.txt"
    body = f"""
        EVERY = "15m"
        class S(Scanner):
            name = "every"
            def default_schedule(self):
                return Schedule(start="10:00", every=EVERY)
            def scan(self, ctx):
                with open({str(seen)!r}, "a") as fh:
                    fh.write(f"{{ctx.now:%H:%M}}\\n")
        """
    path = plugin(tmp_path, "every", body)
    sh = shell(sample, tmp_path)
    try:
        run(sh, f"scanner load {path}" + (f" --every {every_at_load}" if every_at_load else ""))
        run(sh, "time until 10:31")
        path.write_text(path.read_text().replace('EVERY = "15m"', 'EVERY = "30m"'))
        res = sh("scanner reload every")
        assert res.code == 0, res.err
        run(sh, "time until 11:31")
        sched = status(sh, "scanner")["every"]["schedule"]
    finally:
        sh.obj.coordinator.shutdown()
    said = " ".join((res.out + res.err).split())
    times = seen.read_text().split()
    if every_at_load is None:  # the file's new schedule, said
        assert "scanner every reloaded; its schedule is now from 10:00 every 30m" in said, said
        assert sched["every"] == "30m" and times == ["10:00", "10:15", "10:30", "11:00", "11:30"], times
    else:  # --every given at load stays what it was
        assert "its schedule is now" not in said and sched["every"] == "10m"
        assert times == ["10:00", "10:10", "10:20", "10:30", "10:40", "10:50", "11:00", "11:10", "11:20", "11:30"]


def test_history_refusals_are_plugin_errors_and_a_snapshot_says_it_is_read_only(
    sample: Path,  # noqa: F811
    tmp_path: Path,
) -> None:
    """What the API documents: a bad call raises PluginError (a plugin can catch it); writing to
    an order says it is a read-only snapshot and what to call instead."""
    seen = tmp_path / "seen.txt"
    path = plugin(
        tmp_path,
        "careful",
        f"""
        class C(Strategy):
            name = "careful"
            def needs(self):
                return Needs(intervals=["5m"])
            def on_bars(self, bars):
                out = []
                try:
                    bars.history("ZZZZ", last=2)
                except PluginError as err:
                    out.append(str(err))
                order = bars.buy([0], 1)[0]
                try:
                    order.status = "filled"
                except AttributeError as err:
                    out.append(str(err))
                with open({str(seen)!r}, "w") as fh:
                    fh.write("\\n".join(out))
        """,
    )
    sh = shell(sample, tmp_path)
    try:
        run(sh, f"strategy load {path}")
        run(sh, "time advance 6m")
        assert status(sh)["careful"]["state"] == "running", status(sh)["careful"]
    finally:
        sh.obj.coordinator.shutdown()
    missing, snapshot = seen.read_text().splitlines()
    assert missing.startswith("history('ZZZZ'): ZZZZ is not in the session"), missing
    assert snapshot.startswith("an order is a read-only snapshot (its status cannot be set)"), snapshot


def test_a_reload_after_the_class_was_renamed_says_the_way_out(sample: Path, tmp_path: Path) -> None:  # noqa: F811
    path = plugin(tmp_path, "rn", "class Rl(Strategy):\n    name = 'rn'\n")
    sh = shell(sample, tmp_path)
    try:
        run(sh, f"strategy load {path}")
        path.write_text(path.read_text().replace("class Rl(", "class Rl2("))
        res = sh("strategy reload rn")
    finally:
        sh.obj.coordinator.shutdown()
    assert res.code == 1 and "has no Strategy subclass named Rl (found: Rl2)" in res.err, res.err
    assert f"strategy unload rn, then strategy load {path}:CLASS --as rn" in " ".join(res.err.split()), res.err
