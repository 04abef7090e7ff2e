"""Symbol ↔ lane: each symbol of the session owns one column ("lane") of the cross-sectional
arrays (the day books, the indicator records). A removed symbol's lane is handed out again."""

from __future__ import annotations

import heapq
from collections.abc import Callable


class LaneAllocator:
    """Hands out lane indexes, lowest free first; ``on_grow`` hears when a new highest lane is used."""

    def __init__(self, on_grow: Callable[[int], None] | None = None) -> None:
        self._free: list[int] = []
        self._next = 0
        self.on_grow = on_grow

    @property
    def capacity_used(self) -> int:
        """One past the highest lane ever handed out."""
        return self._next

    def allocate(self) -> int:
        """A lane for a new symbol (a freed one when there is one)."""
        if self._free:
            return heapq.heappop(self._free)
        lane = self._next
        self._next += 1
        if self.on_grow is not None:
            self.on_grow(self._next)
        return lane

    def release(self, lane: int) -> None:
        """Give a lane back (its symbol left the session)."""
        if lane in self._free or not 0 <= lane < self._next:
            raise ValueError(f"lane {lane} is not in use")
        heapq.heappush(self._free, lane)

    def reset(self) -> None:
        """Forget every lane (a new session)."""
        self._free.clear()
        self._next = 0
