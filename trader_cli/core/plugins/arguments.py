"""What a plugin hands the API, checked: the symbols a call selects (a boolean mask over them,
indices or names), one value per symbol (quantities, prices), counts (``last``, ``days``) and
order ids. A wrong one is a ``PluginError`` of one line saying what was wrong and what to give;
a value it shows is cut to ``SHOWN`` characters (a plugin's million-item list is not an error
line). The cheap tests come first (type, ndim, dtype, len): a right call costs next to nothing,
and the messages are built only when one fails.

Any iterable a plugin passes (a generator, ``map``, a set) is taken once, as a list (a set's in
sorted order)."""

from __future__ import annotations

import numbers
import reprlib
from collections.abc import Iterable, Mapping
from collections.abc import Set as AbstractSet
from typing import Any

import numpy as np

from trader_cli.core.errors import PluginError, clip, few

SHOWN = 80  # characters of a user's value in a message
_REPR = reprlib.Repr()
_REPR.maxstring = _REPR.maxother = SHOWN
_REPR.maxlist = _REPR.maxtuple = _REPR.maxset = _REPR.maxdict = 6
TAKEN_AS_IS = (np.ndarray, list, tuple, str, bytes, int, float, np.generic, Mapping)


def shown(value: Any) -> str:
    """``repr(value)`` on one line, cut to about ``SHOWN`` characters."""
    return clipped(_REPR.repr(value))


def clipped(text: str, limit: int = SHOWN) -> str:
    """``text`` on one line, cut to ``limit`` characters (… marks the cut)."""
    return clip(" ".join(text.split()) if "\n" in text else text, limit)


def error_line(text: str, secrets: list[str]) -> str:
    """A plugin's error as its status shows it: secret values masked first (a cut must not leave
    part of one), then on one line, cut to 400 characters (the whole of it goes to the log)."""
    from trader_cli.core.secrets import redact

    return clipped(redact(text, secrets) if secrets else text, 400)


def materialised(value: Any) -> Any:
    """``value`` itself, or a list of what it yields when it is an iterable numpy would not read
    as an array (a generator, ``map``, …; a set, ``dict.keys()``: sorted): taken once, here. A
    dict is left as it is (its keys are not what a plugin means by it: the checks refuse it)."""
    if value is None or isinstance(value, TAKEN_AS_IS) or hasattr(value, "__array__"):
        return value
    if isinstance(value, AbstractSet):  # in a set's order the orders' ids would vary run to run
        return sorted(value, key=str)
    if isinstance(value, Iterable):
        return list(value)
    return value


def selected(which: Any, symbols: np.ndarray) -> np.ndarray:
    """Indices into ``symbols`` of the ones ``which`` selects: a 1-D boolean mask with one entry
    per symbol, indices from 0 to N-1 (any shape: ``np.argwhere``'s too), or names."""
    arr = which if isinstance(which, np.ndarray) else np.asarray(materialised(which))
    n = len(symbols)
    kind = arr.dtype.kind
    if kind == "b":
        if arr.ndim != 1 or len(arr) != n:
            got = f"a single {shown(arr.item())}" if arr.ndim == 0 else f"shape {arr.shape}"
            raise PluginError(f"mask must be 1-D with one entry per symbol ({n}), got {got}")
        return np.flatnonzero(arr)
    if not arr.size:
        return np.empty(0, np.int64)  # [] (numpy reads it as floats): nothing selected
    if kind in "iu":
        flat = arr.ravel()
        if len(flat) <= 16:  # a bar's own [i]: Python's min and max are quicker on a few
            small = flat.tolist()
            lo, hi = min(small), max(small)
        else:
            lo, hi = flat.min(), flat.max()
        if lo < 0 or hi >= n:  # a negative index does not count from the end here
            bad = int(flat[(flat < 0) | (flat >= n)][0])
            upto = f"0..{n - 1}" if n else "(this callback has no symbols)"
            raise PluginError(f"index {bad} out of range {upto} (one index per symbol of bars.symbols)")
        return flat.astype(np.int64, copy=False)
    if kind in "UO":
        return _by_name(arr.ravel().tolist(), symbols)
    raise PluginError(
        f"select symbols with a boolean mask, indices or names, not {arr.dtype} values (got {shown(which)})"
    )


def _by_name(names: list[Any], symbols: np.ndarray) -> np.ndarray:
    """The indices of ``names`` (tickers, any case) in ``symbols``."""
    index = {str(s): i for i, s in enumerate(symbols.tolist())}
    out = []
    for name in names:
        i = index.get(name.upper()) if isinstance(name, str) else None
        if i is None:
            if not isinstance(name, str):
                raise PluginError(
                    f"{shown(name)} in a list of symbols: give a boolean mask, indices or names (tickers)"
                )
            raise PluginError(f"{shown(name)}: not one of this callback's symbols ({few(index)})")
        out.append(i)
    return np.array(out, dtype=np.int64)


def per_symbol(x: Any, idx: np.ndarray, total: int, name: str) -> list[Any]:
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


def market_shares(qty: Any, idx: np.ndarray, total: int) -> np.ndarray | None:
    """The selected symbols' whole share counts as int64 (one for all, one per selected symbol
    or one per symbol of the callback), or None where ``per_symbol`` must look (and explain)."""
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


def whole_shares(q: Any, symbol: str) -> int:
    """A quantity of shares as given for one symbol (5 or 5.0); the broker checks its range."""
    if isinstance(q, float) and q.is_integer():
        return int(q)
    if not isinstance(q, int) or isinstance(q, bool):
        raise PluginError(f"order qty {shown(q)} for {symbol}: give a whole number of shares")
    return q


def price(x: Any, what: str, symbol: str) -> float | None:
    """A limit or stop price as given for one symbol (None: none); the broker checks its range."""
    if x is None:
        return None
    if isinstance(x, bool) or not isinstance(x, numbers.Real):
        raise PluginError(f"order {what} {shown(x)} for {symbol}: give a price (a number) or None")
    return float(x)


def time_in_force(tif: Any) -> str:
    """``day`` or ``gtc``."""
    if isinstance(tif, str) and tif in ("day", "gtc"):
        return tif
    raise PluginError(f"order tif {shown(tif)}: use day or gtc")


def count(value: Any, name: str, hint: str) -> int:
    """A count a plugin gives (``last``, ``days``): a whole number ≥ 1 (5 or 5.0)."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)):
        if value >= 1:
            return int(value)
        raise PluginError(f"{name} must be ≥ 1 (got {value}; {hint})")
    raise PluginError(f"{name} must be a whole number ≥ 1 (got {shown(value)}; {hint})")


def ticker(value: Any, call: str) -> str:
    """A symbol's name as a plugin gives it to ``call``."""
    if isinstance(value, str):
        return value
    raise PluginError(f"{call}({shown(value)}): give a symbol's name (text, e.g. 'AAPL')")


def tickers(values: Any, call: str) -> list[str]:
    """Symbols' names as a plugin gives them to ``call`` (one name is a list of one)."""
    if isinstance(values, str):
        return [values]
    values = materialised(values)
    if not isinstance(values, (list, tuple, np.ndarray)):
        raise PluginError(f"{call}({shown(values)}): give a list of symbols' names, e.g. ['AAPL', 'MSFT']")
    for k, v in enumerate(values):
        if not isinstance(v, str):
            raise PluginError(f"{call}: {shown(v)} (item {k + 1}) is not a symbol's name; give names, e.g. 'AAPL'")
    return [str(v) for v in values]


CANCEL_HINT = "give orders as buy/sell/open_orders return them, or their ids"


def order_ids(orders: Any) -> list[str]:
    """The ids of the orders a plugin gives ``cancel``: one order or id, or any iterable of them."""
    if isinstance(orders, str) or hasattr(orders, "_fields"):  # one order (a named tuple) or one id
        orders = [orders]
    elif not isinstance(orders, Iterable):
        raise PluginError(f"cancel({shown(orders)}): {CANCEL_HINT}")
    ids = []
    for k, o in enumerate(orders):
        oid = o if isinstance(o, str) else getattr(o, "id", None)
        if not isinstance(oid, str):
            raise PluginError(f"cancel: {shown(o)} (item {k + 1}) is not an order; {CANCEL_HINT}")
        ids.append(oid)
    return ids
