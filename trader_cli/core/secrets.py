"""Secrets (broker keys) come from the environment only and are never written anywhere.

``secret_values()`` is every value of a secret-looking environment variable (the Alpaca keys and
anything named like ``*_SECRET*``, ``*_KEY_ID``, ``*_TOKEN``, ``*_PASSWORD``); ``contains_secret``
tells whether a line holds one (history, records and logs skip such lines); ``redact`` masks them.
"""

from __future__ import annotations

import os
import re

SECRET_VARS = ("APCA_API_KEY_ID", "APCA_API_SECRET_KEY", "ALPACA_API_KEY", "ALPACA_SECRET_KEY")
_SECRET_NAME = re.compile(r"(SECRET|_KEY_ID$|_API_KEY$|_TOKEN$|PASSWORD|PASSWD)", re.IGNORECASE)
MIN_SECRET_LEN = 6  # shorter values ("1", "true") would match ordinary text


def secret_values(environ: dict[str, str] | None = None) -> list[str]:
    """The values of secret environment variables worth hiding (longest first)."""
    env = os.environ if environ is None else environ
    found = {
        v
        for k, v in env.items()
        if (k in SECRET_VARS or _SECRET_NAME.search(k)) and v and len(v.strip()) >= MIN_SECRET_LEN
    }
    return sorted(found, key=len, reverse=True)


def contains_secret(text: str) -> bool:
    """True when ``text`` holds the value of a secret environment variable."""
    return any(v in text for v in secret_values())


def redact(text: str, values: list[str] | None = None) -> str:
    """``text`` with every secret value (``values``, else the environment's now) replaced by ``***``."""
    for v in secret_values() if values is None else values:
        text = text.replace(v, "***")
    return text
