"""Shared fixtures: hand-made bar series on the real NYSE calendar and small Parquet stores."""

from __future__ import annotations

import datetime as dt
import os
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from hypothesis import settings

from trader_cli.core.bars import FIELDS, Bars
from trader_cli.core.calendar import NS_PER_MINUTE, MarketCalendar, nyse
from trader_cli.core.store import DataManager

# CI (CI=true, as .ci/run is run) replays a fixed set of examples so a landing never depends on
# a lucky draw; local runs keep exploring new ones.
settings.register_profile("ci", derandomize=True, deadline=None)
if os.environ.get("CI"):
    settings.load_profile("ci")

REPO = Path(__file__).resolve().parents[1]
SAMPLE_DATA = REPO / "data"


@pytest.fixture
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A HOME (and XDG state dir) and working directory of the test's own, under tmp_path."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "home" / "state"))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def make_bars(
    day: dt.date, n_minutes: int | None = None, start_price: float = 100.0, seed: int = 0, offset_minutes: int = 0
) -> Bars:
    """``n_minutes`` consecutive 1m bars from the session open of ``day`` (plus ``offset_minutes``;
    all of the session when n_minutes is None): a small seeded random walk, OHLC consistent,
    prices in cents, whole-number volume."""
    cal = nyse()
    open_ns, close_ns = cal.open_close(day)
    if n_minutes is None:
        n_minutes = int((close_ns - open_ns) // NS_PER_MINUTE) - offset_minutes
    rng = np.random.default_rng([zlib.crc32(day.isoformat().encode()), seed])
    close = np.round(start_price * np.exp(np.cumsum(rng.normal(0, 0.001, n_minutes))), 2)
    open_ = np.round(np.r_[start_price, close[:-1]], 2)
    high = np.round(np.maximum(open_, close) + rng.integers(0, 5, n_minutes) / 100, 2)
    low = np.round(np.minimum(open_, close) - rng.integers(0, 5, n_minutes) / 100, 2)
    volume = rng.integers(100, 10_000, n_minutes).astype(np.float64)
    ts = open_ns + (offset_minutes + np.arange(n_minutes, dtype=np.int64)) * NS_PER_MINUTE
    return Bars(ts, open_, high, low, close, volume)


def assert_bars_equal(a: Bars, b: Bars) -> None:
    """Same length and identical values in every column."""
    assert len(a) == len(b)
    for f in FIELDS:
        np.testing.assert_array_equal(getattr(a, f), getattr(b, f), err_msg=f)


@pytest.fixture(scope="session")
def cal() -> MarketCalendar:
    """The real XNYS calendar."""
    return nyse()


@pytest.fixture
def bars_factory() -> Callable[..., Bars]:
    """``make_bars`` as a fixture (see its docstring)."""
    return make_bars


@pytest.fixture
def store(tmp_path: Path) -> DataManager:
    """An empty bar store in a temp dir."""
    return DataManager(tmp_path / "data")


@pytest.fixture
def two_days() -> list[dt.date]:
    """Two consecutive full trading days (Monday and Tuesday)."""
    return [dt.date(2024, 12, 2), dt.date(2024, 12, 3)]


@pytest.fixture
def filled_store(store: DataManager, two_days: list[dt.date]) -> DataManager:
    """A store holding AAPL 1m bars for two full days."""
    bars = Bars.concat([make_bars(d, seed=i) for i, d in enumerate(two_days)])
    store.write("AAPL", "1m", bars, source="test")
    return store
