"""The three phases for one addition from any source: analyze → validate → provision.

``analyze`` runs the first two and changes nothing (``plan``); ``add`` runs all three under the
symbol lock; ``provision_config`` does it for every config symbol at start, dropping (with its
reason) a symbol that cannot be had.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from trader_cli.core.errors import ProvisioningError, SessionStateError, TraderCliError, ValidationFailed
from trader_cli.core.lifecycle import SessionState
from trader_cli.core.provenance import Source
from trader_cli.core.provisioning.executor import UNCHANGED, ProvisioningReport, execute
from trader_cli.core.provisioning.requirements import Operation, ProvisioningRequirements, analyze_requirements
from trader_cli.core.provisioning.steps import drop_symbol

if TYPE_CHECKING:
    from trader_cli.core.engine import Engine
from trader_cli.core.provisioning.validation import SymbolValidationResult, validate_symbol
from trader_cli.core.results import AdditionBatch, AdditionResult
from trader_cli.core.session import SymbolSessionData
from trader_cli.core.store import check_symbol


def require_session(eng: Engine) -> None:
    """SessionStateError unless a session is provisioning, running or paused."""
    state = eng.clock.state
    if state not in (SessionState.running, SessionState.paused, SessionState.provisioning):
        raise SessionStateError(f"no active session (state: {state.value}; start one with: system start)")


def analyze(
    eng: Engine, operation: Operation, symbol: str, source: Source | str, **kw: Any
) -> ProvisioningRequirements:
    """Phases 1 and 2 (analyze, validate) for an addition; changes nothing."""
    require_session(eng)
    book = eng.replay.book
    assert eng.config is not None and book is not None
    sym = check_symbol(symbol)
    existing = eng.session.get(sym)
    # A symbol's history is the days before the day it joined (core/history.py): an addition
    # to one already in the session reaches back from that day, keeping what it holds.
    joined = eng.timeline.days[existing.since_pos] if existing is not None else book.day
    req = analyze_requirements(
        operation, sym, Source(source), existing=existing, config=eng.config.session_data_config,
        session_day=book.day, calendar=eng.calendar, history_before=joined, **kw,
    )  # fmt: skip
    if req.outcome == "rejected":
        req.can_proceed = False
        return req
    if req.outcome == "duplicate":
        req.can_proceed = True
        return req
    cfg_iv = eng.config.intervals() if operation == "symbol" else None
    back = eng.calendar.trading_days_back(joined, req.historical_days) if req.historical_days else []
    v = validate_symbol(
        eng.feed, eng.calendar, sym, req.required_intervals, book.day, back, cfg_iv, req.history_days_by_interval
    )
    req.validation, req.can_proceed = v, v.can_proceed
    if not v.can_proceed:
        req.validation_errors.append(v.reason)
    elif v.reason != "ok":
        req.warnings.append(v.reason)
    return req


def add(eng: Engine, operation: Operation, symbol: str, source: Source | str, **kw: Any) -> AdditionResult:
    """All three phases for one addition (symbol, bar or indicator), under the symbol lock."""
    with eng.clock.exclusive():
        req = analyze(eng, operation, symbol, source, **kw)
        if not req.can_proceed:
            raise ValidationFailed(f"cannot add {operation} for {req.symbol}: {'; '.join(req.validation_errors)}")
        if req.outcome == "duplicate":
            return AdditionResult(req, None)
        report = execute(eng, req)
    eng.events.emit("added", f"{req.operation} {req.symbol}: {req.outcome} ({report.total_ms:.1f} ms)")
    if req.outcome == "create":  # new to the session: the strategies that trade it get their needs again
        eng.plugins.symbol_added(req.symbol)
    return AdditionResult(req, report)


def add_many(eng: Engine, operation: Operation, symbols: list[str], source: Source | str, **kw: Any) -> AdditionBatch:
    """``add`` for several symbols, one after another; failures are collected, not raised."""
    require_session(eng)
    batch = AdditionBatch([], [])
    for sym in symbols:
        try:
            batch.results.append(add(eng, operation, sym, source, **kw))
        except TraderCliError as err:
            batch.failures.append((sym.strip().upper(), str(err)))
    return batch


def remove(eng: Engine, symbol: str) -> SymbolSessionData:
    """Remove a symbol and everything it holds."""
    require_session(eng)
    with eng.clock.exclusive():
        data = eng.session.require(check_symbol(symbol))
        held, orders = eng.broker.holds(data.lane)
        if held or orders:
            ids = [o.id for o in eng.broker.open_orders() if o.symbol == data.symbol]
            raise SessionStateError(_still_trading(data.symbol, held, ids))
        eng.broker.release(data.symbol, data.lane, data.metadata.added_by.value)
        drop_symbol(eng, data.symbol)
    eng.events.emit("removed", f"{data.symbol} removed")
    return data


def provision_config(
    eng: Engine, symbols: list[str], progress: Callable[[int, int, str], None] | None
) -> tuple[list[SymbolValidationResult], list[ProvisioningReport]]:
    """Every config symbol through the pipeline (source ``config``); one that fails validation
    or provisioning is dropped with its reason and the others go on."""
    validations, reports = [], []
    unique = list(dict.fromkeys(symbols))
    for i, sym in enumerate(unique):
        if progress is not None:
            progress(i, len(unique), sym)
        req = analyze(eng, "symbol", sym, Source.config)
        validations.append(
            req.validation or SymbolValidationResult(symbol=sym, reason="; ".join(req.validation_errors))
        )
        if not req.can_proceed:
            eng.events.emit("dropped", f"{sym} dropped: {validations[-1].reason}")
            continue
        try:
            with eng.clock.exclusive():
                reports.append(execute(eng, req))
        except ProvisioningError as err:  # e.g. a stored file that fails its checks: drop it
            reason = str(err).removeprefix(f"{sym}: ").removesuffix(UNCHANGED)
            validations[-1] = validations[-1].model_copy(update={"can_proceed": False, "reason": reason})
            eng.events.emit(
                "dropped", f"{sym} dropped: {reason} (the others start; add it later with: add symbol {sym})"
            )
    return validations, reports


def _still_trading(symbol: str, held: int, orders: list[str]) -> str:
    """Why a symbol with a position or open orders cannot be removed, and what to do."""
    steps = []
    if orders:
        shown = "; ".join(f"order cancel {i}" for i in orders[:3]) + ("; …" if len(orders) > 3 else "")
        steps.append(f"cancel its {len(orders)} open order(s) ({shown})")
    if held:
        steps.append(
            f"close its position of {held:,} share(s) (order {'sell' if held > 0 else 'buy'} {symbol} {abs(held)})"
        )
    return f"{symbol} is still trading; first " + ", then ".join(steps)
