"""Hostile input to a sweep: a sweep.json that is not a sweep's definition, results.jsonl lines
that are not rows, days without trading days or bars, a sweep whose every task failed, a
parameter given twice. Each is one line (or a count, for bad rows) and changes nothing; the
good rows still show, rank and resume."""

from __future__ import annotations

import json
import shutil
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.sweep.test_sweep import DATA, EMA, config
from tests.sweep.test_sweep import _isolated as _isolated
from tests.test_app import Outcome, Shell


@pytest.fixture(scope="module")
def swept(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    """(its config, its folder): one real sweep of fast=5,10, run once for the module; each test
    works on a copy of the folder."""
    home = tmp_path_factory.mktemp("swept")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HOME", str(home / "home"))
        mp.setenv("XDG_STATE_HOME", str(home / "home" / "state"))
        mp.chdir(home)
        cfg = config(home)
        res = Shell(DATA)(_line(cfg, home / "o", "--param fast=5,10 --workers 2"))
        assert res.code == 0, res.err
        yield cfg, home / "o"


def _line(cfg: Path, out: Path, extra: str = "--param fast=5,10 --workers 1") -> str:
    return f"sweep {cfg} --strategy {EMA} {extra} --out {out}"


def _copy(swept: tuple[Path, Path], tmp_path: Path) -> Path:
    out = tmp_path / "o"
    shutil.copytree(swept[1], out)
    return out


def _files(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(out.iterdir())}


def _rows(out: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]


def _one_line(res: Outcome, code: int = 2) -> str:
    assert res.code == code, (res.code, res.err)
    assert res.err.count("\n") == 1 and "Traceback" not in res.err and "internal error" not in res.err, res.err
    return res.err


@pytest.mark.parametrize(
    ("content", "says"),
    [
        ("{not json", "not JSON"),
        ("[1, 2]", "a JSON array, not an object"),
        ('"a sweep"', "a JSON string, not an object"),
        ("null", "a JSON null, not an object"),
        ("{}", "no metric"),
        ('{"metric": 5}', "metric is a JSON number"),
        ('{"metric": "sharpe", "config": [1]}', "config is a JSON array"),
        ('{"metric": "sharpe", "grid": ["fast=5", "fast=10"]}', "grid gives fast twice"),
    ],
)
def test_a_sweep_json_that_is_no_definition_is_one_line_naming_it(
    swept: tuple[Path, Path], tmp_path: Path, content: str, says: str
) -> None:
    out = _copy(swept, tmp_path)
    (out / "sweep.json").write_text(content)
    before = _files(out)
    sh = Shell(DATA)
    for line in (f"sweep show {out}", f"sweep best {out}", _line(swept[0], out)):
        err = _one_line(sh(line))
        assert f"sweep.json in {out} is not a sweep definition ({says}" in err, err
        assert "remove the folder, or sweep into it with --replace" in err
        assert _files(out) == before


def test_best_of_a_definition_without_its_config_says_so_and_replace_starts_over(
    swept: tuple[Path, Path], tmp_path: Path
) -> None:
    out = _copy(swept, tmp_path)
    (out / "sweep.json").write_text('{"metric": "sharpe"}')  # show trusts it (as an older sweep.json)
    sh = Shell(DATA)
    assert sh(f"sweep show {out}").code == 0
    err = _one_line(sh(f"sweep best {out}"))
    assert "is not a sweep definition (no config, data_dir, strategy" in err
    res = sh(_line(swept[0], out, "--param fast=5 --workers 1 --replace"))  # what the line says to do
    assert res.code == 0, res.err
    assert [r["params"] for r in _rows(out)] == [{"fast": 5}]
    assert json.loads((out / "sweep.json").read_text())["grid"] == ["fast=5"]
    assert json.loads(sh(f"sweep best {out} -o json").out)["strategies"][0]["params"] == {"fast": 5}


def test_lines_that_are_not_rows_are_skipped_and_counted_once(swept: tuple[Path, Path], tmp_path: Path) -> None:
    out = _copy(swept, tmp_path)
    good = _rows(out)
    ten = next(r for r in good if r["params"] == {"fast": 10})
    five = next(r for r in good if r["params"] == {"fast": 5})
    junk = [
        '{"x": 1}',
        "null",
        "[1, 2]",
        '{"spec_hash": 5, "params": {}, "report": null, "error": "x"}',
        json.dumps(ten | {"params": [10]}),
        json.dumps(ten | {"report": "great", "error": None}),
        json.dumps({"spec_hash": ten["spec_hash"], "params": {"fast": 10}}),
        json.dumps(ten)[:40],  # a line a crash cut short, the last
    ]
    (out / "results.jsonl").write_text(json.dumps(five) + "\n" + "\n".join(junk))
    sh = Shell(DATA)
    show = sh(f"sweep show {out} -o json")
    assert show.code == 0, show.err
    assert [r["params"] for r in json.loads(show.out)] == ["fast=5"]
    assert show.err.count("malformed") == 1
    assert f"skipped 8 malformed row(s) in {out / 'results.jsonl'}" in show.err
    best = sh(f"sweep best {out} -o json")
    assert best.code == 0, best.err
    assert json.loads(best.out)["strategies"][0]["params"] == {"fast": 5}
    assert "skipped 8 malformed row(s)" in best.err


def test_a_resume_runs_a_spec_whose_only_line_is_not_a_row(swept: tuple[Path, Path], tmp_path: Path) -> None:
    """A line with the spec's hash but no report nor error is not a result: its spec runs again."""
    out = _copy(swept, tmp_path)
    five, ten = sorted(_rows(out), key=lambda r: r["params"]["fast"])  # type: ignore[index]
    stub = {"spec_hash": ten["spec_hash"], "params": ten["params"]}
    (out / "results.jsonl").write_text(json.dumps(five) + "\n" + json.dumps(stub) + "\n")
    sh = Shell(DATA)
    res = sh(_line(swept[0], out))
    assert res.code == 0, res.err
    assert "1 run, 1 already in" in res.out
    rows = _rows(out)
    assert rows[-1]["spec_hash"] == ten["spec_hash"] and rows[-1]["report"] == ten["report"]


def test_a_resume_after_a_cut_last_line_keeps_the_new_row_whole(swept: tuple[Path, Path], tmp_path: Path) -> None:
    out = _copy(swept, tmp_path)
    five, ten = sorted(_rows(out), key=lambda r: r["params"]["fast"])  # type: ignore[index]
    (out / "results.jsonl").write_text(json.dumps(five) + "\n" + json.dumps(ten)[:-30])  # no newline: cut
    sh = Shell(DATA)
    assert sh(_line(swept[0], out)).code == 0
    show = sh(f"sweep show {out} -o json")
    assert sorted(r["params"] for r in json.loads(show.out)) == ["fast=10", "fast=5"]
    assert "skipped 1 malformed row(s)" in show.err
    lines = (out / "results.jsonl").read_bytes()
    again = sh(_line(swept[0], out))
    assert again.code == 0 and "0 run, 2 already in" in again.out
    assert (out / "results.jsonl").read_bytes() == lines  # nothing ran again


@pytest.mark.parametrize(
    ("days", "says"),
    [
        ("--from 2024-12-07 --to 2024-12-08", "no NYSE trading days from 2024-12-07 to 2024-12-08 (--from and --to)"),
        ("--from 2030-01-02 --to 2030-01-04", "--from 2030-01-02: the store"),
        ("--from 2024-10-01", "--from 2024-10-01: the store"),
    ],
)
def test_days_without_trading_days_or_bars_are_refused_before_replace_drops_anything(
    swept: tuple[Path, Path], tmp_path: Path, days: str, says: str
) -> None:
    out = _copy(swept, tmp_path)
    before = _files(out)
    err = _one_line(Shell(DATA)(_line(swept[0], out, f"--param fast=5 --workers 1 --replace {days}")))
    assert says in err and "backtest_config" not in err  # the sweep's own options, not the config's
    if "the store" in says:
        assert "has no bars of AAPL, MSFT on" in err and "1m 2024-11-01..2024-12-31" in err
    assert _files(out) == before


def test_the_configs_own_days_without_trading_days_name_its_fields(tmp_path: Path) -> None:
    raw = json.loads(config(tmp_path).read_text())
    raw["backtest_config"] |= {"start_date": "2024-12-07", "end_date": "2024-12-08"}
    cfg = tmp_path / "weekend.json"
    cfg.write_text(json.dumps(raw))
    err = _one_line(Shell(DATA)(_line(cfg, tmp_path / "o")))
    assert f"(backtest_config.start_date and end_date in {cfg})" in err
    assert not (tmp_path / "o").exists()


def test_a_store_without_the_symbols_is_refused_up_front(tmp_path: Path) -> None:
    empty = tmp_path / "empty-store"
    empty.mkdir()
    err = _one_line(Shell(empty)(_line(config(tmp_path), tmp_path / "o")))
    assert f"the store {empty} holds no bars of AAPL, MSFT" in err and "--data-dir" in err
    assert not (tmp_path / "o").exists()


def test_a_sweep_whose_every_task_failed_exits_1(tmp_path: Path) -> None:
    fails = tmp_path / "fails.py"
    fails.write_text(
        textwrap.dedent(
            """
            from trader_cli.plugins import Needs, Param, Strategy

            class Fails(Strategy):
                name = "fails"
                params = (Param("n", int, 1, min=1, max=10),)
                def needs(self):
                    if self.n == 2:
                        raise RuntimeError("n=2 cannot trade")
                    return Needs(intervals=["5m"])
                def on_bars(self, bars):
                    return None
            """
        )
    )
    line = f"sweep {config(tmp_path)} --strategy {fails} --param n=2 --workers 1 --out {tmp_path / 'o'}"
    sh = Shell(DATA)
    res = sh(line)
    assert res.code == 1, res.err
    assert res.err.splitlines()[-1].startswith("error: every task of the sweep failed (1 of 1); n=2:")
    assert "n=2 cannot trade" in res.err
    assert [r["error"] is not None for r in _rows(tmp_path / "o")] == [True]
    again = sh(line)  # resumed: nothing runs, and the sweep is still a failure
    assert again.code == 1 and "every task of the sweep failed" in again.err


@pytest.mark.parametrize("search", ["", "--search tpe --trials 2"])
def test_a_param_given_twice_is_refused(tmp_path: Path, search: str) -> None:
    res = Shell(DATA)(
        _line(config(tmp_path), tmp_path / "o", f"--param fast=5 --param slow=30 --param fast=10 {search}")
    )
    err = _one_line(res)
    assert "--param fast given twice ('fast=5' and 'fast=10')" in err
    assert "give all its values in one, as fast=V1,V2,… or fast=START:STOP:STEP" in err
    assert not (tmp_path / "o").exists()


def test_an_out_that_is_a_file_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "o"
    out.write_text("mine")
    for extra in ("", "--replace"):
        err = _one_line(Shell(DATA)(_line(config(tmp_path), out, f"--param fast=5 {extra}")))
        assert f"--out {out} is a file, not a folder" in err
    assert out.read_text() == "mine"


def test_a_strategy_that_raises_mid_run_is_that_tasks_error_not_a_result(tmp_path: Path) -> None:
    boom = tmp_path / "boom.py"
    boom.write_text(
        EMA.read_text(encoding="utf-8").replace(
            "    def on_bars(self, bars: BarsView) -> None:\n",
            "    def on_bars(self, bars: BarsView) -> None:\n"
            "        self.__dict__['n'] = self.__dict__.get('n', 0) + 1\n"
            "        if self.fast == 7 and self.n > 60:\n"
            "            raise ZeroDivisionError('boom mid-run')\n",
        ),
        encoding="utf-8",
    )
    assert "boom mid-run" in boom.read_text(encoding="utf-8")
    res = Shell(DATA)(f"sweep {config(tmp_path)} --strategy {boom} --param fast=5,7 --workers 1 --out {tmp_path / 'o'}")
    assert res.code == 0, res.err  # one of two failed: the sweep is not
    rows = {r["params"]["fast"]: r for r in _rows(tmp_path / "o")}  # type: ignore[index]
    assert rows[5]["error"] is None and rows[5]["report"]
    assert rows[7]["report"] is None
    assert "strategy ema_cross failed: on_bars raised ZeroDivisionError: boom mid-run" in str(rows[7]["error"])


def test_an_edited_strategy_file_is_not_resumed_from_the_old_rows(tmp_path: Path) -> None:
    mine = tmp_path / "mine.py"
    shutil.copy(EMA, mine)
    line = f"sweep {config(tmp_path)} --strategy {mine} --param fast=5 --workers 1 --out {tmp_path / 'o'} -o json"
    sh = Shell(DATA)
    first = sh(line)
    assert first.code == 0, first.err
    again = sh(line)
    assert again.code == 0 and json.loads(again.out) == json.loads(first.out)  # resumed: nothing ran again
    mine.write_text(mine.read_text(encoding="utf-8").replace('Param("qty", int, 100,', 'Param("qty", int, 1000,'))
    refused = _one_line(sh(line))  # its rows are of another file: the folder is another sweep's
    assert "the strategy file was edited since" in refused and "--replace" in refused, refused
    edited = sh(f"{line} --replace")
    assert edited.code == 0, edited.err
    assert len(_rows(tmp_path / "o")) == 1
    (old,), (new,) = json.loads(first.out), json.loads(edited.out)
    assert new["total_return"] != old["total_return"] and new["spec_hash"] != old["spec_hash"]  # ten times the shares


@pytest.mark.slow
def test_ctrl_c_mid_sweep_exits_130_in_one_line_and_the_workers_say_nothing(tmp_path: Path) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    from tests.shell.conftest import TRADER_CLI, shell_env

    out = tmp_path / "o"
    grid = "--param fast=3:9:1 --param slow=20,30 --workers 2"
    proc = subprocess.Popen(
        [str(TRADER_CLI), *_line(config(tmp_path), out, grid).split()],
        env=shell_env(tmp_path), cwd=str(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not ((out / "results.jsonl").exists() and _rows(out)):
            time.sleep(0.05)
        assert _rows(out), "no task finished in 60 s"
        os.killpg(proc.pid, signal.SIGINT)  # as a terminal's Ctrl-C: the whole process group
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, (proc.returncode, stderr)
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr, stderr
    assert "interrupted (Ctrl-C)" in stdout + stderr
    hashes = [r["spec_hash"] for r in _rows(out)]
    assert len(hashes) == len(set(hashes)) < 14  # nothing twice, the rest cancelled
    assert (
        sys.platform != "linux"
        or not subprocess.run(["pgrep", "-s", str(proc.pid)], capture_output=True, text=True).stdout.strip()
    )  # no worker left behind in its session


def test_a_grid_error_shows_the_text_as_typed_never_as_emoji(tmp_path: Path) -> None:
    res = Shell(DATA)(_line(config(tmp_path), tmp_path / "o", "--param fast=a:b:c"))
    assert "'fast=a:b:c'" in _one_line(res)  # rich read :b: as an emoji code
