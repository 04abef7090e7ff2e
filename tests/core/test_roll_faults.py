"""Faults at a day roll and in a provisioning read leave the session as it was: a roll that
fails (here: the store runs out of memory) is retried without repeating a day in history; an
upgrade whose daily read fails keeps the history it had; an unreadable file (a symlink loop) is
a store error for that symbol, not a halt. The faults come from a store that fails on demand."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest

from trader_cli.core.bars import Bars, aggregate, session_bars
from trader_cli.core.calendar import nyse
from trader_cli.core.config import parse_config
from trader_cli.core.coordinator import SessionCoordinator
from trader_cli.core.errors import ProvisioningError, SessionStateError, StoreError
from trader_cli.core.intervals import Interval
from trader_cli.core.lifecycle import SessionState
from trader_cli.core.store import DataManager

DATA = Path(__file__).resolve().parents[2] / "data"


class FaultyStore(DataManager):
    """The real store, failing the reads ``fail`` says to (symbol, interval) -> exception."""

    fail: ClassVar[dict[tuple[str, str], BaseException]] = {}

    def read(self, symbol: str, interval: Any, start_ns: int | None = None, end_ns: int | None = None) -> Bars:
        err = self.fail.get((symbol, str(Interval.parse(interval).name)))
        if err is not None:
            raise err
        return super().read(symbol, interval, start_ns, end_ns)

    def read_batch(self, symbols: list[str], interval: Any, start_ns: int, end_ns: int) -> Any:
        for symbol in symbols:
            err = self.fail.get((symbol, str(Interval.parse(interval).name)))
            if err is not None:
                raise err
        return super().read_batch(symbols, interval, start_ns, end_ns)


@pytest.fixture
def coord() -> Any:
    FaultyStore.fail = {}
    c = SessionCoordinator(FaultyStore)
    yield c
    c.shutdown()
    FaultyStore.fail = {}


def config(derived: list[str], trailing: int = 2) -> Any:
    return parse_config(
        {
            "name": "faults",
            "mode": "backtest",
            "backtest_config": {"start_date": "2024-12-02", "end_date": "2024-12-06", "speed_multiplier": 0},
            "session_data_config": {
                "symbols": ["AAPL", "MSFT"],
                "base_interval": "1m",
                "derived_intervals": derived,
                "historical": {"trailing_days": trailing},
            },
        }
    )


def store_history(sym: str, day: dt.date, n: int, interval: str) -> Bars:
    cal = nyse()
    back = cal.trading_days_back(day, n)
    base = session_bars(DataManager(DATA).read(sym, "1m", cal.open_close(back[0])[0], cal.open_close(back[-1])[1]), cal)
    return base if interval == "1m" else aggregate(base, Interval.parse(interval), cal)


def test_a_failed_roll_is_retried_without_repeating_a_day(coord: SessionCoordinator) -> None:
    coord.start(config(["5m"]), DATA, paused=True)
    coord.advance(390)
    FaultyStore.fail = {("MSFT", "1m"): MemoryError("no room for the next day")}
    with pytest.raises(SessionStateError, match="the replay stopped at 2024-12-02 16:00 ET: no room"):
        coord.advance(1)  # the roll: reading the next window fails, the replay halts on the finished day
    assert coord.state is SessionState.paused
    assert coord.session_day == dt.date(2024, 12, 2)
    assert any(e.kind == "error" and "no room" in e.text for e in coord.events)
    FaultyStore.fail = {}
    coord.advance(1)  # the retry
    assert coord.session_day == dt.date(2024, 12, 3)
    assert [p for p, _ in coord.engine.history.past] == [0]
    for sym in ("AAPL", "MSFT"):
        for iv in ("1m", "5m"):
            hist, _ = coord.bars(sym, iv)
            want = store_history(sym, coord.session_day, 2, iv)
            np.testing.assert_array_equal(hist.ts, want.ts, err_msg=f"{sym} {iv}")
            np.testing.assert_array_equal(hist.close, want.close, err_msg=f"{sym} {iv}")


def test_an_upgrade_whose_daily_read_fails_keeps_the_history_it_had(coord: SessionCoordinator) -> None:
    coord.start(config(["5m", "1d"]), DATA, paused=True)
    coord.add("bar", "TSLA", "adhoc", interval="5m", days=0)
    coord.advance(391 + 390)  # into 12-04: TSLA's history is the two replayed days
    before = {iv: coord.bars("TSLA", iv)[0] for iv in ("1m", "5m")}
    FaultyStore.fail = {("TSLA", "1d"): StoreError("TSLA's 1d file cannot be read")}
    with pytest.raises(ProvisioningError, match="the session is unchanged"):
        coord.add("symbol", "TSLA", "strategy")
    FaultyStore.fail = {}
    for iv, hist in before.items():
        after, _ = coord.bars("TSLA", iv)
        np.testing.assert_array_equal(after.ts, hist.ts, err_msg=iv)
    assert not coord.session.symbols["TSLA"].metadata.meets_session_config_requirements


def test_an_unreadable_file_is_a_store_error(tmp_path: Path) -> None:
    store = DataManager(tmp_path)
    path = store.path_for("LOOP", "1m")
    path.parent.mkdir(parents=True)
    path.symlink_to(path)  # a symlink to itself: stat fails with ELOOP
    with pytest.raises(StoreError, match="cannot read"):
        store.read("LOOP", "1m")
