"""What the Alpaca clients share: every HTTP call bounded (the SDK sets no timeout), and
Alpaca's error bodies read as (status, message)."""

from __future__ import annotations

import json
from typing import Any

CONNECT_S = 5.0  # the connect part of every bound: a server that takes longer is not reachable


def bound(session: Any, timeout_s: float) -> None:
    """Give every call of a ``requests.Session`` a (connect, read) timeout unless it sets one."""
    from requests.adapters import HTTPAdapter

    class _Bounded(HTTPAdapter):
        def send(self, request: Any, *args: Any, **kwargs: Any) -> Any:
            if kwargs.get("timeout") is None:
                kwargs["timeout"] = (min(CONNECT_S, timeout_s), timeout_s)
            return super().send(request, *args, **kwargs)

    for prefix in ("http://", "https://"):
        session.mount(prefix, _Bounded())


def api_message(err: Any) -> tuple[int | None, str]:
    """(HTTP status, Alpaca's message) of an SDK ``APIError``."""
    status = getattr(err, "status_code", None)
    try:
        message = str(json.loads(str(err)).get("message", str(err)))
    except (ValueError, AttributeError):
        message = str(err)
    return status, message
