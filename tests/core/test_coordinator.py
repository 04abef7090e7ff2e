"""The session coordinator through its API: the five reference scenarios, graceful degradation,
rollback of a failing step, removal, and the export (schema, read back into the models)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
import pytest

from trader_cli.core.config import SessionConfig, parse_config
from trader_cli.core.coordinator import SessionCoordinator
from trader_cli.core.errors import ProvisioningError, SessionStateError, ValidationFailed
from trader_cli.core.export import SessionExport, build_export, export_schema, export_session
from trader_cli.core.lifecycle import SessionState
from trader_cli.core.store import DataManager

REPO = Path(__file__).resolve().parents[2]


def config(symbols: list[str], **over: Any) -> SessionConfig:
    """A backtest config over the bundled sample, like configs/default.json."""
    raw: dict[str, Any] = {
        "name": "test",
        "mode": "backtest",
        "backtest_config": {"start_date": "2024-12-02", "end_date": "2024-12-03", "speed_multiplier": 0},
        "session_data_config": {
            "symbols": symbols,
            "base_interval": "1m",
            "derived_intervals": ["5m", "15m"],
            "historical": {"trailing_days": 5},
            "indicators": [{"name": "sma", "params": [20], "interval": "5m"}, {"name": "rsi", "params": [14]}],
        },
    }
    raw.update(over)
    return parse_config(raw)


@pytest.fixture
def sample(tmp_path: Path) -> Path:
    """A private copy of the bundled sample store (tests may damage it)."""
    dst = tmp_path / "data"
    shutil.copytree(REPO / "data" / "bars", dst / "bars")
    return dst


@pytest.fixture
def coord(sample: Path) -> SessionCoordinator:
    c = SessionCoordinator(DataManager)
    yield c
    c.shutdown()


def start(coord: SessionCoordinator, sample: Path, symbols: list[str]) -> Any:
    return coord.start(config(symbols), sample, paused=True)


def test_config_symbols_bad_one_dropped_with_reason(coord: SessionCoordinator, sample: Path) -> None:
    res = start(coord, sample, ["AAPL", "RIVN", "BADTICKER"])
    assert sorted(coord.session.symbols) == ["AAPL", "RIVN"]
    bad = next(v for v in res.validations if v.symbol == "BADTICKER")
    assert not bad.can_proceed and "no bars stored for BADTICKER" in bad.reason
    for sym in ("AAPL", "RIVN"):
        meta = coord.session.symbols[sym].metadata
        assert meta.added_by == "config" and meta.meets_session_config_requirements
        assert meta.added_at is None and not meta.auto_provisioned and not meta.upgraded_from_adhoc
    assert coord.state is SessionState.paused
    assert any(e.kind == "dropped" and "BADTICKER" in e.text for e in coord.events)


def test_all_config_symbols_bad_start_fails_with_reasons(coord: SessionCoordinator, sample: Path) -> None:
    with pytest.raises(ValidationFailed) as err:
        start(coord, sample, ["NOPE", "ZZZZ"])
    assert "NOPE" in str(err.value) and "ZZZZ" in str(err.value)
    assert coord.state is SessionState.stopped
    assert coord.session.symbols == {}


def test_mid_session_full_add(coord: SessionCoordinator, sample: Path) -> None:
    start(coord, sample, ["AAPL"])
    coord.advance(90)
    res = coord.add("symbol", "TSLA", "strategy")
    tsla = coord.session.symbols["TSLA"]
    assert res.requirements.outcome == "create"
    assert tsla.metadata.added_by == "strategy" and tsla.metadata.meets_session_config_requirements
    assert tsla.metadata.added_at == coord.now_ns()
    assert tsla.intervals == ["1m", "5m", "15m"]
    assert set(tsla.indicators) == {"sma_20_5m", "rsi_14_1m"}
    steps = [s.step for s in res.report.steps]
    assert steps[:2] == ["create_symbol", "add_interval_1m"] and steps[-1] == "calculate_quality"
    assert all(s.status == "ok" for s in res.report.steps)
    hist, today = coord.bars("TSLA", "1m")
    assert len(today) == 90 and len(hist) == 5 * 390 - 180  # 2024-11-29 closes at 13:00


def test_adhoc_indicator_auto_provisions_lightweight(coord: SessionCoordinator, sample: Path) -> None:
    start(coord, sample, ["AAPL"])
    coord.advance(30)
    res = coord.add("indicator", "MSFT", "adhoc", indicator=("sma", ["20"], "5m"))
    msft = coord.session.symbols["MSFT"]
    m = msft.metadata
    assert (m.meets_session_config_requirements, m.auto_provisioned, m.added_by) == (False, True, "adhoc")
    assert msft.intervals == ["1m", "5m"]  # only what the indicator needs, no 15m
    assert list(msft.indicators) == ["sma_20_5m"]
    assert res.requirements.indicators[0].warmup_bars == 20
    assert coord.engine.hub.latest("sma_20_5m", msft.lane) is not None  # warmed up from history


def test_upgrade_adhoc_to_full(coord: SessionCoordinator, sample: Path) -> None:
    start(coord, sample, ["AAPL"])
    coord.add("bar", "TSLA", "adhoc", interval="15m")
    assert not coord.session.symbols["TSLA"].is_full
    res = coord.add("symbol", "TSLA", "strategy")
    tsla = coord.session.symbols["TSLA"]
    assert res.requirements.outcome == "upgrade"
    m = tsla.metadata
    assert m.meets_session_config_requirements and m.upgraded_from_adhoc and m.added_by == "strategy"
    assert m.auto_provisioned  # it was auto-provisioned once; that stays true
    assert tsla.intervals == ["1m", "5m", "15m"] and set(tsla.indicators) == {"sma_20_5m", "rsi_14_1m"}
    assert next(s.step for s in res.report.steps) == "upgrade_symbol"


def test_duplicate_full_symbol_changes_nothing(coord: SessionCoordinator, sample: Path) -> None:
    start(coord, sample, ["AAPL"])
    before = build_export(coord, with_bars=True)
    res = coord.add("symbol", "AAPL", "strategy")
    assert res.report is None and res.requirements.outcome == "duplicate"
    assert "already loaded in full" in res.requirements.message
    after = build_export(coord, with_bars=True)
    before.pop("exported_at"), after.pop("exported_at")
    assert before == after


def test_plan_changes_nothing(coord: SessionCoordinator, sample: Path) -> None:
    start(coord, sample, ["AAPL"])
    req = coord.analyze("indicator", "NVDA", "adhoc", indicator=("sma", ["200"], "5m"))
    assert req.can_proceed and "create_symbol" in req.step_labels
    # sma 200 on 5m from 2024-12-02 reaches back across Thanksgiving and the 11-29 early close
    assert req.history_first_day is not None and req.history_first_day.isoformat() < "2024-11-28"
    assert "NVDA" not in coord.session.symbols


def test_failing_step_leaves_no_trace(coord: SessionCoordinator, sample: Path) -> None:
    start(coord, sample, ["AAPL"])
    before = build_export(coord)
    lanes_used = coord.engine.lanes.capacity_used
    # The file disappears between validation and loading: load_historical fails.
    store = coord.store
    real_read = store.read

    def vanishing_read(symbol: str, *a: Any, **k: Any) -> Any:
        if symbol == "NVDA":
            (sample / "bars" / "1m" / "NVDA.parquet").unlink(missing_ok=True)
        return real_read(symbol, *a, **k)

    store.read = vanishing_read  # type: ignore[method-assign]
    with pytest.raises(ProvisioningError, match="session is unchanged"):
        coord.add("symbol", "NVDA", "strategy")
    assert "NVDA" not in coord.session.symbols
    assert all(coord.engine.hub.streams[k].members.keys() == {0} for k in coord.engine.hub.streams)
    after = build_export(coord)
    before.pop("exported_at"), after.pop("exported_at")
    assert before == after
    store.read = real_read  # type: ignore[method-assign]
    # the lane NVDA had was given back: the next symbol gets it, no new lane is opened
    assert coord.add("symbol", "TSLA", "strategy").report is not None
    assert coord.session.symbols["TSLA"].lane == lanes_used and coord.engine.lanes.capacity_used == lanes_used + 1


def test_remove_symbol_gone_from_export(coord: SessionCoordinator, sample: Path, tmp_path: Path) -> None:
    start(coord, sample, ["AAPL", "RIVN"])
    coord.add("symbol", "TSLA", "strategy")
    coord.remove_symbol("TSLA")
    out = tmp_path / "s.json"
    export_session(coord, out, "json", with_bars=True)
    data = json.loads(out.read_text())
    assert set(data["symbols"]) == {"AAPL", "RIVN"}
    with pytest.raises(SessionStateError, match="not in the session"):
        coord.remove_symbol("TSLA")


def test_export_validates_against_schema_and_reads_back(
    coord: SessionCoordinator, sample: Path, tmp_path: Path
) -> None:
    start(coord, sample, ["AAPL", "RIVN"])
    coord.advance(45)
    coord.add("indicator", "MSFT", "adhoc", indicator=("macd", [], "1m"))
    for with_bars in (False, True):
        out = tmp_path / f"s{with_bars}.json"
        export_session(coord, out, "json", with_bars=with_bars)
        data = json.loads(out.read_text())
        jsonschema.validate(data, export_schema())
        model = SessionExport.model_validate(data)
        assert set(model.symbols["AAPL"].metadata.model_dump()) == {
            "meets_session_config_requirements",
            "added_by",
            "auto_provisioned",
            "added_at",
            "upgraded_from_adhoc",
            "plugin",
            "rule",
        }
    aapl = data["symbols"]["AAPL"]
    assert aapl["intervals"]["1m"]["session_bars"] == 45
    bars = aapl["intervals"]["1m"]["bars"]
    assert [b["timestamp"] for b in bars] == sorted(b["timestamp"] for b in bars)
    macd = data["symbols"]["MSFT"]["indicators"]["macd_12_26_9_1m"]
    assert set(macd["values"][0]) == {"timestamp", "macd", "signal", "histogram"}
    assert data["symbols"]["MSFT"]["metadata"]["added_at"] == "2024-12-02T15:15:00Z"


def test_csv_export_one_row_per_symbol(coord: SessionCoordinator, sample: Path, tmp_path: Path) -> None:
    start(coord, sample, ["AAPL", "RIVN"])
    out = tmp_path / "s.csv"
    export_session(coord, out, "csv")
    lines = out.read_text().split("\n\n")[0].splitlines()  # the symbols table; the trading tables follow
    assert lines[0].startswith("symbol,base_interval") and "added_by" in lines[0]
    assert len(lines) == 3 and lines[1].startswith("AAPL,1m")


def test_corrupt_file_drops_that_symbol_and_start_goes_on(coord: SessionCoordinator, sample: Path) -> None:
    (sample / "bars" / "1m" / "RIVN.parquet").write_bytes(b"not parquet at all")
    res = start(coord, sample, ["AAPL", "RIVN"])
    assert list(coord.session.symbols) == ["AAPL"]
    bad = next(v for v in res.validations if v.symbol == "RIVN")
    assert not bad.can_proceed and "corrupt" in bad.reason
    assert coord.state is SessionState.paused


def test_unreadable_file_at_a_day_roll_skips_nothing(coord: SessionCoordinator, sample: Path) -> None:
    coord.start(
        config(["AAPL", "RIVN"], backtest_config={"start_date": "2024-12-02", "end_date": "2024-12-09"}),
        sample,
        paused=True,
    )
    (sample / "bars" / "1m" / "RIVN.parquet").unlink()
    coord.advance(390 * 4 + 30)  # rolls past the read-ahead window: RIVN cannot be read any more
    assert coord.session_day.isoformat() == "2024-12-06" and coord.status().day == 5
    assert any(e.kind == "error" and "RIVN" in e.text for e in coord.events)
    hist, today = coord.bars("AAPL", "1m")
    assert np.all(np.diff(hist.ts) > 0) and len(today) == 30
    days = sorted({int(t) // 86_400_000_000_000 for t in hist.ts})
    assert len(days) == 5  # five distinct trailing days, none repeated
    _, rivn_today = coord.bars("RIVN", "1m")
    assert len(rivn_today) == 0  # no bars for the day, and quality says so
    assert coord.quality_of("RIVN")[0].ratio < 1


def test_a_failed_start_returns_to_stopped(
    coord: SessionCoordinator, sample: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    class GoneStore(DataManager):
        def read(self, *a: Any, **k: Any) -> Any:
            raise OSError("disk gone")

    monkeypatch.setattr(coord, "store_factory", GoneStore)  # the disk fails mid-start
    with pytest.raises(ValidationFailed, match="disk gone"):
        start(coord, sample, ["AAPL"])
    assert coord.state is SessionState.stopped and coord.session.symbols == {}
    monkeypatch.undo()
    start(coord, sample, ["AAPL"])
    assert coord.state is SessionState.paused
