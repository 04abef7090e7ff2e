"""The session export (core/export.py and ``session export``): no NaN or Infinity in any output,
the JSON written symbol by symbol into its temp file, CSV with bars, the format taken from the
file name, and the schema's descriptions."""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.test_app import Shell
from trader_cli.core import queries
from trader_cli.core.atomic import temp_path
from trader_cli.core.config import SessionConfig, parse_config
from trader_cli.core.coordinator import SessionCoordinator
from trader_cli.core.errors import DataError
from trader_cli.core.export import build_export, export_schema, export_session
from trader_cli.core.quality import IntervalQuality
from trader_cli.core.store import DataManager

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "data"


def strict_json(text: str) -> Any:
    """Parse JSON refusing the NaN / Infinity / -Infinity tokens Python's json accepts."""

    def refuse(token: str) -> Any:
        raise AssertionError(f"non-standard JSON token {token!r} in the output")

    return json.loads(text, parse_constant=refuse)


def config(symbols: list[str]) -> SessionConfig:
    """A backtest over the bundled sample: 1m base, 5m and 15m derived, sma 20 on 5m, macd on 1m."""
    return parse_config(
        {
            "name": "export-test",
            "mode": "backtest",
            "backtest_config": {"start_date": "2024-12-02", "end_date": "2024-12-03", "speed_multiplier": 0},
            "session_data_config": {
                "symbols": symbols,
                "base_interval": "1m",
                "derived_intervals": ["5m", "15m"],
                "historical": {"trailing_days": 2},
                "indicators": [
                    {"name": "sma", "params": [20], "interval": "5m"},
                    {"name": "macd", "params": [], "interval": "1m"},
                ],
            },
        }
    )


@pytest.fixture
def coord() -> Any:
    """A paused session of AAPL and RIVN on the bundled sample, 45 minutes in."""
    c = SessionCoordinator(DataManager)
    c.start(config(["AAPL", "RIVN"]), SAMPLE, paused=True)
    c.advance(45)
    yield c
    c.shutdown()


def poison_numbers(coord: SessionCoordinator, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make every indicator output and quality ratio NaN or infinite (as a broken kernel or an
    empty expectation would), where the export reads them (the read side)."""
    real_series = queries.indicator_series

    def series(eng: Any, data: Any, key: str) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        ts, vals = real_series(eng, data, key)
        return ts, {n: np.where(np.arange(len(v)) % 2 == 0, np.nan, np.inf) for n, v in vals.items()}

    real_quality = queries.quality

    def quality(eng: Any, symbol: str) -> list[IntervalQuality]:
        return [q.model_copy(update={"ratio": math.nan}) for q in real_quality(eng, symbol)]

    monkeypatch.setattr(coord.engine.hub, "latest", lambda key, lane: {"value": math.nan, "upper": math.inf})
    monkeypatch.setattr(queries, "indicator_series", series)
    monkeypatch.setattr(queries, "quality", quality)


# -- item 3: no NaN / Infinity tokens -----------------------------------------------------------
@pytest.mark.parametrize("with_bars", [False, True])
def test_json_export_writes_null_for_nan_and_infinity(
    coord: SessionCoordinator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, with_bars: bool
) -> None:
    poison_numbers(coord, monkeypatch)
    out = tmp_path / "s.json"
    export_session(coord, out, "json", with_bars=with_bars)
    data = strict_json(out.read_text())
    aapl = data["symbols"]["AAPL"]
    assert aapl["indicators"]["sma_20_5m"]["latest"] == {"value": None, "upper": None}
    assert all(q["ratio"] is None for q in aapl["quality"].values())
    if with_bars:
        values = aapl["indicators"]["macd_12_26_9_1m"]["values"]
        assert values and all(v["macd"] is None and v["signal"] is None for v in values)


def test_csv_export_writes_empty_cells_for_nan_and_infinity(
    coord: SessionCoordinator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    poison_numbers(coord, monkeypatch)
    out = tmp_path / "s.csv"
    export_session(coord, out, "csv", with_bars=True)
    text = out.read_text()
    assert not {"nan", "inf", "-inf", "NaN", "Infinity"} & set(next(csv.reader(io.StringIO(text))) + _cells(text))
    rows = list(csv.DictReader(io.StringIO(text.split("\n\n")[0])))
    assert [r["quality_min"] for r in rows] == ["", ""]


def _cells(text: str) -> list[str]:
    return [cell for row in csv.reader(io.StringIO(text)) for cell in row]


# -- item 5: streamed into the temp file, same document -----------------------------------------
def test_json_export_streams_symbol_by_symbol_into_its_temp_file(coord: SessionCoordinator, tmp_path: Path) -> None:
    out = tmp_path / "s.json"
    sizes: list[int] = []

    def progress(done: int, total: int, symbol: str) -> None:
        tmp = temp_path(out)
        sizes.append(tmp.stat().st_size if tmp.exists() else 0)

    export_session(coord, out, "json", with_bars=True, progress=progress)
    # Before the second symbol is written, the first one is already in the temp file.
    assert len(sizes) == 2 and sizes[1] > 100_000
    assert not list(tmp_path.glob(".*.tmp"))


@pytest.mark.parametrize("with_bars", [False, True])
def test_streamed_json_is_the_document_json_dumps_writes(
    coord: SessionCoordinator, tmp_path: Path, with_bars: bool
) -> None:
    out = tmp_path / "s.json"
    export_session(coord, out, "json", with_bars=with_bars)
    text = out.read_text()
    doc = build_export(coord, with_bars=with_bars)
    doc["exported_at"] = json.loads(text)["exported_at"]
    assert text == json.dumps(doc, indent=None if with_bars else 1)
    if with_bars:
        # 2024-11-27 and the 11-29 early close (210 minutes) as history, then 45 session minutes
        assert len(doc["symbols"]["AAPL"]["intervals"]["1m"]["bars"]) == 390 + 210 + 45


def test_a_failing_export_leaves_the_old_file_and_no_temp(coord: SessionCoordinator, tmp_path: Path) -> None:
    out = tmp_path / "s.json"
    out.write_text("old")

    def progress(done: int, total: int, symbol: str) -> None:
        if done == 1:
            raise DataError("disk went away")

    with pytest.raises(DataError, match="disk went away"):
        export_session(coord, out, "json", with_bars=True, progress=progress)
    assert out.read_text() == "old"
    assert not list(tmp_path.glob(".*.tmp"))


def test_an_export_after_stop_refuses_and_leaves_the_file(coord: SessionCoordinator, tmp_path: Path) -> None:
    from trader_cli.core.errors import SessionStateError

    out = tmp_path / "s.json"
    export_session(coord, out, "json")
    good = out.read_bytes()
    coord.stop()
    with pytest.raises(SessionStateError, match=r"no session to export .*export before stopping"):
        export_session(coord, out, "json")
    assert out.read_bytes() == good


# -- item 12: CSV with bars, the format from the file name ----------------------------------------
def test_csv_export_with_bars_writes_bars_and_indicator_values(coord: SessionCoordinator, tmp_path: Path) -> None:
    out = tmp_path / "s.csv"
    export_session(coord, out, "csv", with_bars=True)
    symbols, bars, values, *trading = out.read_text().split("\n\n")
    firsts = [t.splitlines()[0].split(",")[0] for t in trading]
    assert firsts == ["id", "order_id", "symbol", "initial_cash", "time", "initial_cash", "by"]
    assert symbols.splitlines()[0].startswith("symbol,base_interval,intervals,bars")
    bar_rows = list(csv.DictReader(io.StringIO(bars)))
    assert list(bar_rows[0]) == ["symbol", "interval", "timestamp", "open", "high", "low", "close", "volume"]
    doc = build_export(coord, with_bars=True)
    for sym in ("AAPL", "RIVN"):
        for iv, entry in doc["symbols"][sym]["intervals"].items():
            mine = [r for r in bar_rows if r["symbol"] == sym and r["interval"] == iv]
            assert [r["timestamp"] for r in mine] == [b["timestamp"] for b in entry["bars"]]
            assert [float(r["close"]) for r in mine] == [b["close"] for b in entry["bars"]]
    value_rows = list(csv.DictReader(io.StringIO(values)))
    assert list(value_rows[0]) == ["symbol", "indicator", "interval", "timestamp", "output", "value"]
    macd = doc["symbols"]["AAPL"]["indicators"]["macd_12_26_9_1m"]["values"]
    mine = [r for r in value_rows if r["symbol"] == "AAPL" and r["indicator"] == "macd_12_26_9_1m"]
    assert len(mine) == 3 * len(macd) and {r["output"] for r in mine} == {"macd", "signal", "histogram"}
    sma = [r for r in value_rows if r["symbol"] == "AAPL" and r["indicator"] == "sma_20_5m"]
    assert {r["output"] for r in sma} == {"value"} and {r["interval"] for r in sma} == {"5m"}


def test_csv_export_without_bars_is_the_symbols_table_then_the_trading_tables(
    coord: SessionCoordinator, tmp_path: Path
) -> None:
    out = tmp_path / "s.csv"
    export_session(coord, out, "csv")
    symbols, orders, fills, positions, account, equity, report, pnl = out.read_text().split("\n\n")
    assert report.splitlines()[0].startswith("initial_cash,final_equity,total_return,sharpe")
    assert pnl.strip() == "by,key,pnl"  # nothing traded: no P&L rows
    assert fills.splitlines()[0].startswith("order_id,symbol") and len(fills.splitlines()) == 1
    assert len(positions.splitlines()) == 1  # the header alone: nothing held
    lines = symbols.splitlines()
    assert len(lines) == 3 and lines[1].startswith("AAPL,1m")
    assert orders.splitlines() == [
        ",".join(
            [
                "id",
                "symbol",
                "side",
                "qty",
                "type",
                "limit",
                "stop",
                "tif",
                "submitted_at",
                "status",
                "reason",
                "filled_at",
                "filled_qty",
                "avg_fill_price",
                "origin",
                "for_session",
            ]
        )
    ]
    assert account.splitlines()[1].startswith("100000.0,100000.0")  # nothing traded
    assert len(equity.splitlines()) == 1 + 45  # a point per session minute replayed


@pytest.fixture
def shell(tmp_path: Path) -> Shell:
    """A Shell on the bundled sample with a paused session."""
    sh = Shell(SAMPLE)
    cfg = tmp_path / "cfg.json"
    cfg.write_text(json.dumps(config(["AAPL"]).model_dump(mode="json")))
    assert sh(f"system start --config {cfg} --paused").code == 0
    yield sh
    sh.obj.coordinator.shutdown()


def test_export_takes_the_format_from_the_file_name(shell: Shell, tmp_path: Path) -> None:
    res = shell(f"session export {tmp_path / 'out.csv'} --bars")
    assert res.code == 0, res.err
    assert "(csv, with bars)" in " ".join(res.out.split())
    text = (tmp_path / "out.csv").read_text()
    assert text.startswith("symbol,base_interval") and "\n\nsymbol,interval,timestamp" in text
    assert shell(f"session export {tmp_path / 'out.json'}").code == 0
    assert strict_json((tmp_path / "out.json").read_text())["symbols"]["AAPL"]["base_interval"] == "1m"


@pytest.mark.parametrize(("name", "fmt"), [("out.csv", "json"), ("out.json", "csv")])
def test_a_format_that_contradicts_the_file_name_is_refused(shell: Shell, tmp_path: Path, name: str, fmt: str) -> None:
    res = shell(f"session export {tmp_path / name} --format {fmt}")
    assert res.code != 0
    assert len(res.err_lines) == 1 and f"--format {fmt}" in res.err and "name the file" in res.err
    assert not (tmp_path / name).exists()


def test_export_to_another_extension_uses_the_format_option(shell: Shell, tmp_path: Path) -> None:
    assert shell(f"session export {tmp_path / 'snap.txt'} --format csv").code == 0
    assert (tmp_path / "snap.txt").read_text().startswith("symbol,")
    assert shell(f"session export {tmp_path / 'snap'}").code == 0
    assert strict_json((tmp_path / "snap").read_text())["schema_version"] == 1


# -- polish: the schema speaks of the product ----------------------------------------------------
def test_schema_descriptions_describe_the_export_not_design_notes() -> None:
    text = json.dumps(export_schema())
    assert "design notes" not in text
    assert "added_by" in export_schema()["$defs"]["MetadataOut"]["properties"]


def test_every_top_level_key_is_required_and_written(tmp_path: Path) -> None:
    """A tool reading the export can rely on every key the schema names (before any trading too)."""
    import jsonschema

    schema = export_schema()
    assert schema["$schema"].endswith("/2020-12/schema")
    assert set(schema["required"]) == set(schema["properties"]) >= {"symbols", "account", "report", "plugins"}
    sh = Shell(SAMPLE)
    sh.obj.config_path = str(REPO / "configs" / "default.json")
    out = tmp_path / "fresh.json"
    try:
        assert sh("system start --paused").code == 0
        assert sh(f"session export {out}").code == 0
    finally:
        sh.obj.coordinator.shutdown()
    jsonschema.validate(json.loads(out.read_text()), schema)


def test_an_indicators_values_start_where_it_was_computed_from() -> None:
    """An adhoc indicator on a symbol added by it (no history) starts at today's first bar; the
    symbol's upgrade later loads its trailing days: those bars are exported, the indicator's
    values there are null, and ``computed_from`` says where its values begin (as the session
    computed them), while a config indicator starts at the first bar held."""
    c = SessionCoordinator(DataManager)
    try:
        c.start(config(["AAPL"]), SAMPLE, paused=True)
        c.advance(10)
        c.add("indicator", "MSFT", "adhoc", indicator=("vwap", [], "1m"))
        c.advance(20)
        c.add("symbol", "MSFT", "adhoc")
        c.advance(30)
        doc = build_export(c, with_bars=True)
    finally:
        c.shutdown()
    vwap = doc["symbols"]["MSFT"]["indicators"]["vwap_1m"]
    assert vwap["computed_from"] == "2024-12-02T14:30:00Z", vwap["computed_from"]
    before = [v for v in vwap["values"] if v["timestamp"] < vwap["computed_from"]]
    after = [v for v in vwap["values"] if v["timestamp"] >= vwap["computed_from"]]
    assert len(before) == 390 + 210 and all(v["value"] is None for v in before)  # 11-27 and 11-29 (early close)
    assert len(after) == 60 and all(v["value"] is not None for v in after)  # vwap: ready at its first bar
    sma = doc["symbols"]["AAPL"]["indicators"]["sma_20_5m"]
    assert sma["computed_from"] == doc["symbols"]["AAPL"]["intervals"]["5m"]["first"]
