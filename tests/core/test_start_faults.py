"""A config symbol whose stored bars cannot be loaded at start (here: a file written by another
tool with a null close) is dropped with its reason; the other symbols start."""

from __future__ import annotations

import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from tests.core.test_coordinator import config
from trader_cli.core.coordinator import SessionCoordinator
from trader_cli.core.lifecycle import SessionState
from trader_cli.core.store import DataManager

REPO = Path(__file__).resolve().parents[2]


def test_a_symbol_whose_file_has_nulls_is_dropped_and_the_rest_start(tmp_path: Path) -> None:
    data = tmp_path / "data"
    shutil.copytree(REPO / "data" / "bars", data / "bars")
    path = data / "bars" / "1m" / "MSFT.parquet"
    table = pq.read_table(path)
    close = table.column("close").to_pylist()
    close[5] = None
    field = pa.field("close", pa.float64(), nullable=True)
    table = table.set_column(table.schema.get_field_index("close"), field, pa.array(close, pa.float64()))
    pq.write_table(table, path)
    coord = SessionCoordinator(DataManager)
    try:
        res = coord.start(config(["AAPL", "MSFT"]), data, paused=True)
        assert coord.state is SessionState.paused
        assert sorted(coord.session.symbols) == ["AAPL"]
        msft = next(v for v in res.validations if v.symbol == "MSFT")
        assert not msft.can_proceed and "null" in msft.reason
        assert any(e.kind == "dropped" and "MSFT" in e.text for e in coord.events)
        assert any("(the others start; add it later with: add symbol MSFT)" in e.text for e in coord.events)
    finally:
        coord.shutdown()
