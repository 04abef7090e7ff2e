"""The session lifecycle and the replay speed: numpy-free, so the shell and the commands can
compare states and check speeds without loading the engine.

    stopped → provisioning → running ⇄ paused → finished   (any active state → stopped)

Every state change goes through ``check_transition``; an illegal one is a SessionStateError
saying what to do.
"""

from __future__ import annotations

from enum import StrEnum

from trader_cli.core.errors import SessionStateError, UsageError


class SessionState(StrEnum):
    """The session lifecycle: stopped → provisioning → running ⇄ paused → finished."""

    stopped = "stopped"
    provisioning = "provisioning"
    running = "running"
    paused = "paused"
    finished = "finished"


_ALLOWED: dict[SessionState, set[SessionState]] = {
    SessionState.stopped: {SessionState.provisioning},
    SessionState.provisioning: {SessionState.running, SessionState.paused, SessionState.stopped},
    SessionState.running: {SessionState.paused, SessionState.finished, SessionState.stopped},
    SessionState.paused: {SessionState.running, SessionState.finished, SessionState.stopped},
    SessionState.finished: {SessionState.stopped, SessionState.provisioning},
}

_HINTS = {
    SessionState.stopped: "start one with: system start",
    SessionState.provisioning: "wait for start-up to finish",
    SessionState.running: "pause it with: system pause",
    SessionState.paused: "resume it with: system resume",
    SessionState.finished: "the backtest is over; start a new one with: system start",
}


NO_SESSION = "no session is running (start one with: system start)"


def check_transition(current: SessionState, target: SessionState) -> None:
    """Raise SessionStateError (with what to do) for an illegal lifecycle transition."""
    if target in _ALLOWED[current]:
        return
    if current is SessionState.stopped:  # pause, resume or stop with nothing to act on
        raise SessionStateError(NO_SESSION)
    if current is target:
        raise SessionStateError(f"already {current.value} ({_HINTS[current]})")
    raise SessionStateError(f"cannot go from {current.value} to {target.value} ({_HINTS[current]})")


MIN_SPEED = 0.01  # a simulated minute per 100 real minutes
MAX_SPEED = 100_000.0  # a simulated day (390 minutes) in about a quarter of a second
SPEED_HELP = (
    f"0 = as fast as possible, else {MIN_SPEED:g} to {MAX_SPEED:,.0f} simulated minutes per real minute "
    "(1 = real time, 60 = a minute per second)"
)


def check_speed(speed: float) -> float:
    """A replay speed: 0 (as fast as possible) or MIN_SPEED..MAX_SPEED; UsageError otherwise."""
    value = float(speed)
    if value == 0 or MIN_SPEED <= value <= MAX_SPEED:
        return value
    raise UsageError(f"bad speed {speed:g} (use {SPEED_HELP})")


__all__ = ["MAX_SPEED", "MIN_SPEED", "NO_SESSION", "SPEED_HELP", "SessionState", "check_speed", "check_transition"]
