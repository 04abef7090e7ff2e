"""What the loopback server's two halves share of Alpaca's wire format: its error texts and
RFC 3339 times."""

from __future__ import annotations

import datetime as dt

ERRORS = {
    401: "unauthorized.",
    403: "subscription does not permit querying recent SIP data",
    404: "not found",
    422: "invalid request",
    429: "too many requests.",
    500: "internal server error",
    504: "gateway timeout",
}


def parse_ns(text: str) -> int:
    """An RFC 3339 time (an offset or ``Z``; none: UTC) as ns since the epoch, to the second."""
    t = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.UTC)
    return int(t.timestamp()) * 1_000_000_000


def rfc3339_ns(ns: int) -> str:
    """ns since the epoch as Alpaca writes order times (UTC, microseconds)."""
    return dt.datetime.fromtimestamp(ns / 1e9, tz=dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
