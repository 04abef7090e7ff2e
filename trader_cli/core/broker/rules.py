"""The fill rules as one text, for the report (with the session's values) and the help (with
the config keys): numpy-free, so the command tree imports it without loading the engine."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from trader_cli.core.config import BrokerConfig


def fill_rules(cfg: BrokerConfig | None = None) -> str:
    """The rules in one paragraph: with ``cfg``'s values, else naming the config keys."""
    if cfg is None:
        slip = "± slippage_bps"
        fee = "max(fee_min, fee_per_share x shares)"
        cap = (
            "whole fills, unless max_participation caps what a bar fills (a symbol's orders together) "
            "at that share of its volume (the rest waits)"
        )
        short = "short selling only with allow_short"
    else:
        slip = f"± {cfg.slippage_bps:g} bp slippage" if cfg.slippage_bps else "(no slippage)"
        fee = f"max({cfg.fee_min:g}, {cfg.fee_per_share:g} x shares)"
        cap = (
            f"at most {cfg.max_participation:.2%} of a bar's volume filled, a symbol's orders together "
            "(the rest waits for the next bars)"
            if cfg.max_participation
            else "whole fills"
        )
        short = f"short selling {'allowed' if cfg.allow_short else 'not allowed'}"
    return (
        "orders fill against the 1m bars starting at or after their submission, never the bar in progress: "
        f"market at the open {slip}; "
        "limit buy L at min(open, L) once low <= L (sell: max(open, L) once high >= L); "
        "stop buy S at max(open, S) once high >= S (sell: min(open, S) once low <= S), slipped as market "
        "(a part-filled stop's rest: a market order from the next bar); "
        "stop-limit: the bar that trades its stop fills it at that price (not slipped) if within the limit, "
        "else it rests as a limit order from the next bar; missing minutes never fill; "
        "DAY orders expire at the close, GTC rest; at the close an order is for the next session; "
        f"fee {fee} an order, charged as it fills; {cap}; {short}"
    )
