"""Validation: can we get the data a symbol needs? (the Parquet store in backtests)."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, Field

from trader_cli.core.calendar import MarketCalendar
from trader_cli.core.errors import DataError
from trader_cli.core.intervals import VALID_INTERVALS, Interval
from trader_cli.core.store import DataManager, check_symbol


class SymbolValidationResult(BaseModel):
    """Whether a symbol can be provisioned, and why not."""

    symbol: str
    can_proceed: bool = False
    reason: str = ""
    data_source: str | None = None
    data_source_available: bool = False
    intervals_supported: list[str] = Field(default_factory=list)
    has_historical_data: bool = False
    meets_config_requirements: bool = False


def supported_intervals(stored: list[str]) -> list[str]:
    """Intervals we can serve from what is stored (everything >= 1m derives from 1m)."""
    out = set(stored)
    if "1m" in stored:
        out.update(n for n in VALID_INTERVALS if Interval.parse(n).seconds >= 60)
    return sorted(out, key=lambda n: Interval.parse(n).seconds)


def validate_symbol(
    store: DataManager,
    calendar: MarketCalendar,
    symbol: str,
    required: list[str],
    session_day: dt.date,
    history_first_day: dt.date | None,
    config_intervals: list[str] | None = None,
) -> SymbolValidationResult:
    """Check the store holds the base data for ``required`` intervals on the session day, and
    whether history exists; never raises for a bad symbol or an unreadable file (the reason
    says what is wrong)."""
    try:
        sym = check_symbol(symbol)
    except DataError as err:
        return SymbolValidationResult(symbol=symbol, reason=str(err))
    res = SymbolValidationResult(symbol=sym, data_source="parquet")
    try:
        return _check_store(res, store, calendar, required, session_day, history_first_day, config_intervals)
    except DataError as err:  # a corrupt or foreign file: the symbol cannot be provisioned
        res.can_proceed = False
        res.reason = str(err)
        return res


def _check_store(
    res: SymbolValidationResult,
    store: DataManager,
    calendar: MarketCalendar,
    required: list[str],
    session_day: dt.date,
    history_first_day: dt.date | None,
    config_intervals: list[str] | None,
) -> SymbolValidationResult:
    sym = res.symbol
    stored = store.intervals_for(sym)
    if not stored:
        res.reason = (
            f"no bars stored for {sym} in {store.data_dir} "
            f"(import them with: data import FILE.csv --symbol {sym} --interval 1m)"
        )
        return res
    res.data_source_available = True
    res.intervals_supported = supported_intervals(stored)
    missing = [iv for iv in required if iv not in res.intervals_supported]
    finer = [iv for iv in missing if Interval.parse(iv).seconds < 60]
    if finer:
        res.reason = f"{', '.join(finer)} bars cannot be built from 1m bars (import {finer[0]} bars for {sym})"
        return res
    if missing:
        res.reason = (
            f"{sym} has only {', '.join(stored)} bars stored; {', '.join(missing)} cannot be built "
            f"(import 1m bars for it)"
        )
        return res
    open_ns, close_ns = calendar.open_close(session_day)
    base = "1m" if "1m" in stored else stored[0]
    if not store.overlaps(sym, base, open_ns, close_ns):
        cov = store.coverage(sym)
        span = ", ".join(
            f"{c.interval} {dt.datetime.utcfromtimestamp(c.first_ns / 1e9):%Y-%m-%d}.."
            f"{dt.datetime.utcfromtimestamp(c.last_ns / 1e9):%Y-%m-%d}"
            for c in cov
            if not c.problem
        )
        res.reason = f"no {base} bars for {sym} on {session_day} (the store has {span})"
        return res
    if history_first_day is not None:
        h_open = calendar.open_close(history_first_day)[0] - 10 * 3_600_000_000_000
        res.has_historical_data = store.overlaps(sym, base, h_open, open_ns)
    else:
        res.has_historical_data = True
    wanted = config_intervals if config_intervals is not None else required
    res.meets_config_requirements = all(iv in res.intervals_supported for iv in wanted)
    res.can_proceed = True
    res.reason = (
        "ok" if res.has_historical_data else "ok (no history before the session day: indicators warm up in-session)"
    )
    return res
