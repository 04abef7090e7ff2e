"""The backtest report, from the broker's record of the session:

- ``total_return``: final equity ÷ initial cash − 1;
- ``sharpe``, ``sortino``, ``volatility``: on the daily returns taken at session closes (the
  first against the initial cash), annualised with 252 trading days, risk-free rate 0
  (empyrical-reloaded; None with fewer than two sessions);
- ``max_drawdown`` (a fraction, ≤ 0) and ``max_drawdown_minutes`` (the longest run of session
  minutes below a previous peak) on the minute equity curve;
- ``exposure``: the average over session minutes of the gross market value held ÷ equity;
- ``turnover``: the value traded (Σ |shares × price| of the fills) ÷ the average equity;
- ``round_trips``: positions from flat back to flat (a flip closes one and opens the next);
  ``win_rate`` the share of them with a P&L above 0 after fees, ``profit_factor`` their gross
  profit ÷ gross loss (None without a loss), both counting a trip within half a cent of 0 as
  break-even, neither won nor lost (its float sum of prices and fees is 0 only to ~1e-13),
  ``expectancy`` their average P&L,
  ``avg_hold_minutes`` their average trading minutes held;
- ``pnl_by_symbol``: realized + unrealized − fees per symbol (removed ones included);
  ``pnl_by_source``: the same summed by who added the symbol (config, strategy, scanner, adhoc);
  ``pnl_by_plugin``: by who placed the orders (``adhoc`` for the trader's, ``strategy:NAME`` for a
  plugin's): each origin's fills' cash flows and fees plus what its shares are worth at the marks.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from trader_cli.core.broker.models import Report
from trader_cli.core.broker.rules import fill_rules
from trader_cli.core.calendar import ny_dates

if TYPE_CHECKING:
    from trader_cli.core.engine import Engine

TRADING_DAYS = 252
BREAK_EVEN = 0.005  # dollars: a round trip within half a cent of 0 is neither a win nor a loss

# a live session's fills are Alpaca's: none of the simulator's rules made them
LIVE_FILLS = (
    "fills are Alpaca's (paper trading): its prices, in the minute of its filled_at, no commission; "
    "the simulator's fill rules and slippage do not apply"
)


def _num(x: float) -> float | None:
    return float(x) if x is not None and math.isfinite(float(x)) else None


def daily_closes(eng: Engine) -> tuple[np.ndarray, np.ndarray]:
    """(New York date ordinals, equity) at each session's last minute so far."""
    b = eng.broker
    if not b.eq_time:
        return np.empty(0, np.int64), np.empty(0)
    t = np.asarray(b.eq_time, dtype=np.int64)
    days = ny_dates(t)
    last = np.flatnonzero(np.r_[days[1:] != days[:-1], True])
    return days[last], np.asarray(b.eq_value)[last]


def drawdown(initial: float, equity: np.ndarray) -> tuple[float, int]:
    """(max drawdown as a fraction ≤ 0, the longest run of points below a previous peak)."""
    if not len(equity):
        return 0.0, 0
    peak = np.maximum.accumulate(np.r_[initial, equity])[1:]
    dd = equity / peak - 1.0
    under = dd < 0
    longest = run = 0
    for u in under.tolist():
        run = run + 1 if u else 0
        longest = max(longest, run)
    return float(dd.min(initial=0.0)), longest


def build_report(eng: Engine) -> Report:
    """The report of the session so far (see the module doc)."""
    import empyrical  # lazy: pandas and scipy are not the shell's start-up cost

    b = eng.broker
    initial = float(b.cfg.initial_cash)
    equity = np.asarray(b.eq_value)
    final = b.equity_now()
    _, closes = daily_closes(eng)
    returns = closes / np.r_[initial, closes[:-1]] - 1.0 if len(closes) else np.empty(0)
    enough = len(returns) >= 2
    max_dd, dd_minutes = drawdown(initial, equity)
    traded = sum(abs(f.qty * f.price) for f in b.fills)
    pnls = [t.pnl for t in b.trips]
    wins, losses = [p for p in pnls if p >= BREAK_EVEN], [p for p in pnls if p <= -BREAK_EVEN]
    by_symbol, by_source = pnl_by_symbol(eng)
    return Report(
        initial_cash=initial,
        final_equity=final,
        total_return=final / initial - 1.0,
        sharpe=_num(empyrical.sharpe_ratio(returns, annualization=TRADING_DAYS)) if enough else None,
        sortino=_num(empyrical.sortino_ratio(returns, annualization=TRADING_DAYS)) if enough else None,
        volatility=_num(empyrical.annual_volatility(returns, annualization=TRADING_DAYS)) if enough else None,
        max_drawdown=max_dd,
        max_drawdown_minutes=dd_minutes,
        exposure=b.exposure_sum / len(equity) if len(equity) else 0.0,
        turnover=traded / float(equity.mean()) if len(equity) else 0.0,
        round_trips=len(pnls),
        win_rate=len(wins) / len(pnls) if pnls else None,
        profit_factor=sum(wins) / -sum(losses) if losses else None,
        expectancy=sum(pnls) / len(pnls) if pnls else None,
        avg_hold_minutes=sum(t.minutes for t in b.trips) / len(b.trips) if b.trips else None,
        fees=b.fees,
        pnl_by_symbol=by_symbol,
        pnl_by_source=by_source,
        pnl_by_plugin=pnl_by_plugin(eng),
        days=len(closes),
        fill_assumptions=LIVE_FILLS if b.remote is not None else fill_rules(b.cfg),
    )


def pnl_by_symbol(eng: Engine) -> tuple[dict[str, float], dict[str, float]]:
    """Per symbol traded: realized + unrealized − fees; and the same by the symbol's source."""
    b = eng.broker
    by_symbol: dict[str, float] = {}
    by_source: dict[str, float] = {}
    for sym, data in eng.session.symbols.items():
        lane = data.lane
        b._ensure(lane)
        q = int(b.qty[lane])
        if not (q or b.realized[lane] or b.lane_fees[lane]):
            continue
        unreal = (float(b.mark[lane]) - float(b.avg[lane])) * q if q else 0.0
        pnl = float(b.realized[lane]) + unreal - float(b.lane_fees[lane])
        by_symbol[sym] = pnl
        source = data.metadata.added_by.value
        by_source[source] = by_source.get(source, 0.0) + pnl
    for sym, (realized, fees, source) in b.gone.items():
        by_symbol[sym] = by_symbol.get(sym, 0.0) + realized - fees
        by_source[source] = by_source.get(source, 0.0) + realized - fees
    return dict(sorted(by_symbol.items())), dict(sorted(by_source.items()))


def pnl_by_plugin(eng: Engine) -> dict[str, float]:
    """Per order origin: its cash flows (fills and fees) plus its shares at their marks."""
    b = eng.broker
    out = dict(b.origin_cash)
    for (origin, lane), q in b.origin_qty.items():
        if q:
            b._ensure(lane)
            mark = float(b.mark[lane])
            out[origin] = out.get(origin, 0.0) + q * (mark if mark == mark else 0.0)
    return dict(sorted(out.items()))
