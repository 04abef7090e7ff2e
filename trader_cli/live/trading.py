"""Orders at Alpaca's trading API for a live session (paper unless the config says ``"paper":
false`` and ``TRADER_CLI_ALLOW_LIVE_ORDERS=1`` is set; see live/session.py).

``AlpacaOrders`` is the simulated broker's ``remote`` (core/broker/sim.py): an order the broker
accepts is also submitted here, Alpaca fills it, and the broker applies Alpaca's fills. Fills
come by POLLING, not the trade-updates stream: the broker calls ``poll`` once per closed minute
(the minute step's match stage) while it has orders open here, and ``poll`` lists the orders
placed here that changed since. Every HTTP call is bounded by ``timeout_s``; an error is a
``RemoteError`` of one line that never carries the keys. A submission Alpaca may have placed all
the same (no answer in time, a 5xx, the connection lost after sending) is ``RemoteUnconfirmed``
and is never sent again (the SDK's retry of a 504 is off: Alpaca would refuse the client order
id as a duplicate of the order it placed).
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any, NamedTuple

from trader_cli.core.broker.remote import FINAL, RemoteError, RemoteUnconfirmed, RemoteUpdate
from trader_cli.live.http import CONNECT_S, api_message, bound

DEFAULT_TIMEOUT_S = 10.0
LOOKED_UP = "; the order is looked up by its id each minute until it shows (or is known not placed)"


class AlpacaAccount(NamedTuple):
    """What Alpaca's account says now (dollars): its cash, its equity (cash and every position
    it holds at Alpaca's marks) and its buying power (more than the cash on a margin account)."""

    cash: float
    equity: float
    buying_power: float
    multiplier: float


@dataclass
class _Placed:
    """What ``poll`` last reported of an order placed here."""

    submitted: dt.datetime
    filled_qty: int = 0
    status: str = "accepted"


class AlpacaOrders:
    """Orders through ``alpaca.trading.client.TradingClient`` (see the module doc)."""

    def __init__(
        self,
        keys: tuple[str, str],
        trading_url: str | None = None,
        paper: bool = True,
        timeout_s: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        from alpaca.trading.client import TradingClient

        self.client = TradingClient(keys[0], keys[1], paper=paper, url_override=trading_url)
        bound(self.client._session, timeout_s)  # the SDK's requests.Session
        # The SDK sends a request again on a 504; an order's may have been placed all the same (its
        # client order id then refused as a duplicate): only a 429, never processed, is sent again.
        self.client._retry_codes = [429]
        self.paper = paper
        self.timeout_s = timeout_s
        self.where = trading_url or f"Alpaca's {'paper' if paper else 'live'} trading API"
        self.tag = uuid.uuid4().hex[:10]  # client order ids are unique per account: tag this session's
        self.placed: dict[str, _Placed] = {}  # Alpaca order id -> what poll last saw, until it is final
        self._assets: dict[str, str | None] = {}  # symbol -> why it cannot be traded (None: it can)

    def check(self) -> AlpacaAccount:
        """The account's figures, once Alpaca answers that the keys' account may trade (else RemoteError)."""
        account = self._call("read the account", self.client.get_account)
        status = str(getattr(account.status, "value", account.status))
        if status != "ACTIVE" or account.trading_blocked or account.account_blocked:
            raise RemoteError(f"the Alpaca account is {status} or blocked: it cannot trade (see Alpaca's dashboard)")
        cash = float(account.cash or 0)
        return AlpacaAccount(
            cash=cash,
            equity=float(account.equity or cash),
            buying_power=float(account.buying_power or cash),
            multiplier=float(account.multiplier or 1),
        )

    def submit(
        self, symbol: str, side: str, qty: int, type: str, limit: float | None, stop: float | None, tif: str, ref: str
    ) -> str:
        """Place an order; returns Alpaca's order id (RemoteError with Alpaca's reason if refused).
        ``ref``: the session's order id, sent in the client order id."""
        from alpaca.trading import requests as rq
        from alpaca.trading.enums import OrderSide, TimeInForce

        common: dict[str, Any] = {
            "symbol": symbol,
            "qty": qty,
            "side": OrderSide(side),
            "time_in_force": TimeInForce(tif),
            "client_order_id": self._client_id(ref),
        }
        if type == "market":
            req: Any = rq.MarketOrderRequest(**common)
        elif type == "limit":
            req = rq.LimitOrderRequest(limit_price=limit, **common)
        elif type == "stop":
            req = rq.StopOrderRequest(stop_price=stop, **common)
        else:
            req = rq.StopLimitOrderRequest(stop_price=stop, limit_price=limit, **common)
        order = self._call(f"place {side} {qty} {symbol}", self.client.submit_order, req, placing=True)
        self.placed[str(order.id)] = _Placed(order.submitted_at)
        return str(order.id)

    def _client_id(self, ref: str) -> str:
        """The client order id of the session's order ``ref`` (unique per account: tagged)."""
        return f"trader-cli-{self.tag}-{ref}"

    def lookup(self, ref: str) -> str | None:
        """Alpaca's id of the session's order ``ref`` (placed here, its answer lost), or None
        when Alpaca has no such order."""
        order = self._call("look the order up", self.client.get_order_by_client_id, self._client_id(ref), missing=True)
        if order is None:
            return None
        self.placed[str(order.id)] = _Placed(order.submitted_at)
        return str(order.id)

    def asset_problem(self, symbol: str) -> str | None:
        """Why ``symbol`` cannot be traded at Alpaca (not an asset, inactive, not tradable), or
        None when it can; asked once a symbol and session."""
        if symbol in self._assets:
            return self._assets[symbol]
        try:
            asset = self._call(f"look {symbol} up", self.client.get_asset, symbol)
        except RemoteError as err:
            why: str | None = f"{symbol} is not an Alpaca asset ({err})" if "404" in str(err) else None
            if why is None:
                raise
        else:
            status = str(getattr(asset.status, "value", asset.status))
            why = None
            if status != "active":
                why = f"{symbol} is {status} at Alpaca, not active"
            elif not asset.tradable:
                why = f"{symbol} is not tradable at Alpaca"
        self._assets[symbol] = why
        return why

    def cancel(self, alpaca_id: str) -> None:
        """Cancel an order at Alpaca (RemoteError if Alpaca refuses, e.g. it has filled)."""
        self._call("cancel the order", self.client.cancel_order_by_id, alpaca_id)

    def poll(self) -> list[RemoteUpdate]:
        """The orders placed here whose fill or status changed since the last poll (one listing
        of the orders since the oldest one still open; the ones it lacks one by one)."""
        from alpaca.common.enums import Sort
        from alpaca.trading.enums import QueryOrderStatus
        from alpaca.trading.requests import GetOrdersRequest

        if not self.placed:
            return []
        since = min(p.submitted for p in self.placed.values()) - dt.timedelta(seconds=1)
        req = GetOrdersRequest(status=QueryOrderStatus.ALL, limit=500, after=since, direction=Sort.ASC)
        found = {str(o.id): o for o in self._call("list the orders", self.client.get_orders, req)}
        for alpaca_id in [i for i in self.placed if i not in found]:  # more than a page since
            found[alpaca_id] = self._call("read an order", self.client.get_order_by_id, alpaca_id)
        out: list[RemoteUpdate] = []
        for alpaca_id, seen in list(self.placed.items()):
            update = _update(found[alpaca_id])
            if (update.filled_qty, update.status) != (seen.filled_qty, seen.status):
                seen.filled_qty, seen.status = update.filled_qty, update.status
                out.append(update)
            if update.status in FINAL:
                del self.placed[alpaca_id]
        return out

    def _call(self, what: str, call: Any, *args: Any, placing: bool = False, missing: bool = False) -> Any:
        """``call(*args)``, its errors one line (Alpaca's status and message; never the request).
        ``placing``: an order sent whose fate is unknown (no answer, a 5xx, the connection lost
        after sending) is RemoteUnconfirmed; ``missing``: a 404 is None."""
        import requests
        from alpaca.common.exceptions import APIError
        from urllib3.exceptions import ProtocolError

        try:
            return call(*args)
        except APIError as err:
            status, message = api_message(err)
            if missing and status == 404:
                return None
            if placing and status is not None and status >= 500:
                raise RemoteUnconfirmed(f"{self.where} answered {status} ({message}){LOOKED_UP}") from None
            raise RemoteError(_refusal(err, what, self.where)) from None
        except requests.ConnectTimeout:  # no connection within the connect bound: nothing was sent
            raise RemoteError(
                f"cannot reach {self.where} within {min(CONNECT_S, self.timeout_s):g} s (trying to {what}); "
                "check the network and trading_url"
            ) from None
        except requests.Timeout:
            if placing:
                raise RemoteUnconfirmed(f"{self.where} did not answer within {self.timeout_s:g} s{LOOKED_UP}") from None
            raise RemoteError(
                f"{self.where} did not answer within {self.timeout_s:g} s (trying to {what}); check Alpaca's dashboard"
            ) from None
        except requests.ConnectionError as err:
            if placing and err.args and isinstance(err.args[0], ProtocolError):  # lost after the request went out
                raise RemoteUnconfirmed(f"the connection to {self.where} broke before its answer{LOOKED_UP}") from None
            raise RemoteError(
                f"cannot reach {self.where} (trying to {what}); check the network and trading_url"
            ) from None
        except requests.RequestException as err:  # its text may quote the request, keys and all
            raise RemoteError(f"the request to {self.where} failed ({type(err).__name__}) trying to {what}") from None


def _update(order: Any) -> RemoteUpdate:
    """An SDK ``Order`` as the broker's update."""
    filled_at = order.filled_at
    price = order.filled_avg_price
    at_ns = int(filled_at.timestamp()) * 10**9 + filled_at.microsecond * 1000 if filled_at is not None else None
    return RemoteUpdate(
        alpaca_id=str(order.id),
        filled_qty=int(float(order.filled_qty or 0)),
        avg_price=float(price) if price is not None else None,
        filled_at_ns=at_ns,
        status=str(getattr(order.status, "value", order.status)),
    )


def _refusal(err: Any, what: str, where: str) -> str:
    """Alpaca's refusal as one line saying what to do."""
    status, message = api_message(err)
    if status == 401:
        return f"{where} refused the keys (401 {message}): check APCA_API_KEY_ID and APCA_API_SECRET_KEY"
    if status is not None and status >= 500:
        return f"{where} failed ({status}: {message}) trying to {what}; try again in a minute"
    return f"Alpaca refused to {what} ({status}: {message})"
