"""Data quality: bars present ÷ bars expected on the calendar, and the gaps."""

from __future__ import annotations

import datetime as dt

import numpy as np
from pydantic import BaseModel, Field

from trader_cli.core.calendar import NS_PER_MINUTE, MarketCalendar, iso_utc
from trader_cli.core.intervals import Interval
from trader_cli.core.replay import bar_slots


class Gap(BaseModel):
    """A run of missing bars: first and last missing bar start, and how many."""

    start: str
    end: str
    missing: int


class IntervalQuality(BaseModel):
    """Quality of one symbol's bars of one interval over the days held."""

    interval: str
    present: int
    expected: int
    ratio: float
    gaps: list[Gap] = Field(default_factory=list)


def expected_starts(
    calendar: MarketCalendar, days: list[dt.date], interval: Interval, upto_ns: int | None = None
) -> np.ndarray:
    """Every bar start the calendar expects on ``days`` (only bars complete by ``upto_ns``)."""
    parts = []
    for d in days:
        o, c = calendar.open_close(d)
        _, _, ends, starts = bar_slots(interval, o, (c - o) // NS_PER_MINUTE)
        if upto_ns is not None:
            starts = starts[o + ends * NS_PER_MINUTE <= upto_ns]
        parts.append(starts)
    return np.concatenate(parts) if parts else np.empty(0, dtype=np.int64)


def measure(held_ts: np.ndarray, expected: np.ndarray, interval: Interval) -> IntervalQuality:
    """Compare the start times of the bars held with the bars expected (every gap: the table
    shows the first few and the count, the export all of them)."""
    # Both are sorted: a binary search beats np.isin's sort of the union.
    pos = np.searchsorted(held_ts, expected)
    present_mask = pos < len(held_ts)
    present_mask[present_mask] = held_ts[pos[present_mask]] == expected[present_mask]
    present = int(present_mask.sum())
    missing_idx = np.flatnonzero(~present_mask)
    gaps: list[Gap] = []
    if len(missing_idx):
        breaks = np.flatnonzero(np.diff(missing_idx) != 1)
        run_starts = np.r_[0, breaks + 1]
        run_ends = np.r_[breaks, len(missing_idx) - 1]
        for a, b in zip(run_starts.tolist(), run_ends.tolist(), strict=True):
            gaps.append(
                Gap(
                    start=iso_utc(int(expected[missing_idx[a]])),
                    end=iso_utc(int(expected[missing_idx[b]])),
                    missing=b - a + 1,
                )
            )
    n = len(expected)
    return IntervalQuality(
        interval=interval.name, present=present, expected=n, ratio=round(present / n, 6) if n else 1.0, gaps=gaps
    )
