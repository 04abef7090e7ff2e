"""render/: JSON and CSV without NaN/Infinity, tables that never wrap inside a cell off a
terminal, tables fitted to a narrow screen, number formatting, New York times, the pager."""

from __future__ import annotations

import io
import json
import math
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.test_app import Shell
from trader_cli.core.results import Document, Tabular
from trader_cli.render import OutputMode, Renderer, render_to_string

ROOT = Path(__file__).resolve().parent.parent
TRADER_CLI = ROOT / ".venv" / "bin" / "trader-cli"
DEFAULT_CONFIG = ROOT / "configs" / "default.json"
ENV_VARS = ("TRADER_CLI_CONFIG", "TRADER_CLI_DATA_DIR", "TRADER_CLI_OUTPUT", "TRADER_CLI_HISTORY", "COLUMNS", "LINES")


def strict_json(text: str) -> Any:
    """Parse JSON refusing the NaN / Infinity tokens Python's json accepts."""

    def refuse(token: str) -> Any:
        raise AssertionError(f"non-standard JSON token {token!r} in the output")

    return json.loads(text, parse_constant=refuse)


def body_lines(text: str) -> list[str]:
    """The row lines of the tables in ``text`` (between the header rule and the bottom border)."""
    out, inside = [], False
    for line in text.splitlines():
        if line.startswith(("┡", "├")):
            inside = True
        elif line.startswith("└"):
            inside = False
        elif inside and line.startswith("│"):
            out.append(line)
    return out


def cells(line: str) -> list[str]:
    """The cell texts of one table line."""
    return [c.strip() for c in line.strip("│").split("│")]


# -- item 3: JSON and CSV never carry NaN / Infinity -------------------------------------------
POISONED = {"ratio": math.nan, "upper": math.inf, "lower": -math.inf, "rows": [1.5, math.nan]}


def test_json_output_writes_null_for_nan_and_infinity() -> None:
    doc = strict_json(render_to_string(Document(title="x", data=POISONED), OutputMode.json))
    assert doc == {"ratio": None, "upper": None, "lower": None, "rows": [1.5, None]}
    table = Tabular(columns=["a", "b"], rows=[[math.nan, math.inf], [1.0, 2.0]])
    assert strict_json(render_to_string(table, OutputMode.json)) == [{"a": None, "b": None}, {"a": 1.0, "b": 2.0}]
    # A document shown in table mode off a terminal is its JSON alone: the same rule.
    assert strict_json(render_to_string(Document(data=POISONED)))["upper"] is None


def test_csv_output_writes_empty_cells_for_nan_and_infinity() -> None:
    table = Tabular(columns=["a", "b", "c"], rows=[[math.nan, math.inf, 1.5]])
    assert render_to_string(table, OutputMode.csv) == "a,b,c\n,,1.5\n"


def test_a_document_on_a_terminal_shows_null_for_nan() -> None:
    buf = io.StringIO()
    Renderer(out=buf, err=io.StringIO(), width=80, force_terminal=True).result(
        Document(data=POISONED), OutputMode.table
    )
    text = re.sub(r"\x1b\[[0-9;]*m", "", buf.getvalue())
    assert "null" in text and "NaN" not in text and "Infinity" not in text


# -- item 17: off a terminal, no cell is wrapped --------------------------------------------------
def cli(*args: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """``trader-cli ARGS`` with stdout a pipe, as ``trader-cli … | less`` or ``> file`` run it."""
    env = {k: v for k, v in os.environ.items() if k not in ENV_VARS}
    env.update(HOME=str(tmp_path / "home"), XDG_STATE_HOME=str(tmp_path / "home" / "state"))
    return subprocess.run([str(TRADER_CLI), *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_piped_data_list_keeps_every_row_on_one_line(tmp_path: Path) -> None:
    proc = cli("--data-dir", "data", "exec", "data list", "data list -o json", tmp_path=tmp_path)
    assert proc.returncode == 0, proc.stderr
    table, records = proc.stdout.split("\n[", 1)
    rows = json.loads("[" + records)
    lines = body_lines(table)
    assert len(lines) == len(rows)
    for line, row in zip(lines, rows, strict=True):
        assert cells(line)[:2] == [row["symbol"], row["interval"]]
        assert row["first"] in line and row["last"] in line and row["source"] in line


def test_piped_bars_keep_timestamps_and_volumes_whole(tmp_path: Path) -> None:
    proc = cli(
        "--data-dir",
        "data",
        "exec",
        f"system start --config {DEFAULT_CONFIG} --paused",
        "time advance 30m",
        "data bars AAPL --last 5",
        tmp_path=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    lines = body_lines(proc.stdout.split("AAPL 1m bars", 1)[1])
    assert len(lines) == 5
    for line in lines:
        ny, *_, volume, part = cells(line)
        assert re.fullmatch(r"2024-12-02 09:5\d", ny)
        assert re.fullmatch(r"\d{1,3}(,\d{3})*", volume) and part == "session"


# -- polish: narrow screens, numbers, New York times ---------------------------------------------
@pytest.fixture
def session80() -> Any:
    """The README's session (AAPL, RIVN from the config; TSLA added; MSFT for one indicator) in
    an 80-column shell."""
    sh = Shell(ROOT / "data")
    sh.obj.renderer = Renderer(out=sh.out, err=sh.err, width=80)
    for line in (
        f"system start --config {DEFAULT_CONFIG} --paused",
        "time until 11:00",
        "add symbol TSLA",
        "add indicator MSFT sma 20 --interval 5m",
    ):
        res = sh(line)
        assert res.code == 0, res.err
    yield sh
    sh.obj.coordinator.shutdown()


def test_session_table_at_80_columns_keeps_symbols_and_counts_whole(session80: Shell) -> None:
    out = session80("data session").out
    assert all(len(line) <= 80 for line in out.splitlines())
    lines = body_lines(out)
    assert [cells(line)[0] for line in lines if cells(line)[0]] == ["AAPL", "MSFT", "RIVN", "TSLA"]
    tokens = " ".join(" ".join(cells(line)) for line in lines).split()
    counts = [t for t in tokens if re.match(r"\d+m:", t)]
    assert counts and all(re.fullmatch(r"\d+m:[\d,]+\+[\d,]+", t) for t in counts), counts
    assert all(re.fullmatch(r"\d+\.\d%", cells(line)[-1]) for line in lines if cells(line)[0])
    assert "not shown at this width: upgraded, auto, intervals" in " ".join(out.split())  # named


def test_a_wide_session_table_shows_every_column(session80: Shell) -> None:
    session80.obj.renderer = Renderer(out=session80.out, err=session80.err, width=200)
    out = session80("data session").out
    header = next(line for line in out.splitlines() if line.startswith("┃"))
    assert cells(header.replace("┃", "│")) == [
        "symbol",
        "added_by",
        "load",
        "auto",
        "upgraded",
        "added_at",
        "intervals",
        "bars",
        "indicators",
        "quality",
    ]
    assert len(body_lines(out)) == 4 and "not shown" not in out


def test_numbers_are_right_aligned_with_one_rule_for_decimals_and_thousands() -> None:
    table = Tabular(
        columns=["symbol", "price", "volume", "rows"],
        rows=[["A", 1.5, 1942513.0, 1234], ["B", 22.25, 300.0, 5], ["C", None, 12.0, 0]],
    )
    lines = body_lines(render_to_string(table))
    assert [line.split("│")[2:5] for line in lines] == [
        ["  1.50 ", " 1,942,513 ", " 1,234 "],
        [" 22.25 ", "       300 ", "     5 "],
        ["     — ", "        12 ", "     0 "],
    ]


def test_cells_are_shown_as_they_are_not_as_markup() -> None:
    out = render_to_string(Tabular(columns=["detail"], rows=[["[bold]x[/bold] [red]"]]))
    assert "[bold]x[/bold] [red]" in out


def test_data_symbol_shows_first_and_last_in_new_york_time(session80: Shell) -> None:
    session80.obj.renderer = Renderer(out=session80.out, err=session80.err, width=120)
    out = session80("data symbol AAPL").out
    intervals = body_lines(out.split("AAPL — intervals", 1)[1])
    first_1m = cells(intervals[0])
    assert first_1m[0] == "1m"
    assert "2024-11-22 09:30" in first_1m and "2024-12-02 10:59" in first_1m
    assert not re.search(r"\d{4}-\d\d-\d\dT", out)


# -- polish: a table that fits the screen is not paged --------------------------------------------
def test_a_table_that_fits_the_screen_is_not_paged(session80: Shell, monkeypatch: pytest.MonkeyPatch) -> None:
    buf = io.StringIO()
    renderer = Renderer(out=buf, err=io.StringIO(), width=80, height=24, force_terminal=True)
    renderer.pager = True
    paged: list[bool] = []
    monkeypatch.setattr(renderer.out, "pager", lambda **kw: paged.append(True))
    monkeypatch.delenv("TRADER_CLI_PAGER", raising=False)
    import trader_cli.render.reports  # noqa: F401 - the report views
    from trader_cli.core import reports

    renderer.result(session80.obj.coordinator.read(reports.session_table), OutputMode.table)
    assert not paged and "AAPL" in buf.getvalue()
    tall = Tabular(columns=["n"], rows=[[i] for i in range(40)])
    with pytest.raises(TypeError):  # the stub pager is no context manager: reaching it is the point
        renderer.result(tall, OutputMode.table)
    assert paged == [True]


@pytest.mark.parametrize("terminal", [False, True])
def test_column_blocks_draw_what_one_row_a_line_draws(terminal: bool) -> None:
    from rich.console import Console

    from trader_cli.render.tables import FittedTable

    tables = [
        Tabular(
            title="t",
            columns=["step", "rows", "ms", "detail"],
            rows=[["a → b", 1234, "0.10", ""], ["c", 5, "12.5", None]],
        ),
        Tabular(title="kv", columns=["item", "plan"], rows=[["x", True], ["longer key", "v — w"]], show_header=False),
        Tabular(columns=["n", "price"], rows=[[1, 1.5], [2, None]], caption="a caption longer than the table"),
    ]
    for t in tables:
        drawn = []
        for blocks in (True, False):
            buf = io.StringIO()
            console = Console(file=buf, width=120, force_terminal=terminal, color_system="256" if terminal else None)
            console.print(FittedTable(t).table(120, console, blocks=blocks))
            drawn.append(re.sub(r"\x1b\[[0-9;]*m", "", buf.getvalue()))
        assert drawn[0] == drawn[1]


def test_a_gap_through_a_close_shows_the_day_it_ends() -> None:
    """A quality gap over two days reads as such, not as an impossible one-day gap."""
    import datetime as dt

    from trader_cli.render.reports import _gap_text

    ny = dt.timezone(dt.timedelta(hours=-5))
    day = dt.datetime(2024, 11, 20, 9, 30, tzinfo=ny)
    assert _gap_text(day, day, 1) == "11-20 09:30 (1)"
    assert _gap_text(day, day.replace(minute=40), 11) == "11-20 09:30–09:40 (11)"
    assert _gap_text(day, dt.datetime(2024, 11, 21, 15, 55, tzinfo=ny), 156) == "11-20 09:30–11-21 15:55 (156)"


def test_data_symbol_as_csv_is_typed(session80: Shell) -> None:
    """CSV is data: times ISO 8601 with the New York offset, quality a number, each indicator
    output a row of its own (the table's display strings are the shell's)."""
    import csv as csv_mod
    import datetime as dt

    res = session80("data symbol MSFT -o csv")
    assert res.code == 0, res.err
    meta, ivs, inds = (list(csv_mod.reader(part.splitlines())) for part in res.out.strip().split("\n\n"))
    assert dict(meta[1:])["added_by"] == "adhoc" and dt.datetime.fromisoformat(dict(meta[1:])["added_at"]).tzinfo
    assert ivs[0] == ["interval", "history", "session", "first", "last", "quality_pct", "gaps"]
    for row in ivs[1:]:
        assert dt.datetime.fromisoformat(row[3]).utcoffset() == dt.timedelta(hours=-5), row
        assert 0 <= float(row[5]) <= 100 and int(row[1]) >= 0 and int(row[6]) >= 0, row
    (head, sma) = inds
    assert head[-2:] == ["output", "value"] and sma[0] == "sma_20_5m" and sma[7] == "value", sma
    assert float(sma[8]) > 0


def test_every_csv_is_typed_data_not_the_tables_text(session80: Shell, tmp_path: Path) -> None:
    """A clock step, an export, a plan, a plugin's status and config check as CSV: their JSON
    fields a column each (times ISO 8601 with the New York offset, lists and objects as JSON)."""
    import csv as csv_mod
    import datetime as dt

    def table(line: str) -> list[dict[str, str]]:
        res = session80(f"{line} -o csv")
        assert res.code == 0, res.err
        return list(csv_mod.DictReader(res.out.splitlines()))

    (step,) = table("time advance 5m")
    assert step["action"] == "advance" and step["minutes"] == "5" and step["state"] == "paused", step
    assert dt.datetime.fromisoformat(step["time"]).utcoffset() == dt.timedelta(hours=-5)
    (export,) = table(f"session export {tmp_path / 'x.json'}")
    assert export["path"] == str(tmp_path / "x.json") and export["format"] == "json"
    (plan,) = table("plan add indicator AAPL rsi 14 --interval 5m")
    assert json.loads(plan["required_intervals"]) == ["1m", "5m"] and int(plan["historical_bars"]) > 0, plan
    ema = ROOT / "examples" / "strategies" / "ema_cross.py"
    (loaded,) = table(f"strategy load {ema}")
    assert json.loads(loaded["params"])["fast"] == 10 and "AAPL" in json.loads(loaded["symbols"]), loaded
    (status,) = table("strategy status")
    assert status["name"] == "ema_cross" and json.loads(status["indicators"]) == ["ema_10_5m", "ema_30_5m"]
    (check,) = table(f"config check {DEFAULT_CONFIG}")
    assert check["valid"] == "True" and json.loads(check["problems"]) == [], check
