"""Indicator streams for the replay: one bank per indicator key, updated for all its symbols at
once on each completed bar of its interval.

Values are kept for the whole run: over the history a symbol was seeded with (the batch path,
computed once at registration), and for every bar of every replayed day (one record per day,
bars × bank lanes per output, NaN where a lane had no bar or was not ready yet).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from trader_cli.core.bars import Bars
from trader_cli.core.intervals import Interval
from trader_cli.core.replay import Grid

if TYPE_CHECKING:
    from trader_cli.core.indicators import IndicatorBank, IndicatorRequest

Values = dict[str, np.ndarray]


@dataclass(frozen=True)
class Seeded:
    """The history a lane was seeded with: its bars from ``first_ns`` up to (not including) the
    session day it was registered on. Its values there are the batch path's over those bars
    (causal: the same as at registration), so they are recomputed when read, not kept."""

    first_ns: int | None  # None: no history (seeded from today's bars only)
    end_ns: int
    bars: int  # bars the lane had seen when it was registered (history + today so far)
    pos: int  # the backtest day it was registered on (its records from that day on are its own)


@dataclass
class Stream:
    """One indicator key (e.g. ``sma_20_5m``) across every symbol that registered it."""

    request: IndicatorRequest
    bank: IndicatorBank
    outputs: tuple[str, ...]
    converge_bars: int  # bars after which the start point no longer shows (see indicators/base.py)
    members: dict[int, int] = field(default_factory=dict)  # replay lane -> bank lane
    lanes: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    bank_lanes: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    values: Values = field(default_factory=dict)  # today: output -> (bars today × bank capacity)
    past: dict[int, Values] = field(default_factory=dict)  # day position -> that day's record
    seeded: dict[int, Seeded] = field(default_factory=dict)  # bank lane -> the history it was seeded with
    dense: bool = False
    head: bool = False

    def _reindex(self) -> None:
        items = sorted(self.members.items())
        self.lanes = np.array([a for a, _ in items], dtype=np.int64)
        self.bank_lanes = np.array([b for _, b in items], dtype=np.int64)
        n = len(items)
        # The common case: the members are replay lanes 0..n-1, so a grid row is a plain view ...
        self.dense = bool(n and self.lanes[-1] == n - 1)
        # ... and their bank lanes are 0..n-1 too (in whatever order: n distinct lanes, max n-1).
        self.head = bool(self.dense and int(self.bank_lanes.max()) == n - 1)

    def start_day(self, n_bars: int, lanes: int = 1) -> None:
        """Start today's value record (``n_bars`` bars of the interval today, room for at least
        ``lanes`` bank lanes)."""
        cap = max(lanes, int(self.bank_lanes.max()) + 1 if len(self.bank_lanes) else 1)
        self.values = {o: np.full((n_bars, cap), np.nan) for o in self.outputs}

    def _ensure_cols(self, bank_lane: int) -> None:
        for o, a in self.values.items():
            if bank_lane >= a.shape[1]:
                wide = np.full((a.shape[0], max(bank_lane + 1, int(a.shape[1] * 1.5) + 1)), np.nan)
                wide[:, : a.shape[1]] = a
                self.values[o] = wide

    def update(self, grid: Grid, row: int) -> None:
        """Feed bar ``row`` of ``grid`` to every member lane that has a bar there."""
        n = len(self.lanes)
        if not n:
            return
        cols = grid.cols
        if self.dense:
            close = cols["close"][row, :n]
            have = close == close  # False where NaN (no bar)
            if have.all():
                self.bank.update(
                    self.bank_lanes,
                    grid.ts[row],
                    cols["open"][row, :n],
                    cols["high"][row, :n],
                    cols["low"][row, :n],
                    close,
                    cols["volume"][row, :n],
                )
                self._record(row, slice(0, n) if self.head else self.bank_lanes)
                return
            lanes, blanes = self.lanes[have], self.bank_lanes[have]
        else:
            have = ~np.isnan(cols["close"][row, self.lanes])
            lanes, blanes = self.lanes[have], self.bank_lanes[have]
        if not len(lanes):
            return
        self.bank.update(
            blanes,
            grid.ts[row],
            cols["open"][row, lanes],
            cols["high"][row, lanes],
            cols["low"][row, lanes],
            cols["close"][row, lanes],
            cols["volume"][row, lanes],
        )
        self._record(row, blanes)

    def _record(self, row: int, blanes: np.ndarray | slice) -> None:
        """Keep today's values of the updated lanes (NaN while a lane is not ready)."""
        latest = self.bank.latest_of(blanes)
        for o in self.outputs:
            self.values[o][row, blanes] = latest[o]


class IndicatorHub:
    """Every indicator stream of the session, keyed by indicator key."""

    def __init__(self) -> None:
        self.streams: dict[str, Stream] = {}

    def register(
        self, request: IndicatorRequest, lane: int, seed: Bars, seed_session: Bars, grid: Grid | None, pos: int = 0
    ) -> int:
        """Add a symbol (replay lane) to the key's stream, seeded with its history plus the
        session bars already completed; returns the bank lane. Today's values so far come from
        the batch path."""
        from trader_cli.core.indicators import get_indicator

        key = request.key
        stream = self.streams.get(key)
        ind = get_indicator(request.name)
        if stream is None:
            stream = Stream(
                request, ind.new_bank(request.params), tuple(ind.outputs), ind.converge_bars(request.params)
            )
            self.streams[key] = stream
            # Room for every symbol the book has room for: growing one lane at a time would copy.
            lanes = grid.cols["close"].shape[1] if grid is not None else 1
            stream.start_day(len(grid.ts) if grid is not None else 0, lanes)
        blane = stream.bank.add_lane()
        both = Bars.concat([seed, seed_session])
        stream.bank.seed(blane, both)
        stream.members[lane] = blane
        stream._reindex()
        stream._ensure_cols(blane)
        first = int(seed.ts[0]) if len(seed) else None
        end = int(grid.ts[0]) if grid is not None else (int(seed_session.ts[0]) if len(seed_session) else 0)
        stream.seeded[blane] = Seeded(first, end, len(both), pos)
        if grid is not None and len(seed_session):
            out = ind.batch(both, request.params)
            rows = np.searchsorted(grid.ts, seed_session.ts)
            for o in stream.outputs:
                stream.values[o][rows, blane] = out[o][len(seed) :]
        return blane

    def unregister(self, key: str, lane: int) -> None:
        """Remove a symbol from a stream (drops the stream when it was the last one)."""
        stream = self.streams.get(key)
        if stream is None or lane not in stream.members:
            return
        blane = stream.members.pop(lane)
        stream.bank.free_lane(blane)
        stream.seeded.pop(blane, None)
        for a in stream.values.values():
            if blane < a.shape[1]:
                a[:, blane] = np.nan
        stream._reindex()
        if not stream.members:
            del self.streams[key]

    def on_bar(self, interval: Interval, grid: Grid, row: int) -> None:
        """A bar of ``interval`` completed at ``row`` for every lane: update its streams."""
        for stream in self.streams.values():
            if stream.request.interval == interval:
                stream.update(grid, row)

    def roll_day(self, finished_pos: int, bars_per_interval: dict[Interval, int]) -> None:
        """A new session day: today's records join the past (day ``finished_pos``), new ones start."""
        for stream in self.streams.values():
            stream.past[finished_pos] = stream.values
            stream.start_day(bars_per_interval.get(stream.request.interval, 0))

    def latest(self, key: str, lane: int) -> dict[str, float] | None:
        """The key's latest outputs for a lane, or None while not ready."""
        stream = self.streams[key]
        return stream.bank.latest(stream.members[lane])

    def progress(self, key: str, lane: int) -> tuple[int, int, int]:
        """(bars the lane has seen, bars before its first value, bars until it converges)."""
        stream = self.streams[key]
        blane = stream.members[lane]
        return int(stream.bank.bars_seen(blane)), int(stream.bank.warmup), stream.converge_bars

    def today(self, key: str, lane: int, rows: int) -> Values:
        """Today's recorded values of a lane's indicator for the first ``rows`` bars."""
        stream = self.streams[key]
        blane = stream.members[lane]
        return {o: stream.values[o][:rows, blane] for o in stream.outputs}

    def seeded(self, key: str, lane: int) -> Seeded:
        """The lane's values over the history it was seeded with."""
        stream = self.streams[key]
        return stream.seeded[stream.members[lane]]

    def past_day(self, key: str, lane: int, pos: int) -> Values | None:
        """The lane's record of replayed day ``pos`` (None when the stream did not exist then)."""
        stream = self.streams[key]
        blane = stream.members[lane]
        values = stream.past.get(pos)
        if values is None:
            return None
        return {o: v[:, blane] if blane < v.shape[1] else np.full(v.shape[0], np.nan) for o, v in values.items()}
