"""A strategy's needs (``Strategy.needs()``: symbols, intervals, indicators), checked and then
provisioned through analyze → validate → provision with source ``strategy``, all or nothing;
and ``added``: an addition a plugin made, counted and named in the symbol's metadata."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from trader_cli.core.errors import PluginError, TraderCliError
from trader_cli.core.intervals import BASE_1M, Interval
from trader_cli.core.plugins.api import Strategy, indicator_key
from trader_cli.core.plugins.arguments import shown
from trader_cli.core.plugins.loader import read_needs
from trader_cli.core.plugins.running import user_code
from trader_cli.core.provenance import Source

if TYPE_CHECKING:
    from trader_cli.core.engine import Engine
    from trader_cli.core.plugins.host import Slot


def provision(eng: Engine, slot: Slot, strategy: Strategy, verb: str = "loaded") -> None:
    """A strategy's needs through the pipeline, source strategy: every addition is analyzed
    and validated first, and any that cannot go ahead fails the load with nothing added
    (all or an error); then the slot takes the symbols, intervals and indicator keys."""
    assert eng.config is not None
    symbols, intervals, indicators = _needs(eng, slot, strategy)
    planned: list[Planned] = [("symbol", sym, {}) for sym in symbols]
    planned += _bars_and_indicators(symbols, intervals, indicators)
    problems = _precheck(eng, planned)
    if problems:
        more = f" (+{len(problems) - 3} more)" if len(problems) > 3 else ""
        raise PluginError(f"{slot.name}: not {verb}, nothing added: {'; '.join(problems[:3])}{more}")
    failures = _add_all(eng, slot, planned)
    if failures:
        raise PluginError(
            f"{slot.name}: not loaded; provisioning failed after its checks passed ({'; '.join(failures[:3])}); "
            "what was added stays in the session (see: data session)"
        )
    slot.symbols = [s for s in symbols if s in eng.session.symbols]
    slot.intervals = intervals
    slot.keys = [indicator_key(name, params, iv.name) for name, params, iv in indicators]
    slot.indicators = indicators
    slot._lanes = None  # the symbols may differ from a previous load's
    slot._banks = {}


def provide(eng: Engine, slot: Slot, symbol: str) -> None:
    """A loaded strategy's bars and indicators for one of its symbols that came back to the
    session, source strategy; what cannot be added is said in one line (its values stay NaN)."""
    failures = _add_all(eng, slot, _bars_and_indicators([symbol], slot.intervals, slot.indicators))
    if failures:
        eng.events.emit(
            "warning",
            f"strategy {slot.name} trades {symbol} again, but not all it needs could be added "
            f"({'; '.join(failures[:2])}); its values for {symbol} stay NaN until they are (add them, or: "
            f"strategy reload {slot.name})",
        )


Planned = tuple[str, str, dict[str, Any]]  # (operation, symbol, the addition's arguments)


def _bars_and_indicators(
    symbols: list[str], intervals: list[Interval], indicators: list[tuple[str, list[float], Interval]]
) -> list[Planned]:
    """The additions of a strategy's derived bars and indicators for ``symbols``."""
    planned: list[Planned] = [("bar", sym, {"interval": iv}) for sym in symbols for iv in intervals if iv != BASE_1M]
    return planned + [("indicator", sym, {"indicator": spec}) for sym in symbols for spec in indicators]


def _add_all(eng: Engine, slot: Slot, planned: list[Planned]) -> list[str]:
    """Each planned addition through the pipeline, source strategy, named in the metadata; what failed."""
    from trader_cli.core.provisioning.pipeline import add

    failures = []
    for operation, sym, kw in planned:
        try:
            added(eng, slot, add(eng, operation, sym, Source.strategy, **kw), f"needed by {slot.name}")  # type: ignore[arg-type]
        except TraderCliError as err:
            failures.append(f"{operation} {sym}: {err}")
    return failures


def _needs(
    eng: Engine, slot: Slot, strategy: Strategy
) -> tuple[list[str], list[Interval], list[tuple[str, list[float], Interval]]]:
    """What ``needs()`` returned, checked: (symbols, intervals, indicators)."""
    assert eng.config is not None
    needs = user_code(type(strategy), slot.name, "needs()", strategy.needs)
    cfg = eng.config.session_data_config
    named, intervals, indicators = read_needs(needs, slot.name, cfg.base_interval)
    symbols = [s for s in cfg.symbols if s in eng.session.symbols] if named is None else named
    if not symbols:
        raise PluginError(f"{slot.name}: it needs no symbol the session has (Needs.symbols={shown(needs.symbols)})")
    return symbols, intervals, indicators


def _precheck(eng: Engine, planned: list[tuple[str, str, dict[str, Any]]]) -> list[str]:
    """Analyze and validate every planned addition (nothing changes); what would fail."""
    from trader_cli.core.provisioning.pipeline import analyze

    problems = []
    for operation, sym, kw in planned:
        try:
            req = analyze(eng, operation, sym, Source.strategy, **kw)  # type: ignore[arg-type]
        except TraderCliError as err:
            problems.append(f"{operation} {sym}: {err}")
            continue
        if not req.can_proceed:
            problems.append(f"{operation} {sym}: {'; '.join(req.validation_errors) or req.outcome}")
    return problems


def added(eng: Engine, slot: Slot, result: Any, rule: str) -> None:
    """Count an addition and name the plugin in the symbol's metadata."""
    if result.report is None:  # a duplicate: nothing was added
        return
    slot.adds += 1
    data = eng.session.get(result.requirements.symbol)
    if data is not None and result.requirements.outcome in ("create", "upgrade"):  # the plugin brought it
        data.metadata.plugin = slot.origin
        data.metadata.rule = rule
