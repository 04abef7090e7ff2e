"""What a plugin's views read and do through: ``StrategySource`` behind a strategy callback's
``BarsView`` (this bar's values, indicators, previous values, positions, history, orders) and
``ScannerSource`` behind a scanner's ``ScanView`` (the universe, reads cut at the clock, adds
through the pipeline). Everything handed out is a read-only copy."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from trader_cli.core.bars import OPEN_AFTER_MIDNIGHT_NS, Bars, aggregate, session_bars
from trader_cli.core.errors import PluginError, SessionStateError, TraderCliError, few
from trader_cli.core.intervals import BASE_1M, Interval
from trader_cli.core.plugins.api import BarsView, ScanView
from trader_cli.core.plugins.arguments import (
    clipped,
    count,
    market_shares,
    materialised,
    order_ids,
    per_symbol,
    price,
    selected,
    shown,
    ticker,
    tickers,
    time_in_force,
    whole_shares,
)
from trader_cli.core.plugins.needs import added
from trader_cli.core.provenance import Source

RULE_CHARS = 200  # a scanner add's rule as kept and shown, at most

if TYPE_CHECKING:
    from trader_cli.core.broker.models import Account, OrderRecord, Side, TimeInForce
    from trader_cli.core.broker.models import OrderSnapshot as Order
    from trader_cli.core.plugins.host import PluginHost, Slot


def owned(a: np.ndarray) -> np.ndarray:
    """``a`` (a copy of its own, as advanced indexing makes) made read-only."""
    a.flags.writeable = False
    return a


def bank_lanes_of(lanes: np.ndarray, bank_of: np.ndarray) -> np.ndarray:
    """Replay ``lanes``' bank lanes (-1: not a member); ``bank_of``: replay lane → bank lane."""
    if not len(bank_of):
        return np.full(len(lanes), -1)
    out: np.ndarray = np.where(lanes < len(bank_of), bank_of[np.minimum(lanes, len(bank_of) - 1)], -1)
    return out


def current_values(stream: Any, blanes: np.ndarray) -> dict[str, np.ndarray]:
    """A stream's latest values (this bar's) at bank lanes ``blanes`` (NaN where -1: not a member)."""
    ok = blanes >= 0
    if ok.all():
        latest: dict[str, np.ndarray] = stream.bank.latest_of(blanes)
        return latest
    out = {o: np.full(len(blanes), np.nan) for o in stream.outputs}
    if ok.any():
        got = stream.bank.latest_of(blanes[ok])
        for o in stream.outputs:
            out[o][ok] = got[o]
    return out


def initial_previous(eng: Any, keys: Iterable[str], lanes: np.ndarray) -> dict[str, dict[str, np.ndarray]]:
    """Each indicator key's value at the last completed bar for ``lanes`` (key -> output -> by
    lane), as the 'previous' of a strategy's next callback."""
    prev: dict[str, dict[str, np.ndarray]] = {}
    for key in keys:
        stream = eng.hub.streams.get(key)
        if stream is None:
            continue
        size = max(len(eng.broker.qty), int(lanes.max(initial=-1)) + 1)
        store = {o: np.full(size, np.nan) for o in stream.outputs}
        member = [(lane, stream.members[lane]) for lane in lanes.tolist() if lane in stream.members]
        if member:
            ls = np.array([a for a, _ in member])
            latest = stream.bank.latest_of(np.array([b for _, b in member]))
            for o in stream.outputs:
                store[o][ls] = latest[o]
        prev[key] = store
    return prev


def forget_moved(
    prev: dict[str, dict[str, np.ndarray]], old_lanes: np.ndarray, old_symbols: np.ndarray, lanes: np.ndarray,
    symbols: list[str],
) -> None:  # fmt: skip
    """The 'previous' values of the lanes that hold another symbol than they did (a symbol
    removed and another added in its lane) forgotten: NaN, as for a symbol just added."""
    was = dict(zip(old_lanes.tolist(), old_symbols.tolist(), strict=True))
    moved = [lane for lane, s in zip(lanes.tolist(), symbols, strict=True) if was.get(lane) != s]
    for store in prev.values():
        for arr in store.values():
            arr[[lane for lane in moved if lane < len(arr)]] = np.nan


class StrategySource:
    """What a strategy's ``BarsView`` reads and does through (one callback's; ``top``: the
    highest lane there may be)."""

    def __init__(self, host: PluginHost, slot: Slot, lanes: np.ndarray, top: int) -> None:
        self.host, self.slot, self.lanes, self.top = host, slot, lanes, top
        self.ended: str | None = None  # the callback it was for has returned (its bar's time)

    def _current(self) -> None:
        """PluginError for a view kept from a callback that has returned: its arrays are by the
        lanes of then, which a removed and re-added symbol may since hold for another."""
        if self.ended is not None:
            raise PluginError(
                f"the bars of the {self.ended} callback were used after it returned: read and place orders "
                "through the bars handed to the callback running now"
            )

    def _stream(self, key: str) -> Any:
        stream = self.host.eng.hub.streams.get(key) if isinstance(key, str) else None
        if stream is None:
            have = few(sorted(self.slot.keys))
            name = clipped(key) if isinstance(key, str) else shown(key)
            raise PluginError(f"no indicator {name} in the session (this strategy's: {have}; declare it in needs())")
        return stream

    def _output(self, stream: Any, key: str, output: str | None) -> str:
        out = output or stream.outputs[0]
        if not isinstance(out, str) or out not in stream.outputs:
            name = clipped(out) if isinstance(out, str) else shown(out)
            raise PluginError(f"{key} has no output {name} (outputs: {', '.join(stream.outputs)})")
        return out

    def indicator(self, view: BarsView, key: str, output: str | None, previous: bool) -> np.ndarray:
        self._current()
        stream = self._stream(key)
        out = self._output(stream, key, output)
        if not previous:
            return owned(np.array(self.host.current(self.slot, key, stream, self.lanes)[out]))
        store = self.slot.prev.get(key, {}).get(out)
        if store is None:
            return owned(np.full(len(self.lanes), np.nan))
        if len(store) > self.top:
            return owned(store[self.lanes])
        vals = np.full(len(self.lanes), np.nan)
        ok = self.lanes < len(store)
        vals[ok] = store[self.lanes[ok]]
        return owned(vals)

    def positions(self, view: BarsView) -> np.ndarray:
        self._current()
        broker = self.host.eng.broker
        if len(self.lanes):
            broker._ensure(self.top)
        return owned(broker.qty[self.lanes])

    def avg_prices(self, view: BarsView) -> np.ndarray:
        self._current()
        broker = self.host.eng.broker
        if len(self.lanes):
            broker._ensure(self.top)
        avg = broker.avg[self.lanes]
        avg[broker.qty[self.lanes] == 0] = np.nan
        return owned(avg)

    def account(self) -> Account:
        from trader_cli.core.broker.models import AccountSnapshot

        return AccountSnapshot.model_validate(self.host.eng.broker.account(), from_attributes=True)

    def open_orders(self, view: BarsView, which: Any) -> list[Order]:
        self._current()
        broker = self.host.eng.broker
        origin = self.slot.origin
        chosen = None if which is None else set(view.symbols[selected(which, view.symbols)].tolist())
        out = []
        for ref in sorted(broker.book.ref.tolist()):
            o = broker.orders[ref]
            if o.origin == origin and (chosen is None or o.symbol in chosen):
                out.append(o.snapshot())
        return out

    def cancel(self, view: BarsView, orders: Any) -> list[Order]:
        self._current()
        broker = self.host.eng.broker
        origin = self.slot.origin
        ids = order_ids(orders)
        still_open = set(broker.book.ref.tolist())
        todo: list[int] = []
        for oid in dict.fromkeys(ids):  # every id checked before anything is canceled
            idx = broker.find(oid)
            if idx is None or broker.orders[idx].origin != origin:
                mine = "its orders: bars.open_orders()"
                raise PluginError(f"cancel {shown(oid)}: not an order of this strategy ({mine})")
            if idx in still_open:
                todo.append(idx)  # one filled, expired or canceled since: nothing to cancel
        done, refused = broker.cancel_many(todo, f"canceled by {origin}") if todo else ([], [])
        events = self.host.eng.events
        if done:
            events.emit("order", f"{origin}: {len(done)} order(s) canceled ({', '.join(o.id for o in done[:5])}"
                                 f"{', …' if len(done) > 5 else ''})")  # fmt: skip
        if refused:
            order, err = refused[0]
            events.emit("order", f"{origin}: {len(refused)} cancel(s) not done: {order.id}: {err}")
        return [o.snapshot() for o in done]

    def history(self, symbol: str, interval: str, last: int | None) -> Bars:
        from trader_cli.core import queries

        symbol = ticker(symbol, "history")
        if last is not None:
            last = count(last, "last", "history(symbol, last=N) gives the latest N bars; leave it out for all")
        eng = self.host.eng
        try:
            data, iv = queries.holding(eng, symbol, interval)
        except TraderCliError as err:  # not in the session, or not of that interval (a PluginError, as documented)
            raise PluginError(f"history({clipped(symbol)!r}): {err}") from None
        bars = queries.series(eng, data, iv)
        return bars.slice(max(0, len(bars) - last)) if last is not None else bars

    def order(self, view: BarsView, side: str, which: Any, qty: Any, limit: Any, stop: Any, tif: str) -> list[Order]:
        self._current()
        from trader_cli.core.broker.models import OrderRequest

        idx = selected(which, view.symbols)
        tif = time_in_force(tif)
        qty, limit, stop = materialised(qty), materialised(limit), materialised(stop)  # a generator: taken once
        if limit is None and stop is None and len(idx):  # market orders: checked at once where they can be
            want = market_shares(qty, idx, len(view.symbols))
            if want is not None:
                placed = self.host.eng.broker.submit_market(
                    [str(s) for s in view.symbols[idx].tolist()], self.lanes[idx], cast("Side", side),
                    want, cast("TimeInForce", tif), self.slot.origin,
                )  # fmt: skip
                if placed is not None:
                    self._count(placed)
                    return [o.snapshot() for o in placed]
        qtys, limits, stops = (
            per_symbol(x, idx, len(view.symbols), name) for x, name in ((qty, "qty"), (limit, "limit"), (stop, "stop"))
        )
        reqs = []
        for k, i in enumerate(idx.tolist()):
            sym = str(view.symbols[i])
            reqs.append(
                OrderRequest(
                    symbol=sym, side=cast("Side", side), qty=whole_shares(qtys[k], sym),
                    limit=price(limits[k], "limit", sym), stop=price(stops[k], "stop", sym),
                    tif=cast("TimeInForce", tif), origin=self.slot.origin,
                )
            )  # fmt: skip
        placed = self.host.eng.broker.submit_many(reqs) if reqs else []
        self._count(placed)
        return [o.snapshot() for o in placed]

    def _count(self, placed: list[OrderRecord]) -> None:
        """The plugin's orders, and of them the rejected ones (the last with why)."""
        self.slot.orders += len(placed)
        refused = [o for o in placed if o.status == "rejected"]
        if refused:
            self.slot.rejected += len(refused)
            last = refused[-1]
            self.slot.last_rejection = f"{last.symbol} {last.side} {last.qty:,}: {last.reason}"


class ScannerSource:
    """What a scanner's ``ScanView`` reads and adds through."""

    def __init__(self, host: PluginHost, slot: Slot) -> None:
        self.host, self.slot = host, slot

    def universe(self, interval: str) -> list[str]:
        return self.host.eng.feed.universe(Interval.parse(interval))

    def in_session(self, symbol: str) -> bool:
        return symbol.upper() in self.host.eng.session.symbols

    def read(self, symbols: Sequence[str], interval: str, days: int) -> dict[str, Bars]:
        symbols = tickers(symbols, "read")
        days = count(days, "days", "read(symbols, interval, days=N) reads the last N sessions, today's included")
        eng = self.host.eng
        book = eng.replay.book
        assert book is not None
        iv = Interval.parse(interval)
        back = eng.calendar.trading_days_back(book.day, max(0, days - 1))
        start = eng.calendar.open_close(back[0] if back else book.day)[0]
        if iv.is_intraday:  # bars that ended by now (at the close every bar has, a short last one too)
            end = book.close_ns if book.now_ns >= book.close_ns else book.now_ns - iv.seconds * 1_000_000_000 + 1
        else:  # a daily bar is stamped at its day's New York midnight: today's only once closed
            midnight = book.open_ns - OPEN_AFTER_MIDNIGHT_NS
            end = midnight + 1 if book.now_ns >= book.close_ns else midnight
        out = {}
        for raw in symbols:
            sym = raw.upper()
            stored = eng.feed.intervals_for(sym)
            if iv.name in stored:  # intraday: the regular sessions' bars, as the session's own
                bars = eng.feed.read(sym, iv, start if iv.is_intraday else None, end)
                bars = session_bars(bars, eng.calendar) if iv.is_intraday else bars
            elif "1m" in stored and iv.seconds >= 60:  # built from the 1m bars, as the session builds its own
                closed = book.now_ns >= book.close_ns
                upto = book.now_ns if iv.is_intraday else (book.close_ns if closed else book.open_ns)
                base = session_bars(eng.feed.read(sym, BASE_1M, start if iv.is_intraday else None, upto), eng.calendar)
                bars = aggregate(base, iv, eng.calendar)
                if iv.is_intraday:  # only bars that ended by now
                    bars = bars.slice(0, int(np.searchsorted(bars.ts, end, "left")))
            else:  # nothing stored for it: left out (the scanner sees no bars), said once
                self._unstored(sym, iv.name)
                continue
            out[sym] = bars if iv.is_intraday else bars.slice(max(0, len(bars) - days))
        return out

    def previous_close(self, symbols: Sequence[str]) -> dict[str, float]:
        symbols = tickers(symbols, "previous_close")
        eng = self.host.eng
        book = eng.replay.book
        assert book is not None
        prev = eng.calendar.previous_trading_day(book.day)
        if prev is None:
            return {s.upper(): float("nan") for s in symbols}
        o, c = eng.calendar.open_close(prev)
        out = {}
        for raw in symbols:
            sym = raw.upper()
            if "1m" in eng.feed.intervals_for(sym):
                bars = eng.feed.read(sym, BASE_1M, o, c)
            else:
                bars = Bars.empty()
                self._unstored(sym, "1m")
            out[sym] = float(bars.close[-1]) if len(bars) else float("nan")
        return out

    def _unstored(self, symbol: str, interval: str) -> None:
        """One line, the first time the scanner reads a symbol the store has no bars of."""
        if symbol in self.slot.unstored:
            return
        self.slot.unstored.add(symbol)
        self.host.eng.events.emit(
            "plugin",
            f"{self.slot.name}: {clipped(symbol)} has no {interval} bars in the store, so its scans skip it "
            "(data list shows what is stored; data import FILE.csv adds bars)",
        )

    def add(self, view: ScanView, operation: str, symbol: str, rule: str, **kw: Any) -> bool:
        from trader_cli.core.provisioning.pipeline import add

        symbol = ticker(symbol, f"add_{operation}")
        try:  # a bad interval is a failed add too (False, and said in the status), as a bad indicator is
            if "interval" in kw:
                kw["interval"] = Interval.parse(kw["interval"])
            if "indicator" in kw:
                name, params, iv = kw["indicator"]
                kw["indicator"] = (name, params, Interval.parse(iv))
            result = add(self.host.eng, operation, symbol, Source.scanner, **kw)  # type: ignore[arg-type]
        except (TraderCliError, SessionStateError) as err:
            self.slot.add_failures += 1
            self.slot.last_error = clipped(f"add {operation} {symbol.upper()}: {err}", 400)
            self.host.eng.events.emit(  # the scanner goes on (its call returned False); the trader is told
                "warning", f"{self.slot.kind} {self.slot.name}: {self.slot.last_error} (nothing added)"
            )
            return False
        why = clipped(str(rule), RULE_CHARS) if rule else f"{self.slot.name} at {view.now:%H:%M}"
        added(self.host.eng, self.slot, result, why)  # the rule on one line, cut: data symbol and the export show it
        return True
