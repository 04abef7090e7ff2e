"""An addition to a symbol already in the session, on a later session day, keeps every bar and
indicator value the symbol held: history grows (older days in front), never shrinks or repeats,
and nothing at or after the simulated time is loaded. Checked through the session export of a
real session over a copy of the bundled sample store."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.core import test_coordinator
from trader_cli.core.calendar import nyse
from trader_cli.core.config import parse_config
from trader_cli.core.coordinator import SessionCoordinator
from trader_cli.core.export import build_export
from trader_cli.core.intervals import Interval
from trader_cli.core.store import DataManager

REPO = Path(__file__).resolve().parents[2]
DAY1, DAY2 = dt.date(2024, 12, 2), dt.date(2024, 12, 3)
SMA = {"name": "sma", "params": [20], "interval": "5m"}

Snapshot = dict[str, Any]  # symbol -> {"bars": {iv: {ts: bar}}, "indicators": {key: ...}, "metadata": ...}


sample = test_coordinator.sample  # a private copy of the bundled sample store (a fixture)


@pytest.fixture
def coord() -> Iterator[SessionCoordinator]:
    c = SessionCoordinator(DataManager)
    yield c
    c.shutdown()


def start(
    coord: SessionCoordinator, sample: Path, symbols: list[str], derived: tuple[str, ...] = ("5m", "15m")
) -> None:
    """A paused two-day backtest like configs/default.json (trailing 5 days, sma 20 on 5m)."""
    cfg = parse_config(
        {
            "name": "keeps-bars",
            "mode": "backtest",
            "backtest_config": {"start_date": str(DAY1), "end_date": str(DAY2), "speed_multiplier": 0},
            "session_data_config": {
                "symbols": symbols,
                "base_interval": "1m",
                "derived_intervals": list(derived),
                "historical": {"trailing_days": 5},
                "indicators": [SMA],
            },
        }
    )
    coord.start(cfg, sample, paused=True)


def into_day2(coord: SessionCoordinator, minutes: int = 30) -> None:
    """``time advance 1 session`` then ``time advance 30m``: day 1 replayed, 30 minutes of day 2."""
    coord.advance_to(coord.session_target(1))
    coord.advance(minutes)
    assert coord.session_day == DAY2


def snapshot(coord: SessionCoordinator) -> Snapshot:
    """Every symbol's bars (by interval, then timestamp) and indicators from the export with bars;
    fails on a timestamp held twice."""
    out: Snapshot = {}
    for sym, s in build_export(coord, with_bars=True)["symbols"].items():
        bars = {}
        for iv, entry in s["intervals"].items():
            stamps = [b["timestamp"] for b in entry["bars"]]
            twice = [t for t, n in Counter(stamps).items() if n > 1]
            assert not twice, f"{sym} {iv} holds {twice[:3]} twice"
            assert stamps == sorted(stamps), f"{sym} {iv} out of order"
            bars[iv] = {b["timestamp"]: b for b in entry["bars"]}
        indicators = {}
        for key, ind in s["indicators"].items():
            stamps = [v["timestamp"] for v in ind["values"]]
            assert len(set(stamps)) == len(stamps), f"{sym} {key} has a value twice"
            indicators[key] = {"bars_seen": ind["bars_seen"], "values": {v["timestamp"]: v for v in ind["values"]}}
        out[sym] = {"bars": bars, "indicators": indicators, "metadata": s["metadata"]}
    return out


def assert_kept(before: Snapshot, after: Snapshot) -> None:
    """Every bar and indicator value of ``before`` is in ``after``, unchanged."""
    for sym, was in before.items():
        now = after[sym]
        for iv, bars in was["bars"].items():
            held = now["bars"][iv]
            lost = [t for t in bars if t not in held]
            assert not lost, f"{sym} {iv}: {len(lost)} bar(s) dropped, the first {lost[0]}"
            changed = [t for t, b in bars.items() if held[t] != b]
            assert not changed, f"{sym} {iv}: bar {changed[0]} changed"
        for key, ind in was["indicators"].items():
            values = now["indicators"][key]["values"]
            lost = [t for t in ind["values"] if t not in values]
            assert not lost, f"{sym} {key}: {len(lost)} value(s) dropped, the first {lost[0]}"
            changed = [t for t, v in ind["values"].items() if values[t] != v]
            assert not changed, f"{sym} {key}: value at {changed[0]} changed"
            assert now["indicators"][key]["bars_seen"] >= ind["bars_seen"]


def first_day(bars: dict[str, Any]) -> str:
    """The date of the first bar held (UTC date; every session opens after midnight UTC)."""
    return min(bars)[:10]


def days_back(day: dt.date, n: int) -> str:
    """The first of the ``n`` trading days before ``day``."""
    return str(nyse().trading_days_back(day, n)[0])


def stamp_ns(stamp: str) -> int:
    """An export timestamp ('2024-12-03T14:30:00Z') as UTC ns."""
    return int(dt.datetime.fromisoformat(stamp).timestamp()) * 1_000_000_000


def test_add_bar_on_a_later_day_drops_no_bar_and_no_indicator_value(coord: SessionCoordinator, sample: Path) -> None:
    start(coord, sample, ["AAPL", "RIVN"])
    into_day2(coord)
    before = snapshot(coord)
    assert first_day(before["AAPL"]["bars"]["1m"]) == days_back(DAY1, 5)  # 2024-11-22
    coord.add("bar", "AAPL", "adhoc", interval="30m")
    after = snapshot(coord)
    assert_kept(before, after)
    aapl = after["AAPL"]
    assert {iv: len(b) for iv, b in aapl["bars"].items() if iv != "30m"} == {
        iv: len(b) for iv, b in before["AAPL"]["bars"].items()
    }
    sma = aapl["indicators"]["sma_20_5m"]
    assert sma["bars_seen"] == len(sma["values"]) == len(aapl["bars"]["5m"])
    # The new interval: the days replayed since AAPL joined, then today's completed bars.
    assert first_day(aapl["bars"]["30m"]) == str(DAY1) and len(aapl["bars"]["30m"]) == 13 + 1


def test_add_bar_with_more_days_grows_history_back_and_shrinks_no_interval(
    coord: SessionCoordinator, sample: Path
) -> None:
    start(coord, sample, ["AAPL"])
    into_day2(coord)
    before = snapshot(coord)
    res = coord.add("bar", "AAPL", "adhoc", interval="15m", days=10)
    assert res.requirements.outcome == "extend"
    after = snapshot(coord)
    assert_kept(before, after)
    aapl = after["AAPL"]["bars"]
    assert first_day(aapl["1m"]) == first_day(aapl["15m"]) <= days_back(DAY2, 10)
    assert first_day(aapl["5m"]) == first_day(before["AAPL"]["bars"]["5m"])  # not asked for: as it was
    # the trailing window of today holds the 10 days asked for, and quality counts what is held
    hist, _ = coord.bars("AAPL", "15m")
    day0 = dt.datetime.fromtimestamp(int(hist.ts[0]) / 1e9, dt.UTC).date()
    assert str(day0) == days_back(DAY2, 10)
    ratios = {q.interval: q.ratio for q in coord.quality_of("AAPL")}
    assert ratios["1m"] == ratios["15m"] == 1.0


def test_add_deeper_indicator_keeps_every_bar_and_the_other_indicators_values(
    coord: SessionCoordinator, sample: Path
) -> None:
    start(coord, sample, ["AAPL"])
    into_day2(coord)
    before = snapshot(coord)
    coord.add("indicator", "AAPL", "adhoc", indicator=("ema", ["200"], "5m"))
    after = snapshot(coord)
    assert_kept(before, after)
    aapl = after["AAPL"]
    assert first_day(aapl["bars"]["5m"]) < first_day(before["AAPL"]["bars"]["5m"])  # ema 200 reaches back
    ema = aapl["indicators"]["ema_200_5m"]
    assert ema["bars_seen"] == len(ema["values"]) == len(aapl["bars"]["5m"])  # seeded with every bar held
    # sma 20 has a value at every bar it saw, and no value at the older bars it never saw
    sma = aapl["indicators"]["sma_20_5m"]
    seen = [t for t in sma["values"] if t >= min(before["AAPL"]["bars"]["5m"])]
    assert len(seen) == sma["bars_seen"]
    assert all(v["value"] is None for t, v in sma["values"].items() if t not in before["AAPL"]["bars"]["5m"])


def test_an_ema_config_add_keeps_the_base_bars(coord: SessionCoordinator, sample: Path) -> None:
    start(coord, sample, ["AAPL"])
    coord.add("indicator", "AAPL", "adhoc", indicator=("ema", ["200"], "5m"))
    into_day2(coord)
    before = snapshot(coord)
    coord.add("bar", "AAPL", "adhoc", interval="30m")
    coord.add("indicator", "AAPL", "adhoc", indicator=("rsi", ["14"], "15m"))
    assert_kept(before, snapshot(coord))


@pytest.mark.parametrize(
    ("operation", "kw"),
    [
        ("symbol", {}),
        ("bar", {"interval": "5m"}),
        ("bar", {"interval": "1m", "days": 5}),
        ("indicator", {"indicator": ("sma", ["20"], "5m")}),
    ],
)
def test_a_duplicate_add_on_a_later_day_changes_nothing(
    coord: SessionCoordinator, sample: Path, operation: Any, kw: dict[str, Any]
) -> None:
    start(coord, sample, ["AAPL", "RIVN"])
    into_day2(coord)
    before = build_export(coord, with_bars=True)
    res = coord.add(operation, "AAPL", "strategy", **kw)
    assert res.requirements.outcome == "duplicate" and res.report is None
    after = build_export(coord, with_bars=True)
    before.pop("exported_at"), after.pop("exported_at")
    assert before == after


@pytest.mark.parametrize("source", ["scanner", "strategy"])
def test_an_upgrade_on_a_later_day_keeps_the_adhoc_bars(coord: SessionCoordinator, sample: Path, source: str) -> None:
    start(coord, sample, ["AAPL"])
    coord.advance(30)
    coord.add("bar", "TSLA", "adhoc", interval="15m", days=5)  # on day 1: 5 days before it
    into_day2(coord)
    before = snapshot(coord)
    res = coord.add("symbol", "TSLA", source)
    assert res.requirements.outcome == "upgrade"
    after = snapshot(coord)
    assert_kept(before, after)
    tsla = after["TSLA"]
    assert tsla["metadata"]["upgraded_from_adhoc"] is True and tsla["metadata"]["added_by"] == source
    assert first_day(tsla["bars"]["5m"]) == first_day(tsla["bars"]["1m"]) == days_back(DAY1, 5)
    sma = tsla["indicators"]["sma_20_5m"]
    assert sma["bars_seen"] == len(sma["values"]) == len(tsla["bars"]["5m"])


def test_an_add_loads_no_bar_at_or_after_now(coord: SessionCoordinator, sample: Path, tmp_path: Path) -> None:
    """What an add at T holds is what a session that had it from the start holds at T."""
    start(coord, sample, ["AAPL"])
    into_day2(coord, minutes=47)
    coord.add("bar", "AAPL", "adhoc", interval="30m", days=3)
    coord.add("indicator", "AAPL", "adhoc", indicator=("sma", ["5"], "1h"))
    now = coord.now_ns()
    assert now is not None
    added = snapshot(coord)["AAPL"]["bars"]
    reference = SessionCoordinator(DataManager)
    try:
        start(reference, sample, ["AAPL"], derived=("5m", "15m", "30m", "1h"))
        into_day2(reference, minutes=47)
        assert reference.now_ns() == now
        had = snapshot(reference)["AAPL"]["bars"]
    finally:
        reference.shutdown()
    for iv, bars in added.items():
        last_end = stamp_ns(max(bars)) + Interval.parse(iv).duration_ns
        assert last_end <= now, f"{iv} holds a bar that is not complete at now"
        extra = [t for t in bars if t not in had[iv]]
        assert not extra, f"{iv}: {extra[:2]} are not in a session that had {iv} from the start"
        assert all(had[iv][t] == b for t, b in bars.items())
    assert len([t for t in added["1m"] if t.startswith(str(DAY2))]) == 47


def test_the_shell_add_bar_on_a_later_day_keeps_the_export(sample: Path, tmp_path: Path) -> None:
    """The reviewer's script: ``add bar AAPL 30m`` in the real binary, exports before and after."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRADER_CLI_")}
    env.update(HOME=str(tmp_path / "home"), XDG_STATE_HOME=str(tmp_path / "state"), TRADER_CLI_PAGER="off")
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    lines = ["system start --paused", "time advance 1 session", "time advance 30m"]
    lines += [f"session export {a} --bars", "add bar AAPL 30m", f"session export {b} --bars"]
    cmd = [str(REPO / ".venv" / "bin" / "trader-cli"), "-q", "--data-dir", str(sample)]
    cmd += ["-c", str(REPO / "configs" / "default.json"), "exec", *lines]
    proc = subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    docs = [json.loads(p.read_text(encoding="utf-8"))["symbols"]["AAPL"] for p in (a, b)]
    for iv, entry in docs[0]["intervals"].items():
        assert docs[1]["intervals"][iv]["bars"] == entry["bars"], iv
    sma_a, sma_b = (d["indicators"]["sma_20_5m"] for d in docs)
    assert sma_b["values"] == sma_a["values"] and sma_b["bars_seen"] == len(sma_b["values"]) == 438
