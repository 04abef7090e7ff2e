"""The loopback server's trading endpoints (live/loopback.py holds the data REST and the stream).

Trading (Alpaca's REST v2, for ``TradingClient(url_override=srv.trading_url)``; a server of
its own on another port, since the stream's server reads no request bodies): ``GET
/v2/account``, ``GET /v2/assets/{symbol}`` (the store's symbols; 404 otherwise), ``POST
/v2/orders`` (market and limit, day or gtc; 422 otherwise), ``GET /v2/orders`` (``status``
open|closed|all, ``limit``, ``after``, ``until``, ``direction``, ``symbols``), ``GET`` and
``DELETE /v2/orders/{id}``, ``GET /v2/orders:by_client_order_id``; same key check (401). The
server fills its orders itself as the clock passes minutes, by the stored 1m bars: a market
order at the open of the first bar starting at or after its submission, a limit buy at min(open,
limit) on the first such bar with low ≤ limit (a sell: high ≥ limit, max(open, limit)); a bar
fills once it has ended, and DAY orders expire at the close. ``desk.orders`` and
``desk.requests`` show what happened.

Scripted for the tests: ``desk.down[(method, path)] = status`` answers those requests with that
status (Alpaca failing there: ``("GET", "/v2/orders")`` makes every poll fail);
``desk.cancel_fills = n`` makes the cancels that follow asynchronous, as Alpaca's are: the order
is ``pending_cancel`` (204), the bar in progress fills n of its shares (at its limit, a market
order at that bar's open) once it has ended, then the cancel lands — ``filled`` if that was all
of it, else ``canceled`` with the part filled; ``desk.placed_answer = 504`` places an order and
answers that status (a gateway that lost the answer; a client order id used before is refused
with 422, as Alpaca does); ``desk.hold(symbol, qty, price)`` is a position the account held
before (an order filled the day before).
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

if TYPE_CHECKING:
    from trader_cli.live.loopback import LoopbackAlpaca

from trader_cli.live.wire import ERRORS, parse_ns, rfc3339_ns

OPEN_ORDER = ("new", "accepted", "partially_filled")
LISTED_OPEN = (*OPEN_ORDER, "pending_cancel")  # what GET /v2/orders?status=open lists
START_CASH = 100_000.0
MINUTE = 60_000_000_000


class Desk:
    """The trading endpoints (see the module doc): an order book in memory, filled as the clock
    passes minutes by the stored bars (market: the open of the first bar starting at or after
    the submission; limit: the first such bar that reaches the limit). A bar fills orders once
    it has ended; an order is settled whenever any trading request comes in."""

    def __init__(self, srv: LoopbackAlpaca) -> None:
        self.srv = srv
        self.orders: dict[str, dict[str, Any]] = {}  # Alpaca's order JSON by id, in submission order
        self.requests: list[tuple[str, str]] = []  # (method, path) of every trading request
        self.lock = threading.Lock()
        self.account_id = str(uuid.uuid4())
        self.down: dict[tuple[str, str], int] = {}  # (method, path) -> the status answered instead
        self.cancel_fills: int | None = None  # shares a canceled order fills before its cancel lands
        self.placed_answer: int | None = None  # a placed order answered with this status instead (504 …)

    def now_ns(self) -> int:
        clock = self.srv.clock
        return int(clock.now_ns()) if clock is not None else time.time_ns()

    def answer(self, method: str, path: str, query: dict[str, str], body: bytes) -> tuple[int, Any]:
        """(status, JSON body or None) of one trading request (the keys were checked)."""
        with self.lock:
            self.requests.append((method, path))
            if (method, path) in self.down:
                status = self.down[(method, path)]
                return status, {"code": status * 100_000, "message": ERRORS.get(status, "error")}
            self.settle()
            parts = path.strip("/").split("/")
            if path == "/v2/account" and method == "GET":
                return 200, self.account()
            if len(parts) == 3 and parts[1] == "assets" and method == "GET":
                return self.asset(parts[2])
            if path == "/v2/orders" and method == "POST":
                status, answer = self.place(json.loads(body or b"{}"))
                if status == 200 and self.placed_answer is not None:  # placed, the answer lost on the way
                    status, answer = self.placed_answer, {"message": ERRORS.get(self.placed_answer, "error")}
                return status, answer
            if path == "/v2/orders" and method == "GET":
                return 200, self.listing(query)
            if path == "/v2/orders:by_client_order_id" and method == "GET":
                cid = query.get("client_order_id")
                found = [o for o in self.orders.values() if o["client_order_id"] == cid]
                if found:
                    return 200, _public(found[-1])
            if len(parts) == 3 and parts[1] == "orders" and parts[2] in self.orders:
                if method == "GET":
                    return 200, _public(self.orders[parts[2]])
                if method == "DELETE":
                    return self.cancel(self.orders[parts[2]])
            return 404, {"code": 40410000, "message": "not found"}

    def account(self) -> dict[str, Any]:
        cash = START_CASH - sum(_flow(o) for o in self.orders.values())
        held = sum(_signed(o) * _last_close(self.srv, o["symbol"], self.now_ns()) for o in self.orders.values())
        fields = {"cash": cash, "buying_power": cash, "equity": cash + held, "portfolio_value": cash + held}
        return {
            "id": self.account_id, "account_number": "PA0LOOPBACK", "status": "ACTIVE", "currency": "USD",
            "pattern_day_trader": False, "trading_blocked": False, "transfers_blocked": False,
            "account_blocked": False, "shorting_enabled": False, "multiplier": "1", "daytrade_count": 0,
            **{k: f"{v:.2f}" for k, v in fields.items()},
        }  # fmt: skip

    def asset(self, symbol: str) -> tuple[int, Any]:
        if not self.srv.store.has(symbol, "1m"):
            return 404, {"code": 40410000, "message": f"asset not found for {symbol}"}
        inactive = symbol in self.srv.inactive
        return 200, {
            "id": str(uuid.uuid5(uuid.NAMESPACE_URL, symbol)), "class": "us_equity", "exchange": "NASDAQ",
            "symbol": symbol, "name": symbol, "status": "inactive" if inactive else "active",
            "tradable": not inactive, "marginable": True,
            "shortable": False, "easy_to_borrow": False, "fractionable": False,
        }  # fmt: skip

    def place(self, req: dict[str, Any]) -> tuple[int, Any]:
        """POST /v2/orders: a market or limit order (day or gtc) of whole shares, or 422 why not."""
        symbol, kind, tif, side = req.get("symbol"), req.get("type"), req.get("time_in_force"), req.get("side")
        why = None
        if not isinstance(symbol, str) or not self.srv.store.has(symbol, "1m"):
            why = f"asset not found for {symbol}"
        elif kind not in ("market", "limit"):
            why = f"order type {kind!r}: the loopback server fills market and limit orders only"
        elif tif not in ("day", "gtc") or side not in ("buy", "sell"):
            why = f"invalid time_in_force {tif!r} or side {side!r}"
        elif not _whole(req.get("qty")):
            why = "qty must be a whole number of shares above 0"
        elif kind == "limit" and req.get("limit_price") is None:
            why = "limit_price is required for a limit order"
        elif any(o["client_order_id"] == req.get("client_order_id") for o in self.orders.values()):
            why = "client_order_id must be unique"
        if why is not None:
            return 422, {"code": 42210000, "message": why}
        oid = self._book(str(symbol), self.now_ns(), req, str(kind))
        return 200, _public(self.orders[oid])

    def hold(self, symbol: str, qty: int, price: float) -> None:
        """A position the account held before: a market buy of ``qty`` filled at ``price`` a day ago."""
        with self.lock:
            at = self.now_ns() - 86_400_000_000_000
            oid = self._book(symbol, at, {"qty": qty, "side": "buy", "time_in_force": "day"}, "market")
            stamp = rfc3339_ns(at)
            self.orders[oid].update(status="filled", filled_qty=str(qty), filled_avg_price=str(price), filled_at=stamp)

    def _book(self, symbol: str, now: int, req: dict[str, Any], kind: str) -> str:
        """A new order in the book (accepted at ``now``); its id."""
        stamp = rfc3339_ns(now)
        oid = str(uuid.uuid4())
        self.orders[oid] = {
            "id": oid, "client_order_id": req.get("client_order_id") or str(uuid.uuid4()), "created_at": stamp,
            "updated_at": stamp, "submitted_at": stamp, "filled_at": None, "expired_at": None, "canceled_at": None,
            "failed_at": None, "replaced_at": None, "replaced_by": None, "replaces": None,
            "asset_id": str(uuid.uuid5(uuid.NAMESPACE_URL, symbol)), "symbol": symbol, "asset_class": "us_equity",
            "notional": None, "qty": str(int(float(req["qty"]))), "filled_qty": "0", "filled_avg_price": None,
            "order_class": "simple", "order_type": kind, "type": kind, "side": req["side"],
            "time_in_force": req["time_in_force"],
            "limit_price": str(req["limit_price"]) if kind == "limit" else None, "stop_price": None,
            "status": "accepted", "extended_hours": False, "legs": None, "trail_percent": None,
            "trail_price": None, "hwm": None, "_submitted_ns": now,
            "_next_ns": now // MINUTE * MINUTE,  # from the bar in progress: the simulator's next bar
        }  # fmt: skip
        return oid

    def listing(self, q: dict[str, str]) -> list[dict[str, Any]]:
        """GET /v2/orders: ``status`` open (default) | closed | all, ``after``/``until``,
        ``direction`` (desc by default), ``symbols``, ``limit`` (50 by default, 500 at most)."""
        status = q.get("status", "open")
        rows = [o for o in self.orders.values() if status == "all" or _listed(o, status)]
        if q.get("after"):
            rows = [o for o in rows if o["_submitted_ns"] > parse_ns(q["after"])]
        if q.get("until"):
            rows = [o for o in rows if o["_submitted_ns"] <= parse_ns(q["until"])]
        if q.get("symbols"):
            rows = [o for o in rows if o["symbol"] in q["symbols"].split(",")]
        if q.get("direction", "desc") == "desc":
            rows.reverse()
        return [_public(o) for o in rows[: min(int(q.get("limit") or 50), 500)]]

    def cancel(self, order: dict[str, Any]) -> tuple[int, Any]:
        """DELETE /v2/orders/{id}: 204, or 422 for an order no longer open."""
        if order["status"] not in OPEN_ORDER:
            return 422, {"code": 42210000, "message": f'order is already in "{order["status"]}" state'}
        now = self.now_ns()
        if self.cancel_fills is not None:  # accepted; it lands after the bar in progress (see settle)
            order.update(status="pending_cancel", updated_at=rfc3339_ns(now), _race_ns=now // MINUTE * MINUTE)
            order["_race"] = min(self.cancel_fills, int(order["qty"]) - int(order["filled_qty"]))
            return 204, None
        order["status"] = "canceled"
        order["canceled_at"] = order["updated_at"] = rfc3339_ns(now)
        return 204, None

    def _land_cancel(self, o: dict[str, Any], ended: int, now: int) -> None:
        """A pending cancel, once the bar in progress at it has ended: that bar's fill of
        ``cancel_fills`` shares first, then ``filled`` (all of it) or ``canceled``."""
        t = o["_race_ns"]
        if ended < t:
            return
        n, before = o.pop("_race"), int(o["filled_qty"])
        if n:
            price = float(o["limit_price"]) if o["limit_price"] is not None else _open_at(self.srv, o["symbol"], t)
            paid = float(o["filled_avg_price"] or 0.0) * before
            o.update(filled_qty=str(before + n), filled_avg_price=str((paid + price * n) / (before + n)))
            o["filled_at"] = rfc3339_ns(t)
        done = int(o["filled_qty"]) >= int(o["qty"])
        o["status"] = "filled" if done else "canceled"
        o["updated_at"] = rfc3339_ns(now)
        if not done:
            o["canceled_at"] = o["updated_at"]

    def settle(self) -> None:
        """Fill (or expire) the open orders by the bars that have ended by the clock."""
        now = self.now_ns()
        ended = now // 60_000_000_000 * 60_000_000_000 - 60_000_000_000  # the last minute that has ended
        for o in self.orders.values():
            if o["status"] == "pending_cancel":
                self._land_cancel(o, ended, now)
            if o["status"] not in OPEN_ORDER:
                continue
            sym = o["symbol"]
            bars = self.srv.store.read(sym, "1m", o["_next_ns"], ended + 1) if ended >= o["_next_ns"] else None
            hit = _first_fill(o, bars, self.srv.absent) if bars is not None and len(bars) else None
            if hit is not None:
                ts, price = hit
                o.update(status="filled", filled_qty=o["qty"], filled_avg_price=str(price))
                o["filled_at"] = o["updated_at"] = rfc3339_ns(max(ts, o["_submitted_ns"]))  # not before it came
                continue
            if bars is not None and len(bars):
                o["_next_ns"] = int(bars.ts[-1]) + 1
            if o["time_in_force"] == "day" and now >= _close_ns(o["_submitted_ns"]):
                o["status"] = "expired"
                o["expired_at"] = o["updated_at"] = rfc3339_ns(now)


def _listed(order: dict[str, Any], status: str) -> bool:
    """Whether GET /v2/orders?status=open|closed lists the order."""
    return (order["status"] in LISTED_OPEN) == (status == "open")


def _whole(qty: Any) -> bool:
    """Whether ``qty`` (a number or its text) is a whole number of shares above 0."""
    try:
        return float(qty) >= 1 and float(qty).is_integer()
    except (TypeError, ValueError):
        return False


def _first_fill(order: dict[str, Any], bars: Any, absent: set[tuple[str, int]]) -> tuple[int, float] | None:
    """(bar start, price) of the first bar that fills the order, or None."""
    buy = order["side"] == "buy"
    limit = float(order["limit_price"]) if order["limit_price"] is not None else None
    for t, o, h, lo in zip(bars.ts.tolist(), bars.open.tolist(), bars.high.tolist(), bars.low.tolist(), strict=True):
        if (order["symbol"], t) in absent:
            continue  # no trade that minute
        if limit is None:
            return t, float(o)
        if buy and lo <= limit:
            return t, min(float(o), limit)
        if not buy and h >= limit:
            return t, max(float(o), limit)
    return None


def _signed(order: dict[str, Any]) -> float:
    return float(order["filled_qty"]) * (1 if order["side"] == "buy" else -1)


def _flow(order: dict[str, Any]) -> float:
    price = order["filled_avg_price"]
    return _signed(order) * float(price) if price is not None else 0.0


def _open_at(srv: LoopbackAlpaca, symbol: str, t: int) -> float:
    bars = srv.store.read(symbol, "1m", t, t + 1)
    return float(bars.open[0]) if len(bars) else _last_close(srv, symbol, t + MINUTE)


def _last_close(srv: LoopbackAlpaca, symbol: str, now_ns: int) -> float:
    bars = srv.store.read(symbol, "1m", now_ns - 86_400_000_000_000 * 5, now_ns - 60_000_000_000 + 1)
    return float(bars.close[-1]) if len(bars) else 0.0


def _close_ns(ns: int) -> int:
    from trader_cli.core.calendar import nyse, to_ny

    cal = nyse()
    day = to_ny(ns).date()
    return cal.open_close(day)[1] if cal.is_trading_day(day) else ns


def _public(order: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in order.items() if not k.startswith("_")}


class _TradingHandler(BaseHTTPRequestHandler):
    """Hands each trading request to the desk (after the same key check as the data API)."""

    server: TradingServer

    def _serve(self) -> None:
        srv = self.server.loopback
        if srv.faults.delay_s:
            time.sleep(srv.faults.delay_s)
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if (self.headers.get("APCA-API-KEY-ID"), self.headers.get("APCA-API-SECRET-KEY")) != (srv.key_id, srv.secret):
            status, answer = 401, {"message": ERRORS[401]}
        elif self.command == "POST" and url.path == "/v2/orders" and srv.faults.lose_orders_s:
            time.sleep(srv.faults.lose_orders_s)  # lost on the way: never placed
            status, answer = 504, {"message": ERRORS[504]}
        else:
            status, answer = srv.desk.answer(self.command, url.path, query, body)
            if self.command == "POST" and url.path == "/v2/orders" and srv.faults.order_answer_delay_s:
                time.sleep(srv.faults.order_answer_delay_s)  # placed, but the answer comes late
        data = b"" if answer is None else json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_DELETE = _serve

    def log_message(self, format: str, *args: Any) -> None:
        return  # the tests read ``desk.requests``; stderr stays quiet


class TradingServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, loopback: LoopbackAlpaca) -> None:
        self.loopback = loopback
        super().__init__(("127.0.0.1", 0), _TradingHandler)
