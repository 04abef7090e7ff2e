"""Requirement analysis: what does an addition need? (phase 1 of analyze → validate → provision)

The outcome is a ``ProvisioningRequirements``: intervals, history (trading days per interval),
indicators with their warmup, the provenance to record, and the typed steps that provide it.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, Field

from trader_cli.core.calendar import MarketCalendar
from trader_cli.core.config import SessionDataConfig
from trader_cli.core.errors import TraderCliError
from trader_cli.core.intervals import Interval, intervals
from trader_cli.core.provenance import Source
from trader_cli.core.provisioning.steps import (
    AddInterval,
    CalculateQuality,
    CreateSymbol,
    IndicatorPlan,
    LoadHistory,
    LoadSession,
    ProvisioningStep,
    RegisterIndicator,
    UpgradeSymbol,
)
from trader_cli.core.provisioning.validation import SymbolValidationResult
from trader_cli.core.session import SymbolSessionData

Operation = Literal["symbol", "bar", "indicator"]


class ProvisioningRequirements(BaseModel):
    """What an addition needs and the steps that provide it."""

    operation: Operation
    source: Source
    symbol: str
    symbol_exists: bool = False
    outcome: Literal["create", "upgrade", "extend", "duplicate", "rejected"] = "create"
    required_intervals: list[Interval] = Field(default_factory=list)
    base_interval: Interval = Interval.parse("1m")
    historical_days: int = 0
    history_days_by_interval: dict[Interval, int] = Field(default_factory=dict)
    historical_bars: int = 0
    history_first_day: dt.date | None = None
    history_last_day: dt.date | None = None
    session_day: dt.date | None = None
    indicators: list[IndicatorPlan] = Field(default_factory=list)
    can_proceed: bool = False
    validation_errors: list[str] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)
    provisioning_steps: list[ProvisioningStep] = Field(default_factory=list)
    metadata: dict[str, Any] = Field(default_factory=dict)
    validation: SymbolValidationResult | None = None
    message: str = ""

    @property
    def step_labels(self) -> list[str]:
        """The steps as the plan table names them."""
        return [s.label for s in self.provisioning_steps]


def indicator_plans(
    specs: list[tuple[str, list[Any], Interval]], session_day: dt.date, calendar: MarketCalendar
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
    specs: list[tuple[str, list[Any], Interval]], session_day: dt.date, calendar: MarketCalendar
) -> list[IndicatorPlan]:
    from trader_cli.core.indicators import IndicatorRequest, analyze_indicator_requirements

    plans = []
    for name, params, interval in specs:
        req = IndicatorRequest.parse(name, params, interval)
        ana = analyze_indicator_requirements(req, session_day, calendar)
        plans.append(
            IndicatorPlan(
                key=req.key,
                name=req.name,
                params=list(req.params),
                interval=req.interval,
                base_interval=ana.base_interval,
                warmup_bars=ana.warmup_bars,
                converge_bars=ana.converge_bars,
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


def _merge_days(target: dict[Interval, int], interval: Interval, days: int) -> None:
    target[interval] = max(target.get(interval, 0), days)


def analyze_requirements(
    operation: Operation,
    symbol: str,
    source: Source,
    *,
    existing: SymbolSessionData | None,
    config: SessionDataConfig,
    session_day: dt.date,
    calendar: MarketCalendar,
    interval: Interval | None = None,
    days: int | None = None,
    indicator: tuple[str, list[Any], Interval | None] | None = None,
    history_before: dt.date | None = None,
) -> ProvisioningRequirements:
    """Work out intervals, history and steps for adding a symbol, a bar interval or an indicator
    (validation is done by the caller, which sets ``validation`` and ``can_proceed``). History
    is counted back from ``history_before`` (the day an existing symbol joined; default: the
    session day)."""
    base = Interval.parse(config.base_interval)
    req = ProvisioningRequirements(
        operation=operation,
        source=source,
        symbol=symbol,
        symbol_exists=existing is not None,
        session_day=session_day,
        base_interval=base,
    )
    try:
        if operation == "symbol":
            _analyze_symbol(req, existing, config, session_day, calendar)
        elif operation == "bar":
            _analyze_bar(req, existing, base, interval or base, days)
        else:
            assert indicator is not None
            name, params, iv = indicator
            plans = indicator_plans([(name, params, iv or base)], session_day, calendar)
            _analyze_indicator(req, existing, base, plans[0])
    except TraderCliError as err:
        req.outcome = "rejected"
        req.validation_errors.append(str(err))
        return req
    _history(req, calendar, history_before or session_day)
    return req


def _analyze_symbol(
    req: ProvisioningRequirements,
    existing: SymbolSessionData | None,
    config: SessionDataConfig,
    session_day: dt.date,
    calendar: MarketCalendar,
) -> None:
    base = Interval.parse(config.base_interval)
    wanted = intervals([config.base_interval, *config.derived_intervals])
    specs = [(i.name, list(i.params), Interval.parse(i.interval or base)) for i in config.indicators]
    plans = indicator_plans(specs, session_day, calendar)
    for p in plans:
        if p.interval not in wanted:
            wanted.append(p.interval)
    req.required_intervals = wanted
    for iv in wanted:
        _merge_days(req.history_days_by_interval, iv, config.historical.trailing_days)
    for p in plans:
        _merge_days(req.history_days_by_interval, p.interval, p.historical_days)
    req.indicators = plans
    meta: dict[str, Any] = {
        "meets_session_config_requirements": True,
        "added_by": req.source,
        "auto_provisioned": False,
    }
    if existing is not None and existing.is_full:
        req.outcome = "duplicate"
        req.message = f"{req.symbol} is already loaded in full (added by {existing.metadata.added_by}); nothing changed"
        return
    steps: list[ProvisioningStep]
    if existing is not None:
        req.outcome = "upgrade"
        meta["upgraded_from_adhoc"] = True
        meta["auto_provisioned"] = existing.metadata.auto_provisioned
        steps = [UpgradeSymbol()]
        steps += [AddInterval(interval=iv) for iv in wanted if iv not in existing.intervals]
        steps += [LoadHistory()]
        steps += [RegisterIndicator(plan=p) for p in plans if p.key not in existing.indicators]
    else:
        meta["upgraded_from_adhoc"] = False
        steps = [CreateSymbol(), *(AddInterval(interval=iv) for iv in wanted), LoadHistory(), LoadSession()]
        steps += [RegisterIndicator(plan=p) for p in plans]
    req.provisioning_steps = [*steps, CalculateQuality()]
    req.metadata = meta


def _lightweight(
    req: ProvisioningRequirements, existing: SymbolSessionData | None, needed: list[Interval]
) -> list[ProvisioningStep]:
    """Steps that create (auto-provision) or extend a symbol for a bar or indicator."""
    if existing is None:
        req.outcome = "create"
        req.metadata = {
            "meets_session_config_requirements": False,
            "added_by": req.source,
            "auto_provisioned": True,
            "upgraded_from_adhoc": False,
        }
        return [CreateSymbol(), *(AddInterval(interval=iv) for iv in needed), LoadHistory(), LoadSession()]
    req.outcome = "extend"
    steps: list[ProvisioningStep] = [AddInterval(interval=iv) for iv in needed if iv not in existing.intervals]
    deeper = any(req.history_days_by_interval.get(iv, 0) > existing.history_days.get(iv, 0) for iv in needed)
    return [*steps, LoadHistory()] if (steps or deeper) else steps


def _analyze_bar(
    req: ProvisioningRequirements,
    existing: SymbolSessionData | None,
    base: Interval,
    interval: Interval,
    days: int | None,
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
    req.provisioning_steps = [*_lightweight(req, existing, needed), CalculateQuality()]


def _analyze_indicator(
    req: ProvisioningRequirements, existing: SymbolSessionData | None, base: Interval, plan: IndicatorPlan
) -> None:
    needed = [base] if plan.interval == base else [base, plan.interval]
    req.required_intervals = needed
    req.indicators = [plan]
    _merge_days(req.history_days_by_interval, plan.interval, plan.historical_days)
    if existing is not None and plan.key in existing.indicators:
        req.outcome = "duplicate"
        req.message = f"{req.symbol} already has {plan.key}; nothing changed"
        return
    steps = _lightweight(req, existing, needed)
    req.provisioning_steps = [*steps, RegisterIndicator(plan=plan), CalculateQuality()]
