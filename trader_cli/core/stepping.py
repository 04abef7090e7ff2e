"""Stepping a paused session deterministically: ``time advance`` (trading minutes, or sessions)
and ``time until`` (a time, or the next open/close)."""

from __future__ import annotations

from collections.abc import Callable

from trader_cli.core.calendar import to_ny
from trader_cli.core.engine import Engine
from trader_cli.core.errors import SessionStateError
from trader_cli.core.lifecycle import SessionState
from trader_cli.core.replay import DayBook


def book_of(eng: Engine) -> DayBook:
    """The day being replayed; SessionStateError without a session."""
    book = eng.replay.book
    if book is None:
        raise SessionStateError("no session (start one with: system start)")
    return book


def require_paused(eng: Engine, command: str) -> None:
    """SessionStateError (with what to do) unless the session is a paused backtest."""
    if eng.config is not None and eng.config.mode == "live" and eng.clock.active:
        raise SessionStateError(
            f"{command} steps a backtest; a live session runs on the market's clock "
            "(system pause holds the strategies while bars keep coming; system resume catches up)"
        )
    state = eng.clock.state
    if state != SessionState.paused:
        hint = "pause it first with: system pause" if state == SessionState.running else "start one with: system start"
        raise SessionStateError(f"{command} steps a paused session (state: {state.value}; {hint})")


def advance(eng: Engine, minutes: int, should_stop: Callable[[], bool] | None = None) -> int:
    """Step ``minutes`` trading minutes (a close rolls to the next open without counting; stops
    at the end of the backtest); returns the minutes stepped."""
    require_paused(eng, "time advance")
    clock, done = eng.clock, 0
    while done < minutes and clock.state == SessionState.paused and not (should_stop and should_stop()):
        done += clock.step_once()
    return done


def advance_to(
    eng: Engine, target_ns: int, should_stop: Callable[[], bool] | None = None, command: str = "time until"
) -> int:
    """Step until the clock reaches ``target_ns``; a target outside the session hours stops at
    the last close before it. Returns the minutes stepped (``command``: what the trader typed)."""
    require_paused(eng, command)
    now = book_of(eng).now_ns
    if target_ns <= now:
        raise SessionStateError(f"{to_ny(target_ns):%Y-%m-%d %H:%M} is not after now ({to_ny(now):%Y-%m-%d %H:%M} ET)")
    done = 0
    while eng.clock.state == SessionState.paused and book_of(eng).now_ns < target_ns:
        if should_stop and should_stop():
            break
        if book_of(eng).done and eng.timeline.open_of(eng.timeline.pos + 1) > target_ns:
            break  # the target falls between two sessions: stop at this close
        done += eng.clock.step_once()
    return done
