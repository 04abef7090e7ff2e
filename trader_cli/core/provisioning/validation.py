"""Validation: can we get the data a symbol needs? (phase 2, asked of the bar source: the
Parquet store in a backtest, Alpaca in live mode). It never reads bars, only what the source
knows of them (file footers): the intervals held, bars on the session day, and how many of the
history days the addition wants have bars."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, Field

from trader_cli.core.calendar import MarketCalendar
from trader_cli.core.errors import DataError
from trader_cli.core.feed import BarSource
from trader_cli.core.intervals import BASE_1M, VALID_INTERVALS, Interval, intervals
from trader_cli.core.store import check_symbol


class SymbolValidationResult(BaseModel):
    """Whether a symbol can be provisioned, and why not."""

    symbol: str
    can_proceed: bool = False
    reason: str = ""
    data_source: str | None = None
    data_source_available: bool = False
    intervals_supported: list[Interval] = Field(default_factory=list)
    has_historical_data: bool = False
    history_days_wanted: int = 0  # trading days of history the addition asks for
    history_days_present: int = 0  # of those, the days the source has bars on
    meets_config_requirements: bool = False

    @property
    def history_text(self) -> str:
        """'5 of 5 days', '3 of 20 days', 'none needed'."""
        if not self.history_days_wanted:
            return "none needed"
        return f"{self.history_days_present} of {self.history_days_wanted} days"


def supported_intervals(stored: list[str]) -> list[Interval]:
    """Intervals we can serve from what is stored (everything >= 1m derives from 1m)."""
    out = set(stored)
    if BASE_1M in stored:
        out.update(n for n in VALID_INTERVALS if Interval.parse(n).seconds >= 60)
    return intervals(out)


def validate_symbol(
    source: BarSource,
    calendar: MarketCalendar,
    symbol: str,
    required: list[Interval],
    session_day: dt.date,
    history_days: list[dt.date],
    config_intervals: list[Interval] | None = None,
    days_by_interval: dict[Interval, int] | None = None,
) -> SymbolValidationResult:
    """Check the source holds the base data for ``required`` intervals on the session day, and
    how many of ``history_days`` it has bars on (``days_by_interval``: how many of the latest of
    them each interval wants; a daily history is read from a stored 1d file, so its days count
    there); never raises for a bad symbol or an unreadable file (the reason says what is wrong)."""
    try:
        sym = check_symbol(symbol)
    except DataError as err:
        return SymbolValidationResult(symbol=symbol, reason=str(err))
    res = SymbolValidationResult(symbol=sym, data_source=source.name)
    try:
        return _check(res, source, calendar, required, session_day, history_days, config_intervals, days_by_interval)
    except DataError as err:  # a corrupt or foreign file: the symbol cannot be provisioned
        res.can_proceed = False
        res.reason = str(err)
        return res


def _check(
    res: SymbolValidationResult,
    source: BarSource,
    calendar: MarketCalendar,
    required: list[Interval],
    session_day: dt.date,
    history_days: list[dt.date],
    config_intervals: list[Interval] | None,
    days_by_interval: dict[Interval, int] | None = None,
) -> SymbolValidationResult:
    sym = res.symbol
    stored = source.intervals_for(sym)
    if not stored:
        fix = (
            "Alpaca had none for its last session: check the ticker"
            if source.name == "alpaca"
            else f"import them with: data import FILE.csv --symbol {sym} --interval 1m"
        )
        res.reason = f"no bars stored for {sym} {source.where} ({fix})"
        return res
    res.data_source_available = True
    res.intervals_supported = supported_intervals(stored)
    missing = [iv for iv in required if iv not in res.intervals_supported]
    finer = [iv for iv in missing if iv.seconds < 60]
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
    base = BASE_1M if BASE_1M in stored else Interval.parse(stored[0])
    if not source.has_bars(sym, base, open_ns, close_ns):
        res.reason = f"no {base} bars for {sym} on {session_day} (the store has {source.span_text(sym)})"
        return res
    res.history_days_wanted = len(history_days)
    res.history_days_present = _days_present(source, sym, base, stored, history_days, days_by_interval or {})
    res.has_historical_data = res.history_days_present > 0 or not history_days
    wanted = config_intervals if config_intervals is not None else required
    res.meets_config_requirements = all(iv in res.intervals_supported for iv in wanted)
    res.can_proceed = True
    if not history_days or res.history_days_present == len(history_days):
        res.reason = "ok"
    elif res.history_days_present:
        res.reason = (
            f"ok (history: bars on {res.history_days_present} of the {len(history_days)} trading days wanted, "
            f"{history_days[0]}..{history_days[-1]}: warmups start later)"
        )
    else:
        res.reason = "ok (no history before the session day: indicators warm up in-session)"
    return res


def _days_present(
    source: BarSource, sym: str, base: Interval, stored: list[str], days: list[dt.date], wanted: dict[Interval, int]
) -> int:
    """How many of ``days`` hold what is wanted on them: the base's bars, but on the days only a
    daily history wants, the stored 1d file's when there is one (daily history is read from it)."""
    if not days:
        return 0
    daily = Interval.parse("1d")
    if "1d" not in stored or base == daily or not wanted.get(daily):
        return len(source.days_with_bars(sym, base, days))
    intraday = max([0, *(n for iv, n in wanted.items() if iv != daily)])
    need_base = days[len(days) - intraday :] if intraday else []
    need_daily = days[len(days) - wanted[daily] :]
    have_base = set(source.days_with_bars(sym, base, need_base)) if need_base else set()
    have_daily = set(source.days_with_bars(sym, daily, need_daily))
    base_from, daily_from = set(need_base), set(need_daily)
    return sum(1 for d in days if (d not in base_from or d in have_base) and (d not in daily_from or d in have_daily))
