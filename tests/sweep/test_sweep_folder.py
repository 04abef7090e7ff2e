"""One folder, one sweep: a sweep of another definition into a folder is refused and changes
nothing there, a re-run of the same one resumes, ``--replace`` starts it over, and ``sweep
best`` prints a config that reproduces its row. The metric ranked by is checked up front and
shown once."""

from __future__ import annotations

import io
import json
from pathlib import Path
from types import SimpleNamespace

import pytest
from rich.console import Console

from tests.sweep.test_sweep import DATA, EMA, config
from tests.sweep.test_sweep import _isolated as _isolated
from tests.test_app import Shell
from trader_cli.commands.sweep import _LiveBoard


def _sweep(cfg: Path, out: Path, extra: str = "", grid: str = "--param fast=5") -> str:
    return f"sweep {cfg} --strategy {EMA} {grid} --workers 1 --out {out} {extra}"


def _files(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(out.iterdir())}


def _started(sh: Shell, cfg: dict[str, object], path: Path) -> dict[str, object]:
    """The report of a session of ``cfg`` run to its end (as the README says: save, then start)."""
    path.write_text(json.dumps(cfg))
    try:
        assert sh(f"system start --config {path} --paused").code == 0
        assert sh("time advance 10 sessions").code == 0
        report: dict[str, object] = json.loads(sh("report -o json").out)["report"]
    finally:
        sh.obj.coordinator.shutdown()
    return report


@pytest.mark.parametrize(
    ("extra", "grid", "says"),
    [
        ("--from 2024-12-02 --to 2024-12-06", "--param fast=5", "days 2024-12-02..2024-12-04 there, "
         "2024-12-02..2024-12-06 here"),
        ("", "--param fast=5,10", "grid fast=5 there, fast=5,10 here"),
        ("--search tpe --trials 2", "--param fast=5", "search grid there, tpe here"),
    ],
)  # fmt: skip
def test_a_sweep_of_another_definition_into_the_folder_is_refused_and_changes_nothing(
    tmp_path: Path, extra: str, grid: str, says: str
) -> None:
    cfg, out, sh = config(tmp_path), tmp_path / "o", Shell(DATA)
    assert sh(_sweep(cfg, out)).code == 0
    before = _files(out)
    res = sh(_sweep(cfg, out, extra, grid))
    assert res.code == 2 and res.err.count("\n") == 1 and "Traceback" not in res.err
    assert f"{out} holds the results of another sweep" in res.err and says in res.err
    assert "give a new --out, or --replace" in res.err
    assert _files(out) == before


def test_another_base_config_is_refused(tmp_path: Path) -> None:
    cfg, out, sh = config(tmp_path), tmp_path / "o", Shell(DATA)
    assert sh(_sweep(cfg, out)).code == 0
    before = _files(out)
    raw = json.loads(cfg.read_text())
    raw["broker"]["initial_cash"] = 50_000
    other = tmp_path / "other.json"
    other.write_text(json.dumps(raw))
    res = sh(_sweep(other, out))
    assert res.code == 2 and "another base config" in res.err and _files(out) == before


def test_the_same_sweep_resumes_however_its_days_are_written(tmp_path: Path) -> None:
    cfg, out, sh = config(tmp_path), tmp_path / "o", Shell(DATA)
    assert sh(_sweep(cfg, out)).code == 0
    again = sh(_sweep(cfg, out, "--from 2024-12-02 --to 2024-12-04 -o json"))  # the config's own days
    assert again.code == 0, again.err
    assert len((out / "results.jsonl").read_text().splitlines()) == 1  # skipped, not run again
    assert "0 run, 1 already in" in again.err or len(json.loads(again.out)) == 1
    bad = sh(_sweep(cfg, tmp_path / "bad", "--from 2024-13-02"))
    assert bad.code == 2 and "--from 2024-13-02: give a day as YYYY-MM-DD" in bad.err
    assert not (tmp_path / "bad").exists()


def test_replace_starts_over_and_best_reproduces_its_row(tmp_path: Path) -> None:
    cfg, out, sh = config(tmp_path), tmp_path / "o", Shell(DATA)
    assert sh(_sweep(cfg, out)).code == 0
    res = sh(_sweep(cfg, out, "--from 2024-12-03 --to 2024-12-06 --replace -o json"))
    assert res.code == 0, res.err
    rows = json.loads(res.out)
    assert len(rows) == 1 and len((out / "results.jsonl").read_text().splitlines()) == 1
    best = sh(f"sweep best {out} -o json")
    assert best.code == 0, best.err
    cfg_best = json.loads(best.out)
    assert cfg_best["backtest_config"]["start_date"] == "2024-12-03"
    report = _started(Shell(DATA), cfg_best, tmp_path / "best.json")
    assert (report["sharpe"], report["total_return"]) == (rows[0]["sharpe"], rows[0]["total_return"])


def test_best_and_show_leave_out_rows_of_another_sweep(tmp_path: Path) -> None:
    """A folder that mixed two sweeps before they were refused: its sweep.json says which one it
    is, and only that one's rows are ranked (the other's config would not reproduce them)."""
    cfg, out, sh = config(tmp_path), tmp_path / "o", Shell(DATA)
    assert sh(_sweep(cfg, out)).code == 0
    mine = json.loads((out / "results.jsonl").read_text())
    foreign = mine | {"spec_hash": "0123456789abcdef", "params": {"fast": 7}}
    foreign["report"] = dict(mine["report"], sharpe=99.0)  # better than any: ranked first if it counted
    with open(out / "results.jsonl", "a") as fh:
        fh.write(json.dumps(foreign) + "\n")
    show = sh(f"sweep show {out} -o json")
    assert show.code == 0 and [r["params"] for r in json.loads(show.out)] == ["fast=5"]
    assert "1 row(s) of another sweep left out" in sh(f"sweep show {out}").out
    best = json.loads(sh(f"sweep best {out} -o json").out)
    assert best["strategies"][0]["params"] == {"fast": 5}
    report = _started(Shell(DATA), best, tmp_path / "best.json")
    assert report["sharpe"] == mine["report"]["sharpe"]


def test_an_unknown_metric_is_refused_before_anything_runs(tmp_path: Path) -> None:
    cfg, sh = config(tmp_path), Shell(DATA)
    res = sh(_sweep(cfg, tmp_path / "o", "--metric foo"))
    assert res.code == 2 and res.err.count("\n") == 1
    assert "--metric foo" in res.err and "sharpe" in res.err and "total_return" in res.err
    assert "pnl_by_symbol" not in res.err and "fill_assumptions" not in res.err  # not numbers: not ranked
    assert not (tmp_path / "o").exists()
    assert sh(_sweep(cfg, tmp_path / "o")).code == 0
    for sub in ("show", "best"):
        bad = sh(f"sweep {sub} {tmp_path / 'o'} --metric foo")
        assert bad.code == 2 and "--metric foo" in bad.err


def test_the_metric_ranked_by_is_one_column(tmp_path: Path) -> None:
    cfg, out, sh = config(tmp_path), tmp_path / "o", Shell(DATA)
    res = sh(_sweep(cfg, out, "--metric total_return -o csv"))
    assert res.code == 0, res.err
    header = res.out.splitlines()[0].split(",")
    assert header.count("total_return") == 1 and header[:3] == ["rank", "params", "total_return"]
    head = next(line for line in sh(f"sweep show {out}").out.splitlines() if "┃ rank" in line)
    assert head.count("total_return") == 1
    rows = json.loads(sh(f"sweep show {out} --metric round_trips -o json").out)
    assert list(rows[0])[:4] == ["rank", "params", "round_trips", "total_return"]
    live = _LiveBoard(SimpleNamespace(err=Console(file=io.StringIO())), "total_return", 1)  # a terminal's
    live.add(json.loads((out / "results.jsonl").read_text()), 1, 1)
    assert [c.header for c in live._table().columns] == ["params", "total_return", "error"]


def test_a_grid_re_run_with_another_metric_resumes_and_re_ranks(tmp_path: Path) -> None:
    cfg, out, sh = config(tmp_path), tmp_path / "o", Shell(DATA)
    assert sh(_sweep(cfg, out)).code == 0
    lines = (out / "results.jsonl").read_bytes()
    res = sh(_sweep(cfg, out, "--metric total_return"))
    assert res.code == 0, res.err
    assert (out / "results.jsonl").read_bytes() == lines  # nothing ran again
    assert json.loads((out / "sweep.json").read_text())["metric"] == "total_return"


def test_failed_rows_and_rows_without_the_metric_are_not_ranked(tmp_path: Path) -> None:
    """A failed task is never ranked, not even first when nothing has a value; a finished row
    without a value of the metric (a strategy that never traded: no sharpe) comes after the
    ranked ones with no rank, and the caption counts both. expectancy (money) ranks too."""
    boom = tmp_path / "boom.py"
    boom.write_text(
        "from trader_cli.plugins import Needs, Param, Strategy\n"
        "class Boom(Strategy):\n"
        "    name = 'boom'\n"
        "    params = (Param('after', int, 1), Param('qty', int, 0))\n"
        "    calls = 0\n"
        "    def needs(self):\n"
        "        return Needs(intervals=['5m'])\n"
        "    def on_bars(self, bars):\n"
        "        self.calls += 1\n"
        "        if self.qty and self.calls == 3:\n"
        "            bars.buy([0], self.qty)\n"
        "        if self.calls >= self.after:\n"
        "            raise ZeroDivisionError('boom')\n"
    )
    cfg, out, sh = config(tmp_path), tmp_path / "o", Shell(DATA)
    res = sh(f"sweep {cfg} --strategy {boom} --param after=1,100000 --param qty=0,10 --workers 1 --out {out}")
    assert res.code == 0, res.err
    rows = json.loads(sh(f"sweep show {out} -o json").out)
    by = {r["params"]: r for r in rows}
    assert [r["rank"] for r in rows] == [1, None, None, None], rows
    assert rows[0]["params"] == "after=100000 qty=10"  # the one that traded and finished
    assert by["after=100000 qty=0"]["error"] is None and by["after=100000 qty=0"]["sharpe"] is None
    assert all(r["error"] for r in rows[2:]), rows[2:]  # the failed ones last
    assert "2 failed, 1 without a sharpe value (not ranked)" in sh(f"sweep show {out}").out
    assert sh(f"sweep show {out} --metric expectancy").code == 0
