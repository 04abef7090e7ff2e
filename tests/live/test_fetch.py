"""``data fetch`` through the real ``alpaca-py`` client against the loopback server on 127.0.0.1:
pagination (a page cap far under the SDK's 10,000), a 429 in the middle, only the missing days,
re-runs that fetch nothing, and the errors a trader meets (bad keys, a refused feed, a server
that hangs or is gone), each one line that says what to do. The server serves the bundled sample
store; every fetched bar is compared with what that store holds."""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import SAMPLE_DATA, assert_bars_equal
from tests.test_app import Shell
from trader_cli.core.calendar import nyse
from trader_cli.core.errors import DataError
from trader_cli.core.store import DataManager
from trader_cli.live.fetch import fetch
from trader_cli.live.loopback import LoopbackAlpaca

KEY, SECRET = "loopback-key-id-123", "loopback-secret-456"
KEYS = {"APCA_API_KEY_ID": KEY, "APCA_API_SECRET_KEY": SECRET}
FIRST, LAST = dt.date(2024, 12, 2), dt.date(2024, 12, 6)


@pytest.fixture
def server() -> Iterator[LoopbackAlpaca]:
    with LoopbackAlpaca(SAMPLE_DATA, key_id=KEY, secret=SECRET, page_cap=700) as srv:
        yield srv


def _window(sym: str, iv: str, first: dt.date, last: dt.date) -> object:
    cal = nyse()
    start = cal.open_close(first)[0] - 6 * 3_600_000_000_000
    end = cal.open_close(last)[1] + 5 * 3_600_000_000_000
    return DataManager(SAMPLE_DATA).read(sym, iv, start, end)


def test_fetch_pages_through_and_stores_exactly_what_the_server_has(server: LoopbackAlpaca, tmp_path: Path) -> None:
    store = DataManager(tmp_path / "store")
    res = fetch(store, ["aapl", "MSFT", "RIVN"], "1m", FIRST, LAST, data_url=server.data_url, environ=KEYS)
    assert [f.symbol for f in res.symbols] == ["AAPL", "MSFT", "RIVN"]
    for f in res.symbols:
        assert f.missing_days == 5 and f.empty_days == 0
        assert_bars_equal(store.read(f.symbol, "1m"), _window(f.symbol, "1m", FIRST, LAST))  # type: ignore[arg-type]
    total = sum(f.bars for f in res.symbols)
    pages = -(-total // 700)
    assert res.requests == 1 and res.calls == pages == len(server.requests)
    assert sum(1 for q in server.requests if q.get("page_token")) == pages - 1
    assert {q["feed"] for q in server.requests} == {"iex"}


def test_a_429_is_retried(server: LoopbackAlpaca, tmp_path: Path) -> None:
    store = DataManager(tmp_path / "store")
    server.fail_next(429)
    res = fetch(store, ["AAPL"], "1m", FIRST, FIRST, data_url=server.data_url, environ=KEYS)
    assert res.calls == 2 and len(server.requests) == 2  # the 429, then the page (390 bars)
    assert_bars_equal(store.read("AAPL", "1m"), _window("AAPL", "1m", FIRST, FIRST))  # type: ignore[arg-type]


def test_a_429_between_pages_loses_and_repeats_nothing(server: LoopbackAlpaca, tmp_path: Path) -> None:
    """The SDK re-asks the page it was on: the bars on both sides of the refusal are all there once."""
    store = DataManager(tmp_path / "store")
    server.fail_at(2, 429)  # the third request: a page-token request
    res = fetch(store, ["AAPL", "MSFT"], "1m", FIRST, LAST, data_url=server.data_url, environ=KEYS)
    assert server.requests[2]["page_token"] == server.requests[3]["page_token"]  # the refused page, again
    for sym in ("AAPL", "MSFT"):
        assert_bars_equal(store.read(sym, "1m"), _window(sym, "1m", FIRST, LAST))  # type: ignore[arg-type]
    assert res.calls == len(server.requests) == -(-3900 // 700) + 1


def test_only_missing_days_are_asked_for_and_a_rerun_asks_nothing(server: LoopbackAlpaca, tmp_path: Path) -> None:
    store = DataManager(tmp_path / "store")
    fetch(store, ["AAPL"], "1m", dt.date(2024, 12, 4), dt.date(2024, 12, 4), data_url=server.data_url, environ=KEYS)
    server.requests.clear()
    res = fetch(store, ["AAPL"], "1m", FIRST, LAST, data_url=server.data_url, environ=KEYS)
    assert res.symbols[0].missing_days == 4 and res.requests == 2  # 12-02..03 and 12-05..06
    starts = sorted(q["start"][:10] for q in server.requests if not q.get("page_token"))
    assert starts == ["2024-12-02", "2024-12-05"]
    assert_bars_equal(store.read("AAPL", "1m"), _window("AAPL", "1m", FIRST, LAST))  # type: ignore[arg-type]
    server.requests.clear()
    again = fetch(store, ["AAPL"], "1m", FIRST, LAST, data_url=server.data_url, environ=KEYS)
    assert again.calls == 0 and not server.requests and again.symbols[0].missing_days == 0


def test_daily_bars(server: LoopbackAlpaca, tmp_path: Path) -> None:
    store = DataManager(tmp_path / "store")
    res = fetch(store, ["SPY"], "1d", dt.date(2024, 11, 1), LAST, data_url=server.data_url, environ=KEYS)
    assert res.symbols[0].bars == len(nyse().trading_days(dt.date(2024, 11, 1), LAST))
    assert_bars_equal(store.read("SPY", "1d"), DataManager(SAMPLE_DATA).read("SPY", "1d", *_day_bounds()))


def _day_bounds() -> tuple[int, int]:
    from zoneinfo import ZoneInfo

    ny = ZoneInfo("America/New_York")
    a = dt.datetime.combine(dt.date(2024, 11, 1), dt.time(0), tzinfo=ny)
    b = dt.datetime.combine(LAST + dt.timedelta(days=1), dt.time(0), tzinfo=ny)
    return int(a.timestamp()) * 10**9, int(b.timestamp()) * 10**9


@pytest.mark.parametrize(
    ("status", "feed", "says"),
    [
        (403, "sip", "Alpaca refused sip bars for 2024-12-02..2024-12-06 (403: subscription does not permit"),
        (422, "iex", "Alpaca answered 422"),
    ],
)
def test_refusals_are_one_line_and_write_nothing(
    server: LoopbackAlpaca, tmp_path: Path, status: int, feed: str, says: str
) -> None:
    store = DataManager(tmp_path / "store")
    server.fail_next(status)
    with pytest.raises(DataError) as err:
        fetch(store, ["AAPL"], "1m", FIRST, LAST, feed=feed, data_url=server.data_url, environ=KEYS)
    assert says in str(err.value) and "\n" not in str(err.value)
    assert store.symbols("1m") == []


def test_bad_keys_missing_keys_a_hanging_and_a_gone_server(server: LoopbackAlpaca, tmp_path: Path) -> None:
    store = DataManager(tmp_path / "store")
    with pytest.raises(DataError, match=r"refused the keys \(401"):
        wrong = KEYS | {"APCA_API_SECRET_KEY": "no"}
        fetch(store, ["AAPL"], "1m", FIRST, LAST, data_url=server.data_url, environ=wrong)
    with pytest.raises(DataError, match="APCA_API_SECRET_KEY not set"):
        fetch(store, ["AAPL"], "1m", FIRST, LAST, data_url=server.data_url, environ={"APCA_API_KEY_ID": KEY})
    server.faults.delay_s = 5
    t0 = time.monotonic()
    with pytest.raises(DataError, match=r"did not answer within 0\.5 s"):
        fetch(store, ["AAPL"], "1m", FIRST, LAST, data_url=server.data_url, timeout_s=0.5, environ=KEYS)
    assert time.monotonic() - t0 < 3
    url = server.data_url
    server.stop()
    with pytest.raises(DataError, match="cannot reach"):
        fetch(store, ["AAPL"], "1m", FIRST, LAST, data_url=url, timeout_s=2, environ=KEYS)
    assert store.symbols("1m") == []


def test_the_command_in_the_shell_and_keys_never_written(
    server: LoopbackAlpaca, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for k, v in KEYS.items():
        monkeypatch.setenv(k, v)
    sh = Shell(tmp_path / "store")
    line = f"data fetch AAPL NVDA --from 2024-12-02 --to 2024-12-03 --data-url {server.data_url} --output json"
    res = sh(line)
    assert res.code == 0, res.err
    rows = json.loads(res.out)
    assert [(r["symbol"], r["missing_days"], r["fetched"]) for r in rows] == [("AAPL", 2, 780), ("NVDA", 2, 780)]
    again = json.loads(sh(line).out)
    assert [r["fetched"] for r in again] == [0, 0]
    bad = sh(f"data fetch AAPL --from 2024-12-06 --to 2024-12-02 --data-url {server.data_url}")
    assert bad.code == 1 and "--from 2024-12-06 is after --to 2024-12-02" in bad.err
    assert sh("data fetch AAPL --from 2024-12-02 --interval 5m").code == 1
    assert sh("data fetch AAPL").code != 0
    written = [p for p in (tmp_path).rglob("*") if p.is_file()]
    assert written
    for p in written:
        blob = p.read_bytes()
        assert KEY.encode() not in blob and SECRET.encode() not in blob, p


def test_an_error_keeps_the_requests_that_finished_and_a_rerun_fetches_the_rest(
    server: LoopbackAlpaca, tmp_path: Path
) -> None:
    store = DataManager(tmp_path / "store")
    every = DataManager(SAMPLE_DATA).symbols("1m")
    assert len(every) > 10  # two requests (ten symbols each at most)
    server.fail_next(403)
    with pytest.raises(DataError, match="403"):
        fetch(store, every, "1m", FIRST, FIRST, data_url=server.data_url, environ=KEYS)
    kept = store.symbols("1m")
    assert 0 < len(kept) < len(every)  # the other request's symbols were written, whole
    for sym in kept:
        assert_bars_equal(store.read(sym, "1m"), _window(sym, "1m", FIRST, FIRST))  # type: ignore[arg-type]
    res = fetch(store, every, "1m", FIRST, FIRST, data_url=server.data_url, environ=KEYS)
    assert {f.symbol for f in res.symbols if f.missing_days} == set(every) - set(kept)
    for sym in every:
        assert_bars_equal(store.read(sym, "1m"), _window(sym, "1m", FIRST, FIRST))  # type: ignore[arg-type]
