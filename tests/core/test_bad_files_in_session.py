"""A stored file that breaks the content rules, met by a session: at start the symbol is dropped
with the file and the problem named (the rest start); a mid-session add fails in one line and
changes nothing; at a day roll the symbol gets an error event and the others go on."""

from __future__ import annotations

import datetime as dt
import itertools
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.core.test_coordinator import config
from trader_cli.core.calendar import ny_dates, nyse
from trader_cli.core.config import parse_config
from trader_cli.core.coordinator import SessionCoordinator
from trader_cli.core.errors import ProvisioningError
from trader_cli.core.lifecycle import SessionState
from trader_cli.core.store import DataManager

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def sample(tmp_path: Path) -> Path:
    dst = tmp_path / "data"
    shutil.copytree(REPO / "data" / "bars", dst / "bars")
    return dst


def spoil(data: Path, symbol: str, day: dt.date, column: str, value: float) -> Path:
    """Rewrite a stored 1m file as another tool would (a row group per day, statistics on) with
    one value of ``day`` changed."""
    path = data / "bars" / "1m" / f"{symbol}.parquet"
    table = pq.read_table(path)
    ts = table.column("ts").cast(pa.int64()).to_numpy()
    days = ny_dates(ts)
    row = int(np.flatnonzero(days == (day - dt.date(1970, 1, 1)).days)[10])
    values = table.column(column).to_numpy().copy()
    values[row] = value
    table = table.set_column(table.schema.get_field_index(column), column, pa.array(values))
    cuts = [*np.flatnonzero(np.r_[True, days[1:] != days[:-1]]).tolist(), len(ts)]
    with pq.ParquetWriter(path, table.schema) as w:
        for a, b in itertools.pairwise(cuts):
            w.write_table(table.slice(a, b - a))
    return path


@pytest.fixture
def coord() -> SessionCoordinator:
    c = SessionCoordinator(DataManager)
    yield c
    c.shutdown()


def test_start_drops_the_symbol_with_a_bad_file_and_the_rest_start(coord: SessionCoordinator, sample: Path) -> None:
    path = spoil(sample, "MSFT", dt.date(2024, 12, 2), "close", float("nan"))
    res = coord.start(config(["AAPL", "MSFT"]), sample, paused=True)
    assert coord.state is SessionState.paused
    assert sorted(coord.session.symbols) == ["AAPL"]
    msft = next(v for v in res.validations if v.symbol == "MSFT")
    assert not msft.can_proceed
    assert f"{path}: close is NaN or infinite at 2024-12-02T" in msft.reason
    assert "data import FILE.csv --symbol MSFT --interval 1m" in msft.reason


def test_a_mid_session_add_of_a_bad_file_fails_in_one_line_and_changes_nothing(
    coord: SessionCoordinator, sample: Path
) -> None:
    path = spoil(sample, "TSLA", dt.date(2024, 11, 27), "high", 1e308)  # in TSLA's history
    coord.start(config(["AAPL"]), sample, paused=True)
    coord.advance(30)
    before = {s: sorted(d.intervals) for s, d in coord.session.symbols.items()}
    with pytest.raises(ProvisioningError) as info:
        coord.add("symbol", "TSLA", "adhoc")
    text = str(info.value)
    assert "\n" not in text
    assert f"{path}: high 1e+308 is above the limit 1e+07" in text and "the session is unchanged" in text
    assert {s: sorted(d.intervals) for s, d in coord.session.symbols.items()} == before
    assert coord.state is SessionState.paused


def test_a_day_roll_into_a_bad_day_is_an_error_event_and_the_rest_go_on(
    coord: SessionCoordinator, sample: Path
) -> None:
    spoil(sample, "MSFT", dt.date(2024, 12, 5), "low", -3.0)
    cfg = parse_config(
        {
            "mode": "backtest",
            "backtest_config": {"start_date": "2024-12-02", "end_date": "2024-12-06"},
            "session_data_config": {"symbols": ["AAPL", "MSFT"], "historical": {"trailing_days": 1}},
        }
    )
    coord.start(cfg, sample, paused=True)
    cal = nyse()
    target = cal.open_close(dt.date(2024, 12, 5))[0] + 60 * 60_000_000_000
    coord.advance_to(target)
    assert coord.session_day == dt.date(2024, 12, 5)
    errors = [e.text for e in coord.events if e.kind == "error"]
    assert any("MSFT" in t and "MSFT.parquet: low is negative at 2024-12-05T" in t for t in errors), errors
    assert not any("AAPL" in t for t in errors)
    _, sess = coord.bars("AAPL", "1m")
    assert len(sess) == 60
    assert sorted(coord.session.symbols) == ["AAPL", "MSFT"]


def test_a_bad_day_empties_that_day_alone_not_the_days_read_with_it(coord: SessionCoordinator, sample: Path) -> None:
    """The replay reads days in windows (feed.FEED_DAYS): a window a symbol's file refuses is
    read again a day at a time, so only the bad day is without its bars."""
    spoil(sample, "MSFT", dt.date(2024, 12, 5), "low", -3.0)
    cfg = parse_config(
        {
            "mode": "backtest",
            "backtest_config": {"start_date": "2024-12-02", "end_date": "2024-12-06", "speed_multiplier": 0},
            "session_data_config": {"symbols": ["AAPL", "MSFT"], "historical": {"trailing_days": 1}},
        }
    )
    coord.start(cfg, sample, paused=True)
    coord.advance_to(nyse().open_close(dt.date(2024, 12, 6))[1])
    days = coord.engine.replay.days_without_data
    assert days == {dt.date(2024, 12, 5): ["MSFT"]}, days
    errors = [e.text for e in coord.events if e.kind == "error"]
    assert len(errors) == 1 and "MSFT: no bars for 2024-12-05: " in errors[0], errors
