"""What a plugin's views read and do through: ``StrategySource`` behind a strategy callback's
``BarsView`` (this bar's values, indicators, previous values, positions, history, orders) and
``ScannerSource`` behind a scanner's ``ScanView`` (the universe, reads cut at the clock, adds
through the pipeline). Everything handed out is a read-only copy."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from trader_cli.core.bars import OPEN_AFTER_MIDNIGHT_NS, Bars, aggregate, session_bars
from trader_cli.core.errors import PluginError, SessionStateError, TraderCliError
from trader_cli.core.intervals import BASE_1M, Interval
from trader_cli.core.plugins.api import BarsView, ScanView
from trader_cli.core.plugins.needs import added
from trader_cli.core.provenance import Source

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


class StrategySource:
    """What a strategy's ``BarsView`` reads and does through (one callback's; ``top``: the
    highest lane there may be)."""

    def __init__(self, host: PluginHost, slot: Slot, lanes: np.ndarray, top: int) -> None:
        self.host, self.slot, self.lanes, self.top = host, slot, lanes, top

    def _stream(self, key: str) -> Any:
        stream = self.host.eng.hub.streams.get(key)
        if stream is None:
            have = ", ".join(sorted(self.slot.keys)) or "none"
            raise PluginError(f"no indicator {key} in the session (this strategy's: {have}; declare it in needs())")
        return stream

    def _output(self, stream: Any, key: str, output: str | None) -> str:
        out = output or stream.outputs[0]
        if out not in stream.outputs:
            raise PluginError(f"{key} has no output {out} (outputs: {', '.join(stream.outputs)})")
        return str(out)

    def indicator(self, view: BarsView, key: str, output: str | None, previous: bool) -> np.ndarray:
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
        broker = self.host.eng.broker
        if len(self.lanes):
            broker._ensure(self.top)
        return owned(broker.qty[self.lanes])

    def avg_prices(self, view: BarsView) -> np.ndarray:
        broker = self.host.eng.broker
        if len(self.lanes):
            broker._ensure(self.top)
        avg = broker.avg[self.lanes]
        avg[broker.qty[self.lanes] == 0] = np.nan
        return owned(avg)

    def account(self) -> Account:
        return self.host.eng.broker.account()

    def open_orders(self, view: BarsView, which: Any) -> list[Order]:
        broker = self.host.eng.broker
        origin = self.slot.origin
        chosen = None if which is None else set(view.symbols[_select(which, view.symbols)].tolist())
        out = []
        for ref in sorted(broker.book.ref.tolist()):
            o = broker.orders[ref]
            if o.origin == origin and (chosen is None or o.symbol in chosen):
                out.append(o.snapshot())
        return out

    def cancel(self, view: BarsView, orders: Any) -> list[Order]:
        broker = self.host.eng.broker
        origin = self.slot.origin
        if isinstance(orders, str) or hasattr(orders, "_fields"):
            orders = [orders]
        try:
            ids = [o if isinstance(o, str) else o.id for o in orders]
        except (TypeError, AttributeError):
            raise PluginError(
                f"cancel({orders!r}): give orders as buy/sell/open_orders return them, or their ids"
            ) from None
        still_open = set(broker.book.ref.tolist())
        todo: list[int] = []
        for oid in dict.fromkeys(ids):  # every id checked before anything is canceled
            idx = broker.find(oid) if isinstance(oid, str) else None
            if idx is None or broker.orders[idx].origin != origin:
                raise PluginError(f"cancel {oid!r}: not an order of this strategy (its orders: bars.open_orders())")
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

        eng = self.host.eng
        data, iv = queries.holding(eng, symbol, interval)
        bars = queries.series(eng, data, iv)
        return bars.slice(max(0, len(bars) - last)) if last is not None else bars

    def order(self, view: BarsView, side: str, which: Any, qty: Any, limit: Any, stop: Any, tif: str) -> list[Order]:
        from trader_cli.core.broker.models import OrderRequest

        idx = _select(which, view.symbols)
        if tif not in ("day", "gtc"):
            raise PluginError(f"order tif '{tif}': use day or gtc")
        if limit is None and stop is None and len(idx):  # market orders: checked at once where they can be
            want = _shares(qty, idx, len(view.symbols))
            if want is not None:
                placed = self.host.eng.broker.submit_market(
                    [str(s) for s in view.symbols[idx].tolist()], self.lanes[idx], cast("Side", side),
                    want, cast("TimeInForce", tif), self.slot.origin,
                )  # fmt: skip
                if placed is not None:
                    self._count(placed)
                    return [o.snapshot() for o in placed]
        qtys, limits, stops = (
            _per(x, idx, len(view.symbols), name) for x, name in ((qty, "qty"), (limit, "limit"), (stop, "stop"))
        )
        reqs = []
        for k, i in enumerate(idx.tolist()):
            q = qtys[k]
            if isinstance(q, float) and q.is_integer():
                q = int(q)
            if not isinstance(q, int) or isinstance(q, bool):
                raise PluginError(f"order qty {q!r} for {view.symbols[i]}: give a whole number of shares")
            reqs.append(
                OrderRequest(
                    symbol=str(view.symbols[i]), side=cast("Side", side), qty=q, limit=_num(limits[k]),
                    stop=_num(stops[k]), tif=cast("TimeInForce", tif), origin=self.slot.origin,
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


def _select(which: Any, symbols: np.ndarray) -> np.ndarray:
    """Indices into ``symbols`` from a boolean mask, indices or names."""
    arr = np.asarray(which)
    if arr.dtype == bool:
        if arr.shape != symbols.shape:
            raise PluginError(f"an order mask has {arr.size} entries for {len(symbols)} symbols")
        return np.flatnonzero(arr)
    if arr.dtype.kind in "iu":
        return arr.astype(np.int64).ravel()
    names = {str(s): i for i, s in enumerate(symbols.tolist())}
    try:
        return np.array([names[str(w).upper()] for w in np.atleast_1d(arr).tolist()], dtype=np.int64)
    except KeyError as err:
        raise PluginError(f"order for {err.args[0]}: not one of this callback's symbols") from None


def _per(x: Any, idx: np.ndarray, total: int, name: str) -> list[Any]:
    """One value per selected symbol: a scalar for all, one per selected symbol, or one per
    symbol of the callback (then the selected ones are taken)."""
    n = len(idx)
    if x is None or np.isscalar(x):
        one = x.item() if isinstance(x, np.generic) else x
        return [one] * n
    arr = np.asarray(x).ravel()
    if len(arr) == n:
        return list(arr.tolist())
    if len(arr) == total:
        return list(arr[idx].tolist())
    raise PluginError(f"{len(arr)} {name} values for {n} selected symbols (give one, {n}, or one per symbol: {total})")


LIMIT = 2**62  # share counts beyond this are not int64 material (the checks refuse above 1e9 anyway)


def _shares(qty: Any, idx: np.ndarray, total: int) -> np.ndarray | None:
    """The selected symbols' whole share counts as int64 (one for all, one per selected symbol
    or one per symbol of the callback), or None where ``_per`` must look (and explain)."""
    if isinstance(qty, (int, np.integer)) and not isinstance(qty, (bool, np.bool_)):
        if not -LIMIT < int(qty) < LIMIT:
            return None
        return np.full(len(idx), int(qty), np.int64)
    arr = np.asarray(qty)
    if arr.ndim != 1 or arr.dtype.kind not in "iuf":
        return None
    if len(arr) == total and total != len(idx):
        arr = arr[idx]
    elif len(arr) != len(idx):
        return None
    if arr.dtype.kind == "f" and not ((np.abs(arr) < LIMIT).all() and (arr == np.floor(arr)).all()):
        return None  # NaN compares False: also out
    if arr.dtype.kind == "u" and (arr >= LIMIT).any():
        return None
    return arr.astype(np.int64)


def _num(x: Any) -> float | None:
    return None if x is None else float(x)


class ScannerSource:
    """What a scanner's ``ScanView`` reads and adds through."""

    def __init__(self, host: PluginHost, slot: Slot) -> None:
        self.host, self.slot = host, slot

    def universe(self, interval: str) -> list[str]:
        return self.host.eng.feed.universe(Interval.parse(interval))

    def in_session(self, symbol: str) -> bool:
        return symbol.upper() in self.host.eng.session.symbols

    def read(self, symbols: Sequence[str], interval: str, days: int) -> dict[str, Bars]:
        eng = self.host.eng
        book = eng.replay.book
        assert book is not None
        iv = Interval.parse(interval)
        back = eng.calendar.trading_days_back(book.day, max(0, days - 1))
        start = eng.calendar.open_close(back[0] if back else book.day)[0]
        if iv.is_intraday:
            end = book.now_ns - iv.seconds * 1_000_000_000 + 1  # bars that ended by now
        else:  # a daily bar is stamped at its day's New York midnight: today's only once closed
            midnight = book.open_ns - OPEN_AFTER_MIDNIGHT_NS
            end = midnight + 1 if book.now_ns >= book.close_ns else midnight
        out = {}
        for raw in symbols:
            sym = raw.upper()
            stored = eng.feed.intervals_for(sym)
            if iv.name in stored:
                bars = eng.feed.read(sym, iv, start if iv.is_intraday else None, end)
            elif "1m" in stored:  # built from the 1m bars, as the session builds its own
                closed = book.now_ns >= book.close_ns
                upto = book.now_ns if iv.is_intraday else (book.close_ns if closed else book.open_ns)
                base = session_bars(eng.feed.read(sym, BASE_1M, start if iv.is_intraday else None, upto), eng.calendar)
                bars = aggregate(base, iv, eng.calendar)
                if iv.is_intraday:  # only bars that ended by now
                    bars = bars.slice(0, int(np.searchsorted(bars.ts, end, "left")))
            else:
                continue  # nothing stored for it: left out (the scanner sees no bars)
            out[sym] = bars if iv.is_intraday else bars.slice(max(0, len(bars) - days))
        return out

    def previous_close(self, symbols: Sequence[str]) -> dict[str, float]:
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
            bars = eng.feed.read(sym, BASE_1M, o, c) if "1m" in eng.feed.intervals_for(sym) else Bars.empty()
            out[sym] = float(bars.close[-1]) if len(bars) else float("nan")
        return out

    def add(self, view: ScanView, operation: str, symbol: str, rule: str, **kw: Any) -> bool:
        from trader_cli.core.provisioning.pipeline import add

        try:  # a bad interval is a failed add too (False, and said in the status), as a bad indicator is
            if "interval" in kw:
                kw["interval"] = Interval.parse(kw["interval"])
            if "indicator" in kw:
                name, params, iv = kw["indicator"]
                kw["indicator"] = (name, params, Interval.parse(iv))
            result = add(self.host.eng, operation, symbol, Source.scanner, **kw)  # type: ignore[arg-type]
        except (TraderCliError, SessionStateError) as err:
            self.slot.add_failures += 1
            self.slot.last_error = f"add {operation} {symbol.upper()}: {err}"
            return False
        added(self.host.eng, self.slot, result, rule or f"{self.slot.name} at {view.now:%H:%M}")
        return True
