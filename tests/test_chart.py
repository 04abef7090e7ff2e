"""``data chart``: the terminal chart (plotext), the PNG (matplotlib), indicator overlays and the
errors, drawn from a paused session on the bundled sample."""

from __future__ import annotations

import io
import json
import math
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import typer

from trader_cli.commands.chart import register
from trader_cli.context import AppContext
from trader_cli.core.config import parse_config
from trader_cli.core.coordinator import SessionCoordinator
from trader_cli.core.errors import DataError, IndicatorError, IntervalError, SessionStateError
from trader_cli.core.store import DataManager
from trader_cli.render import OutputMode, Renderer, render_to_string
from trader_cli.render.chart import (
    ChartResult,
    chart_series,
    draw_chart,
    png_size,
    split_keys,
    terminal_size,
)

REPO = Path(__file__).resolve().parents[1]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def coord() -> Iterator[SessionCoordinator]:
    """AAPL paused two hours into 2024-12-02, with 5m indicators of each kind and rsi on 1m."""
    raw: dict[str, Any] = {
        "name": "chart",
        "mode": "backtest",
        "backtest_config": {
            "start_date": "2024-12-02",
            "end_date": "2024-12-02",
            "speed_multiplier": 0,
        },
        "session_data_config": {
            "symbols": ["AAPL"],
            "base_interval": "1m",
            "derived_intervals": ["5m"],
            "historical": {"trailing_days": 2},
            "indicators": [
                {"name": "sma", "params": [20], "interval": "5m"},
                {"name": "bbands", "params": [20], "interval": "5m"},
                {"name": "rsi", "params": [14], "interval": "5m"},
                {"name": "macd", "params": [], "interval": "5m"},
                {"name": "rsi", "params": [14], "interval": "1m"},
            ],
        },
    }
    c = SessionCoordinator(DataManager)
    c.start(parse_config(raw), REPO / "data", paused=True)
    c.advance(120)
    yield c
    c.shutdown()


def lines_of(res: ChartResult) -> list[str]:
    assert res.text is not None
    return res.text.splitlines()


# -- the terminal chart ----------------------------------------------------------------------------


def test_terminal_chart_has_title_candles_volume_and_size(coord: SessionCoordinator) -> None:
    res = draw_chart(coord, "AAPL", "5m", last=60, color=False, size=(120, 34))
    lines = lines_of(res)
    assert (res.symbol, res.interval, res.bars, res.png) == ("AAPL", "5m", 60, None)
    assert len(lines) == 34 and {len(line) for line in lines} == {120}
    assert "AAPL 5m" in lines[0] and "60 bars" in lines[0]
    frames = [i for i, line in enumerate(lines) if line.lstrip().startswith("┌")]
    assert len(frames) == 2  # price, then volume
    price, volume = lines[frames[0] : frames[1]], lines[frames[1] :]
    body = "".join(price)
    assert "░" in body and "█" in body and "│" in body  # rising and falling bodies, wicks
    assert sum(line.count("█") for line in volume) > 60  # a volume bar under every candle
    axis = volume[-1].strip()
    assert axis.startswith("11-29") and "12-02" in axis  # time labels, dated when the day changes
    assert "\x1b[" not in "".join(lines)  # no colour asked, none given


def test_terminal_chart_in_colour_and_as_a_line(coord: SessionCoordinator) -> None:
    coloured = draw_chart(coord, "AAPL", "5m", last=40, color=True, size=(100, 30))
    assert coloured.text is not None and "\x1b[38;5;" in coloured.text
    line = draw_chart(coord, "AAPL", "5m", last=40, color=False, line=True, size=(100, 30))
    price = "".join(lines_of(line)[:22])
    assert "close" in price and "░" not in price  # a close line with its legend, no candle bodies


def test_default_interval_is_the_base_and_last_counts_history_then_session(
    coord: SessionCoordinator,
) -> None:
    series = chart_series(coord, "aapl", None, 150, [])
    hist, today = coord.bars("AAPL", "1m")
    assert series.interval == "1m" and len(series.bars) == 150 and len(today) == 120
    assert series.session_start == 30
    np.testing.assert_array_equal(series.bars.ts, np.concatenate([hist.ts, today.ts])[-150:])


def test_terminal_size_follows_the_terminal_within_caps(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "get_terminal_size", lambda fallback: os.terminal_size((300, 90)))
    assert terminal_size() == (160, 40)
    monkeypatch.setattr(shutil, "get_terminal_size", lambda fallback: os.terminal_size((90, 30)))
    assert terminal_size() == (90, 28)


# -- indicators ------------------------------------------------------------------------------------


def test_overlays_and_lower_panels_draw_every_output(coord: SessionCoordinator) -> None:
    res = draw_chart(
        coord,
        "AAPL",
        "5m",
        last=60,
        indicators=["sma_20_5m,bbands_20_2_5m", "rsi_14_5m", "macd_12_26_9_5m"],
        color=False,
        size=(140, 40),
    )
    text = res.text or ""
    for label in (
        "sma_20_5m",
        "bbands_20_2_5m.upper",
        "bbands_20_2_5m.middle",
        "bbands_20_2_5m.lower",
    ):
        assert label in text  # the price panel's legend
    titles = [line.strip() for line in lines_of(res) if line.strip().startswith(("rsi_", "macd_"))]
    assert titles == ["rsi_14_5m", "macd_12_26_9_5m  ▚ macd  • signal  + histogram"]
    assert sum(line.lstrip().startswith("┌") for line in lines_of(res)) == 4  # price, rsi, macd, volume


def test_indicator_lines_cover_the_whole_visible_range(coord: SessionCoordinator) -> None:
    series = chart_series(coord, "AAPL", "5m", 60, ["sma_20_5m", "macd_12_26_9_5m"])
    sma, macd = series.indicators
    start = series.session_start
    assert start == 60 - 24  # two hours of 5m bars today, the rest history
    assert np.isfinite(sma.outputs["value"]).all()  # history included: the batch path's values
    closes = coord.series("AAPL", "5m").close
    window = np.lib.stride_tricks.sliding_window_view(closes, 20).mean(axis=1)[-60:]
    np.testing.assert_allclose(sma.outputs["value"], window, rtol=1e-12)
    lane = coord.session.symbols["AAPL"].lane
    latest = coord.engine.hub.latest("macd_12_26_9_5m", lane)
    assert latest is not None and set(macd.outputs) == {"macd", "signal", "histogram"}
    for name, value in latest.items():
        assert math.isclose(macd.outputs[name][-1], value)
    assert math.isclose(sma.outputs["value"][-1], float(np.mean(series.bars.close[-20:])))


def test_split_keys_accepts_commas_and_repeats() -> None:
    assert split_keys(["sma_20_5m, rsi_14_5m", "sma_20_5m", ""]) == ["sma_20_5m", "rsi_14_5m"]
    assert split_keys(None) == []


# -- PNG -------------------------------------------------------------------------------------------


def test_png_is_written_atomically_and_opens(coord: SessionCoordinator, tmp_path: Path) -> None:
    import matplotlib.image as mpimg

    path = tmp_path / "aapl.png"
    res = draw_chart(
        coord,
        "AAPL",
        "5m",
        last=80,
        indicators=["sma_20_5m", "rsi_14_5m"],
        png=str(path),
        text=False,
    )
    assert res.png == str(path) and res.text is None
    data = path.read_bytes()
    assert data.startswith(PNG_SIGNATURE) and len(data) > 10_000
    image = mpimg.imread(path)
    series = chart_series(coord, "AAPL", "5m", 80, ["sma_20_5m", "rsi_14_5m"])
    assert png_size(series) == (
        1200,
        810,
    )  # price 5 in + rsi panel 1.6 in + volume 1.5 in, at 100 dpi
    assert image.shape[:2] == (810, 1200)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["aapl.png"]  # no temp file left behind


def test_png_into_a_missing_folder_is_an_error(coord: SessionCoordinator, tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"no folder .*create it first"):
        draw_chart(coord, "AAPL", "5m", last=10, png=str(tmp_path / "nope" / "c.png"), text=False)


# -- errors ----------------------------------------------------------------------------------------


def test_unknown_indicator_lists_the_symbols_keys(coord: SessionCoordinator) -> None:
    with pytest.raises(IndicatorError) as err:
        draw_chart(coord, "AAPL", "5m", indicators=["ema_9_5m"], text=False)
    msg = str(err.value)
    assert "\n" not in msg and "AAPL has no indicator 'ema_9_5m'" in msg
    for key in ("sma_20_5m", "bbands_20_2_5m", "rsi_14_5m", "macd_12_26_9_5m", "rsi_14_1m"):
        assert key in msg


def test_indicator_on_another_interval_says_which_to_chart(coord: SessionCoordinator) -> None:
    with pytest.raises(
        IndicatorError,
        match=r"rsi_14_1m is computed on 1m bars, not 5m; "
        r"chart it with: data chart AAPL 1m --with rsi_14_1m",
    ):
        draw_chart(coord, "AAPL", "5m", indicators=["rsi_14_1m"], text=False)


def test_symbol_not_in_session_and_bad_intervals(coord: SessionCoordinator) -> None:
    with pytest.raises(SessionStateError, match="TSLA is not in the session"):
        draw_chart(coord, "TSLA", text=False)
    with pytest.raises(SessionStateError, match="AAPL has no 15m bars"):
        draw_chart(coord, "AAPL", "15m", text=False)
    with pytest.raises(IntervalError):
        draw_chart(coord, "AAPL", "7m", text=False)


# -- the command and its views ---------------------------------------------------------------------


def _run(coord: SessionCoordinator, args: list[str], tmp_path: Path) -> tuple[Any, str]:
    """Run ``data chart …`` through a typer tree holding only that command; render the result."""
    root, data = typer.Typer(), typer.Typer()
    register(data)
    root.add_typer(data, name="data")
    root.callback()(lambda: None)
    out = io.StringIO()
    obj = AppContext(renderer=Renderer(out=out, err=out, width=100))
    obj._coordinator = coord
    rv = typer.main.get_command(root).main(["data", "chart", *args], standalone_mode=False, obj=obj)
    obj.renderer.result(rv, obj.output_request or obj.output)
    return rv, out.getvalue()


def test_command_json_names_what_was_charted(coord: SessionCoordinator, tmp_path: Path) -> None:
    png = tmp_path / "c.png"
    rv, out = _run(
        coord,
        ["AAPL", "5m", "--last", "30", "--with", "sma_20_5m", "--png", str(png), "-o", "json"],
        tmp_path,
    )
    assert rv.text is None  # nothing drawn for the terminal when the output is JSON
    assert json.loads(out) == {"symbol": "AAPL", "interval": "5m", "bars": 30, "fills": 0, "png": str(png)}
    assert png.read_bytes().startswith(PNG_SIGNATURE)


def test_command_table_view_prints_the_chart(coord: SessionCoordinator, tmp_path: Path) -> None:
    rv, out = _run(coord, ["AAPL", "--last", "20", "--line"], tmp_path)
    assert isinstance(rv, ChartResult) and rv.interval == "1m"
    assert "AAPL 1m" in out and "close" in out and "\x1b[" not in out  # a StringIO is no terminal


def test_help_shows_the_example() -> None:
    data = typer.Typer()
    register(data)
    data.callback()(lambda: None)
    group = typer.main.get_command(data)
    assert isinstance(group, typer.core.TyperGroup)
    assert "Example: data chart AAPL 5m --last 60 --with sma_20_5m --png aapl.png" in (
        group.commands["chart"].help or ""
    )


def test_csv_view_is_one_row() -> None:
    res = ChartResult("AAPL", "5m", 12, None, "x")
    assert render_to_string(res, OutputMode.csv) == "symbol,interval,bars,fills,png\nAAPL,5m,12,0,\n"


def test_the_command_module_imports_no_plotting_library() -> None:
    code = (
        "import sys, trader_cli.commands.chart; "
        "print(sorted(m for m in ('plotext', 'matplotlib', 'numpy') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert out.stdout.strip() == "[]"
