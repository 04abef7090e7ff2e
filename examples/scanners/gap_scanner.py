"""gap_scanner: once a day at ``at``, add the symbols that opened with the largest gaps.

For each universe symbol not in the session: gap % = (open of today's 09:30 bar / the previous
session's last regular-session close - 1) x 100. The ``max_adds`` largest |gap| of at least
``min_gap_pct`` (ties by symbol) are added with sma 20 on 5m, as source scanner (so each is
auto-provisioned lightweight for that indicator).

    scanner load examples/scanners/gap_scanner.py min_gap_pct=1.5 at=09:45
"""

from __future__ import annotations

import math

from trader_cli.plugins import Param, PluginError, Scanner, ScanView, Schedule


class GapScanner(Scanner):
    """The day's opening gaps over the universe (any stored symbol when ``universe`` is null)."""

    name = "gap_scanner"
    params = (
        Param("min_gap_pct", float, 2.0, min=0, max=1000, help="smallest |gap| in percent"),
        Param("at", str, "09:45", help="New York time of the daily scan"),
        Param("max_adds", int, 5, min=1, max=1000, help="symbols added a day at most"),
        Param("universe", list, None, help="symbols to look at (null: every stored symbol)"),
    )
    min_gap_pct: float
    at: str
    max_adds: int
    universe: list[str] | None

    def default_schedule(self) -> Schedule:
        h, _, m = self.at.partition(":")  # a time that does not read as HH:MM: the schedule's check says so
        if h.strip().isdigit() and m.strip().isdigit() and (int(h), int(m)) <= (9, 30):
            raise PluginError(
                f"at {self.at}: today's 09:30 bar has not ended by then, so no gap can be read; give 09:31 or later"
            )
        return Schedule(start=self.at)

    def scan(self, ctx: ScanView) -> None:
        pool = [s for s in (self.universe or ctx.universe("1m")) if not ctx.in_session(s)]
        if not pool:
            return
        prev = ctx.previous_close(pool)
        today = ctx.read(pool, "1m", days=1)
        gaps = []
        for sym in pool:
            bars = today.get(sym)
            if bars is None or not len(bars) or not math.isfinite(prev.get(sym, math.nan)):
                continue
            if not self._is_open_bar(ctx, int(bars.ts[0])):  # today's 09:30 bar is missing
                continue
            gap = (float(bars.open[0]) / prev[sym] - 1) * 100
            if abs(gap) >= self.min_gap_pct:
                gaps.append((-abs(gap), sym, gap))
        for _, sym, gap in sorted(gaps)[: self.max_adds]:
            ctx.add_indicator(sym, "sma", [20], "5m", rule=f"gap {gap:+.2f}% at {ctx.now:%H:%M}")

    @staticmethod
    def _is_open_bar(ctx: ScanView, ts_ns: int) -> bool:
        """True when the bar starts at 09:30 New York (the session's first minute)."""
        import datetime as dt
        from zoneinfo import ZoneInfo

        t = dt.datetime.fromtimestamp(ts_ns / 1e9, tz=ZoneInfo("America/New_York"))
        return (t.hour, t.minute) == (9, 30) and t.date() == ctx.day
