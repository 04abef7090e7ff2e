"""Missing data is reported: a replayed day on which a symbol has no bar is named at that day's
close and in the end-of-backtest summary (bars are never invented)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from tests.conftest import make_bars
from tests.core.test_coordinator import config
from trader_cli.core.bars import Bars
from trader_cli.core.coordinator import SessionCoordinator
from trader_cli.core.store import DataManager


def test_days_without_bars_are_named_at_the_close_and_at_the_end(tmp_path: Path) -> None:
    store = DataManager(tmp_path / "data")
    days = [dt.date(2024, 11, d) for d in (25, 26, 27, 29)] + [dt.date(2024, 12, 2), dt.date(2024, 12, 3)]
    store.write("AAPL", "1m", Bars.concat([make_bars(d, seed=1) for d in days]), source="test")
    store.write("GAPPY", "1m", Bars.concat([make_bars(d, seed=2) for d in days if d != dt.date(2024, 12, 3)]), "test")
    cfg = config(["AAPL", "GAPPY"], backtest_config={"start_date": "2024-12-02", "end_date": "2024-12-03"})
    coord = SessionCoordinator(DataManager)
    try:
        coord.start(cfg, tmp_path / "data", paused=True)
        coord.advance(10**6)
        ends = [e.text for e in coord.events if e.kind == "day_end"]
        assert "no bars" not in ends[0] and ends[1].endswith("no bars for GAPPY"), ends
        final = next(e.text for e in coord.events if e.kind == "finished")
        assert "days without bars (1): 2024-12-03 (GAPPY)" in final
    finally:
        coord.shutdown()
