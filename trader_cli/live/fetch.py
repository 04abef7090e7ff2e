"""``data fetch``: Alpaca bars into the store, only the trading days it lacks.

Through ``alpaca-py``'s ``StockHistoricalDataClient`` (raw data), which pages through
``next_page_token`` and retries 429 and 504 three times, 3 s apart, re-asking the page it was on
(so a retry neither loses nor repeats a bar); a 500, 502 or 503 is asked again here, twice, 0.5
and 1.5 s on (the whole request). What the SDK does not do is time out: every HTTP call here is
bounded (``timeout_s``: connect and each read) through the client's session.

The range ends at today (New York): a later ``--to`` is cut to today, a later ``--from`` refused,
and a range outside the NYSE calendar's years refused rather than cut. For each symbol its missing
days are the trading days of ``[first, last]`` with no stored bar of the interval, plus, for 1m,
its last stored day when that holds fewer regular-session bars than the calendar expects (see
``missing_days``); a day fetched replaces that whole stored day, the others stay. Symbols missing
the same days share requests (up to ten symbols each; more than ten are split evenly into a
multiple of four groups, so the four requests that run at once, each with its own client, end
together rather than leave one running alone), one per run of consecutive missing days (midnight
to midnight New York, extended hours included as Alpaca sends them), a month of days at most.
Each request's bars are checked like an import's and written as soon as the request ends — all
of its symbols or none (the store's journal) — so an error stops the fetch with the requests
that finished kept (the error says how many), Ctrl-C too (at once: the running requests stop at
their next page), and a re-run asks only for what is still missing (nothing when the store has
every day).

A stored file that is damaged (``core/store_merge.py``) keeps its readable days: its damaged
days count as missing, and when they all lie in the range its bars are written once every
request for it is in, repairing the file (not at all when Alpaca sent no bar for a damaged day,
or a request failed: the file stays as it was and a re-run asks again).
A symbol whose file is damaged outside the range, or cannot be read at all, is skipped (nothing
asked, nothing written) and the result says why and what to do. ``replace`` starts each
symbol's file over with what is fetched: every day of the range is asked for, and written once.

Keys come from ``APCA_API_KEY_ID`` / ``APCA_API_SECRET_KEY`` only; they are sent as Alpaca's
headers and never written anywhere, nor shown (errors carry the status and Alpaca's message).
"""

from __future__ import annotations

import datetime as dt
import itertools
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import numpy as np

from trader_cli.core.bars import Bars
from trader_cli.core.config import ALPACA_KEY_VARS
from trader_cli.core.errors import DataError
from trader_cli.core.intervals import Interval
from trader_cli.live.fetch_store import FetchedSymbol, plan_fetch, store_bars, summary, write_held

if TYPE_CHECKING:
    from trader_cli.core.calendar import MarketCalendar
    from trader_cli.core.store import DataManager
    from trader_cli.core.store_merge import FileChange

NY = ZoneInfo("America/New_York")
KEY_VARS = ALPACA_KEY_VARS
DEFAULT_TIMEOUT_S = 30.0
FEEDS = ("iex", "sip")
CHUNK = 10  # symbols a request at most: pages of several symbols, and requests to run side by side
WORKERS = 4  # requests at once (Alpaca allows 200 a minute on the free plan)
RUN_DAYS = 21  # trading days a request at most (a month: 10 symbols' extended-hours 1m bars are ~20 pages)
RETRIED_5XX = (500, 502, 503)  # a server's passing fault: asked again here (the SDK retries 429 and 504)
RETRY_5XX_S = (0.5, 1.5)  # wall seconds before asking again after one of them
BAD_KEY_TEXT = (
    "APCA_API_KEY_ID / APCA_API_SECRET_KEY hold a character a header cannot carry "
    "(a space or line break at either end?)"
)

Job = tuple[tuple[dt.date, dt.date], list[str]]  # (first day, last day) of a run, and its symbols


@dataclass
class FetchResult:
    """Per symbol, and the HTTP calls made (pages and retries included)."""

    symbols: list[FetchedSymbol] = field(default_factory=list)
    calls: int = 0
    requests: int = 0  # bar requests (runs × symbol groups)
    last_day: dt.date | None = None  # the range's last day as fetched (a --to after today is cut to today)


def keys_from_env(environ: dict[str, str] | None = None) -> tuple[str, str]:
    """The Alpaca keys, or a DataError saying which variables to set or that one holds a
    character an HTTP header cannot carry (nothing is stripped: the keys are used as set)."""
    env = os.environ if environ is None else environ
    missing = [v for v in KEY_VARS if not env.get(v)]
    if missing:
        raise DataError(
            f"{' and '.join(missing)} not set: export your Alpaca keys in the environment "
            "(they are read from nowhere else)"
        )
    keys = env[KEY_VARS[0]], env[KEY_VARS[1]]
    for key in keys:
        if key != key.strip() or not all(" " < ch < "\x7f" for ch in key):
            raise DataError(BAD_KEY_TEXT)  # never the value: it is a secret
    return keys


def _runs(days: list[dt.date], all_days: list[dt.date]) -> list[tuple[dt.date, dt.date]]:
    """Runs of consecutive trading days (by their index in ``all_days``), ``RUN_DAYS`` at most:
    a request's pages are written together, so a long one failing late would lose them all."""
    pos = {d: i for i, d in enumerate(all_days)}
    runs: list[tuple[dt.date, dt.date]] = []
    for d in days:
        if runs and pos[d] == pos[runs[-1][1]] + 1 and pos[d] - pos[runs[-1][0]] < RUN_DAYS:
            runs[-1] = (runs[-1][0], d)
        else:
            runs.append((d, d))
    return runs


def client(
    data_url: str | None, timeout_s: float, keys: tuple[str, str], stop: threading.Event | None = None
) -> tuple[Any, list[int]]:
    """A ``StockHistoricalDataClient`` whose every HTTP call is bounded by ``timeout_s``, and a
    one-item list counting its calls; once ``stop`` is set its next answer ends the request."""
    from alpaca.data.historical import StockHistoricalDataClient

    from trader_cli.live.http import bound

    c = StockHistoricalDataClient(keys[0], keys[1], raw_data=True, url_override=data_url)
    session = c._session  # the SDK's requests.Session: bound its calls, count them
    bound(session, timeout_s)
    calls = [0]

    def count(response: Any, *args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        if stop is not None and stop.is_set():
            raise _Stopped
        return response

    session.hooks["response"].append(count)
    return c, calls


def fetch_range(cal: MarketCalendar, first: dt.date, last: dt.date, today: dt.date) -> tuple[dt.date, dt.date]:
    """``[first, last]`` cut to end at ``today``; a DataError when it starts after today or
    reaches outside the calendar's years (its schedule would silently cut it)."""
    from trader_cli.core.calendar import ordinal_to_date

    if first > last:
        raise DataError(f"--from {first} is after --to {last}")
    if first > today:
        raise DataError(f"--from {first} is after today ({today}): nothing to fetch yet")
    last = min(last, today)
    known_first, known_last = ordinal_to_date(cal.schedule.days[0]), ordinal_to_date(cal.schedule.days[-1])
    if first < known_first:
        raise DataError(f"--from {first} is before the NYSE calendar's first day ({known_first}): use a later --from")
    if last > known_last:
        raise DataError(f"--to {last} is past the NYSE calendar's last day ({known_last}): use --to {known_last}")
    return first, last


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
    today: dt.date | None = None,
    keys: tuple[str, str] | None = None,
    replace: bool = False,
) -> FetchResult:
    """Fetch the missing trading days of ``symbols`` (see the module doc); ``today`` is New
    York's date now unless given; ``keys`` the session's (read from ``environ`` or the
    process's environment otherwise); ``replace`` starts each symbol's file over."""
    from trader_cli.core.calendar import nyse
    from trader_cli.core.store import check_symbol

    iv = Interval.parse(interval)
    if iv.name not in ("1m", "1d"):
        raise DataError(f"data fetch takes --interval 1m or 1d (got {interval}); the session derives the others")
    if feed not in FEEDS:
        raise DataError(f"feed '{feed}': use iex (free) or sip (a paid plan)")
    cal = nyse()
    first, last = fetch_range(cal, first, last, today or dt.datetime.now(NY).date())
    if not symbols:
        raise DataError("name at least one symbol, e.g. data fetch AAPL --from 2024-12-02 --to 2024-12-06")
    syms = sorted({check_symbol(s) for s in symbols})
    keys = keys if keys is not None else keys_from_env(environ)
    days = cal.trading_days(first, last)
    if not days:
        raise DataError(f"no NYSE trading day from {first} to {last}")
    plan = plan_fetch(store, syms, iv, days, replace)
    lacking, notes, held = plan.lacking, plan.notes, plan.held
    asked = [s for s in syms if s not in plan.skipped]
    now, later = [s for s in asked if s not in held], [s for s in asked if s in held]
    jobs = _jobs(now, lacking, days) + _jobs(later, lacking, days)  # a held symbol shares no request
    result = FetchResult(last_day=last)
    got: dict[str, list[Bars]] = {s: [] for s in syms}
    counters: list[list[int]] = []
    changes: dict[str, FileChange] = {}  # what the last write did to each file (its rows: the summary's)
    stop = threading.Event()  # set: every request ends at its next page (Ctrl-C)

    def one(job: Job) -> dict[str, Bars]:
        (a, b), members = job
        c, calls = client(data_url, timeout_s, keys, stop)  # one client a request: a session is one thread's
        counters.append(calls)
        raw = request_bars(c, members, iv, *day_span(a, b), feed, data_url, timeout_s)
        batch = {s: to_bars(s, raw.get(s) or [], iv) for s in members}
        return {s: bars for s, bars in batch.items() if len(bars)}

    def write(batch: dict[str, Bars]) -> bool:
        for s in batch.keys() & held.keys():
            held[s].append(batch[s])
        ready = {s: bars for s, bars in batch.items() if s not in held}
        done = store_bars(store, ready, iv, feed, got, replace=False)
        if done is not None:
            changes.update(done.changes)
        result.requests += 1
        return len(ready) == len(batch)

    try:
        _download(jobs, one, write, progress, stop)
    finally:
        result.calls = sum(c[0] for c in counters)
    changes.update(write_held(store, plan, iv, feed, got, replace))
    for s in syms:
        line = summary(store, s, iv, len(lacking[s]), got[s], s in plan.skipped, changes.get(s), notes.get(s))
        result.symbols.append(line)
    return result


def _jobs(syms: list[str], lacking: dict[str, list[dt.date]], days: list[dt.date]) -> list[Job]:
    """The requests: symbols lacking the same days together (``_split``), a run of days each."""
    groups: dict[tuple[tuple[dt.date, dt.date], ...], list[str]] = {}
    for s in syms:
        if lacking[s]:
            groups.setdefault(tuple(_runs(lacking[s], days)), []).append(s)
    return [(run, part) for runs, members in groups.items() for run in runs for part in _split(members)]


def _split(members: list[str]) -> list[list[str]]:
    """``members`` in groups of at most ``CHUNK``, as even as they go: one group, or a multiple
    of ``WORKERS`` of them so the last requests do not run alone (12 symbols: 3, 3, 3, 3; 50: 7, 7, 6, …)."""
    k = -(-len(members) // CHUNK)
    if k > 1:
        k = min(len(members), WORKERS * -(-k // WORKERS))
    size, extra = divmod(len(members), k)
    bounds = [i * size + min(i, extra) for i in range(k + 1)]
    return [members[a:b] for a, b in itertools.pairwise(bounds)]


class FetchInterrupted(KeyboardInterrupt):
    """Ctrl-C during a fetch: the requests written before it are kept (the text says how many)."""


class _Stopped(Exception):
    """A request stopped at its next page: the fetch was interrupted."""


def _download(
    jobs: list[Job],
    one: Callable[[Job], dict[str, Bars]],
    write: Callable[[dict[str, Bars]], bool],
    progress: Callable[[int, int, str], None] | None,
    stop: threading.Event,
) -> None:
    """Run ``one`` on the jobs, ``WORKERS`` at once, and ``write`` each result as soon as it
    comes (it says whether the result reached the store, or was held). On the first error: ask
    nothing more, write the requests that finish (each is bounded), and raise the error saying
    how many requests were written; on Ctrl-C the same at once (FetchInterrupted), the running
    requests stopped at their next page (``stop``)."""
    from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

    written = 0
    failed: BaseException | None = None
    pool = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="fetch")
    pending: set[Future[dict[str, Bars]]] = {pool.submit(one, job) for job in jobs}
    try:
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for fut in done:
                err = None if fut.cancelled() else fut.exception()
                if fut.cancelled() or isinstance(err, _Stopped):
                    continue
                if err is None:
                    written += write(fut.result())
                elif failed is None:
                    failed = err
            if failed is not None:  # nothing more is asked; the running requests end and are written
                for fut in pending:
                    fut.cancel()
            if progress is not None:
                progress(written, len(jobs), f"{written} of {len(jobs)} request(s)")
    except KeyboardInterrupt:
        stop.set()
        pool.shutdown(wait=False, cancel_futures=True)  # the running requests end at their next page
        raise FetchInterrupted(f"data fetch interrupted: {_written_text(written, len(jobs))}") from None
    pool.shutdown(wait=True)
    if isinstance(failed, DataError):
        raise DataError(f"{failed}; {_written_text(written, len(jobs))}") from None
    if failed is not None:
        raise failed


def _written_text(written: int, total: int) -> str:
    """How much of the fetch an error left stored, and what to do."""
    if not written:
        return "nothing was written"
    return f"{written} of {total} request(s) were written before this; re-run to fetch the rest"


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
    """One bars request (all its pages) as Alpaca's raw rows by symbol; errors become one line
    that never carries the keys (and says nothing of the store: the caller knows what it wrote)."""
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
        raw: dict[str, list[dict[str, Any]]] = _with_5xx_retries(lambda: c.get_stock_bars(req))
    except APIError as err:
        raise DataError(_api_error_text(err, feed, a, b)) from None
    except requests.Timeout:
        raise DataError(f"{where} did not answer within {timeout_s:g} s ({a}..{b})") from None
    except requests.ConnectionError as err:
        raise DataError(f"cannot reach {where}: {_reason(err)}") from None
    except requests.exceptions.InvalidHeader:
        raise DataError(BAD_KEY_TEXT) from None  # requests' text quotes the header's value: a key
    except (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema, requests.exceptions.InvalidSchema):
        shown = f"--data-url {url!r}" if url is not None else "Alpaca's data API URL"
        raise DataError(f"{shown} is not an http(s) URL Alpaca's API can be reached at") from None
    except requests.RequestException as err:  # its text may quote the request, keys and all
        raise DataError(f"the request to {where} failed ({type(err).__name__}) for {a}..{b}") from None
    return raw


def _with_5xx_retries(call: Callable[[], Any]) -> Any:
    """``call()``, asked again after a 500, 502 or 503 (``RETRY_5XX_S`` apart: a server's
    passing fault; the SDK retries only 429 and 504). A request asks for all its pages again, so
    a retry neither loses nor repeats a bar."""
    from alpaca.common.exceptions import APIError

    from trader_cli.live.http import api_message

    for wait in (*RETRY_5XX_S, None):
        try:
            return call()
        except APIError as err:
            if wait is None or api_message(err)[0] not in RETRIED_5XX:
                raise
            time.sleep(wait)


def _reason(err: BaseException) -> str:
    text = str(err.args[0] if err.args else err)
    for known in ("Connection refused", "Name or service not known", "Remote end closed connection"):
        if known in text:
            return known.lower()
    return text[:160]


def _api_error_text(err: Any, feed: str, a: dt.date, b: dt.date) -> str:
    from trader_cli.live.http import api_message

    status, message = api_message(err)
    if status == 401:
        return f"Alpaca refused the keys (401 {message}): check APCA_API_KEY_ID and APCA_API_SECRET_KEY"
    if status == 403:
        hint = "; try --feed iex" if feed == "sip" else "; check your plan's data permissions"
        return f"Alpaca refused {feed} bars for {a}..{b} (403: {message}){hint}"
    if status == 429:
        return f"Alpaca kept answering 429 (rate limit) after the SDK's retries ({a}..{b}): wait a minute, then re-run"
    if status == 504:
        return f"Alpaca answered 504 ({message}) for {a}..{b} after the SDK's retries: try again later"
    if status in RETRIED_5XX:
        tries = len(RETRY_5XX_S) + 1
        return f"Alpaca answered {status} ({message}) for {a}..{b}, {tries} times: a fault at Alpaca; try again later"
    return f"Alpaca answered {status} ({message}) for {a}..{b}"


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
