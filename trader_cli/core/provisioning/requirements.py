"""Requirement analysis: what does an addition need? (phase 1 of analyze → validate → provision)"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, Field

from trader_cli.core.calendar import MarketCalendar
from trader_cli.core.config import SessionDataConfig
from trader_cli.core.errors import TraderCliError
from trader_cli.core.intervals import Interval
from trader_cli.core.provisioning.validation import SymbolValidationResult
from trader_cli.core.session import SymbolSessionData

Operation = Literal["symbol", "bar", "indicator"]


class IndicatorPlan(BaseModel):
    """One indicator to register, with its warmup turned into trading days."""

    key: str
    name: str
    params: list[float | int]
    interval: str
    base_interval: str
    warmup_bars: int
    historical_days: int


class ProvisioningRequirements(BaseModel):
    """What an addition needs and the steps that provide it."""

    operation: Operation
    source: str
    symbol: str
    symbol_exists: bool = False
    outcome: Literal["create", "upgrade", "extend", "duplicate", "rejected"] = "create"
    required_intervals: list[str] = Field(default_factory=list)
    base_interval: str = "1m"
    historical_days: int = 0
    history_days_by_interval: dict[str, int] = Field(default_factory=dict)
    historical_bars: int = 0
    history_first_day: dt.date | None = None
    history_last_day: dt.date | None = None
    session_day: dt.date | None = None
    indicators: list[IndicatorPlan] = Field(default_factory=list)
    can_proceed: bool = False
    validation_errors: list[str] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)
    provisioning_steps: list[str] = Field(default_factory=list)
    metadata: dict[str, Any] = Field(default_factory=dict)
    validation: SymbolValidationResult | None = None
    message: str = ""


def indicator_plans(
    specs: list[tuple[str, list[Any], str]], session_day: dt.date, calendar: MarketCalendar
) -> list[IndicatorPlan]:
    """Analyse (name, params, interval) triples with the indicators' own warmup analysis."""
    key = (tuple((n, tuple(p), iv) for n, p, iv in specs), session_day, id(calendar))
    cached = _PLANS.get(key)
    if cached is None:
        cached = _indicator_plans(specs, session_day, calendar)
        if len(_PLANS) > 256:
            _PLANS.clear()
        _PLANS[key] = cached
    return [p.model_copy() for p in cached]


_PLANS: dict[Any, list[IndicatorPlan]] = {}


def _indicator_plans(
    specs: list[tuple[str, list[Any], str]], session_day: dt.date, calendar: MarketCalendar
) -> list[IndicatorPlan]:
    from trader_cli.core.indicators import IndicatorRequest, analyze_indicator_requirements

    plans = []
    for name, params, interval in specs:
        req = IndicatorRequest.parse(name, params, Interval.parse(interval))
        ana = analyze_indicator_requirements(req, session_day, calendar)
        plans.append(
            IndicatorPlan(
                key=req.key,
                name=req.name,
                params=list(req.params),
                interval=req.interval.name,
                base_interval=ana.base_interval.name,
                warmup_bars=ana.warmup_bars,
                historical_days=ana.historical_days,
            )
        )
    return plans


def _history(req: ProvisioningRequirements, calendar: MarketCalendar, session_day: dt.date) -> None:
    days = max([0, *req.history_days_by_interval.values()])
    req.historical_days = days
    back = calendar.trading_days_back(session_day, days) if days else []
    req.history_first_day = back[0] if back else None
    req.history_last_day = back[-1] if back else None
    req.historical_bars = sum(
        calendar.expected_bars_on(back[len(back) - n :], iv) for iv, n in req.history_days_by_interval.items() if n
    )


def _merge_days(target: dict[str, int], interval: str, days: int) -> None:
    target[interval] = max(target.get(interval, 0), days)


def analyze_requirements(
    operation: Operation,
    symbol: str,
    source: str,
    *,
    existing: SymbolSessionData | None,
    config: SessionDataConfig,
    session_day: dt.date,
    calendar: MarketCalendar,
    interval: str | None = None,
    days: int | None = None,
    indicator: tuple[str, list[Any], str | None] | None = None,
) -> ProvisioningRequirements:
    """Work out intervals, history and steps for adding a symbol, a bar interval or an indicator
    (validation is done by the caller, which sets ``validation`` and ``can_proceed``)."""
    req = ProvisioningRequirements(
        operation=operation,
        source=source,
        symbol=symbol,
        symbol_exists=existing is not None,
        session_day=session_day,
        base_interval=config.base_interval,
    )
    base = config.base_interval
    try:
        if operation == "symbol":
            _analyze_symbol(req, existing, config, session_day, calendar)
        elif operation == "bar":
            _analyze_bar(req, existing, base, Interval.parse(interval or base).name, days)
        else:
            assert indicator is not None
            name, params, iv = indicator
            plans = indicator_plans([(name, params, iv or base)], session_day, calendar)
            _analyze_indicator(req, existing, base, plans[0])
    except TraderCliError as err:
        req.outcome = "rejected"
        req.validation_errors.append(str(err))
        return req
    _history(req, calendar, session_day)
    return req


def _analyze_symbol(
    req: ProvisioningRequirements,
    existing: SymbolSessionData | None,
    config: SessionDataConfig,
    session_day: dt.date,
    calendar: MarketCalendar,
) -> None:
    intervals = [
        iv.name
        for iv in sorted({Interval.parse(config.base_interval), *(Interval.parse(x) for x in config.derived_intervals)})
    ]
    specs = [(i.name, list(i.params), i.interval or config.base_interval) for i in config.indicators]
    plans = indicator_plans(specs, session_day, calendar)
    for p in plans:
        if p.interval not in intervals:
            intervals.append(p.interval)
    req.required_intervals = intervals
    for iv in intervals:
        _merge_days(req.history_days_by_interval, iv, config.historical.trailing_days)
    for p in plans:
        _merge_days(req.history_days_by_interval, p.interval, p.historical_days)
    req.indicators = plans
    meta = {"meets_session_config_requirements": True, "added_by": req.source, "auto_provisioned": False}
    if existing is not None and existing.is_full:
        req.outcome = "duplicate"
        req.message = f"{req.symbol} is already loaded in full (added by {existing.metadata.added_by}); nothing changed"
        return
    if existing is not None:
        req.outcome = "upgrade"
        meta["upgraded_from_adhoc"] = True
        meta["auto_provisioned"] = existing.metadata.auto_provisioned
        steps = ["upgrade_symbol"]
        steps += [f"add_interval_{iv}" for iv in intervals if iv not in existing.intervals]
        steps += ["load_historical"]
        steps += [f"register_indicator {p.key}" for p in plans if p.key not in existing.indicators]
    else:
        meta["upgraded_from_adhoc"] = False
        steps = ["create_symbol", *(f"add_interval_{iv}" for iv in intervals), "load_historical", "load_session"]
        steps += [f"register_indicator {p.key}" for p in plans]
    req.provisioning_steps = [*steps, "calculate_quality"]
    req.metadata = meta


def _lightweight_meta(
    req: ProvisioningRequirements, existing: SymbolSessionData | None, base: str, needed: list[str]
) -> list[str]:
    """Steps that create (auto-provision) or extend a symbol for a bar or indicator."""
    if existing is None:
        req.outcome = "create"
        req.metadata = {
            "meets_session_config_requirements": False,
            "added_by": req.source,
            "auto_provisioned": True,
            "upgraded_from_adhoc": False,
        }
        return ["create_symbol", *(f"add_interval_{iv}" for iv in needed), "load_historical", "load_session"]
    req.outcome = "extend"
    new = [iv for iv in needed if iv not in existing.intervals]
    steps = [f"add_interval_{iv}" for iv in new]
    return (
        [*steps, "load_historical"]
        if (steps or any(req.history_days_by_interval.get(iv, 0) > existing.history_days.get(iv, 0) for iv in needed))
        else steps
    )


def _analyze_bar(
    req: ProvisioningRequirements, existing: SymbolSessionData | None, base: str, interval: str, days: int | None
) -> None:
    needed = [base] if interval == base else [base, interval]
    req.required_intervals = needed
    for iv in needed:
        _merge_days(req.history_days_by_interval, iv, days or 0)
    if (
        existing is not None
        and interval in existing.intervals
        and (days or 0) <= existing.history_days.get(interval, 0)
    ):
        req.outcome = "duplicate"
        req.message = f"{req.symbol} already has {interval} bars; nothing changed"
        return
    req.provisioning_steps = [*_lightweight_meta(req, existing, base, needed), "calculate_quality"]


def _analyze_indicator(
    req: ProvisioningRequirements, existing: SymbolSessionData | None, base: str, plan: IndicatorPlan
) -> None:
    needed = [base] if plan.interval == base else [base, plan.interval]
    req.required_intervals = needed
    req.indicators = [plan]
    _merge_days(req.history_days_by_interval, plan.interval, plan.historical_days)
    if existing is not None and plan.key in existing.indicators:
        req.outcome = "duplicate"
        req.message = f"{req.symbol} already has {plan.key}; nothing changed"
        return
    steps = _lightweight_meta(req, existing, base, needed)
    req.provisioning_steps = [*steps, f"register_indicator {plan.key}", "calculate_quality"]
