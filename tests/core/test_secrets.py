"""Secret environment values are recognised and masked."""

from __future__ import annotations

import pytest

from trader_cli.core.secrets import contains_secret, redact, secret_values


def test_alpaca_keys_and_secret_named_vars_count(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APCA_API_KEY_ID", "PKTESTKEY123")
    monkeypatch.setenv("MY_SERVICE_TOKEN", "tok-abcdef")
    monkeypatch.setenv("HOME_DIR_NAME", "not-a-secret")
    vals = secret_values()
    assert "PKTESTKEY123" in vals and "tok-abcdef" in vals and "not-a-secret" not in vals
    assert contains_secret("echo PKTESTKEY123")
    assert redact("a PKTESTKEY123 b") == "a *** b"


def test_short_values_are_not_treated_as_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APCA_API_SECRET_KEY", "1")
    assert not contains_secret("add symbol AAPL 1")
