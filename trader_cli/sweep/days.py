"""A sweep's days: ``--from`` / ``--to`` (or the config's own), checked before any task runs.

A sweep whose days hold no NYSE trading day, or whose first trading day the store has no bars
of for any config symbol, would only fail every task the same way; it is refused up front
instead (before an engine starts, and before ``--replace`` drops anything), in one line naming
the option or config field to change. A store given as an ``s3://`` URI is not opened here
(each worker mirrors it): only the calendar is checked then.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING

from trader_cli.core.errors import UsageError, few

if TYPE_CHECKING:
    from trader_cli.core.config import SessionConfig


def sweep_days(
    cfg: SessionConfig, config_path: Path, first: str | None, last: str | None, data_dir: Path | str
) -> tuple[str | None, str | None]:
    """``--from`` / ``--to`` as ISO days, None where a day is the config's own (so the same sweep
    has the same specs however its days are given), once checked (see the module doc)."""
    given, own = _given(first, last), _own(cfg)
    start, end = given[0] or own[0], given[1] or own[1]
    if start is None or end is None:
        flags = [flag for flag, day in (("--from", start), ("--to", end)) if day is None]
        raise UsageError(
            f"the sweep has no {' or '.join(flags)} day ({config_path} has no backtest_config): "
            f"give {' and '.join(flags)}"
        )
    if end < start:
        raise UsageError(f"the sweep would run from {start} to {end}: give a --from on or before its --to")
    from trader_cli.core.calendar import nyse

    days = nyse().trading_days(start, end)
    if not days:
        raise UsageError(
            f"no NYSE trading days from {start} to {end} ({_span_names(given, config_path)}): "
            "give the sweep days the market was open"
        )
    if isinstance(data_dir, Path):
        start_name = "--from" if given[0] else f"backtest_config.start_date in {config_path}"
        _check_store(cfg, data_dir, days[0], start_name, start)
    canonical = [None if d is None or d == o else d.isoformat() for d, o in zip(given, own, strict=True)]
    return canonical[0], canonical[1]


def _given(first: str | None, last: str | None) -> tuple[dt.date | None, dt.date | None]:
    days: list[dt.date | None] = []
    for flag, text in (("--from", first), ("--to", last)):
        try:
            days.append(None if text is None else dt.date.fromisoformat(text.strip()))
        except ValueError:
            raise UsageError(f"{flag} {text}: give a day as YYYY-MM-DD, e.g. 2024-12-02") from None
    return days[0], days[1]


def _own(cfg: SessionConfig) -> tuple[dt.date | None, dt.date | None]:
    bt = cfg.backtest_config
    return (bt.start_date, bt.end_date) if bt is not None else (None, None)


def _span_names(given: tuple[dt.date | None, dt.date | None], config_path: Path) -> str:
    """Where the sweep's first and last days came from: its options or its config's fields."""
    if given[0] and given[1]:
        return "--from and --to"
    if given[0]:
        return f"--from, and backtest_config.end_date in {config_path}"
    if given[1]:
        return f"backtest_config.start_date in {config_path}, and --to"
    return f"backtest_config.start_date and end_date in {config_path}"


def _check_store(cfg: SessionConfig, data_dir: Path, day: dt.date, start_name: str, day_given: dt.date) -> None:
    """UsageError when no config symbol can start on ``day`` from the store (each is checked
    as ``system start`` checks it: its base bars that day)."""
    from trader_cli.core.calendar import nyse
    from trader_cli.core.feed import ParquetFeed
    from trader_cli.core.provisioning.validation import validate_symbol
    from trader_cli.core.store import DataManager
    from trader_cli.core.timeline import Timeline

    symbols = list(cfg.session_data_config.symbols)
    if not symbols:
        return  # no symbols is the config's problem, which each task reports
    cal = nyse()
    feed = ParquetFeed(DataManager(data_dir), cal, Timeline(cal), lambda _text: None)
    checked = [validate_symbol(feed, cal, sym, [], day, []) for sym in symbols]
    if any(v.can_proceed for v in checked):
        return
    listed = few(symbols)
    stored = [v.symbol for v in checked if v.data_source_available]
    if stored and not all(str(day) in v.reason for v in checked if v.data_source_available):
        return  # a file that cannot be read, an interval missing: not the days' fault; each task says it
    if not stored:
        raise UsageError(
            f"the store {data_dir} holds no bars of {listed}: give the sweep a store that has them (--data-dir), "
            f"or import them (data import FILE.csv --symbol {symbols[0]} --interval 1m)"
        )
    spans = "; ".join(f"{sym} {feed.span_text(sym)}" for sym in stored[:2])
    fix = "give a --from within what it holds"
    if start_name != "--from":
        fix += f", or change {start_name}"
    raise UsageError(
        f"{start_name} {day_given}: the store {data_dir} has no bars of {listed} on {day}, the sweep's first "
        f"trading day (it holds {spans}): {fix}"
    )
