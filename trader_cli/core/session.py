"""Session data: the symbols a session holds, their bars, indicators and provenance metadata.

Historical bars read from the store (the trading days before the session day) are kept per
symbol, interval and day as ``DayBlock``s (40 bytes a bar: the bar times are the day's, shared);
the session day's bars live in the replay book (``core/replay.py``), which
holds every symbol of an interval in one array so a minute is applied to all symbols at once.
All mutations happen under ``SessionData.lock`` (the symbol lock).
"""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from trader_cli.core.bars import Bars
from trader_cli.core.errors import SessionStateError, few
from trader_cli.core.intervals import Interval
from trader_cli.core.provenance import SymbolMetadata

if TYPE_CHECKING:
    from trader_cli.core.indicators import IndicatorRequest


@dataclass(frozen=True)
class DayBlock:
    """One symbol's bars of one interval on one trading day, in the day's bar slots: ``values``
    is (5 fields × slots) float64, NaN where there is no bar; ``ts`` (the slots' start times) is
    shared by every symbol, so a bar costs its five numbers."""

    day: dt.date
    ts: np.ndarray
    values: np.ndarray

    @classmethod
    def of(cls, day: dt.date, ts: np.ndarray, bars: Bars) -> DayBlock:
        """The block of ``bars`` (bars of that day; any that fall between slots are left out)."""
        values = np.full((5, len(ts)), np.nan)
        if len(bars):
            j = np.searchsorted(ts, bars.ts)
            ok = j < len(ts)
            ok[ok] = ts[j[ok]] == bars.ts[ok]
            j = j[ok]
            for i, f in enumerate((bars.open, bars.high, bars.low, bars.close, bars.volume)):
                values[i, j] = f[ok]
        return cls(day, ts, values)

    def present_ts(self) -> np.ndarray:
        """The start times of the bars present (no copies of the prices)."""
        have = ~np.isnan(self.values[3])
        return self.ts if bool(have.all()) else self.ts[have]

    @property
    def last_ns(self) -> int:
        """Start time of the day's last slot."""
        return int(self.ts[-1])

    def bars(self, from_ns: int | None = None) -> Bars:
        """The bars present (from ``from_ns`` on)."""
        a = 0 if from_ns is None else int(np.searchsorted(self.ts, from_ns))
        v = self.values[:, a:]
        have = ~np.isnan(v[3])
        if bool(have.all()):
            return Bars(self.ts[a:], v[0], v[1], v[2], v[3], v[4])
        return Bars(self.ts[a:][have], *(v[i][have] for i in range(5)))


@dataclass
class IndicatorSlot:
    """An indicator registered on a symbol: its request and where its state lives."""

    request: IndicatorRequest
    bank_lane: int


@dataclass
class SymbolSessionData:
    """Everything the session holds for one symbol (removing the symbol removes all of it)."""

    symbol: str
    base_interval: Interval
    metadata: SymbolMetadata
    lane: int
    intervals: list[Interval] = field(default_factory=list)
    # History = ``loaded`` (read from the store at provisioning: the trading days before day
    # ``since_pos`` of the backtest, a block per day, kept for the whole run) + the symbol's
    # lane of the replayed days since then (core/history.py).
    loaded: dict[Interval, list[DayBlock]] = field(default_factory=dict)
    history_days: dict[Interval, int] = field(default_factory=dict)
    since_pos: int = 0
    indicators: dict[str, IndicatorSlot] = field(default_factory=dict)

    @property
    def is_full(self) -> bool:
        """True when loaded to the session config's requirements."""
        return self.metadata.meets_session_config_requirements


class SessionData:
    """The symbols of a session, keyed by ticker, guarded by one symbol lock."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.symbols: dict[str, SymbolSessionData] = {}
        self.generation = 0  # bumped when a symbol is added or removed (caches of lanes check it)

    def get(self, symbol: str) -> SymbolSessionData | None:
        """The symbol's data, or None."""
        return self.symbols.get(symbol)

    def require(self, symbol: str) -> SymbolSessionData:
        """The symbol's data; SessionStateError naming the loaded symbols when absent."""
        data = self.symbols.get(symbol)
        if data is None:
            held = few(sorted(self.symbols))
            raise SessionStateError(
                f"{symbol} is not in the session (loaded: {held}; add it with: add symbol {symbol})"
            )
        return data

    def clear(self) -> None:
        """Drop every symbol."""
        with self.lock:
            self.symbols.clear()
            self.generation += 1
