"""The NYSE calendar (exchange-calendars XNYS) and the session clock.

exchange-calendars costs about a second to import, so it is imported only when the schedule is
first needed and the schedule it computes is cached on disk (keyed by the library's version);
no holiday or early close is written by hand here.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
import threading
import time
import warnings
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import numpy as np

from trader_cli.core.errors import TraderCliError
from trader_cli.core.intervals import Interval

NS_PER_DAY = 86_400 * 1_000_000_000
NS_PER_MINUTE = 60 * 1_000_000_000
EPOCH = dt.date(1970, 1, 1)
_RANGE = ("1990-01-01", "2035-12-31")


def date_to_ordinal(day: dt.date) -> int:
    """Days since 1970-01-01."""
    return (day - EPOCH).days


def ordinal_to_date(ordinal: int) -> dt.date:
    """The date ``ordinal`` days after 1970-01-01."""
    return EPOCH + dt.timedelta(days=int(ordinal))


def cache_dir() -> Path:
    """Where derived, rebuildable files live ($XDG_CACHE_HOME/trader-cli)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "trader-cli"


@dataclass(frozen=True)
class Schedule:
    """Trading sessions as parallel arrays: NY date ordinals, open and close (UTC ns)."""

    days: np.ndarray
    opens: np.ndarray
    closes: np.ndarray


def _build_schedule() -> Schedule:
    import exchange_calendars as xcals  # lazy: ~1 s

    with warnings.catch_warnings():
        # exchange-calendars 4.13 reads tz-aware Series.values, which pandas 3.1 deprecates;
        # the values are right (UTC), so its deprecation warning is not the user's business.
        warnings.filterwarnings("ignore", message=r"Series\.values returning an ndarray")
        cal = xcals.get_calendar("XNYS", start=_RANGE[0], end=_RANGE[1])
    sched = cal.schedule
    days = (sched.index.values.astype("datetime64[D]").astype(np.int64)).astype(np.int64)
    # tz_convert(None): UTC wall times without a zone, as plain datetime64[ns].
    opens = sched["open"].dt.tz_convert(None).to_numpy(dtype="datetime64[ns]").astype(np.int64)
    closes = sched["close"].dt.tz_convert(None).to_numpy(dtype="datetime64[ns]").astype(np.int64)
    return Schedule(days, opens, closes)


def _load_schedule() -> Schedule:
    try:
        version = metadata.version("exchange-calendars")
    except metadata.PackageNotFoundError:
        version = "unknown"
    path = cache_dir() / f"xnys-{version}-{_RANGE[0]}-{_RANGE[1]}.npz"
    if path.exists():
        try:
            with np.load(path) as z:
                return Schedule(z["days"], z["opens"], z["closes"])
        except (OSError, ValueError, KeyError):
            pass  # a damaged cache is rebuilt below
    sched = _build_schedule()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp.npz")
        np.savez(tmp, days=sched.days, opens=sched.opens, closes=sched.closes)
        os.replace(tmp, path)
    except OSError:
        pass  # no writable cache dir: the schedule is simply rebuilt next time
    return sched


class MarketCalendar:
    """XNYS trading days, opens and closes (early closes included), loaded on first use."""

    def __init__(self) -> None:
        self._schedule: Schedule | None = None
        self._lock = threading.Lock()

    @property
    def schedule(self) -> Schedule:
        """The cached schedule arrays (loads them on first use)."""
        if self._schedule is None:
            with self._lock:
                if self._schedule is None:
                    self._schedule = _load_schedule()
        return self._schedule

    def _index(self, day: dt.date) -> int:
        """Index of a trading day in the schedule; raises if it is not one."""
        s = self.schedule
        o = date_to_ordinal(day)
        i = int(np.searchsorted(s.days, o))
        if i >= len(s.days) or s.days[i] != o:
            raise TraderCliError(f"{day.isoformat()} is not an NYSE trading day")
        return i

    def _check_range(self, day: dt.date) -> None:
        if not (_RANGE[0] <= day.isoformat() <= _RANGE[1]):
            raise TraderCliError(f"{day.isoformat()} is outside the calendar range {_RANGE[0]} .. {_RANGE[1]}")

    def is_trading_day(self, day: dt.date) -> bool:
        """True when the NYSE holds a session on ``day``."""
        s = self.schedule
        o = date_to_ordinal(day)
        i = int(np.searchsorted(s.days, o))
        return i < len(s.days) and bool(s.days[i] == o)

    def trading_days(self, start: dt.date, end: dt.date) -> list[dt.date]:
        """Trading days from ``start`` to ``end``, both inclusive."""
        s = self.schedule
        lo = np.searchsorted(s.days, date_to_ordinal(start), "left")
        hi = np.searchsorted(s.days, date_to_ordinal(end), "right")
        return [ordinal_to_date(o) for o in s.days[lo:hi]]

    def trading_days_back(self, day: dt.date, n: int) -> list[dt.date]:
        """The ``n`` trading days before ``day`` (``day`` itself excluded), oldest first."""
        self._check_range(day)
        s = self.schedule
        hi = int(np.searchsorted(s.days, date_to_ordinal(day), "left"))
        lo = max(0, hi - max(0, n))
        return [ordinal_to_date(o) for o in s.days[lo:hi]]

    def next_trading_day(self, day: dt.date) -> dt.date | None:
        """The first trading day strictly after ``day``, or None past the calendar's range."""
        s = self.schedule
        i = int(np.searchsorted(s.days, date_to_ordinal(day), "right"))
        return ordinal_to_date(s.days[i]) if i < len(s.days) else None

    def previous_trading_day(self, day: dt.date) -> dt.date | None:
        """The last trading day strictly before ``day``."""
        back = self.trading_days_back(day, 1)
        return back[0] if back else None

    def open_close(self, day: dt.date) -> tuple[int, int]:
        """Session open and close of a trading day, UTC nanoseconds."""
        i = self._index(day)
        s = self.schedule
        return int(s.opens[i]), int(s.closes[i])

    def session_seconds(self, day: dt.date) -> int:
        """Length of the regular session in seconds (shorter on early closes)."""
        o, c = self.open_close(day)
        return (c - o) // 1_000_000_000

    def is_early_close(self, day: dt.date) -> bool:
        """True when the session closes before 16:00 New York time."""
        return self.session_seconds(day) < 390 * 60

    def expected_bars(self, day: dt.date, interval: Interval | str) -> int:
        """Bars of ``interval`` a complete session on ``day`` has (0 on a non-trading day)."""
        if not self.is_trading_day(day):
            return 0
        return Interval.parse(interval).bars_in(self.session_seconds(day))

    def expected_bars_on(self, days: list[dt.date], interval: Interval | str) -> int:
        """Bars of ``interval`` complete sessions on ``days`` have in all (non-trading days: 0)."""
        if not days:
            return 0
        s = self.schedule
        o = np.array([date_to_ordinal(d) for d in days], dtype=s.days.dtype)
        i = np.minimum(np.searchsorted(s.days, o), len(s.days) - 1)
        ok = s.days[i] == o
        iv = Interval.parse(interval)
        if iv.is_daily:
            return int(ok.sum())
        secs = (s.closes[i[ok]] - s.opens[i[ok]]) // 1_000_000_000
        return int((-(-secs // iv.seconds)).sum())

    def session_of(self, ts_ns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For bar start times: the schedule index of the session each falls in and whether it is
        inside the regular session (open <= ts < close)."""
        s = self.schedule
        idx = np.searchsorted(s.opens, ts_ns, "right") - 1
        ok = idx >= 0
        safe = np.where(ok, idx, 0)
        inside = ok & (ts_ns < s.closes[safe])
        return safe, inside

    def day_at(self, index: int) -> dt.date:
        """The trading day at a schedule index."""
        return ordinal_to_date(int(self.schedule.days[index]))

    def index_of(self, day: dt.date) -> int:
        """The schedule index of a trading day."""
        return self._index(day)


_DEFAULT: MarketCalendar | None = None


def nyse() -> MarketCalendar:
    """The process-wide XNYS calendar (a cache of immutable data, safe to share)."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = MarketCalendar()
    return _DEFAULT


def ny_dates(ts_ns: np.ndarray) -> np.ndarray:
    """New York calendar dates (ordinals) of UTC nanosecond timestamps, DST-aware."""
    import pyarrow as pa
    import pyarrow.compute as pc

    arr = pa.array(np.asarray(ts_ns, dtype=np.int64), pa.timestamp("ns", "America/New_York"))
    local = pc.local_timestamp(arr).cast(pa.int64()).to_numpy(zero_copy_only=False)
    return np.asarray(local // NS_PER_DAY, dtype=np.int64)


def to_ny(ts_ns: int) -> dt.datetime:
    """A UTC nanosecond timestamp as an aware New York datetime."""
    return dt.datetime.fromtimestamp(ts_ns / 1e9, tz=_new_york())


def ny_wall(day: dt.date, text: str) -> dt.datetime:
    """``HH:MM`` on the New York wall clock of ``day``, aware (ValueError for a text that is not one)."""
    h, m = (int(x) for x in text.split(":"))
    return dt.datetime.combine(day, dt.time(h, m), tzinfo=_new_york())


ny_at = functools.lru_cache(maxsize=256)(to_ny)  # remembered: a minute's callbacks, orders and fills share one


@functools.cache
def _new_york() -> dt.tzinfo:
    from zoneinfo import ZoneInfo

    return ZoneInfo("America/New_York")


def iso_ny(ts_ns: int) -> str:
    """ISO 8601 on the New York clock with its offset (``2024-12-02T09:30:00-05:00``)."""
    return to_ny(ts_ns).isoformat()


def iso_utc(ts_ns: int) -> str:
    """ISO 8601 in UTC with a Z suffix (seconds precision unless sub-second)."""
    secs, rem = divmod(int(ts_ns), 1_000_000_000)
    d = dt.datetime.fromtimestamp(secs, tz=dt.UTC)
    text = d.strftime("%Y-%m-%dT%H:%M:%S")
    if rem:
        text += f".{rem:09d}".rstrip("0")
    return text + "Z"


class Clock:
    """A session clock: simulated (backtest, set/advance by the replay) or the wall clock (live)."""

    def __init__(self, simulated: bool = True, start_ns: int | None = None) -> None:
        self.simulated = simulated
        self._now = start_ns

    def now_ns(self) -> int | None:
        """Current time in UTC ns; None for a simulated clock that was never set."""
        if not self.simulated:
            return time.time_ns()
        return self._now

    def set(self, ts_ns: int) -> None:
        """Set the simulated time."""
        if not self.simulated:
            raise TraderCliError("the wall clock cannot be set (live mode)")
        self._now = int(ts_ns)

    def advance(self, delta_ns: int) -> int:
        """Move the simulated time forward and return it."""
        if not self.simulated:
            raise TraderCliError("the wall clock cannot be advanced (live mode)")
        if self._now is None:
            raise TraderCliError("the simulated clock has not been set")
        self._now += int(delta_ns)
        return self._now
