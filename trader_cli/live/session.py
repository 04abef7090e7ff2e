"""Starting a live session: today's market day on the live clock, warmup history over REST into
the store (only the days it lacks), the same validation and provisioning as a backtest, today's
bars so far over REST, then the stream (see live/feed.py). The replay clock steps each minute
once the assembler closes it; ``time advance|until`` are refused (the market sets the pace).

Orders go to Alpaca's trading API (live/trading.py, ``live_config.trading_url`` or the SDK's
paper URL): the broker checks and records them as in a backtest, Alpaca fills them, and the
broker polls Alpaca's fills once per closed minute. Real money (``"paper": false``) also needs
``TRADER_CLI_ALLOW_LIVE_ORDERS=1``; without it the session is refused. A strategy's order placed
while the session catches up (``LiveFeed.stale_orders``) is rejected, not sent.

At start the account is checked (active, not blocked, some cash: one line otherwise), and
validation asks the trading API whether each symbol is an active, tradable asset (dropped with
why otherwise). The session's cash starts as Alpaca's cash and its fills pay no fee (Alpaca
charges no commission): ``account``, the export and the report agree with Alpaca's account
(positions Alpaca held before the start are not the session's: a warning says so).
Not in this build yet: Alpaca's trade-updates stream (fills are polled).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

from trader_cli.core.broker.remote import RemoteDesk, RemoteError
from trader_cli.core.calendar import to_ny
from trader_cli.core.config import BrokerConfig, SessionConfig
from trader_cli.core.engine import Engine
from trader_cli.core.errors import SessionStateError, ValidationFailed
from trader_cli.core.feed import ParquetFeed
from trader_cli.core.intervals import Interval
from trader_cli.core.lifecycle import SessionState
from trader_cli.core.provisioning.pipeline import provision_config
from trader_cli.core.replay import DayBook
from trader_cli.core.results import StartResult
from trader_cli.core.startup import abandon, load_config_plugins, reset
from trader_cli.live.clock import LiveClock
from trader_cli.live.feed import LiveFeed
from trader_cli.live.fetch import fetch, keys_from_env
from trader_cli.live.trading import AlpacaAccount, AlpacaOrders

ALLOW_LIVE_ORDERS = "TRADER_CLI_ALLOW_LIVE_ORDERS"


def start_live(
    eng: Engine,
    parquet: ParquetFeed,
    config: SessionConfig,
    paused: bool,
    progress: Callable[[int, int, str], None] | None,
) -> StartResult:
    """Start today's live session (see the module doc); on failure nothing is left running."""
    live = config.live_config
    assert live is not None
    if eng.clock.active:
        raise SessionStateError(f"a session is already {eng.clock.state.value} (stop it first with: system stop)")
    if not live.paper and os.environ.get(ALLOW_LIVE_ORDERS) != "1":
        raise SessionStateError(
            f'"paper": false trades real money and needs {ALLOW_LIVE_ORDERS}=1 set as well '
            '(or set "paper": true to trade on Alpaca\'s paper account)'
        )
    keys = keys_from_env()
    start_ns = int(live.clock.start.timestamp() * 1e9) if live.clock.start is not None else None
    clock = LiveClock(start_ns, live.clock.speed)
    cal = eng.calendar
    today = to_ny(clock.now_ns()).date()
    if not cal.is_trading_day(today):
        nxt = cal.next_trading_day(today)
        raise SessionStateError(f"the market is closed on {today}; the next session is {nxt} (a backtest runs any day)")
    close_ns = cal.open_close(today)[1]
    if clock.now_ns() >= close_ns:
        nxt = cal.next_trading_day(today)
        raise SessionStateError(
            f"the market closed at {to_ny(close_ns):%H:%M} on {today}; the next session is {nxt} "
            "(start it then; a backtest runs any day)"
        )
    t0 = time.perf_counter()
    orders = AlpacaOrders(keys, live.trading_url, paper=live.paper)
    try:
        account = orders.check()  # the keys' account may trade
    except RemoteError as err:
        raise SessionStateError(f"Alpaca's trading API: {err}") from None
    if account.cash <= 0:
        raise SessionStateError(
            f"the Alpaca account's cash is {account.cash:,.2f}: a live session trades the account's cash "
            "and has none to trade (see Alpaca's dashboard)"
        )
    sd = config.session_data_config
    back = cal.trading_days_back(today, sd.historical.trailing_days)
    if back:  # warmup history, cached in the store (a re-start fetches nothing)
        fetch(parquet.store, list(sd.symbols), "1m", back[0], back[-1], feed=live.feed, data_url=live.data_url)
    reset(eng)
    feed = LiveFeed(parquet, live, clock, keys, eng.events.emit)
    feed.day = today
    feed.assets = orders  # validation asks whether each symbol is an active, tradable asset
    eng.feed = eng.replay.feed = feed
    eng.clock.transition(SessionState.provisioning)
    eng.config = config
    eng.broker.reset(live_broker(config.broker, account))
    # no old bar's signal traded now; orders judged by the market's clock, ahead of a paused session's
    eng.broker.remote = RemoteDesk(orders, stale=feed.stale_orders, now_ns=clock.now_ns)
    eng.timeline.start([today])
    derived = {Interval.parse(iv) for iv in sd.derived_intervals} - {Interval.parse(sd.base_interval)}
    eng.replay.reset(DayBook(cal, today, sorted(derived), len(sd.symbols)), derived)
    try:
        validations, reports = provision_config(eng, sd.symbols, progress)
        if not reports:
            raise ValidationFailed(StartResult.nothing_started(validations))
        load_config_plugins(eng, config)
        assert eng.replay.book is not None
        feed.open(today, sorted(eng.session.symbols), eng.replay.book)
    except BaseException:
        abandon_live(eng, parquet)
        raise
    result = StartResult(validations, reports, time.perf_counter() - t0, {})
    eng.events.emit(
        "day_start",
        f"live session {today} on Alpaca ({live.feed}), {len(reports)} symbol(s), clock at "
        f"{to_ny(clock.now_ns()):%H:%M:%S}" + (f" x{live.clock.speed:g}" if live.clock.speed != 1 else ""),
    )
    _say_account(eng, account)
    eng.clock.gate = lambda timeout: _gate(eng, feed, timeout)
    eng.clock.begin(0, paused)
    return result


def live_broker(cfg: BrokerConfig, account: AlpacaAccount) -> BrokerConfig:
    """The broker of a live session: the cash is Alpaca's at the start and fills pay no fee
    (Alpaca charges no commission); the config's initial_cash and fees are a backtest's. Its
    limits, shorting and the slippage its checks price a market order with stay as configured."""
    return cfg.model_copy(update={"initial_cash": account.cash, "fee_per_share": 0.0, "fee_min": 0.0})


def _say_account(eng: Engine, account: AlpacaAccount) -> None:
    """The account line of the start, and a warning when Alpaca holds positions from before."""
    margin = ""
    if account.buying_power > account.cash:
        margin = f" (x{account.multiplier:g} margin: the session does not borrow)"
    eng.events.emit(
        "account",
        f"Alpaca's account: cash {account.cash:,.2f}, equity {account.equity:,.2f}, buying power "
        f"{account.buying_power:,.2f}{margin}; the session trades that cash, no fees (initial_cash and the "
        "fees of the config are a backtest's)",
    )
    held = account.equity - account.cash
    if abs(held) >= 0.01:
        eng.events.emit(
            "warning",
            f"Alpaca's account holds {held:,.2f} of positions from before this session: they are not in the "
            "session's positions, equity or report (see Alpaca's dashboard)",
        )


def _gate(eng: Engine, feed: LiveFeed, timeout: float) -> bool:
    book = eng.replay.book
    return book is None or book.done or feed.wait_ready(timeout)


def abandon_live(eng: Engine, parquet: ParquetFeed) -> None:
    """Back to stopped with nothing running, and the engine's source the store again."""
    end_live(eng, parquet)
    abandon(eng)


def end_live(eng: Engine, parquet: ParquetFeed) -> None:
    """Stop the stream and put the store's feed back (a live session ended or failed)."""
    feed = eng.feed
    if isinstance(feed, LiveFeed):
        feed.reset()
    eng.feed = eng.replay.feed = parquet
    eng.clock.gate = None
    eng.broker.remote = None  # no more orders to Alpaca
