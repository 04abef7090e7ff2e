"""Starting and stopping a backtest session: check the config, set the engine's parts up for
its days, provision every config symbol, then run or hold the clock."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable

from trader_cli.core.calendar import NS_PER_MINUTE
from trader_cli.core.config import SessionConfig
from trader_cli.core.engine import Engine
from trader_cli.core.errors import SessionStateError, ValidationFailed
from trader_cli.core.intervals import BASE_1M, Interval
from trader_cli.core.lifecycle import SessionState, check_speed
from trader_cli.core.provisioning.pipeline import provision_config
from trader_cli.core.replay import DayBook
from trader_cli.core.results import StartResult


def start(
    eng: Engine,
    config: SessionConfig,
    paused: bool,
    speed: float | None,
    progress: Callable[[int, int, str], None] | None,
) -> StartResult:
    """Validate and provision every config symbol, then start (or hold) the replay clock; on
    any failure the engine is back to stopped with nothing loaded."""
    assert config.mode == "backtest" and config.backtest_config is not None, "live sessions: live/session.py"
    bt = config.backtest_config
    days = eng.calendar.trading_days(bt.start_date, bt.end_date)
    if not days:
        raise SessionStateError(
            f"no NYSE trading days between {bt.start_date} and {bt.end_date} (check backtest_config)"
        )
    if eng.clock.active:
        raise SessionStateError(f"a session is already {eng.clock.state.value} (stop it first with: system stop)")
    pace = check_speed(bt.speed_multiplier if speed is None else speed)
    t0 = time.perf_counter()
    reset(eng)
    eng.clock.transition(SessionState.provisioning)
    eng.config = config
    eng.broker.reset(config.broker)
    eng.timeline.start(days)
    sd = config.session_data_config
    derived = {Interval.parse(iv) for iv in sd.derived_intervals} - {Interval.parse(sd.base_interval)}
    eng.replay.reset(DayBook(eng.calendar, days[0], sorted(derived), len(sd.symbols)), derived)
    try:
        validations, reports = provision_config(eng, sd.symbols, progress)
    except BaseException:
        abandon(eng)
        raise
    if not reports:
        abandon(eng)
        raise ValidationFailed(StartResult.nothing_started(validations))
    try:
        load_config_plugins(eng, config)
    except BaseException:
        abandon(eng)
        raise
    gaps = days_without_bars(eng, days)
    result = StartResult(validations, reports, time.perf_counter() - t0, gaps)
    if gaps:
        eng.events.emit("warning", result.gaps_text())
    eng.events.emit("day_start", f"session day {days[0]} (1 of {len(days)}), {len(reports)} symbol(s)")
    eng.clock.begin(pace, paused)
    return result


def load_config_plugins(eng: Engine, config: SessionConfig) -> None:
    """The config's strategies, then its scanners (paths relative to the config file); one that
    does not load fails the start with its reason."""
    from trader_cli.core.errors import PluginError

    for i, spec in enumerate(config.strategies):
        try:
            eng.plugins.load("strategy", spec.spec, spec.params, base=config.base_dir, as_name=spec.name)
        except PluginError as err:
            raise PluginError(f"strategies.{i} ({spec.file}): {err}") from err
    for i, sc in enumerate(config.scanners):
        sched = sc.schedule.model_dump(exclude_unset=True) if sc.schedule is not None else None  # the keys given
        try:
            eng.plugins.load("scanner", sc.spec, sc.params, sched, base=config.base_dir, as_name=sc.name)
        except PluginError as err:
            raise PluginError(f"scanners.{i} ({sc.file}): {err}") from err


def days_without_bars(eng: Engine, days: list[dt.date]) -> dict[str, list[dt.date]]:
    """Per symbol of the session, the days of ``days`` its source has no 1m bars for (footers
    only): said at start, so an empty replayed day is never a surprise."""
    out = {}
    for sym in eng.session.symbols:
        have = set(eng.feed.days_with_bars(sym, BASE_1M, days))
        missing = [d for d in days if d not in have]
        if missing:
            out[sym] = missing
    return out


def reset(eng: Engine) -> None:
    """Every part back to empty (no symbols, no days, no events)."""
    eng.session.clear()
    eng.history.clear()
    eng.feed.reset()
    eng.hub.streams.clear()
    eng.lanes.reset()
    eng.clock.reset()
    eng.replay.reset(None, set())
    eng.broker.reset(eng.broker.cfg)
    eng.plugins.reset()
    eng.events.events.clear()


def abandon(eng: Engine) -> None:
    """Start-up failed part-way: back to stopped with nothing loaded."""
    reset(eng)
    eng.config = None
    if eng.clock.state is not SessionState.stopped:
        eng.clock.transition(SessionState.stopped)


def finish(eng: Engine) -> None:
    """The backtest's last minute has been stepped: finished, with the end-of-run summary (a
    live session's orders open at Alpaca settled first)."""
    book = eng.replay.book
    if book is not None:
        eng.broker.end_live(book.close_ns - NS_PER_MINUTE)
    eng.clock.finish()
    eng.events.emit("finished", eng.replay.finished_summary(len(eng.session.symbols), eng.clock.replay_wall))


def stop(eng: Engine) -> None:
    """Stop the session and drop its data."""
    eng.clock.stop()
    with eng.clock.exclusive():
        reset(eng)
