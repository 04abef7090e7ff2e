"""The plugin API: what a strategy or scanner file subclasses and what its callbacks receive.

A **strategy** declares its parameters (``params``) and what it needs (``needs``: symbols,
intervals, indicators, provisioned through the pipeline with source ``strategy`` when it loads),
then gets one callback per completed bar of each interval it needs, during the replay:

- ``on_bars(bars)`` (vectorised, the fast path): ``bars`` holds that bar for every one of its
  symbols that has it, as arrays (``bars.close``, ``bars.indicator("ema_10_5m")``,
  ``bars.previous("ema_10_5m")``, ``bars.position``, ``bars.avg_price``) and the account
  (``bars.account``); ``bars.buy(mask, qty)`` / ``bars.sell(mask, qty)`` place orders for many
  symbols at once (handed back as read-only snapshots), ``bars.open_orders()`` lists the
  strategy's own open orders and ``bars.cancel(orders)`` cancels them;
- ``on_bar(symbol, bar)`` (one call per symbol, slower): the same for one symbol.

A **scanner** declares its parameters and a schedule and gets ``scan(ctx)`` at its due times: it
reads the universe (``ctx.universe()``, ``ctx.read(symbols, …)``: any stored symbol, cut at the
clock) and adds symbols and indicators to the running session (``ctx.add_symbol``,
``ctx.add_indicator``), each through analyze → validate → provision with source ``scanner``.

Nothing a plugin is given starts at or after the clock: a callback at simulated time T sees the
bars that ended by T, and its orders are matched from the bar starting at T on.

A call with a wrong argument (a mask of the wrong shape, an index outside 0..N-1, a count below
1, a price that is not a number, …) raises a ``PluginError`` of one line saying what to give,
which stops that plugin and not the session (core/plugins/arguments.py checks them). Where a
list goes, any iterable does (a generator is taken once).
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

import numpy as np

from trader_cli.core.errors import PluginError
from trader_cli.core.plugins.arguments import materialised, shown

if TYPE_CHECKING:
    from trader_cli.core.bars import Bars
    from trader_cli.core.broker.models import Account
    from trader_cli.core.broker.models import OrderSnapshot as Order

CONFIG_SYMBOLS = "config"  # Needs.symbols: the session config's symbols


@dataclass(frozen=True)
class Param:
    """A declared parameter: name, type (int, float, str, bool, or list: a list of tickers, typed
    ``AMZN,RIVN`` or as a JSON list), default, and optional range (``min``/``max``) or
    ``choices``; values are validated when the plugin loads."""

    name: str
    type: type
    default: Any
    min: float | None = None
    max: float | None = None
    choices: tuple[Any, ...] | None = None
    help: str = ""


@dataclass(frozen=True)
class Needs:
    """What a strategy needs in the session: its symbols (a list, or ``CONFIG_SYMBOLS``), the bar
    intervals it gets callbacks for, and indicators as (name, params, interval)."""

    symbols: Sequence[str] | str = CONFIG_SYMBOLS
    intervals: Sequence[str] = ()
    indicators: Sequence[tuple[str, Sequence[float], str]] = ()

    def __post_init__(self) -> None:
        for what in ("symbols", "intervals", "indicators"):  # a generator: taken once, here
            value = getattr(self, what)
            if not isinstance(value, str):
                object.__setattr__(self, what, materialised(value))


@dataclass(frozen=True)
class Schedule:
    """When a scanner runs each session: before the open (``pre_session``), at ``start``, and
    then every ``every`` until ``end`` (New York times, "09:45"; the clock at that time: the bars
    that ended by then are visible)."""

    pre_session: bool = False
    every: str | None = None
    start: str | None = None
    end: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.pre_session, bool):
            raise PluginError(f"Schedule(pre_session={shown(self.pre_session)}): give True or False")
        for what in ("every", "start", "end"):
            value = getattr(self, what)
            if value is not None and not isinstance(value, str):
                hint = '"15m"' if what == "every" else '"09:45"'
                raise PluginError(f"Schedule({what}={shown(value)}): give text, e.g. {what}={hint}")


def indicator_key(name: str, params: Sequence[float], interval: str) -> str:
    """The session's key of an indicator: ``indicator_key("ema", [10], "5m") == "ema_10_5m"``."""
    return _key(name, tuple(params), interval)


@functools.lru_cache(maxsize=1024)
def _key(name: str, params: tuple[float, ...], interval: str) -> str:
    from trader_cli.core.indicators.requirements import IndicatorRequest

    return IndicatorRequest.parse(name, list(params), interval).key


class Plugin:
    """What strategies and scanners share: declared params (set as attributes when loaded)."""

    params: ClassVar[Sequence[Param]] = ()  # a list or tuple of Param
    name: ClassVar[str] = ""  # the plugin's name in commands (default: the file's name)

    def __init__(self, **values: Any) -> None:
        for p in self.params:
            setattr(self, p.name, values.get(p.name, p.default))


class Strategy(Plugin):
    """User code that reads bars and indicators and places orders (see the module doc)."""

    def needs(self) -> Needs:
        """What to provision before the first callback (default: the config symbols, the base
        interval, no indicators)."""
        return Needs()

    def on_bars(self, bars: BarsView) -> None:
        """A completed bar of one interval for many symbols at once (override this, or on_bar)."""
        for one in bars:
            self.on_bar(one.symbol, one)

    def on_bar(self, symbol: str, bar: BarView) -> None:
        """A completed bar of one symbol (slower than on_bars: one call per symbol)."""


class Scanner(Plugin):
    """User code that looks over the universe on a schedule and adds symbols (see the module doc)."""

    schedule: ClassVar[Schedule] = Schedule()

    def default_schedule(self) -> Schedule:
        """The schedule when the config gives none (default: the class's ``schedule``)."""
        return self.schedule

    def scan(self, ctx: ScanView) -> None:
        """Look and add (override)."""


# -- what callbacks receive ------------------------------------------------------------------------
class BarsSource(Protocol):
    """What a ``BarsView`` reads and orders through (the host's, one callback's)."""

    def indicator(self, view: BarsView, key: str, output: str | None, previous: bool) -> np.ndarray: ...

    def positions(self, view: BarsView) -> np.ndarray: ...

    def avg_prices(self, view: BarsView) -> np.ndarray: ...

    def account(self) -> Account: ...

    def open_orders(self, view: BarsView, which: Any) -> list[Order]: ...

    def cancel(self, view: BarsView, orders: Any) -> list[Order]: ...

    def history(self, symbol: str, interval: str, last: int | None) -> Bars: ...

    def order(
        self, view: BarsView, side: str, which: Any, qty: Any, limit: Any, stop: Any, tif: str
    ) -> list[Order]: ...


class ScanSource(Protocol):
    """What a ``ScanView`` reads and adds through."""

    def universe(self, interval: str) -> list[str]: ...

    def in_session(self, symbol: str) -> bool: ...

    def read(self, symbols: Sequence[str], interval: str, days: int) -> dict[str, Bars]: ...

    def previous_close(self, symbols: Sequence[str]) -> dict[str, float]: ...

    def add(self, view: ScanView, operation: str, symbol: str, rule: str, **kw: Any) -> bool: ...


@dataclass
class BarsView:
    """One completed bar of ``interval`` for the strategy's symbols that have it (arrays, one
    entry per symbol, read-only). ``time`` is the bar's start, ``now`` the clock (its end)."""

    interval: str
    time: dt.datetime
    now: dt.datetime
    symbols: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    _source: BarsSource = field(repr=False)

    def __len__(self) -> int:
        return len(self.symbols)

    def __iter__(self) -> Iterator[BarView]:
        for i in range(len(self.symbols)):
            yield BarView(self, i)

    def indicator(self, key: str, output: str | None = None) -> np.ndarray:
        """The indicator's value at this bar for each symbol (NaN while not ready)."""
        return self._source.indicator(self, key, output, previous=False)

    def previous(self, key: str, output: str | None = None) -> np.ndarray:
        """The indicator's value at each symbol's previous bar of this interval (the last history
        bar for the first replayed one; NaN when there is none or it was not ready)."""
        return self._source.indicator(self, key, output, previous=True)

    @property
    def position(self) -> np.ndarray:
        """Shares held of each symbol (negative: short)."""
        return self._source.positions(self)

    @property
    def avg_price(self) -> np.ndarray:
        """Average cost of each symbol's position (NaN while flat)."""
        return self._source.avg_prices(self)

    @property
    def account(self) -> Account:
        """The account now: ``cash``, ``equity`` (cash plus positions at their marks),
        ``buying_power``, ``fees``, ``realized_pnl``, ``unrealized_pnl``, ``day_pnl``,
        ``open_positions``, ``open_orders`` (the whole account's, every origin's)."""
        return self._source.account()

    def open_orders(self, which: Any = None) -> list[Order]:
        """This strategy's orders that may still fill, oldest first: all of them (``which``
        None), or those of the symbols ``which`` selects (as for ``buy``)."""
        return self._source.open_orders(self, which)

    def cancel(self, orders: Any) -> list[Order]:
        """Cancel open orders of this strategy (orders as ``buy`` or ``open_orders`` return
        them, or their ids); the ones canceled. One that filled, expired or was canceled since
        is left out; an order of somebody else's is an error."""
        return self._source.cancel(self, orders)

    def history(self, symbol: str, last: int | None = None) -> Bars:
        """A symbol's bars of this interval up to now (history included): all of them, or the
        latest ``last`` (a whole number ≥ 1, as ``data bars --last``)."""
        return self._source.history(symbol, self.interval, last)

    def buy(self, which: Any, qty: Any, limit: Any = None, stop: Any = None, tif: str = "day") -> list[Order]:
        """Buy for the symbols ``which`` selects (a 1-D boolean mask over ``symbols``, indices
        0..N-1, or names); ``qty``, ``limit`` and ``stop`` are one value or one per selected
        symbol (or one per symbol). Returns the orders as placed (read-only: ``status`` open, or
        rejected with ``reason`` by the broker's checks: a quantity below 1, a NaN price, …)."""
        return self._source.order(self, "buy", which, qty, limit, stop, tif)

    def sell(self, which: Any, qty: Any, limit: Any = None, stop: Any = None, tif: str = "day") -> list[Order]:
        """Sell for the symbols ``which`` selects (see ``buy``)."""
        return self._source.order(self, "sell", which, qty, limit, stop, tif)


@dataclass
class BarView:
    """One symbol's entry of a ``BarsView``."""

    bars: BarsView
    i: int

    @property
    def symbol(self) -> str:
        """The ticker."""
        return str(self.bars.symbols[self.i])

    def __getattr__(self, name: str) -> float:
        if name in ("open", "high", "low", "close", "volume"):
            return float(getattr(self.bars, name)[self.i])
        raise AttributeError(
            f"a bar has no {shown(name)} (it has symbol, open, high, low, close, volume, position, avg_price, "
            "indicator(), previous(), buy(), sell(), open_orders(), cancel())"
        )

    def indicator(self, key: str, output: str | None = None) -> float:
        """The indicator's value at this bar (NaN while not ready)."""
        return float(self.bars.indicator(key, output)[self.i])

    def previous(self, key: str, output: str | None = None) -> float:
        """The indicator's value at the previous bar (NaN when none)."""
        return float(self.bars.previous(key, output)[self.i])

    @property
    def position(self) -> int:
        """Shares held."""
        return int(self.bars.position[self.i])

    @property
    def avg_price(self) -> float:
        """Average cost of the position (NaN while flat)."""
        return float(self.bars.avg_price[self.i])

    def open_orders(self) -> list[Order]:
        """This strategy's open orders of this symbol."""
        return self.bars.open_orders([self.i])

    def cancel(self, orders: Any) -> list[Order]:
        """Cancel open orders of this strategy (see ``BarsView.cancel``)."""
        return self.bars.cancel(orders)

    def buy(self, qty: int, limit: float | None = None, stop: float | None = None, tif: str = "day") -> list[Order]:
        """Buy this symbol."""
        return self.bars.buy([self.i], qty, limit, stop, tif)

    def sell(self, qty: int, limit: float | None = None, stop: float | None = None, tif: str = "day") -> list[Order]:
        """Sell this symbol."""
        return self.bars.sell([self.i], qty, limit, stop, tif)


@dataclass
class ScanView:
    """What a scanner's ``scan`` gets: the clock, the session day, the universe and the adds."""

    now: dt.datetime
    day: dt.date
    _source: ScanSource = field(repr=False)

    def universe(self, interval: str = "1m") -> list[str]:
        """Every symbol the bar source holds bars of ``interval`` for."""
        return self._source.universe(interval)

    def in_session(self, symbol: str) -> bool:
        """True when the symbol is loaded in the session."""
        return self._source.in_session(symbol)

    def read(self, symbols: Sequence[str], interval: str = "1m", days: int = 2) -> dict[str, Bars]:
        """Each symbol's bars of ``interval`` over the last ``days`` sessions (≥ 1) up to now
        (today's bars that ended by now included; nothing at or after the clock); intraday bars
        are the regular sessions' (no pre-market or after-hours bar); ``symbols``: a list of
        names, or one name."""
        return self._source.read(symbols, interval, days)

    def previous_close(self, symbols: Sequence[str]) -> dict[str, float]:
        """Each symbol's last regular-session 1m close of the previous session (NaN: none)."""
        return self._source.previous_close(symbols)

    def add_symbol(self, symbol: str, rule: str = "") -> bool:
        """Add a symbol in full (source scanner); False when it failed validation (the reason is
        in the plugin's status)."""
        return self._source.add(self, "symbol", symbol, rule)

    def add_indicator(
        self, symbol: str, name: str, params: Sequence[float] = (), interval: str = "1m", rule: str = ""
    ) -> bool:
        """Add an indicator (a symbol not in the session is auto-provisioned lightweight)."""
        values = materialised(params)
        if not isinstance(values, (list, tuple, np.ndarray)):
            raise PluginError(f"add_indicator params {shown(params)}: give a list of numbers, e.g. [10]")
        return self._source.add(self, "indicator", symbol, rule, indicator=(name, list(values), interval))

    def add_bar(self, symbol: str, interval: str, rule: str = "") -> bool:
        """Add a bar interval (a symbol not in the session is auto-provisioned lightweight)."""
        return self._source.add(self, "bar", symbol, rule, interval=interval)
