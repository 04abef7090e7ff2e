"""The store's side of ``data fetch``: the days a stored file lacks, what a damaged file can
take, writing the bars held for a repair or a start over, and each symbol's line of the result
(the HTTP side is ``live/fetch.py``; the rules for a damaged file are ``core/store_merge.py``)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from trader_cli.core.bars import Bars
from trader_cli.core.intervals import Interval

if TYPE_CHECKING:
    from trader_cli.core.store import DataManager, StoreWrite
    from trader_cli.core.store_merge import FileChange, Stored


@dataclass
class FetchedSymbol:
    """What the fetch did for one symbol."""

    symbol: str
    interval: str
    missing_days: int  # trading days of the range the store lacked (or held a truncated last day of)
    bars: int  # bars fetched and written
    empty_days: int  # missing days Alpaca had no bar for (asked again by a re-run)
    stored_rows: int  # rows in the store afterwards (0 while its file is unreadable)
    first_ns: int | None = None
    last_ns: int | None = None
    repaired: str | None = None  # the damaged days (and why) of the stored file, which the fetch replaced
    damaged: str | None = None  # what is damaged in the stored file, left as it was, and what to do
    skipped: bool = False  # nothing was asked for the symbol (its damaged file could not take the bars)
    started_over: str | None = None  # replace: what the stored file held before


def missing_days(stored: Stored, iv: Interval, days: list[dt.date]) -> list[dt.date]:
    """The trading ``days`` a stored file lacks: those with no readable bar of ``iv`` (a damaged
    day counts), and for 1m also its last stored day when it was cut short (fetched while the
    market was open, or an interrupted download; see ``_cut_short``). Only the last stored day:
    an illiquid symbol has minutes without a trade every day, and re-asking its short days would
    re-fetch them on every run."""
    from trader_cli.core.calendar import date_to_ordinal, ny_dates, nyse, ordinal_to_date

    ts = stored.bars.ts
    if not len(ts):
        return list(days)
    have = set(np.unique(ny_dates(ts)).tolist())
    lacking = [d for d in days if date_to_ordinal(d) not in have]
    tail = ordinal_to_date(max(have))
    if iv.name == "1m" and tail in days:
        cal = nyse()
        open_ns, close_ns = cal.open_close(tail)
        if _cut_short(ts[(ts >= open_ns) & (ts < close_ns)], open_ns, cal.expected_bars(tail, "1m")):
            lacking = sorted([*lacking, tail])
    return lacking


def _cut_short(regular: np.ndarray, open_ns: int, expected: int) -> bool:
    """True when a day's regular-session 1m bars (``regular``, start times) stop early: fewer
    than ``expected`` and the minutes missing after its last bar more than any run missing
    before it — a symbol that trades every minute, stored up to 15:50, was cut short; a thin
    one whose last trade came a few minutes before the close, with longer gaps in its day, was
    not (its gaps are minutes without a trade)."""
    if len(regular) >= expected:
        return False
    if not len(regular):
        return True
    minutes = np.unique((regular - open_ns) // 60_000_000_000)
    gaps = np.diff(np.concatenate([[-1], minutes])) - 1  # the runs missing before each bar
    after = expected - 1 - int(minutes[-1])
    return after > int(gaps.max())


@dataclass
class FetchPlan:
    """What a fetch asks and writes per symbol: the days it lacks, the damaged files (with what
    is wrong), the symbols written once all their requests are in (a repair, a start over), and
    notes for the damaged files left as they are (``skipped``: nothing is asked for them)."""

    lacking: dict[str, list[dt.date]] = field(default_factory=dict)
    damaged: dict[str, Stored] = field(default_factory=dict)
    held: dict[str, list[Bars]] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)
    skipped: set[str] = field(default_factory=set)


def plan_fetch(store: DataManager, syms: list[str], iv: Interval, days: list[dt.date], replace: bool) -> FetchPlan:
    """Read each symbol's stored file (StoreError when the system refuses one: a write would
    fail alike) and decide what to ask for it (see the module doc of ``live/fetch.py``)."""
    plan = FetchPlan()
    for s in syms:
        stored = store.stored(s, iv)
        plan.lacking[s] = list(days) if replace else missing_days(stored, iv, days)
        if replace:
            plan.held[s] = []
        elif stored.damage is not None:
            plan.damaged[s] = stored
            note = damage_note(s, iv, stored, days, bool(plan.lacking[s]))
            if note is None:
                plan.held[s] = []
            else:
                plan.notes[s] = note
    plan.skipped = {s for s in plan.notes if plan.lacking[s]}
    return plan


def damage_note(s: str, iv: Interval, stored: Stored, days: list[dt.date], lacks: bool) -> str | None:
    """Why a damaged file cannot take this fetch's bars, and what to do (None: the range holds
    every damaged day, so the fetch repairs it); a symbol that ``lacks`` days is then skipped."""
    from trader_cli.core.calendar import date_to_ordinal
    from trader_cli.core.store_merge import damage_text, days_text

    where, damage = damage_text(s, iv, stored), stored.damage
    assert damage is not None
    if damage.whole or not damage.days:
        return f"{where}: skipped; give --replace to start it over with the fetched bars (move it away to keep it)"
    outside = sorted(set(damage.days) - {date_to_ordinal(d) for d in days})
    if not outside:
        return None
    todo = (
        f"fetch those days (data fetch {s} --from {days_text(outside[:1])} --to {days_text(outside[-1:])}) "
        "or import them to repair it, or give --replace to start it over"
    )
    if lacks:
        return f"{where}, outside {days[0]}..{days[-1]}: skipped, so nothing was lost; {todo}"
    return f"{where}: {todo}"


def write_held(
    store: DataManager, plan: FetchPlan, iv: Interval, feed: str, got: dict[str, list[Bars]], replace: bool
) -> dict[str, FileChange]:
    """Write the symbols held until all their requests were in (all or none): a damaged file is
    repaired only when Alpaca sent bars on every damaged day (else left as it is, and said so);
    ``replace`` starts each file over, unless Alpaca sent nothing for it. Returns their changes."""
    from trader_cli.core.calendar import ny_dates
    from trader_cli.core.store_merge import damage_text, days_text

    ready: dict[str, Bars] = {}
    notes = plan.notes
    for s, parts in sorted(plan.held.items()):
        bars = Bars.concat(parts, copy=True)
        bars = bars.take(np.argsort(bars.ts, kind="stable"))
        stored = plan.damaged.get(s)
        spoiled = stored.damage.days if stored is not None and stored.damage is not None else ()
        missing = sorted(set(spoiled) - set(ny_dates(bars.ts).tolist()))
        if missing and stored is not None:
            notes[s] = (
                f"{damage_text(s, iv, stored)}: Alpaca sent no bar for {days_text(missing)}, so nothing fetched "
                "for it was written; import those days to repair it, or give --replace to start it over"
            )
        elif len(bars):
            ready[s] = bars
        elif replace and store.has(s, iv):
            notes[s] = f"Alpaca sent no bar of {s} for those days: its stored file was left as it was"
    done = store_bars(store, ready, iv, feed, got, replace)
    return done.changes if done is not None else {}


def store_bars(
    store: DataManager, batch: dict[str, Bars], iv: Interval, feed: str, got: dict[str, list[Bars]], replace: bool
) -> StoreWrite | None:
    """Write bars (all their symbols or none) and remember them; what the write did."""
    if not batch:
        return None
    done = store.write_batch(batch, iv, source=f"alpaca {feed}", replace=replace)
    for s, bars in batch.items():
        got[s].append(bars)
    return done


def summary(
    store: DataManager,
    symbol: str,
    iv: Interval,
    lacked: int,
    fetched: list[Bars],
    skipped: bool,
    change: FileChange | None,
    note: str | None,
) -> FetchedSymbol:
    """One symbol's line of the result, from what was fetched for it (``change``: what the
    fetch's last write did to its file; None when nothing was written: its footer is read)."""
    from trader_cli.core.calendar import ny_dates

    days_got = {int(o) for x in fetched for o in np.unique(ny_dates(x.ts)).tolist()}
    if change is not None:
        stored = change.rows  # what the write left in the file
    else:
        stored = next((c.rows for c in store.coverage(symbol) if c.interval == iv.name), 0)  # footers only
    return FetchedSymbol(
        symbol=symbol,
        interval=iv.name,
        missing_days=lacked,
        bars=sum(len(x) for x in fetched),
        empty_days=0 if skipped else lacked - len(days_got),
        stored_rows=stored,
        first_ns=int(min(x.ts[0] for x in fetched)) if fetched else None,
        last_ns=int(max(x.ts[-1] for x in fetched)) if fetched else None,
        repaired=change.repaired if change else None,
        damaged=note,
        skipped=skipped,
        started_over=change.started_over if change else None,
    )
