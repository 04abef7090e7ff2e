"""Running plugins inside the minute step.

The host owns the session's loaded strategies and scanners (``Slot``: the instance, its params,
state and counters) and three stages of the minute step (core/step.py):

    open (before the first minute: scanners with ``pre_session``) → feed → match → bars →
    indicators → mark → scanners (those due at the clock) → strategies (a callback per
    completed bar of each interval they need) → events

Orders a strategy places at the clock T are matched from the bar starting at T on (the match
stage of the next minute). Additions go through the pipeline (source strategy or scanner) and
name the plugin and its rule in the symbol's metadata. A callback that raises stops its plugin:
one event line says so, the traceback goes to ``plugins.log`` in the state dir, and the
session goes on.
"""

from __future__ import annotations

import datetime as dt
import statistics
import threading
import time
import traceback
from collections import deque
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from trader_cli.core.calendar import ny_at, ny_wall, to_ny
from trader_cli.core.errors import PluginError, few
from trader_cli.core.intervals import BASE_1M, Interval
from trader_cli.core.plugins.api import (
    BarsView,
    Plugin,
    Scanner,
    ScanView,
    Schedule,
    Strategy,
)
from trader_cli.core.plugins.loader import (
    USER_ERRORS,
    every_minutes,
    find_class,
    hhmm,
    idle_note,
    import_file,
    plugin_name,
    raised,
    split_spec,
    validate_params,
)
from trader_cli.core.plugins.needs import provide, provision
from trader_cli.core.plugins.running import STUCK_S, Running, Stopped, real_path, scanner_schedule, user_code
from trader_cli.core.plugins.sources import (
    ScannerSource,
    StrategySource,
    bank_lanes_of,
    current_values,
    forget_moved,
    initial_previous,
    owned,
)
from trader_cli.core.plugins.views import schedule_text

if TYPE_CHECKING:
    from trader_cli.core.engine import Engine
    from trader_cli.core.replay import Grid
    from trader_cli.core.step import Minute

Kind = Literal["strategy", "scanner"]
MINUTE_NS = 60_000_000_000


@dataclass
class Slot:
    """One loaded plugin: what it is, how it runs and what it did."""

    name: str
    kind: Kind
    file: str
    cls_name: str
    params: dict[str, Any]
    instance: Plugin
    schedule: Schedule | None = None  # scanners
    schedule_given: Schedule | dict[str, Any] | None = None  # as loaded: its own schedule's fields changed, or one
    symbols: list[str] = field(default_factory=list)  # strategies: the symbols it trades
    intervals: list[Interval] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)  # indicator keys it asked for
    indicators: list[tuple[str, list[float], Interval]] = field(default_factory=list)  # and their specs
    state: Literal["running", "stopped", "failed", "unloaded"] = "running"
    callbacks: int = 0
    durations: deque[float] = field(default_factory=lambda: deque(maxlen=4096))
    max_ms: float = 0.0
    orders: int = 0
    rejected: int = 0  # of its orders
    last_rejection: str | None = None
    adds: int = 0
    add_failures: int = 0
    last_error: str | None = None
    vectorised: bool = True
    due: dict[dt.date, set[int]] = field(default_factory=dict)  # scanners: clock offsets (minutes)
    unstored: set[str] = field(default_factory=set)  # scanners: tickers read that have no bars stored (said once)
    prev: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)  # key -> output -> by lane
    now: dict[str, tuple[np.ndarray, dict[str, np.ndarray]]] = field(default_factory=dict)  # this callback's
    _banks: dict[str, tuple[int, int, np.ndarray, np.ndarray, np.ndarray]] = field(default_factory=dict)  # bank_lanes
    _lanes: tuple[int, np.ndarray, np.ndarray, int] | None = None  # (session generation, lanes, symbols, top)

    @property
    def origin(self) -> str:
        """What its orders carry as their origin: ``strategy:ema_cross``."""
        return f"{self.kind}:{self.name}"

    def bank_lanes(self, key: str, stream: Any, generation: int, lanes: np.ndarray) -> np.ndarray:
        """Replay ``lanes``' bank lanes in the key's stream (-1: not a member). Kept per key as
        (generation, members, replay lane → bank lane, lanes, theirs): the table is rebuilt when
        the session's symbols or the stream's members changed, the lanes' part when the lanes did."""
        cached = self._banks.get(key)
        members = stream.members
        if cached is None or cached[0] != generation or cached[1] != len(members):
            table = np.full(max(members, default=-1) + 1, -1, dtype=np.int64)
            for lane, blane in members.items():
                table[lane] = blane
        elif cached[3] is lanes:
            return cached[4]
        else:
            table = cached[2]
        theirs = bank_lanes_of(lanes, table)
        self._banks[key] = (generation, len(members), table, lanes, theirs)
        return theirs

    def timing(self) -> tuple[float | None, float | None]:
        """(median, max) milliseconds of its callbacks."""
        return (statistics.median(self.durations) * 1000, self.max_ms) if self.durations else (None, None)


class PluginHost:
    """The session's plugins and their stages (see the module doc)."""

    def __init__(self, eng: Engine) -> None:
        self.eng = eng
        self.slots: dict[str, Slot] = {}
        self.unloaded: list[Slot] = []  # unloaded this session, in that order (the export lists them)
        # The callback running now: a second Ctrl-C while the same one runs, in the plugin's own
        # code, is raised in it (commands/time.py); a stop of a stuck one, in its thread.
        self.in_callback: Running | None = None

    def reset(self) -> None:
        """A new session: no plugins."""
        self.slots = {}
        self.unloaded = []

    @property
    def running(self) -> list[Slot]:
        """The plugins whose callbacks run."""
        return [s for s in self.slots.values() if s.state == "running"]

    # -- loading ------------------------------------------------------------------------------------
    def load(
        self,
        kind: Kind,
        spec: str,
        raw: dict[str, Any] | None = None,
        schedule: Schedule | dict[str, Any] | None = None,
        base: Path | None = None,
        as_name: str | None = None,
    ) -> Slot:
        """Import ``FILE[:CLASS]``, check its params, provision what it needs (a strategy) or set its
        schedule (a scanner: ``schedule``, or its own with a dict's fields changed); the new slot."""
        from trader_cli.core.provisioning.pipeline import require_session

        require_session(self.eng)
        file, cls_name = split_spec(spec)
        path = Path(file).expanduser()
        if base is not None and not path.is_absolute():
            path = base / path
        cls = find_class(import_file(path), kind, cls_name, path)
        name = plugin_name(cls, path, as_name)
        if name in self.slots:
            have = self.slots[name].kind
            if base is not None:  # from the config: two of its entries
                raise PluginError(
                    f'a {have} named {name} is in the config already (remove one of the two, or give one a "name")'
                )
            raise PluginError(
                f"a {have} named {name} is loaded already (unload it first: {have} unload {name}; or load this "
                "one under another name: --as NAME)"
            )
        params = validate_params(cls, dict(raw or {}), name)
        instance = self._construct(cls, params, name)
        slot = Slot(name, kind, str(path), cls.__name__, params, instance)
        if isinstance(instance, Strategy):
            slot.vectorised = type(instance).on_bars is not Strategy.on_bars
            provision(self.eng, slot, instance)
        elif isinstance(instance, Scanner):
            slot.schedule, slot.schedule_given = scanner_schedule(instance, name, schedule), schedule
        self.slots[name] = slot
        self._init_previous(slot)
        shown = ", ".join(f"{k}={v!r}" for k, v in params.items()) or "no params"
        self.eng.events.emit("plugin", f"{kind} {name} loaded ({cls.__name__}, {shown}){idle_note(cls, kind)}")
        return slot

    def _construct(self, cls: type[Plugin], params: dict[str, Any], name: str) -> Plugin:
        return user_code(cls, name, "its constructor", lambda: cls(**params))

    def symbol_added(self, symbol: str) -> None:
        """A symbol new to the session (typed, a scanner's, …): each loaded strategy that trades
        it (one removed and added back) gets its bars and indicators again; they left with it."""
        for slot in list(self.slots.values()):
            if slot.kind == "strategy" and symbol in slot.symbols:
                provide(self.eng, slot, symbol)

    # -- control ------------------------------------------------------------------------------------
    def get(self, name: str, kind: Kind) -> Slot:
        """A loaded plugin by name (PluginError listing the loaded ones)."""
        slot = self.slots.get(name)
        if slot is None or slot.kind != kind:
            loaded = ", ".join(s.name for s in self.slots.values() if s.kind == kind) or "none"
            raise PluginError(f"no {kind} named {name} (loaded: {loaded}; load one with: {kind} load FILE)")
        return slot

    def stop(self, name: str, kind: Kind) -> Slot:
        """Hold a plugin's callbacks (its orders stay)."""
        slot = self.get(name, kind)
        slot.state = "stopped"
        return slot

    def start(self, name: str, kind: Kind) -> Slot:
        """Let a stopped (or failed) plugin's callbacks run again."""
        slot = self.get(name, kind)
        slot.state, slot.last_error = "running", None
        self._init_previous(slot)
        return slot

    def unload(self, name: str, kind: Kind) -> Slot:
        """Forget a plugin (its symbols, positions and orders stay in the session)."""
        slot = self.slots.pop(self.get(name, kind).name)
        slot.state = "unloaded"
        self.unloaded.append(slot)  # the export still lists it: its orders and P&L name it
        left = [o.id for o in self.eng.broker.orders if o.is_open and o.origin == slot.origin]
        if left:
            self.eng.events.emit(
                "plugin",
                f"{kind} {slot.name} unloaded with {len(left)} open order(s) ({few(left)}): they stay in the "
                f"book (cancel one with: order cancel {left[0]})",
            )
        return slot

    def reload(self, name: str, kind: Kind) -> Slot:
        """Import the file again and rebuild the plugin with the same params; positions and
        orders are the broker's and stay. A file that no longer loads, or needs that cannot be
        provisioned, leave the old plugin as it was (its state too)."""
        from trader_cli.core.provisioning.pipeline import require_session

        old = self.get(name, kind)
        require_session(self.eng)
        path = Path(old.file)
        module = import_file(path)
        try:
            cls = find_class(module, kind, old.cls_name, path)
        except PluginError as err:  # the class was renamed or removed: reload keeps the one it loaded
            raise PluginError(
                f"{err}; a reload runs the class it loaded ({old.cls_name}): to run another, "
                f"{kind} unload {name}, then {kind} load {old.file}:CLASS --as {name}"
            ) from None
        params = validate_params(cls, old.params, name)
        instance = self._construct(cls, params, name)
        if isinstance(instance, Strategy):
            trial = Slot(old.name, old.kind, old.file, old.cls_name, params, instance)
            provision(self.eng, trial, instance, "reloaded (the one loaded runs on)")  # raises before ``old`` changes
            for part in ("symbols", "intervals", "keys", "indicators"):
                setattr(old, part, getattr(trial, part))
            old.adds += trial.adds
            old._lanes, old._banks = None, {}
            old.vectorised = type(instance).on_bars is not Strategy.on_bars
        note = ""
        if isinstance(instance, Scanner):  # its schedule as its code now says (what was changed at load kept)
            sched = scanner_schedule(instance, name, old.schedule_given)
            if sched != old.schedule:
                note = f"; its schedule is now {schedule_text(asdict(sched))}"
                old.schedule, old.due = sched, {}
        old.instance, old.params, old.last_error = instance, params, None
        kept = old.state == "stopped"  # the trader's stop holds; a failed one runs again (as its error line says)
        old.state = "stopped" if kept else "running"
        note += f"; it stays stopped (start it with: {kind} start {name})" if kept else ""
        self._init_previous(old)
        self.eng.events.emit("plugin", f"{kind} {name} reloaded{note}")
        return old

    def interrupt_stuck(self, name: str | None = None) -> bool:
        """A callback (of ``name``, or any) that has run STUCK_S or more in another thread — the
        running clock's, which holds the session meanwhile — is stopped: ``Stopped`` is raised
        in that thread, in the plugin's code; the host stops the plugin, the minute ends. True
        when one was."""
        run = self.in_callback
        if run is None or (name is not None and run.name != name) or run.thread == threading.get_ident():
            return False
        if time.perf_counter() - run.started < STUCK_S:
            return False
        import ctypes

        done = ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(run.thread), ctypes.py_object(Stopped))
        return bool(done == 1)

    # -- failures -------------------------------------------------------------------------------------
    def _fail(self, slot: Slot, where: str, err: BaseException, ran_s: float) -> None:
        from trader_cli.core.logs import append_log
        from trader_cli.core.plugins.arguments import error_line

        slot.state = "failed"  # its error masked, then on one line and cut (the whole of it in the log)
        slot.last_error = error_line(f"{where} raised {raised(err)}", self.eng.events.secrets)
        if isinstance(err, Stopped):
            slot.last_error = f"{where} was stopped after {ran_s:.1f} s without returning"
        log = append_log("plugins.log", f"{slot.kind} {slot.name}: {where}\n{traceback.format_exc()}")
        gone = self.slots.get(slot.name) is not slot  # the trader unloaded it meanwhile
        then = f"{slot.kind} load {slot.file}" if gone else f"{slot.kind} reload {slot.name}"
        self.eng.events.emit(
            "error", f"{slot.kind} {slot.name} stopped: {slot.last_error} (traceback in {log}; fix it, then: {then})"
        )

    def _timed(self, slot: Slot, where: str, call: Any, *args: Any) -> None:
        t0 = time.perf_counter()
        self.in_callback = Running(slot.name, real_path(slot.file), t0, threading.get_ident())
        try:
            call(*args)
        except USER_ERRORS as err:  # a plugin that raises (or exits) is stopped; the session goes on
            self.in_callback = None  # a Ctrl-C from here on is the session's, not the plugin's
            self._fail(slot, where, err, time.perf_counter() - t0)
        else:
            self.in_callback = None
        spent = time.perf_counter() - t0
        slot.callbacks += 1
        slot.durations.append(spent)
        slot.max_ms = max(slot.max_ms, spent * 1000)

    # -- the stages --------------------------------------------------------------------------------------
    def open_stage(self, minute: Minute) -> None:
        """Before a day's first minute: the scanners with ``pre_session``."""
        if minute.row != 0 or not self.slots:
            return
        for slot in self.running:
            if slot.kind != "scanner" or slot.schedule is None:
                continue
            if slot.schedule.pre_session or 0 in self._due(slot, minute.book.day):
                self._scan(slot)

    def scanner_stage(self, minute: Minute) -> None:
        """After mark to market: the scanners due at the clock (the end of this minute)."""
        if not self.slots:
            return
        offset = minute.row + 1
        for slot in self.running:
            if slot.kind == "scanner" and offset in self._due(slot, minute.book.day):
                self._scan(slot)

    def strategy_stage(self, minute: Minute) -> None:
        """A callback per completed bar of each interval a running strategy needs."""
        if not self.slots:
            return
        for slot in self.running:
            if slot.kind != "strategy":
                continue
            for iv in slot.intervals:
                if slot.state != "running":
                    break
                done = self._completed(minute, iv)
                if done is not None:
                    self._callback(slot, done[0], done[1], minute)

    def _completed(self, minute: Minute, iv: Interval) -> tuple[Grid, int] | None:
        if iv == BASE_1M:
            return minute.book.base, minute.row
        for g, j in minute.completed:
            if g.interval == iv:
                return g, j
        return None

    # -- strategies --------------------------------------------------------------------------------------
    def _lanes(self, slot: Slot) -> tuple[np.ndarray, np.ndarray, int]:
        """(lanes, symbols, highest lane) of the strategy's symbols still in the session, cached
        per session generation (adds and removals bump it); both arrays read-only, as the
        callback hands them out."""
        session = self.eng.session
        cached = slot._lanes
        if cached is None or cached[0] != session.generation:
            held = [s for s in slot.symbols if s in session.symbols]
            lanes = np.array([session.symbols[s].lane for s in held], dtype=np.int64)
            symbols = np.array(held, dtype=object)
            lanes.flags.writeable = symbols.flags.writeable = False
            if cached is not None:  # a lane another symbol holds now keeps no 'previous' of the one before
                forget_moved(slot.prev, cached[1], cached[2], lanes, held)
            cached = (session.generation, lanes, symbols, int(lanes.max(initial=-1)))
            slot._lanes = cached
        return cached[1], cached[2], cached[3]

    def _callback(self, slot: Slot, grid: Grid, row: int, minute: Minute) -> None:
        lanes, symbols, top = self._lanes(slot)
        if not len(lanes):
            return
        cols = grid.cols
        close = cols["close"][row, lanes]  # each field read by lane: a copy of its own
        have = close == close
        if not have.all():
            if not have.any():
                return
            lanes, symbols, close = lanes[have], owned(symbols[have]), close[have]
        else:
            symbols = symbols.view()  # read-only like its base, which it cannot make writable
        slot.now = {}
        source = StrategySource(self, slot, lanes, top)
        view = BarsView(
            interval=grid.interval.name,
            time=ny_at(int(grid.ts[row])),
            now=ny_at(minute.book.now_ns),
            symbols=symbols,
            open=owned(cols["open"][row, lanes]),
            high=owned(cols["high"][row, lanes]),
            low=owned(cols["low"][row, lanes]),
            close=owned(close),
            volume=owned(cols["volume"][row, lanes]),
            _source=source,
        )
        call = slot.instance.on_bars  # type: ignore[attr-defined]
        try:
            self._timed(slot, "on_bars" if slot.vectorised else "on_bar", call, view)
        finally:
            source.ended = f"{view.time:%Y-%m-%d %H:%M}"  # a view kept for later is refused
        self._remember(slot, lanes, top, grid.interval)

    def current(self, slot: Slot, key: str, stream: Any, lanes: np.ndarray) -> dict[str, np.ndarray]:
        """A stream's latest values (this bar's) for replay ``lanes``, read once per callback
        (the lanes' bank lanes are kept while the session's symbols and the stream's members stay)."""
        hit = slot.now.get(key)
        if hit is not None and hit[0] is lanes:
            return hit[1]
        values = current_values(stream, slot.bank_lanes(key, stream, self.eng.session.generation, lanes))
        slot.now[key] = (lanes, values)
        return values

    def _init_previous(self, slot: Slot) -> None:
        """Each key's value at the last completed bar, as the 'previous' of the next callback."""
        if slot.kind == "strategy":
            slot.prev = initial_previous(self.eng, slot.keys, self._lanes(slot)[0])

    def _remember(self, slot: Slot, lanes: np.ndarray, top: int, interval: Interval) -> None:
        """After a callback: this bar's values become the previous ones of its lanes (``top``:
        the highest lane there may be)."""
        for key in slot.keys:
            stream = self.eng.hub.streams.get(key)
            if stream is None or stream.request.interval != interval:
                continue
            now = self.current(slot, key, stream, lanes)
            store = slot.prev.setdefault(key, {})
            for o, values in now.items():
                arr = store.get(o)
                if arr is None or len(arr) <= top:
                    grown = np.full(max(top + 1, 2 * len(arr) if arr is not None else top + 1), np.nan)
                    if arr is not None:
                        grown[: len(arr)] = arr
                    store[o] = arr = grown
                arr[lanes] = values

    # -- scanners ----------------------------------------------------------------------------------------
    def _due(self, slot: Slot, day: dt.date) -> set[int]:
        """The clock offsets (minutes after the open) at which a scanner runs on ``day``: from
        ``start`` (else the open) on the ``every`` grid through ``end``; 0 is the open itself
        (the open stage runs it, before the first bar, as a pre-session scan)."""
        due = slot.due.get(day)
        if due is None:
            sched = slot.schedule or Schedule()
            open_ns, close_ns = self.eng.calendar.open_close(day)
            minutes = (close_ns - open_ns) // MINUTE_NS
            step = every_minutes(sched.every, "every") if sched.every else None
            start = _offset(sched.start, day, open_ns) if sched.start else step  # every: from the open on
            end = _offset(sched.end, day, open_ns) if sched.end else minutes
            due = set()
            if start is not None:
                t = start
                if t < 0:  # a start before the open: the first time on its grid inside the session
                    t = t + (-t + step - 1) // step * step if step else 0
                while t <= min(end, minutes):
                    due.add(t)
                    if step is None:
                        break
                    t += step
            slot.due = {day: due}
        return due

    def _scan(self, slot: Slot) -> None:
        book = self.eng.replay.book
        assert book is not None
        view = ScanView(now=to_ny(book.now_ns), day=book.day, _source=ScannerSource(self, slot))
        self._timed(slot, "scan", slot.instance.scan, view)  # type: ignore[attr-defined]


def _offset(text: str, day: dt.date, open_ns: int) -> int:
    """Minutes from the open to ``text`` (New York wall clock) on ``day``."""
    hhmm(text, "time")  # a bad time says so as the plugin checks do
    return int((int(ny_wall(day, text).timestamp()) * 1_000_000_000 - open_ns) // MINUTE_NS)
