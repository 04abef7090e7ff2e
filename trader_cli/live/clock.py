"""The live clock: the wall clock by default; from a given instant at a given rate for demos and
tests (``live_config.clock``: ``start`` an ISO 8601 time, ``speed`` live seconds per wall
second). Monotonic underneath: a wall-clock jump (NTP, a suspended laptop) never moves it back."""

from __future__ import annotations

import time


class LiveClock:
    """``now_ns()``: the live time (UTC ns)."""

    def __init__(self, start_ns: int | None = None, speed: float = 1.0) -> None:
        if not 0 < speed <= 10_000:
            raise ValueError(f"clock speed {speed:g}: give live seconds per wall second, from above 0 to 10,000")
        self.speed = speed
        self._wall0 = time.monotonic()
        self.start_ns = time.time_ns() if start_ns is None else start_ns

    def now_ns(self) -> int:
        """The live time now."""
        return self.start_ns + int((time.monotonic() - self._wall0) * self.speed * 1e9)

    @property
    def ns_per_s(self) -> float:
        """Live nanoseconds a wall second."""
        return self.speed * 1e9

    def wall_seconds_until(self, ts_ns: int) -> float:
        """Wall seconds until the live clock reaches ``ts_ns`` (0 when it has)."""
        return max(0.0, (ts_ns - self.now_ns()) / self.ns_per_s)
