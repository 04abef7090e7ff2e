"""Bar intervals: parsing, duration, required base interval, alignment to the session open."""

from __future__ import annotations

from dataclasses import dataclass

from trader_cli.core.errors import IntervalError

_SECONDS = {"1s": 1, "1m": 60, "5m": 300, "15m": 900, "30m": 1800, "1h": 3600, "1d": 86400}
VALID_INTERVALS: tuple[str, ...] = tuple(_SECONDS)
NS_PER_SECOND = 1_000_000_000


@dataclass(frozen=True, order=True)
class Interval:
    """A bar interval such as ``1m`` or ``5m``; bars are stamped with their start time."""

    seconds: int
    name: str

    @classmethod
    def parse(cls, text: str | Interval) -> Interval:
        """Parse ``1s 1m 5m 15m 30m 1h 1d``; anything else raises IntervalError naming the valid ones."""
        if isinstance(text, Interval):
            return text
        key = str(text).strip().lower()
        if key not in _SECONDS:
            raise IntervalError(f"unknown interval '{text}' (use one of {', '.join(VALID_INTERVALS)})")
        return cls(_SECONDS[key], key)

    def __str__(self) -> str:
        return self.name

    @property
    def duration_ns(self) -> int:
        """Length of one bar in nanoseconds."""
        return self.seconds * NS_PER_SECOND

    @property
    def is_daily(self) -> bool:
        """True for ``1d``: one bar per trading session."""
        return self.seconds == 86400

    @property
    def is_intraday(self) -> bool:
        """True for every interval shorter than a day."""
        return self.seconds < 86400

    def required_base(self, stored: frozenset[str] | set[str] | None = None) -> Interval:
        """The interval this one is built from: itself for 1s/1m, 1m for 5m..1h,
        and for 1d: 1d when daily bars are stored (or nothing is known), else 1m."""
        if self.seconds <= 60:
            return self
        if self.is_daily and (stored is None or "1d" in stored):
            return self
        return Interval.parse("1m")

    def bars_in(self, session_seconds: int) -> int:
        """Bars this interval has in a session of the given length (the last one may be short)."""
        if self.is_daily:
            return 1
        return -(-session_seconds // self.seconds)


BASE_1M = Interval.parse("1m")
