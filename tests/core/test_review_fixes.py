"""Regressions found in review: exports through symlinks, daily stamps, schemas redirected."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from trader_cli.core.calendar import iso_utc
from trader_cli.core.csv_import import import_csv
from trader_cli.core.errors import DataError, ImportRejected
from trader_cli.core.export import write_atomic
from trader_cli.core.store import DataManager

REPO = Path(__file__).resolve().parents[2]


def test_atomic_write_goes_through_a_symlink(tmp_path: Path) -> None:
    (tmp_path / "2024-12-02.json").write_text("old")
    (tmp_path / "latest.json").symlink_to("2024-12-02.json")
    write_atomic(tmp_path / "latest.json", "new")
    assert (tmp_path / "latest.json").is_symlink()
    assert (tmp_path / "2024-12-02.json").read_text() == "new"


def test_atomic_write_refuses_a_device() -> None:
    with pytest.raises(DataError, match="not a regular file"):
        write_atomic(Path("/dev/null"), "x")


@pytest.mark.parametrize(
    "stamp",
    ["2024-12-02", "2024-12-02T00:00:00Z", "1733097600", "2024-12-02T09:30:00-05:00", "2024-12-02T16:00:00-05:00"],
)
def test_daily_bars_land_on_their_trading_date_however_stamped(tmp_path: Path, stamp: str) -> None:
    csv = tmp_path / "d.csv"
    csv.write_text(f"timestamp,open,high,low,close,volume\n{stamp},10,11,9,10.5,100\n")
    store = DataManager(tmp_path / "data")
    import_csv(store, csv, "1d", symbol="X")
    assert iso_utc(int(store.read("X", "1d").ts[0])) == "2024-12-02T05:00:00Z"  # New York midnight


def test_daily_bar_on_a_holiday_is_rejected(tmp_path: Path) -> None:
    csv = tmp_path / "d.csv"
    csv.write_text("timestamp,open,high,low,close,volume\n2024-11-28,10,11,9,10.5,100\n")
    with pytest.raises(ImportRejected, match="line 2: 2024-11-28 is not an NYSE trading day"):
        import_csv(DataManager(tmp_path / "data"), csv, "1d", symbol="X")


@pytest.mark.parametrize("cmd", [["session", "schema"], ["config", "schema"]])
def test_schemas_redirected_are_json_alone(cmd: list[str]) -> None:
    out = subprocess.run([str(REPO / ".venv" / "bin" / "trader-cli"), *cmd], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0
    assert "properties" in json.loads(out.stdout) or "$defs" in json.loads(out.stdout)
