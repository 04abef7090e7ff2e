"""The replay clock: the thread that steps the session minute by minute, paced by the speed;
pause, resume, wait, halt and finish. Every state change goes through the lifecycle check
(core/lifecycle.py).

The clock does not know what a minute is: it calls ``step()`` under the session's symbol lock,
yielding the lock between two minutes to a command that waits for it (``exclusive``), so a
concurrent addition sees the session between two minutes, never inside one.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from trader_cli.core.errors import SessionStateError
from trader_cli.core.lifecycle import SessionState, check_speed, check_transition


class ReplayClock:
    """The session's lifecycle state and the thread that runs the replay (see the module doc)."""

    def __init__(
        self,
        lock: threading.RLock,
        step: Callable[[], int],
        where: Callable[[], str | None],
        on_halt: Callable[[str], None],
    ) -> None:
        self.lock = lock
        self._step = step  # one minute (or a roll) for every symbol; returns the minutes moved
        self._where = where  # the simulated time as text, for messages
        self._on_halt = on_halt
        self.state = SessionState.stopped
        self.speed = 0.0
        self.minutes_done = 0
        self.replay_wall = 0.0
        self._finishing = False
        self._want = 0
        self.held_by: Callable[[], str | None] = lambda: None  # why the lock is held this long, if a plugin does
        self._pace_epoch = 0
        self._cv = threading.Condition()
        self._thread: threading.Thread | None = None
        self._finished = threading.Event()
        # Live: holds the clock until the next minute has closed (outside the lock, so commands
        # run meanwhile); None in a backtest (the speed paces it).
        self.gate: Callable[[float], bool] | None = None

    # -- the lifecycle --------------------------------------------------------------------------
    def transition(self, target: SessionState) -> None:
        """Change state through the lifecycle check, waking the clock thread and waiters."""
        with self._cv:
            check_transition(self.state, target)
            self.state = target
            if target is SessionState.finished:
                self._finished.set()
            elif target is not SessionState.stopped:
                self._finished.clear()
            self._cv.notify_all()

    @property
    def active(self) -> bool:
        """True while a session is running or paused."""
        return self.state in (SessionState.running, SessionState.paused)

    def reset(self) -> None:
        """Counters back to zero (a new session)."""
        self.minutes_done = 0
        self.replay_wall = 0.0
        self._finishing = False

    @contextmanager
    def exclusive(self, waiting: Callable[[], object] | None = None) -> Iterator[None]:
        """Hold the symbol lock between two replay minutes (the clock yields to waiters);
        ``waiting`` is called every 0.1 s meanwhile (a stop: it stops a stuck callback)."""
        self._want += 1
        try:
            while not self.lock.acquire(timeout=1.0 if waiting is None else 0.1):
                if waiting is not None:
                    waiting()
                held = self.held_by()  # a plugin's callback that does not return holds the session
                if held is not None:
                    raise SessionStateError(held)
        finally:
            self._want -= 1
        try:
            yield
        finally:
            self.lock.release()

    def begin(self, speed: float, paused: bool) -> None:
        """A provisioned session starts: running (the thread starts) or held at the open."""
        self.speed = check_speed(speed)
        self.transition(SessionState.paused if paused else SessionState.running)
        if not paused:
            self._start_thread()

    def pause(self) -> None:
        """Hold the replay clock."""
        self.transition(SessionState.paused)

    def resume(self) -> None:
        """Let the replay clock run again."""
        if self.state == SessionState.running:
            raise SessionStateError(f"the session is already running (at {self._where()})")
        self.transition(SessionState.running)
        self._start_thread()

    def set_speed(self, speed: float) -> float:
        """Change the replay speed, also while the clock runs (pacing restarts from now)."""
        if not self.active:
            raise SessionStateError(f"no active session (state: {self.state.value}; start one with: system start)")
        value = check_speed(speed)
        with self._cv:
            self.speed = value
            self._pace_epoch += 1
            self._cv.notify_all()
        return value

    def stop(self) -> None:
        """Stop the session (the thread ends)."""
        self.transition(SessionState.stopped)
        self._join()
        self._finished.set()

    def shutdown(self) -> None:
        """Stop the clock thread if one runs (leaving the program)."""
        if self.state is not SessionState.stopped and self.state is not SessionState.finished:
            self.transition(SessionState.stopped)
        self._join()

    def finish(self) -> None:
        """The last minute of the backtest has been stepped: the session is finished once that
        minute is counted (``_counted``), so no reader sees it finished a minute short."""
        self._finishing = True

    def _counted(self, moved: int) -> None:
        """A step's minutes counted (under the lock), then the finish it reached, if any."""
        self.minutes_done += moved
        if self._finishing:
            self._finishing = False
            self.transition(SessionState.finished)

    def halt(self, err: BaseException, retry: str = "system resume retries") -> None:
        """A step failed: hold the clock (paused) and say why; the session is intact. Past the
        finish (the last minute stepped, its event failed) the session is finished, and said."""
        if self._finishing:
            self._on_halt(f"the backtest finished at {self._where()}, then: {err}")
            self._counted(1)
            return
        self._on_halt(f"the replay stopped at {self._where()}: {err} ({retry})")  # before waiters wake
        if self.state == SessionState.running:
            self.transition(SessionState.paused)

    def wait(
        self,
        timeout: float | None = None,
        on_progress: Callable[[], None] | None = None,
        until: Callable[[], bool] | None = None,
    ) -> bool:
        """Block until the backtest finishes or ``until()`` holds (True) or ``timeout`` passes
        (False); SessionStateError when the clock stops for any other reason meanwhile (paused,
        stopped, halted by an error). ``on_progress`` is called about ten times a second."""
        if self.state == SessionState.paused:
            raise SessionStateError(
                "the session is paused; resume it first (system resume)"
                + ("" if self.gate is not None else " or step it with: time advance")  # live: no stepping
            )
        if self.state not in (SessionState.running, SessionState.finished):
            raise SessionStateError(f"no running session to wait for (state: {self.state.value})")
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._finished.wait(0.1):
            if on_progress is not None:
                on_progress()
            if until is not None and until():
                return True
            if deadline is not None and time.monotonic() > deadline:
                return False
            if self.state not in (SessionState.running, SessionState.finished):
                raise SessionStateError(f"the session was {self.state.value} while waiting (at {self._where()})")
            thread = self._thread
            if self.state == SessionState.running and (thread is None or not thread.is_alive()):
                raise SessionStateError(f"the replay clock stopped at {self._where()} (see the error above)")
        return True

    # -- stepping -------------------------------------------------------------------------------
    def step_once(self) -> int:
        """One step of a paused session under the lock (``time advance``); the minutes it moved."""
        with self.exclusive():
            t = time.perf_counter()
            try:
                moved = self._step()
            except Exception as err:  # stepping stops where it is and the trader is told why
                self.halt(err, "time advance retries")
                if self.state == SessionState.finished:
                    raise SessionStateError(f"the backtest finished at {self._where()}, then: {err}") from err
                raise SessionStateError(f"the replay stopped at {self._where()}: {err} (time advance retries)") from err
            self.replay_wall += time.perf_counter() - t
            self._counted(moved)
            return moved

    def _start_thread(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._thread = threading.Thread(target=self._run, name="replay-clock", daemon=True)
        self._thread.start()

    def _join(self) -> None:
        t = self._thread
        if t is not None and t is not threading.current_thread():
            t.join(timeout=10)
        self._thread = None

    def _run(self) -> None:
        """The clock thread: any exception stops the clock with a message, never silently."""
        try:
            self._loop()
        except Exception as err:  # the session pauses and the trader is told why
            self.halt(err)

    def _loop(self) -> None:
        epoch = self._pace_epoch
        paced_from = (time.monotonic(), self.minutes_done)
        while True:
            with self._cv:
                while self.state == SessionState.paused:
                    self._cv.wait(0.5)
                    paced_from = (time.monotonic(), self.minutes_done)
                if self.state != SessionState.running:
                    break
            if self._want:
                time.sleep(0.0005)  # let a waiting command take the lock between two minutes
            gate = self.gate
            if gate is not None and not gate(0.25):
                continue  # the minute has not closed yet: look at the state again
            with self.lock:
                if self.state != SessionState.running:
                    continue
                t = time.perf_counter()
                try:
                    moved = self._step()
                except (Exception, KeyboardInterrupt) as err:  # the clock stops and the trader is told why
                    # (no signal reaches this thread: a KeyboardInterrupt here is a stuck plugin's
                    # stop, core/plugins/host.py, that landed just after its callback returned)
                    self.halt(err)
                    break
                self.replay_wall += time.perf_counter() - t
                self._counted(moved)
            if epoch != self._pace_epoch:  # the speed changed: pace from this minute on
                epoch, paced_from = self._pace_epoch, (time.monotonic(), self.minutes_done)
            self._sleep_until_due(paced_from, epoch)

    def _sleep_until_due(self, paced_from: tuple[float, int], epoch: int) -> None:
        """Hold the clock until the next minute is due at the current speed (returns early when
        the state or the speed changes)."""
        while self.speed > 0 and self.state == SessionState.running and epoch == self._pace_epoch:
            due = paced_from[0] + (self.minutes_done - paced_from[1]) * 60.0 / self.speed
            delay = due - time.monotonic()
            if delay <= 0:
                return
            with self._cv:
                self._cv.wait(min(delay, 1.0))
