"""``data fetch``: Alpaca bars into the store, only the trading days it lacks.

Through ``alpaca-py``'s ``StockHistoricalDataClient`` (raw data), which pages through
``next_page_token`` and retries 429 and 504 three times, 3 s apart, re-asking the page it was on
(so a retry neither loses nor repeats a bar). What the SDK does not do is time out: every HTTP
call here is bounded (``timeout_s``: connect and each read) through the client's session.

For each symbol, the NYSE trading days of ``[first, last]`` with no stored bar of the interval
are its missing days; symbols missing the same days share requests (up to ten symbols each),
one per run of consecutive missing days (midnight to midnight New York, extended hours included
as Alpaca sends them); four requests run at once, each with its own client.
Each request's bars are checked like an import's and written at once — all of its symbols or
none (the store's journal) — so an error stops the fetch with what was fetched kept, and a
re-run asks only for what is still missing (nothing when the store has every day).

Keys come from ``APCA_API_KEY_ID`` / ``APCA_API_SECRET_KEY`` only; they are sent as Alpaca's
headers and never written anywhere (errors carry the status and Alpaca's message).
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import numpy as np

from trader_cli.core.bars import Bars
from trader_cli.core.errors import DataError
from trader_cli.core.intervals import Interval

if TYPE_CHECKING:
    from trader_cli.core.store import DataManager

NY = ZoneInfo("America/New_York")
KEY_VARS = ("APCA_API_KEY_ID", "APCA_API_SECRET_KEY")
DEFAULT_TIMEOUT_S = 30.0
FEEDS = ("iex", "sip")
CHUNK = 10  # symbols a request: pages of several symbols, and requests to run side by side
WORKERS = 4  # requests at once (Alpaca allows 200 a minute on the free plan)


@dataclass
class FetchedSymbol:
    """What the fetch did for one symbol."""

    symbol: str
    interval: str
    missing_days: int  # trading days of the range the store lacked
    bars: int  # bars fetched and written
    empty_days: int  # missing days Alpaca had no bar for (asked again by a re-run)
    stored_rows: int  # rows in the store afterwards
    first_ns: int | None = None
    last_ns: int | None = None


@dataclass
class FetchResult:
    """Per symbol, and the HTTP calls made (pages and retries included)."""

    symbols: list[FetchedSymbol] = field(default_factory=list)
    calls: int = 0
    requests: int = 0  # bar requests (runs × symbol groups)


def keys_from_env(environ: dict[str, str] | None = None) -> tuple[str, str]:
    """The Alpaca keys, or a DataError saying which variables to set."""
    env = os.environ if environ is None else environ
    missing = [v for v in KEY_VARS if not env.get(v)]
    if missing:
        raise DataError(
            f"{' and '.join(missing)} not set: export your Alpaca keys in the environment "
            "(they are read from nowhere else)"
        )
    return env[KEY_VARS[0]], env[KEY_VARS[1]]


def missing_days(store: DataManager, symbol: str, iv: Interval, days: list[dt.date]) -> list[dt.date]:
    """The trading ``days`` with no stored bar of ``iv`` for ``symbol``."""
    from trader_cli.core.calendar import date_to_ordinal

    if not store.has(symbol, iv):
        return list(days)
    have = set(store.trading_days_present(symbol, iv).tolist())
    return [d for d in days if date_to_ordinal(d) not in have]


def _runs(days: list[dt.date], all_days: list[dt.date]) -> list[tuple[dt.date, dt.date]]:
    """Runs of consecutive trading days (by their index in ``all_days``)."""
    pos = {d: i for i, d in enumerate(all_days)}
    runs: list[tuple[dt.date, dt.date]] = []
    for d in days:
        if runs and pos[d] == pos[runs[-1][1]] + 1:
            runs[-1] = (runs[-1][0], d)
        else:
            runs.append((d, d))
    return runs


def client(data_url: str | None, timeout_s: float, keys: tuple[str, str]) -> tuple[Any, list[int]]:
    """A ``StockHistoricalDataClient`` whose every HTTP call is bounded by ``timeout_s``, and a
    one-item list counting its calls."""
    from alpaca.data.historical import StockHistoricalDataClient
    from requests.adapters import HTTPAdapter

    class _Bounded(HTTPAdapter):
        def send(self, request: Any, *args: Any, **kwargs: Any) -> Any:
            if kwargs.get("timeout") is None:
                kwargs["timeout"] = (min(5.0, timeout_s), timeout_s)
            return super().send(request, *args, **kwargs)

    c = StockHistoricalDataClient(keys[0], keys[1], raw_data=True, url_override=data_url)
    session = c._session  # the SDK's requests.Session: bound its calls, count them
    for prefix in ("http://", "https://"):
        session.mount(prefix, _Bounded())
    calls = [0]

    def count(response: Any, *args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        return response

    session.hooks["response"].append(count)
    return c, calls


def fetch(
    store: DataManager,
    symbols: list[str],
    interval: str,
    first: dt.date,
    last: dt.date,
    feed: str = "iex",
    data_url: str | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    progress: Callable[[int, int, str], None] | None = None,
    environ: dict[str, str] | None = None,
) -> FetchResult:
    """Fetch the missing trading days of ``symbols`` (see the module doc)."""
    from trader_cli.core.calendar import nyse
    from trader_cli.core.store import check_symbol

    iv = Interval.parse(interval)
    if iv.name not in ("1m", "1d"):
        raise DataError(f"data fetch takes --interval 1m or 1d (got {interval}); the session derives the others")
    if feed not in FEEDS:
        raise DataError(f"feed '{feed}': use iex (free) or sip (a paid plan)")
    if first > last:
        raise DataError(f"--from {first} is after --to {last}")
    if not symbols:
        raise DataError("name at least one symbol, e.g. data fetch AAPL --from 2024-12-02 --to 2024-12-06")
    syms = sorted({check_symbol(s) for s in symbols})
    keys = keys_from_env(environ)
    cal = nyse()
    days = cal.trading_days(first, last)
    if not days:
        raise DataError(f"no NYSE trading day from {first} to {last}")
    lacking = {s: missing_days(store, s, iv, days) for s in syms}
    groups: dict[tuple[tuple[dt.date, dt.date], ...], list[str]] = {}
    for s in syms:
        if lacking[s]:
            groups.setdefault(tuple(_runs(lacking[s], days)), []).append(s)
    jobs = [
        (run, members[i : i + CHUNK])
        for runs, members in groups.items()
        for run in runs
        for i in range(0, len(members), CHUNK)
    ]
    result = FetchResult()
    got: dict[str, list[Bars]] = {s: [] for s in syms}
    counters: list[list[int]] = []

    def one(job: tuple[tuple[dt.date, dt.date], list[str]]) -> dict[str, Bars]:
        (a, b), members = job
        c, calls = client(data_url, timeout_s, keys)  # one client a request: a session is one thread's
        counters.append(calls)
        raw = request_bars(c, members, iv, *day_span(a, b), feed, data_url, timeout_s)
        batch = {s: to_bars(s, raw.get(s) or [], iv) for s in members}
        return {s: bars for s, bars in batch.items() if len(bars)}

    from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait

    try:
        with ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="fetch") as pool:
            pending = {pool.submit(one, job) for job in jobs}
            while pending:
                done, pending = wait(pending, return_when=FIRST_EXCEPTION)
                for fut in done:
                    if fut.exception() is not None:
                        for other in pending:
                            other.cancel()
                        pool.shutdown(wait=True, cancel_futures=True)
                        for ok in (f for f in pending | done if f.done() and not f.cancelled()):
                            if ok.exception() is None:
                                _store(store, ok.result(), iv, feed, got)
                        raise fut.exception()  # type: ignore[misc]
                    result.requests += 1
                    _store(store, fut.result(), iv, feed, got)
                if progress is not None:
                    progress(result.requests, len(jobs), f"{result.requests} of {len(jobs)} request(s)")
    finally:
        result.calls = sum(c[0] for c in counters)
    for s in syms:
        fetched = got[s]
        n_bars = sum(len(x) for x in fetched)
        from trader_cli.core.calendar import ny_dates

        days_got = {int(o) for x in fetched for o in np.unique(ny_dates(x.ts)).tolist()}
        result.symbols.append(
            FetchedSymbol(
                symbol=s,
                interval=iv.name,
                missing_days=len(lacking[s]),
                bars=n_bars,
                empty_days=len(lacking[s]) - len(days_got),
                stored_rows=len(store.read(s, iv)) if store.has(s, iv) else 0,
                first_ns=int(min(x.ts[0] for x in fetched)) if fetched else None,
                last_ns=int(max(x.ts[-1] for x in fetched)) if fetched else None,
            )
        )
    return result


def _store(store: DataManager, batch: dict[str, Bars], iv: Interval, feed: str, got: dict[str, list[Bars]]) -> None:
    """Write one request's bars (all its symbols or none) and remember them."""
    if batch:
        store.write_batch(batch, iv, source=f"alpaca {feed}")
        for s, bars in batch.items():
            got[s].append(bars)


def day_span(a: dt.date, b: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """New York midnight of ``a`` to the last second of ``b``."""
    start = dt.datetime.combine(a, dt.time(0), tzinfo=NY)
    return start, dt.datetime.combine(b + dt.timedelta(days=1), dt.time(0), tzinfo=NY) - dt.timedelta(seconds=1)


def request_bars(
    c: Any,
    symbols: list[str],
    iv: Interval,
    start: dt.datetime,
    end: dt.datetime,
    feed: str,
    url: str | None,
    timeout_s: float,
) -> dict[str, list[dict[str, Any]]]:
    """One bars request (all its pages) as Alpaca's raw rows by symbol; errors become one line."""
    import requests
    from alpaca.common.exceptions import APIError
    from alpaca.data.enums import DataFeed
    from alpaca.data.requests import StockBarsRequest
    from alpaca.data.timeframe import TimeFrame

    a, b = start.astimezone(NY).date(), end.astimezone(NY).date()
    req = StockBarsRequest(
        symbol_or_symbols=symbols,
        timeframe=TimeFrame.Minute if iv.name == "1m" else TimeFrame.Day,
        start=start,
        end=end,
        feed=DataFeed(feed),
    )
    where = url or "Alpaca's data API"
    try:
        raw: dict[str, list[dict[str, Any]]] = c.get_stock_bars(req)
    except APIError as err:
        raise DataError(_api_error_text(err, feed, a, b)) from None
    except requests.Timeout:
        raise DataError(
            f"{where} did not answer within {timeout_s:g} s ({a}..{b}); the days fetched so far are stored, "
            "re-run to fetch the rest"
        ) from None
    except requests.ConnectionError as err:
        raise DataError(f"cannot reach {where}: {_reason(err)}; the days fetched so far are stored") from None
    return raw


def _reason(err: BaseException) -> str:
    text = str(err.args[0] if err.args else err)
    for known in ("Connection refused", "Name or service not known", "Remote end closed connection"):
        if known in text:
            return known.lower()
    return text[:160]


def _api_error_text(err: Any, feed: str, a: dt.date, b: dt.date) -> str:
    import json

    status = getattr(err, "status_code", None)
    try:
        message = json.loads(str(err)).get("message", str(err))
    except (ValueError, AttributeError):
        message = str(err)
    if status == 401:
        return f"Alpaca refused the keys (401 {message}): check APCA_API_KEY_ID and APCA_API_SECRET_KEY"
    if status == 403:
        hint = "; try --feed iex" if feed == "sip" else "; check your plan's data permissions"
        return f"Alpaca refused {feed} bars for {a}..{b} (403: {message}){hint}"
    if status == 429:
        return (
            f"Alpaca kept answering 429 (rate limit) after the SDK's retries ({a}..{b}); the days fetched so "
            "far are stored: wait a minute and re-run"
        )
    return f"Alpaca answered {status} ({message}) for {a}..{b}; the days fetched so far are stored"


def to_bars(symbol: str, rows: list[dict[str, Any]], iv: Interval) -> Bars:
    """Alpaca's rows as checked Bars (sorted, no duplicate time; a bad row rejects the request)."""
    from trader_cli.core.csv_import import row_problems

    if not rows:
        return Bars.empty()
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        stamps = pc.cast(pa.array([r["t"] for r in rows], pa.string()), pa.timestamp("ns", "UTC"))
        ts = np.asarray(stamps.cast(pa.int64()).to_numpy(zero_copy_only=False), dtype=np.int64)
        cols = {k: np.fromiter((r[k] for r in rows), np.float64, len(rows)) for k in ("o", "h", "l", "c", "v")}
    except (KeyError, TypeError, ValueError, pa.ArrowInvalid) as err:
        raise DataError(f"Alpaca sent a malformed {symbol} bar ({err}); nothing of this request was written") from None
    order = np.argsort(ts, kind="stable")
    ts = ts[order]
    fields = {
        "open": cols["o"][order],
        "high": cols["h"][order],
        "low": cols["l"][order],
        "close": cols["c"][order],
        "volume": cols["v"][order],
    }
    keep = np.r_[True, ts[1:] != ts[:-1]]  # a page boundary never repeats a bar; be sure
    ts = ts[keep]
    fields = {k: v[keep] for k, v in fields.items()}
    problems = row_problems(ts, fields, iv)
    if problems:
        row, what = problems[0]
        raise DataError(
            f"Alpaca sent {len(problems)} bad {symbol} bar(s), e.g. {rows[int(order[row])]['t']}: {what}; "
            "nothing of this request was written"
        )
    return Bars(ts, fields["open"], fields["high"], fields["low"], fields["close"], fields["volume"])
