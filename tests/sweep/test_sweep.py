"""Sweeps on the local process pool: the grid, results.jsonl streamed and resumed, each row
equal to a single backtest of its spec, a worker that dies, bad input, and the best config."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from tests.test_app import Shell
from trader_cli.core.errors import UsageError
from trader_cli.sweep.driver import grid, parse_param

ROOT = Path(__file__).resolve().parents[2]
EMA = ROOT / "examples" / "strategies" / "ema_cross.py"
DATA = ROOT / "data"


@pytest.fixture(autouse=True)
def _isolated(isolated: Path) -> None:
    """Each test in a HOME and working directory of its own (tests/conftest.py)."""


def config(tmp: Path) -> Path:
    cfg = {
        "name": "sweep-test",
        "mode": "backtest",
        "data_dir": str(DATA),
        "backtest_config": {"start_date": "2024-12-02", "end_date": "2024-12-04", "speed_multiplier": 0},
        "session_data_config": {
            "symbols": ["AAPL", "MSFT"],
            "derived_intervals": ["5m"],
            "historical": {"trailing_days": 2},
        },
        "broker": {"initial_cash": 100000},
    }
    path = tmp / "cfg.json"
    path.write_text(json.dumps(cfg))
    return path


def test_the_grid() -> None:
    assert parse_param("fast=5,10,20") == ("fast", [5, 10, 20])
    assert parse_param("slow=30:120:30") == ("slow", [30, 60, 90, 120])
    assert parse_param("x=0.5:1.0:0.25") == ("x", [0.5, 0.75, 1])
    assert len(grid(["a=1,2", "b=3:5:1"])) == 6
    for bad in ("fast", "fast=", "=1", "slow=30:10:5", "slow=a:b:c", "x=1:2:0"):
        with pytest.raises(UsageError):
            parse_param(bad)
    for twice, value in (("fast=5,10,5", "5"), ("fast=5,5.0", "5"), ("fast=05,5", "5"), ("mode=a,b,a", "a")):
        with pytest.raises(UsageError, match=f": {value} is given twice; give each value once"):
            parse_param(twice)  # the same backtest twice
    assert parse_param("mode=a,A") == ("mode", ["a", "A"])


def test_a_sweep_on_two_workers_resumes_and_each_row_equals_a_single_backtest(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    sh = Shell(DATA)
    out = tmp_path / "out"
    line = f"sweep {cfg} --strategy {EMA} --param fast=5,10 --param slow=20,30 --workers 2 --out {out} -o json"
    res = sh(line)
    assert res.code == 0, res.err
    rows = json.loads(res.out)
    assert len(rows) == 4 and all(r["error"] is None for r in rows)
    lines = (tmp_path / "out" / "results.jsonl").read_text().splitlines()
    assert len(lines) == 4 and {"spec_hash", "params", "report", "error", "seconds"} <= json.loads(lines[0]).keys()
    again = sh(line)
    assert again.code == 0 and len((tmp_path / "out" / "results.jsonl").read_text().splitlines()) == 4  # all skipped
    by_params = {(r["params"].split()[0], r["params"].split()[1]): r for r in rows}
    for fast, slow in ((5, 20), (10, 30)):
        single = Shell(DATA)
        single.obj.config_path = str(cfg)
        try:
            assert single("system start --paused").code == 0
            assert single(f"strategy load {EMA} fast={fast} slow={slow}").code == 0
            assert single("time advance 5 sessions").code == 0
            rep = json.loads(single("report -o json").out)["report"]
        finally:
            single.obj.coordinator.shutdown()
        row = by_params[(f"fast={fast}", f"slow={slow}")]
        assert row["total_return"] == rep["total_return"] and row["round_trips"] == rep["round_trips"]
    best = sh(f"sweep best {tmp_path / 'out'} -o json")
    assert best.code == 0
    cfg_best = json.loads(best.out)
    (tmp_path / "best.json").write_text(json.dumps(cfg_best))
    assert sh(f"config check {tmp_path / 'best.json'}").code == 0
    top = max(rows, key=lambda r: r["sharpe"] if r["sharpe"] is not None else -1e9)["params"]
    assert " ".join(f"{k}={v}" for k, v in cfg_best["strategies"][0]["params"].items()) == top


def test_a_dying_worker_is_a_row_and_nothing_is_lost(tmp_path: Path) -> None:
    dies = tmp_path / "dies.py"
    dies.write_text(
        textwrap.dedent(
            """
            import os
            from trader_cli.plugins import Needs, Param, Strategy

            class Dies(Strategy):
                name = "dies"
                params = (Param("n", int, 1, min=1, max=10),)
                def needs(self):
                    return Needs(intervals=["5m"])
                def on_bars(self, bars):
                    if self.n == 3:
                        os._exit(9)  # the worker process dies
            """
        )
    )
    sh = Shell(DATA)
    res = sh(f"sweep {config(tmp_path)} --strategy {dies} --param n=1:4:1 --workers 2 --out {tmp_path / 'o'} -o json")
    assert res.code == 0, res.err
    rows = {r["params"]: r for r in json.loads(res.out)}
    assert len(rows) == 4
    assert "worker process died" in rows["n=3"]["error"]
    assert all(rows[f"n={k}"]["error"] is None for k in (1, 2, 4))
    with open(tmp_path / "o" / "results.jsonl", "a") as fh:
        fh.write('{"spec_hash": "cut')  # a line a crash cut short
    again = sh(f"sweep show {tmp_path / 'o'} -o json")
    assert again.code == 0 and len(json.loads(again.out)) == 4
    # a TPE search resumes the same way: the trial whose worker died runs again. One value, two
    # workers: each batch asks n=3 twice, and it runs once (both trials told its row)
    tpe = (
        f"sweep {config(tmp_path)} --strategy {dies} --param n=3 --search tpe --trials 4 --workers 2 "
        f"--out {tmp_path / 't'}"
    )
    assert sh(tpe).code == 1  # its every task failed
    lines = (tmp_path / "t" / "results.jsonl").read_text().splitlines()
    assert len(lines) == 1 and "worker process died" in lines[0]  # the other three trials: told
    assert sh(tpe).code == 1
    again = (tmp_path / "t" / "results.jsonl").read_text().splitlines()
    assert len(again) == 2 and all("worker process died" in line for line in again)


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (f"--strategy {EMA} --param speed=1,2", "ema_cross has no parameter speed"),
        (f"--strategy {EMA} --param fast=", "--param 'fast='"),
        (f"--strategy {EMA} --param fast=0", "input should be greater than or equal to 1"),
        ("--strategy nope.py --param fast=5", "no plugin file"),
        (f"--strategy {EMA} --engine ray", "--engine ray: use local"),
        (f"--strategy {EMA} --engine local --address tcp://127.0.0.1:1", "are for --engine dask"),
        (f"--strategy {EMA} --metric foo", "--metric foo: not a numeric report key"),
        (f"--strategy {EMA} --from 2024-12-05 --to 2024-12-03", "give a --from on or before its --to"),
        ("--param fast=5", "sweep needs --strategy"),
    ],
)
def test_bad_input_is_one_line(tmp_path: Path, args: str, says: str) -> None:
    res = Shell(DATA)(f"sweep {config(tmp_path)} {args} --out {tmp_path / 'o'}")
    assert res.code != 0 and says in res.err and "Traceback" not in res.err
    assert not (tmp_path / "o" / "results.jsonl").exists()


def test_tpe_search_asks_and_tells_and_resumes(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    sh = Shell(DATA)
    line = (
        f"sweep {cfg} --strategy {EMA} --param fast=3:12:1 --param slow=20:40:10 --search tpe --trials 6 "
        f"--workers 2 --out {tmp_path / 't'} -o json"
    )
    res = sh(line)
    assert res.code == 0, res.err
    rows = json.loads(res.out)
    assert 1 <= len(rows) <= 6 and all(r["error"] is None for r in rows)  # TPE may ask a combination twice
    n = len((tmp_path / "t" / "results.jsonl").read_text().splitlines())
    assert n == len(rows)
    again = sh(line)  # the same seed asks the same trials: all told from results.jsonl
    assert again.code == 0 and len((tmp_path / "t" / "results.jsonl").read_text().splitlines()) == n
    assert sh(f"sweep {cfg} --strategy {EMA} --param fast=5 --trials 3 --out {tmp_path / 'x'}").code != 0


def test_ctrl_c_keeps_the_finished_results_and_a_rerun_finishes(tmp_path: Path) -> None:
    from trader_cli.sweep.driver import build_specs, run_sweep
    from trader_cli.sweep.engines import LocalEngine

    specs = build_specs(config(tmp_path), DATA, str(EMA), ["fast=5,10", "slow=20,30"], None, None)

    class Interrupted(LocalEngine):
        closed = False

        def run(self, specs):  # type: ignore[no-untyped-def]
            inner = super().run(specs)
            try:
                for k, row in enumerate(inner):
                    if k == 2:
                        raise KeyboardInterrupt
                    yield row
            finally:
                Interrupted.closed = True
                inner.close()

    with pytest.raises(KeyboardInterrupt):
        run_sweep(specs, tmp_path / "o", Interrupted(1), {"metric": "sharpe"})
    assert Interrupted.closed
    assert len((tmp_path / "o" / "results.jsonl").read_text().splitlines()) == 2
    ran, skipped = run_sweep(specs, tmp_path / "o", LocalEngine(1), {"metric": "sharpe"})
    assert (ran, skipped) == (2, 2)


def test_tpe_counts_its_own_repeats_apart_from_the_folders_rows(tmp_path: Path) -> None:
    """TPE may ask again a combination it tried in this run: that is told, not run twice, and
    not counted as found in results.jsonl from before (a new folder has none)."""
    cfg, sh, out = config(tmp_path), Shell(DATA), tmp_path / "t"
    line = f"sweep {cfg} --strategy {EMA} --param fast=5:8:1 --search tpe --trials 9 --workers 1 --out {out}"
    res = sh(line)
    assert res.code == 0, res.err
    text = " ".join(res.out.split())
    rows = len((out / "results.jsonl").read_text().splitlines())
    assert rows <= 4 and f"{rows} run, 0 already in" in text, text  # 4 combinations, 9 trials
    assert f"{9 - rows} suggested again by TPE" in text, text
    again = " ".join(sh(line).out.split())  # the same seed: every trial found in the folder now
    assert "0 run, 9 already in" in again and "suggested again" not in again, again  # each trial told from a row
