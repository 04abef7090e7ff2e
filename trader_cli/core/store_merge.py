"""How a write meets the file already stored: what it keeps, what it replaces, what it refuses.

- **A day written replaces that whole stored day** (New York date of the bar), and only the days
  the new bars hold: a file of days 1 and 3 leaves day 2 as it was; a file of two minutes of a
  day replaces every stored minute of that day (the result counts those bars).
- **A damaged file keeps its readable days.** A file whose footer reads but some of whose days
  do not (a damaged page, a NaN close) is read day by day; a write that holds every damaged day
  repairs it (those days are replaced, the others kept), and any other write is refused in one
  line naming the damaged days, what is wrong and what to do. A file that cannot be read at all
  (no footer) is never replaced unasked: its bars cannot even be counted.
- **``replace`` starts a file over** with the new bars, whatever it held (and says what that was).
- **Sources**: the file's metadata names where its days came from (``source``: one name, or
  ``mixed: …`` with days per source, and ``sources``: per source the runs of its days), so a
  partial import does not relabel the days it did not touch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from trader_cli.core.bar_checks import first_problem
from trader_cli.core.bars import Bars
from trader_cli.core.calendar import ny_dates, ordinal_to_date
from trader_cli.core.errors import DataError
from trader_cli.core.intervals import Interval

DAYS_SHOWN = 3


@dataclass(frozen=True)
class Damage:
    """What of a stored file cannot be read: the first problem as a read names it (rule, time,
    row), the New York days it spoils and the stored bars on them; ``whole`` when nothing of the
    file can be read (its days and bars are unknown)."""

    problem: str
    days: tuple[int, ...] = ()
    bars: int = 0
    whole: bool = False


@dataclass(frozen=True)
class Stored:
    """A stored file as far as it can be read: its readable bars (damaged days left out), what
    is damaged, and its ``trader_cli`` metadata."""

    bars: Bars
    damage: Damage | None = None
    info: dict[str, Any] | None = None


@dataclass(frozen=True)
class FileChange:
    """What a write did to one file."""

    rows: int  # bars stored afterwards
    replaced_days: int = 0  # stored days the new bars replaced (a day written replaces that whole day)
    replaced_bars: int = 0  # the stored bars on those days
    removed_bars: int = 0  # of those, bars at a time the new bars do not hold: gone
    repaired: str | None = None  # what was damaged, when the write replaced every damaged day
    started_over: str | None = None  # ``replace``: what the file held before


def merge(stored: Stored, new: Bars, replace: bool, symbol: str, interval: Interval) -> tuple[Bars, FileChange]:
    """The bars to store and what that does (see the module doc); DataError, changing nothing,
    when a damaged file would lose bars."""
    old, damage = stored.bars, stored.damage
    if not len(old) and damage is None:  # a new file (the usual fetch): nothing to meet
        if len(new) > 1 and bool(np.any(np.diff(new.ts) <= 0)):
            new = new.take(np.argsort(new.ts, kind="stable"))
        return new, FileChange(len(new))
    old_days = ny_dates(old.ts)
    if replace:
        gone = int(np.count_nonzero(~np.isin(old.ts, new.ts)))
        held = held_text(stored) if len(old) or damage is not None else None
        return new, FileChange(len(new), len(np.unique(old_days)), len(old), gone, started_over=held)
    new_days = np.unique(ny_dates(new.ts))
    if damage is not None:
        uncovered = sorted(set(damage.days) - set(new_days.tolist()))
        if damage.whole or uncovered or not damage.days:
            raise DataError(refusal(symbol, interval, stored, uncovered))
    hit = np.isin(old_days, new_days)
    replaced = old.take(hit)
    merged = Bars.concat([old.take(~hit), new])
    merged = merged.take(np.argsort(merged.ts, kind="stable"))
    change = FileChange(
        rows=len(merged),
        replaced_days=len(np.unique(old_days[hit])),
        replaced_bars=len(replaced),
        removed_bars=int(np.count_nonzero(~np.isin(replaced.ts, new.ts))),
        repaired=None if damage is None else f"{days_text(damage.days)}: {damage.problem}",
    )
    return merged, change


def refusal(symbol: str, interval: Interval, stored: Stored, uncovered: list[int]) -> str:
    """The one line refusing a write into a damaged file: what and where, what the file holds,
    what to do; nothing was changed."""
    where = damage_text(symbol, interval, stored)
    damage = stored.damage
    if damage is None or damage.whole or not damage.days:
        return (
            f"{where}; nothing was changed: give --replace to start it over with the new bars "
            "(move the file away first to keep a copy)"
        )
    return (
        f"{where}; the new bars hold none on {days_text(uncovered)}, so nothing was changed: import a file "
        f"that also holds {days_text(uncovered)} (a day in the file replaces that whole stored day) to repair "
        "it and keep the rest, or give --replace to start the file over with the new bars"
    )


def damage_text(symbol: str, interval: Interval, stored: Stored) -> str:
    """What is damaged in a stored file, where, and what of it reads fine."""
    damage = stored.damage
    iv = interval.name
    if damage is None:
        return f"{symbol}'s stored {iv} file reads fine"
    if damage.whole or not damage.days:
        return f"{symbol}'s stored {iv} file cannot be read ({damage.problem}): none of its bars can be kept or counted"
    return (
        f"{symbol}'s stored {iv} file is damaged on {days_text(damage.days)} ({damage.bars:,} stored bars; "
        f"{damage.problem}); its other {kept_text(stored)} read fine"
    )


def held_text(stored: Stored) -> str:
    """What a file held, in a few words (for a file started over)."""
    if stored.damage is not None and stored.damage.whole:
        return f"an unreadable file ({stored.damage.problem})"
    held = f"{len(stored.bars):,} bars on {len(np.unique(ny_dates(stored.bars.ts)))} day(s)"
    if stored.damage is not None:
        held += f", and {stored.damage.bars:,} damaged bars on {days_text(stored.damage.days)}"
    return held


def kept_text(stored: Stored) -> str:
    """``40 days (15,240 bars)``: the readable part of a damaged file."""
    return f"{len(np.unique(ny_dates(stored.bars.ts)))} day(s) ({len(stored.bars):,} bars)"


def days_text(days: list[int] | tuple[int, ...]) -> str:
    """New York day ordinals as dates, the first few and a count."""
    shown = ", ".join(_day(d) for d in list(days)[:DAYS_SHOWN])
    more = len(days) - DAYS_SHOWN
    return f"{shown} and {more} more day(s)" if more > 0 else shown or "no day"


def _day(ordinal: int) -> str:
    try:
        return ordinal_to_date(ordinal).isoformat()
    except (OverflowError, ValueError):
        return "a day outside the calendar"  # the footer of a corrupt file can claim anything


# -- sources -----------------------------------------------------------------------------------------
def sources(stored: Stored, merged: Bars, new: Bars, source: str, replace: bool) -> tuple[str, dict[str, Any] | None]:
    """The file's ``source`` line and its ``sources`` (per source the runs of its days, first and
    last day ordinal; None when every day has one source) after a write."""
    if replace or (not len(stored.bars) and stored.damage is None and not stored.info):
        return source, None  # a file started over or new: every day is this write's
    days = np.unique(ny_dates(merged.ts))
    names: list[str] = []
    labels = np.full(len(days), -1, dtype=np.int64)
    if not replace:
        for name, spans in _old_runs(stored, days).items():
            names.append(name)
            for a, b in spans:
                labels[(days >= a) & (days <= b)] = len(names) - 1
    if np.any(labels < 0):  # days of a file that named no source
        names.append("unknown")
        labels[labels < 0] = len(names) - 1
    if source not in names:
        names.append(source)
    labels[np.isin(days, ny_dates(new.ts))] = names.index(source)
    used = [k for k in range(len(names)) if np.any(labels == k)] or [names.index(source)]
    if len(used) == 1:
        return names[used[0]], None
    counts = {names[k]: int(np.count_nonzero(labels == k)) for k in used}
    ranked = sorted(counts, key=lambda n: -counts[n])
    line = "mixed: " + "; ".join(f"{n} ({counts[n]} day(s))" for n in ranked)
    starts = np.flatnonzero(np.r_[True, labels[1:] != labels[:-1]])
    ends = np.r_[starts[1:], len(days)] - 1
    runs: dict[str, list[list[int]]] = {names[k]: [] for k in used}
    for a, b in zip(starts.tolist(), ends.tolist(), strict=True):
        runs[names[int(labels[a])]].append([int(days[a]), int(days[b])])
    return line, runs


def _old_runs(stored: Stored, days: np.ndarray) -> dict[str, list[tuple[int, int]]]:
    """Per source the runs of days it holds in the stored file's metadata (which is not trusted:
    anything malformed is left out, and the days it leaves out count as an unknown source)."""
    info = stored.info or {}
    raw = info.get("sources")
    if isinstance(raw, dict):
        out: dict[str, list[tuple[int, int]]] = {}
        for name, runs in raw.items():
            if isinstance(runs, list):
                pairs = [r for r in runs if isinstance(r, list) and len(r) == 2 and all(type(x) is int for x in r)]
                out[str(name)] = [(int(a), int(b)) for a, b in pairs]
        return out
    name = info.get("source")
    if isinstance(name, str) and len(days):
        return {name: [(int(days[0]), int(days[-1]))]}
    return {}


def check_merged(symbol: str, bars: Bars, interval: Interval) -> None:
    """The bars kept from a damaged file and the new ones, together, break no rule (a last guard:
    a damaged file's days are checked one by one); DataError, changing nothing, otherwise."""
    problem = first_problem(bars, interval)
    if problem is not None:
        row, why = problem
        raise DataError(
            f"{symbol}'s stored {interval.name} file is damaged in a way its days read apart do not show "
            f"({why} at row {row} of what would be stored); nothing was changed: give --replace to start "
            "it over with the new bars"
        )
