"""The replay clock on its own: a step that fails pauses the session with one message; a clock
thread that dies (anything, even what is not an Exception) ends ``wait`` instead of hanging it."""

from __future__ import annotations

import threading
import time

import pytest

from trader_cli.core.clock import ReplayClock
from trader_cli.core.errors import SessionStateError
from trader_cli.core.lifecycle import SessionState


def clock_with(step: object) -> tuple[ReplayClock, list[str]]:
    said: list[str] = []
    clock = ReplayClock(threading.RLock(), step, lambda: "09:31", said.append)  # type: ignore[arg-type]
    clock.transition(SessionState.provisioning)
    return clock, said


def test_a_failing_step_pauses_with_one_message() -> None:
    def step() -> int:
        time.sleep(0.2)  # wait() is waiting by then
        raise OverflowError("timeout value is too large")

    clock, said = clock_with(step)
    clock.begin(0, paused=False)
    with pytest.raises(SessionStateError, match="paused while waiting"):
        clock.wait(timeout=10)
    assert clock.state is SessionState.paused
    assert said == ["the replay stopped at 09:31: timeout value is too large (system resume retries)"]


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_wait_ends_when_the_clock_thread_dies() -> None:
    def step() -> int:
        time.sleep(0.2)
        raise SystemExit("gone")  # not an Exception: nothing in the thread catches it

    clock, _ = clock_with(step)
    clock.begin(0, paused=False)
    t0 = time.monotonic()
    with pytest.raises(SessionStateError, match="the replay clock stopped"):
        clock.wait(timeout=10)
    assert time.monotonic() - t0 < 5


def test_speed_changes_repace_a_running_clock() -> None:
    steps = {"n": 0}

    def step() -> int:
        steps["n"] += 1
        return 1

    clock, _ = clock_with(step)
    clock.begin(0.01, paused=False)  # a minute per 100 real minutes: one step, then a long wait
    time.sleep(0.2)
    assert steps["n"] == 1
    clock.set_speed(0)
    time.sleep(0.2)
    assert steps["n"] > 100
    clock.stop()


@pytest.mark.parametrize("running", [False, True])
def test_the_last_minute_is_counted_before_the_session_is_finished(running: bool) -> None:
    """A reader that sees the session finished (``system wait`` wakes on it) sees every minute
    counted: the finish the last step reaches takes effect once its minute is counted."""
    seen: list[tuple[SessionState, int]] = []

    def step() -> int:
        clock.finish()  # the last minute's events stage
        seen.append((clock.state, clock.minutes_done))
        return 1

    clock, _ = clock_with(step)
    clock.begin(0, paused=not running)
    if running:
        clock.wait(timeout=10)
    else:
        clock.step_once()
    assert seen[0][0] is not SessionState.finished
    assert clock.state is SessionState.finished and clock.minutes_done == 1


def test_a_failure_after_the_finish_leaves_the_session_finished() -> None:
    """The last minute stepped, then its finished event failed: the session is finished (a
    retry would step past the last day), and the failure is said."""

    def step() -> int:
        clock.finish()
        raise OSError("the terminal went away")

    clock, said = clock_with(step)
    clock.begin(0, paused=True)
    with pytest.raises(SessionStateError, match="the backtest finished at 09:31, then: the terminal went away"):
        clock.step_once()
    assert clock.state is SessionState.finished and clock.minutes_done == 1
    assert said == ["the backtest finished at 09:31, then: the terminal went away"]
