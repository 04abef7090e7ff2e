"""``data fetch`` through the real ``alpaca-py`` client against the loopback server on 127.0.0.1:
pagination (a page cap far under the SDK's 10,000), a 429 in the middle, only the missing days,
re-runs that fetch nothing, and the errors a trader meets (bad keys, a refused feed, a server
that hangs or is gone), each one line that says what to do. The server serves the bundled sample
store; every fetched bar is compared with what that store holds."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import SAMPLE_DATA, assert_bars_equal
from tests.test_app import Shell
from trader_cli.core.calendar import nyse
from trader_cli.core.errors import DataError
from trader_cli.core.intervals import Interval
from trader_cli.core.store import DataManager
from trader_cli.live.fetch import KEY_VARS, client, day_span, fetch, request_bars
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


def test_a_503_between_pages_is_asked_again_and_loses_and_repeats_nothing(
    server: LoopbackAlpaca, tmp_path: Path
) -> None:
    """The SDK retries only 429 and 504; a passing 5xx asks for the whole request again."""
    store = DataManager(tmp_path / "store")
    server.fail_at(2, 503)  # the third request: a page-token request
    res = fetch(store, ["AAPL", "MSFT"], "1m", FIRST, LAST, data_url=server.data_url, environ=KEYS)
    assert "page_token" not in server.requests[3]  # the request from its first page again
    for sym in ("AAPL", "MSFT"):
        assert_bars_equal(store.read(sym, "1m"), _window(sym, "1m", FIRST, LAST))  # type: ignore[arg-type]
    assert res.symbols and all(f.bars == 1950 for f in res.symbols)


def test_a_5xx_that_stays_is_one_line_after_three_tries(server: LoopbackAlpaca, tmp_path: Path) -> None:
    store = DataManager(tmp_path / "store")
    server.fail_next(500, times=3)
    with pytest.raises(DataError) as err:
        fetch(store, ["AAPL"], "1m", FIRST, FIRST, data_url=server.data_url, environ=KEYS)
    assert "Alpaca answered 500" in str(err.value) and "3 times" in str(err.value), err.value
    assert len(server.requests) == 3 and store.symbols("1m") == []


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


@pytest.mark.slow
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
    assert bad.code == 2 and "--from 2024-12-06 is after --to 2024-12-02" in bad.err
    assert sh("data fetch AAPL --from 2024-12-02 --interval 5m").code == 1
    assert sh("data fetch AAPL").code != 0
    none = sh(f"data fetch ZZZZ --from 2024-12-02 --data-url {server.data_url} --output json")
    (row,) = json.loads(none.out)
    assert none.code == 0 and "Alpaca has no 1m bars of it for those days on the iex feed" in row["note"], row
    assert [r["note"] for r in rows] == [None, None]  # nothing to say of a plain fetch
    assert "give seconds above 0, up to 600" in sh("data fetch AAPL --from 2024-12-02 --timeout 0").err
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
    assert len(every) > 10  # four requests (more than ten symbols are split in four)
    server.fail_at(1, 403)  # the second to arrive: the first is under way by then (not cancelled)
    with pytest.raises(DataError, match="403"):
        fetch(store, every, "1m", FIRST, FIRST, data_url=server.data_url, environ=KEYS)
    kept = store.symbols("1m")
    assert 0 < len(kept) < len(every)  # the other request's symbols were written, whole
    for sym in kept:
        assert_bars_equal(store.read(sym, "1m"), _window(sym, "1m", FIRST, FIRST))  # type: ignore[arg-type]
    res = fetch(store, every, "1m", FIRST, FIRST, data_url=server.data_url, environ=KEYS)
    # RIVN (illiquid: 375 of 390 minutes that day) is not asked again: short, but it traded to the close
    assert {f.symbol for f in res.symbols if f.missing_days} == set(every) - set(kept)
    for sym in every:
        assert_bars_equal(store.read(sym, "1m"), _window(sym, "1m", FIRST, FIRST))  # type: ignore[arg-type]


def _write_window(store: DataManager, sym: str, first: dt.date, last: dt.date, end_ns: int | None = None) -> None:
    """Store the sample's 1m bars of ``sym`` for ``first..last``, cut at ``end_ns`` when given."""
    bars = _window(sym, "1m", first, last)
    if end_ns is not None:
        bars = bars.window(int(bars.ts[0]), end_ns)  # type: ignore[attr-defined]
    store.write(sym, "1m", bars, source="test")  # type: ignore[arg-type]


def _ny_day(rfc3339: str) -> dt.date:
    """The New York date of a request's ``start`` or ``end``."""
    from zoneinfo import ZoneInfo

    return dt.datetime.fromisoformat(rfc3339.replace("Z", "+00:00")).astimezone(ZoneInfo("America/New_York")).date()


def _ny_ns(day: dt.date, hh: int, mm: int) -> int:
    from zoneinfo import ZoneInfo

    return int(dt.datetime.combine(day, dt.time(hh, mm), tzinfo=ZoneInfo("America/New_York")).timestamp()) * 10**9


@pytest.mark.parametrize("until", [(12, 0), (15, 50)])
def test_a_truncated_last_day_is_fetched_again_whole(server: LoopbackAlpaca, tmp_path: Path, until: tuple) -> None:
    """12-03 stored only to noon, or to 15:50 (fetched while the market was open): the next
    fetch asks it again."""
    store = DataManager(tmp_path / "store")
    day = dt.date(2024, 12, 3)
    _write_window(store, "AAPL", FIRST, day, end_ns=_ny_ns(day, *until))
    res = fetch(store, ["AAPL"], "1m", FIRST, LAST, data_url=server.data_url, environ=KEYS)
    assert res.symbols[0].missing_days == 4 and res.requests == 1  # 12-03 (its tail) to 12-06
    assert [q["start"][:10] for q in server.requests if not q.get("page_token")] == ["2024-12-03"]
    assert_bars_equal(store.read("AAPL", "1m"), _window("AAPL", "1m", FIRST, LAST))  # type: ignore[arg-type]
    server.requests.clear()
    again = fetch(store, ["AAPL"], "1m", FIRST, LAST, data_url=server.data_url, environ=KEYS)
    assert again.symbols[0].missing_days == 0 and not server.requests


def test_a_short_day_before_the_last_is_not_asked_again(server: LoopbackAlpaca, tmp_path: Path) -> None:
    """An illiquid symbol misses minutes every day: only its last stored day is checked for being
    cut short, and a day with bars up to the close is not (its gaps are minutes without a trade)."""
    store = DataManager(tmp_path / "store")
    fetch(store, ["RIVN"], "1m", FIRST, LAST, data_url=server.data_url, environ=KEYS)
    assert nyse().expected_bars(LAST, "1m") > len(_window("RIVN", "1m", LAST, LAST))  # type: ignore[arg-type]
    server.requests.clear()
    res = fetch(store, ["RIVN"], "1m", FIRST, dt.date(2024, 12, 5), data_url=server.data_url, environ=KEYS)
    assert res.symbols[0].missing_days == 0 and not server.requests  # short days, but not the last stored
    res = fetch(store, ["RIVN"], "1m", FIRST, LAST, data_url=server.data_url, environ=KEYS)
    assert res.symbols[0].missing_days == 0 and not server.requests  # the last day is short, but not cut short
    assert_bars_equal(store.read("RIVN", "1m"), _window("RIVN", "1m", FIRST, LAST))  # type: ignore[arg-type]


def test_a_daily_bar_makes_its_day_present(server: LoopbackAlpaca, tmp_path: Path) -> None:
    store = DataManager(tmp_path / "store")
    fetch(store, ["SPY"], "1d", LAST, LAST, data_url=server.data_url, environ=KEYS)
    server.requests.clear()
    res = fetch(store, ["SPY"], "1d", FIRST, LAST, data_url=server.data_url, environ=KEYS)
    assert res.symbols[0].missing_days == 4 and [_ny_day(q["end"]) for q in server.requests] == [dt.date(2024, 12, 5)]


def test_days_after_today_are_not_asked_for(server: LoopbackAlpaca, tmp_path: Path) -> None:
    store = DataManager(tmp_path / "store")
    today = dt.date(2024, 12, 4)
    res = fetch(store, ["AAPL"], "1m", FIRST, dt.date(2031, 1, 2), data_url=server.data_url, environ=KEYS, today=today)
    assert res.last_day == today and res.symbols[0].missing_days == 3
    assert {_ny_day(q["end"]) for q in server.requests} == {today}
    with pytest.raises(DataError) as err:
        fetch(store, ["AAPL"], "1m", dt.date(2031, 1, 2), dt.date(2031, 1, 9), environ=KEYS, today=dt.date(2026, 12, 1))
    assert str(err.value) == "--from 2031-01-02 is after today (2026-12-01): nothing to fetch yet"
    with pytest.raises(DataError, match=r"^--from 2099-01-02 is after today \(20\d\d-\d\d-\d\d\)"):
        fetch(store, ["AAPL"], "1m", dt.date(2099, 1, 2), dt.date(2099, 1, 2), environ=KEYS)  # today: the clock's


def test_a_range_past_the_calendar_is_refused_not_cut(tmp_path: Path) -> None:
    store = DataManager(tmp_path / "store")
    with pytest.raises(DataError) as err:
        fetch(
            store, ["AAPL"], "1m", dt.date(2035, 12, 27), dt.date(2036, 1, 4), environ=KEYS, today=dt.date(2036, 6, 1)
        )
    assert str(err.value) == "--to 2036-01-04 is past the NYSE calendar's last day (2035-12-31): use --to 2035-12-31"
    with pytest.raises(DataError, match=r"^--from 1989-12-01 is before the NYSE calendar's first day \(1990-01-02\)"):
        fetch(store, ["AAPL"], "1m", dt.date(1989, 12, 1), dt.date(1990, 1, 5), environ=KEYS)


def test_an_unreadable_stored_file_is_skipped_unless_replace(server: LoopbackAlpaca, tmp_path: Path) -> None:
    store = DataManager(tmp_path / "store")
    fetch(store, ["AAPL", "MSFT"], "1m", FIRST, FIRST, data_url=server.data_url, environ=KEYS)
    store.path_for("AAPL", "1m").write_bytes(b"not a parquet file")
    store.path_for("ZZZZ", "1m").write_bytes(b"not a parquet file either")  # the server has no ZZZZ
    server.requests.clear()
    res = fetch(store, ["AAPL", "MSFT", "ZZZZ"], "1m", FIRST, LAST, data_url=server.data_url, environ=KEYS)
    aapl, msft, zzzz = res.symbols
    assert aapl.skipped and aapl.bars == 0 and aapl.damaged and "AAPL's stored 1m file cannot be read" in aapl.damaged
    assert store.path_for("AAPL", "1m").read_bytes() == b"not a parquet file"
    assert msft.missing_days == 4 and msft.bars == 4 * 390 and not msft.skipped
    assert zzzz.skipped and zzzz.damaged and zzzz.bars == 0
    assert {q["symbols"] for q in server.requests} == {"MSFT"}
    res = fetch(store, ["AAPL"], "1m", FIRST, LAST, data_url=server.data_url, environ=KEYS, replace=True)
    (aapl,) = res.symbols
    assert aapl.started_over and aapl.started_over.startswith("an unreadable file") and aapl.stored_rows == 5 * 390
    for sym in ("AAPL", "MSFT"):
        assert_bars_equal(store.read(sym, "1m"), _window(sym, "1m", FIRST, LAST))  # type: ignore[arg-type]


def test_an_error_says_how_many_requests_were_written(server: LoopbackAlpaca, tmp_path: Path) -> None:
    store = DataManager(tmp_path / "store")
    server.fail_next(422)
    with pytest.raises(DataError) as err:
        fetch(store, ["AAPL"], "1m", FIRST, LAST, data_url=server.data_url, environ=KEYS)
    assert str(err.value).endswith("; nothing was written") and "stored" not in str(err.value)
    every = DataManager(SAMPLE_DATA).symbols("1m")  # four requests; the one refused is the first to arrive
    server.fail_next(403)
    with pytest.raises(DataError) as err:
        fetch(store, every, "1m", FIRST, FIRST, data_url=server.data_url, environ=KEYS)
    # the others are written when they had started before the refusal (on a loaded machine
    # their threads may not have: then they are never asked); the message says how many, the store agrees
    some = re.search(r"; ([123]) of 4 request\(s\) were written before this; re-run to fetch the rest$", str(err.value))
    assert some is not None or str(err.value).endswith("; nothing was written")
    assert len(store.symbols("1m")) == (3 * int(some.group(1)) if some else 0)  # 3 symbols a request
    server.faults.delay_s = 5
    with pytest.raises(DataError) as err:
        fetch(store, ["MSFT"], "1m", LAST, LAST, data_url=server.data_url, timeout_s=0.5, environ=KEYS)
    assert (
        str(err.value) == f"{server.data_url} did not answer within 0.5 s (2024-12-06..2024-12-06); nothing was written"
    )


@pytest.mark.parametrize("secret", [f" {SECRET}", f"{SECRET}\n", f"{SECRET}\r\n", f"{SECRET}\u2019"])
def test_keys_a_header_cannot_carry_are_refused_without_showing_them(
    server: LoopbackAlpaca, tmp_path: Path, secret: str
) -> None:
    store = DataManager(tmp_path / "store")
    with pytest.raises(DataError) as err:
        fetch(store, ["AAPL"], "1m", FIRST, FIRST, data_url=server.data_url, environ=KEYS | {KEY_VARS[1]: secret})
    assert str(err.value) == (
        "APCA_API_KEY_ID / APCA_API_SECRET_KEY hold a character a header cannot carry "
        "(a space or line break at either end?)"
    )
    assert not server.requests


def test_a_key_requests_refuses_as_a_header_is_not_shown(server: LoopbackAlpaca) -> None:
    """Past keys_from_env (the live feed passes its keys on): requests' own refusal, without the key."""
    secret = "loopback\nsecret"
    c, _ = client(server.data_url, 2, (KEY, secret))
    with pytest.raises(DataError) as err:
        request_bars(c, ["AAPL"], Interval.parse("1m"), *day_span(FIRST, FIRST), "iex", server.data_url, 2)
    assert "header cannot carry" in str(err.value) and secret not in str(err.value) and "loopback" not in str(err.value)


@pytest.mark.parametrize("url", ["notaurl", "ftp://x", "http://[::1", "http://127.0.0.1:99999", "http://"])
def test_a_data_url_that_is_not_one_is_one_line_without_the_keys(tmp_path: Path, url: str) -> None:
    store = DataManager(tmp_path / "store")
    with pytest.raises(DataError) as err:
        fetch(store, ["AAPL"], "1m", FIRST, FIRST, data_url=url, timeout_s=2, environ=KEYS)
    text = str(err.value)
    assert text == f"--data-url '{url}' is not an http(s) URL Alpaca's API can be reached at; nothing was written"
    assert KEY not in text and SECRET not in text


def test_the_command_says_a_bad_data_url_in_a_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for k, v in KEYS.items():
        monkeypatch.setenv(k, v)
    res = Shell(tmp_path / "store")("data fetch AAPL --from 2024-12-02 --data-url notaurl")
    assert res.code == 1 and "--data-url 'notaurl' is not an http(s) URL" in res.err
    assert "Traceback" not in res.err and SECRET not in res.err


def _seeded_gap(tmp_path: Path) -> DataManager:
    """A store holding AAPL's second day only: a fetch of the week is two requests, one day
    (one page) and three days (two pages)."""
    store = DataManager(tmp_path / "store")
    day = DataManager(SAMPLE_DATA).read("AAPL", "1m", *nyse().open_close(dt.date(2024, 12, 3)))
    store.write("AAPL", "1m", day, source="seed")
    return store


def _days(store: DataManager) -> set[dt.date]:
    from trader_cli.core.calendar import ny_dates, ordinal_to_date

    return {ordinal_to_date(int(d)) for d in set(ny_dates(store.read("AAPL", "1m").ts).tolist())}


def test_each_request_is_written_as_soon_as_it_comes(server: LoopbackAlpaca, tmp_path: Path) -> None:
    store = _seeded_gap(tmp_path)
    server.faults.delay_s = 0.3  # the one-page request ends first, the two-page one a page later
    seen: list[tuple[int, set[dt.date]]] = []
    fetch(
        store, ["AAPL"], "1m", FIRST, LAST, data_url=server.data_url, environ=KEYS,
        progress=lambda done, total, _: seen.append((done, _days(DataManager(store.data_dir)))),
    )  # fmt: skip
    assert seen[0] == (1, {dt.date(2024, 12, 2), dt.date(2024, 12, 3)})  # on disk while the other runs
    assert seen[-1][0] == 2 and len(seen[-1][1]) == 5


def test_ctrl_c_keeps_the_requests_written_and_a_rerun_fetches_the_rest(server: LoopbackAlpaca, tmp_path: Path) -> None:
    from trader_cli.live.fetch import FetchInterrupted

    store = _seeded_gap(tmp_path)
    server.faults.delay_s = 0.3

    def ctrl_c(done: int, total: int, text: str) -> None:
        raise KeyboardInterrupt  # as the main thread gets it, between two requests' answers

    with pytest.raises(FetchInterrupted, match=r"1 of 2 request\(s\) were written before this; re-run"):
        fetch(store, ["AAPL"], "1m", FIRST, LAST, data_url=server.data_url, environ=KEYS, progress=ctrl_c)
    assert _days(DataManager(store.data_dir)) == {dt.date(2024, 12, 2), dt.date(2024, 12, 3)}
    server.faults.delay_s = 0.0
    server.requests.clear()
    res = fetch(store, ["AAPL"], "1m", FIRST, LAST, data_url=server.data_url, environ=KEYS)
    assert res.requests == 1 and len(server.requests) == 2  # the three days left: two pages
    assert_bars_equal(store.read("AAPL", "1m"), _window("AAPL", "1m", FIRST, LAST))  # type: ignore[arg-type]


def test_a_long_run_of_days_is_several_requests_of_a_month_at_most() -> None:
    from trader_cli.live.fetch import RUN_DAYS, _runs

    days = nyse().trading_days(dt.date(2024, 9, 3), dt.date(2024, 11, 29))
    runs = _runs(days, days)
    size = [days.index(b) - days.index(a) + 1 for a, b in runs]
    assert sum(size) == len(days) and max(size) == RUN_DAYS and all(s <= RUN_DAYS for s in size)
    assert all(days.index(b) + 1 == days.index(a2) for (_, b), (a2, _) in itertools.pairwise(runs))
    gap = [d for d in days[:10] if d != days[4]]  # a day held: two runs
    assert _runs(gap, days) == [(days[0], days[3]), (days[5], days[9])]
