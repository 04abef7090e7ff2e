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
import time
import traceback
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast

import numpy as np

from trader_cli.core.bars import OPEN_AFTER_MIDNIGHT_NS, Bars, aggregate, session_bars
from trader_cli.core.calendar import to_ny
from trader_cli.core.errors import PluginError, SessionStateError, TraderCliError
from trader_cli.core.intervals import BASE_1M, Interval
from trader_cli.core.plugins.api import (
    CONFIG_SYMBOLS,
    BarsView,
    Plugin,
    Scanner,
    ScanView,
    Schedule,
    Strategy,
    indicator_key,
)
from trader_cli.core.plugins.loader import (
    USER_ERRORS,
    check_schedule,
    every_minutes,
    find_class,
    hhmm,
    import_file,
    split_spec,
    validate_params,
)
from trader_cli.core.provenance import Source

if TYPE_CHECKING:
    from trader_cli.core.broker.models import OrderRecord as Order
    from trader_cli.core.broker.models import Side, TimeInForce
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
    symbols: list[str] = field(default_factory=list)  # strategies: the symbols it trades
    intervals: list[Interval] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)  # indicator keys it asked for
    state: Literal["running", "stopped", "failed"] = "running"
    callbacks: int = 0
    durations: deque[float] = field(default_factory=lambda: deque(maxlen=4096))
    max_ms: float = 0.0
    orders: int = 0
    adds: int = 0
    add_failures: int = 0
    last_error: str | None = None
    vectorised: bool = True
    due: dict[dt.date, set[int]] = field(default_factory=dict)  # scanners: clock offsets (minutes)
    prev: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)  # key -> output -> by lane
    now: dict[str, tuple[np.ndarray, dict[str, np.ndarray]]] = field(default_factory=dict)  # this callback's
    _banks: dict[str, tuple[int, int, np.ndarray]] = field(default_factory=dict)  # key -> (gen, members, map)
    _lanes: tuple[int, np.ndarray, np.ndarray] | None = None  # (session generation, lanes, symbols)

    @property
    def origin(self) -> str:
        """What its orders carry as their origin: ``strategy:ema_cross``."""
        return f"{self.kind}:{self.name}"

    def bank_lanes(self, key: str, stream: Any, generation: int) -> np.ndarray:
        """Replay lane → the key's bank lane (-1: not a member), rebuilt when the session's
        symbols or the stream's members changed."""
        cached = self._banks.get(key)
        if cached is not None and cached[0] == generation and cached[1] == len(stream.members):
            return cached[2]
        members = stream.members
        size = max(members, default=-1) + 1
        table = np.full(size, -1, dtype=np.int64)
        for lane, blane in members.items():
            table[lane] = blane
        self._banks[key] = (generation, len(members), table)
        return table

    def timing(self) -> tuple[float | None, float | None]:
        """(median, max) milliseconds of its callbacks."""
        if not self.durations:
            return None, None
        return statistics.median(self.durations) * 1000, self.max_ms


class PluginHost:
    """The session's plugins and their stages (see the module doc)."""

    def __init__(self, eng: Engine) -> None:
        self.eng = eng
        self.slots: dict[str, Slot] = {}

    def reset(self) -> None:
        """A new session: no plugins."""
        self.slots = {}

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
        schedule: Schedule | None = None,
        base: Path | None = None,
    ) -> Slot:
        """Import ``FILE[:CLASS]``, check its params, provision what it needs (a strategy) or set
        its schedule (a scanner); the new slot, running."""
        from trader_cli.core.provisioning.pipeline import require_session

        require_session(self.eng)
        file, cls_name = split_spec(spec)
        path = Path(file).expanduser()
        if base is not None and not path.is_absolute():
            path = base / path
        cls = find_class(import_file(path), kind, cls_name, path)
        name = cls.name or path.stem
        if name in self.slots:
            have = self.slots[name].kind
            raise PluginError(f"a {have} named {name} is loaded already (unload it first: {have} unload {name})")
        params = validate_params(cls, dict(raw or {}), name)
        instance = self._construct(cls, params, name)
        slot = Slot(name, kind, str(path), cls.__name__, params, instance)
        if isinstance(instance, Strategy):
            slot.vectorised = type(instance).on_bars is not Strategy.on_bars
            self._provision(slot, instance)
        elif isinstance(instance, Scanner):
            slot.schedule = schedule or self._call_schedule(instance, name)
            check_schedule(slot.schedule, name)
        self.slots[name] = slot
        self._init_previous(slot)
        self.eng.events.emit("plugin", f"{kind} {name} loaded ({cls.__name__}, {_params_text(params)})")
        return slot

    def _construct(self, cls: type[Plugin], params: dict[str, Any], name: str) -> Plugin:
        try:
            return cls(**params)
        except USER_ERRORS as err:  # a user's constructor: reported, not raised
            raise PluginError(f"{name}: its constructor raised {type(err).__name__}: {err}") from err

    def _call_schedule(self, scanner: Scanner, name: str) -> Schedule:
        try:
            return scanner.default_schedule()
        except USER_ERRORS as err:  # user code
            raise PluginError(f"{name}: default_schedule() raised {type(err).__name__}: {err}") from err

    def _provision(self, slot: Slot, strategy: Strategy) -> None:
        """A strategy's needs through the pipeline, source strategy: every addition is analyzed
        and validated first, and any that cannot go ahead fails the load with nothing added
        (all or an error); then the slot takes the symbols, intervals and indicator keys."""
        from trader_cli.core.provisioning.pipeline import add

        eng = self.eng
        assert eng.config is not None
        symbols, intervals, indicators = self._needs(slot, strategy)
        rule = f"needed by {slot.name}"
        planned: list[tuple[str, str, dict[str, Any]]] = [("symbol", sym, {}) for sym in symbols]
        planned += [("bar", sym, {"interval": iv}) for sym in symbols for iv in intervals if iv != BASE_1M]
        planned += [("indicator", sym, {"indicator": spec}) for sym in symbols for spec in indicators]
        problems = self._precheck(planned)
        if problems:
            more = f" (+{len(problems) - 3} more)" if len(problems) > 3 else ""
            raise PluginError(f"{slot.name}: not loaded, nothing added: {'; '.join(problems[:3])}{more}")
        failures: list[str] = []
        for operation, sym, kw in planned:
            try:
                self._added(slot, add(eng, operation, sym, Source.strategy, **kw), rule)  # type: ignore[arg-type]
            except TraderCliError as err:
                failures.append(f"{operation} {sym}: {err}")
        if failures:
            raise PluginError(
                f"{slot.name}: not loaded; provisioning failed after its checks passed ({'; '.join(failures[:3])}); "
                "what was added stays in the session (see: data session)"
            )
        slot.symbols = [s for s in symbols if s in eng.session.symbols]
        slot.intervals = intervals
        slot.keys = [indicator_key(name, params, iv.name) for name, params, iv in indicators]
        slot._lanes = None  # the symbols may differ from a previous load's
        slot._banks = {}

    def _needs(
        self, slot: Slot, strategy: Strategy
    ) -> tuple[list[str], list[Interval], list[tuple[str, list[float], Interval]]]:
        """What ``needs()`` returned, checked: (symbols, intervals, indicators)."""
        from trader_cli.core.plugins.api import Needs

        eng = self.eng
        assert eng.config is not None
        try:
            needs = strategy.needs()
        except USER_ERRORS as err:  # user code
            raise PluginError(f"{slot.name}: needs() raised {type(err).__name__}: {err}") from err
        if not isinstance(needs, Needs):
            raise PluginError(
                f"{slot.name}: needs() returned {type(needs).__name__}; "
                "return Needs(symbols=…, intervals=…, indicators=…)"
            )
        cfg = eng.config.session_data_config
        if needs.symbols == CONFIG_SYMBOLS:
            symbols = [s for s in cfg.symbols if s in eng.session.symbols]
        elif isinstance(needs.symbols, (list, tuple)) and all(isinstance(x, str) for x in needs.symbols):
            symbols = list(dict.fromkeys(x.strip().upper() for x in needs.symbols))
        else:
            raise PluginError(
                f'{slot.name}: Needs.symbols must be a list of tickers or "config" (got {needs.symbols!r})'
            )
        if isinstance(needs.intervals, str) or not all(isinstance(x, str) for x in needs.intervals):
            raise PluginError(f'{slot.name}: Needs.intervals must be a list such as ["5m"] (got {needs.intervals!r})')
        try:
            intervals = sorted({Interval.parse(iv) for iv in needs.intervals} or {Interval.parse(cfg.base_interval)})
        except TraderCliError as err:
            raise PluginError(f"{slot.name}: Needs.intervals: {err}") from None
        indicators = []
        for item in needs.indicators:
            ok = isinstance(item, (list, tuple)) and len(item) == 3 and isinstance(item[0], str)
            ok = ok and isinstance(item[1], (list, tuple)) and isinstance(item[2], str)
            if not ok:
                raise PluginError(
                    f'{slot.name}: each of Needs.indicators is (name, params, interval), e.g. ("ema", [10], "5m") '
                    f"(got {item!r})"
                )
            try:
                indicators.append((item[0], list(item[1]), Interval.parse(item[2])))
            except TraderCliError as err:
                raise PluginError(f"{slot.name}: indicator {item!r}: {err}") from None
        if not symbols:
            raise PluginError(f"{slot.name}: it needs no symbol the session has (Needs.symbols={needs.symbols!r})")
        return symbols, intervals, indicators

    def _precheck(self, planned: list[tuple[str, str, dict[str, Any]]]) -> list[str]:
        """Analyze and validate every planned addition (nothing changes); what would fail."""
        from trader_cli.core.provisioning.pipeline import analyze

        problems = []
        for operation, sym, kw in planned:
            try:
                req = analyze(self.eng, operation, sym, Source.strategy, **kw)  # type: ignore[arg-type]
            except TraderCliError as err:
                problems.append(f"{operation} {sym}: {err}")
                continue
            if not req.can_proceed:
                problems.append(f"{operation} {sym}: {'; '.join(req.validation_errors) or req.outcome}")
        return problems

    def _added(self, slot: Slot, result: Any, rule: str) -> None:
        """Count an addition and name the plugin in the symbol's metadata."""
        if result.report is None:  # a duplicate: nothing was added
            return
        slot.adds += 1
        data = self.eng.session.get(result.requirements.symbol)
        if data is not None and result.requirements.outcome in ("create", "upgrade"):  # the plugin brought it
            data.metadata.plugin = slot.origin
            data.metadata.rule = rule

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
        slot.state = "running"
        slot.last_error = None
        self._init_previous(slot)
        return slot

    def unload(self, name: str, kind: Kind) -> Slot:
        """Forget a plugin (its symbols, positions and orders stay in the session)."""
        return self.slots.pop(self.get(name, kind).name)

    def reload(self, name: str, kind: Kind) -> Slot:
        """Import the file again and rebuild the plugin with the same params; positions and
        orders are the broker's and stay. A file that no longer loads, or needs that cannot be
        provisioned, leave the old plugin as it was (its state too)."""
        old = self.get(name, kind)
        path = Path(old.file)
        cls = find_class(import_file(path), kind, old.cls_name, path)
        params = validate_params(cls, old.params, name)
        instance = self._construct(cls, params, name)
        if isinstance(instance, Strategy):
            trial = Slot(old.name, old.kind, old.file, old.cls_name, params, instance)
            self._provision(trial, instance)  # raises before anything of ``old`` changes
            old.symbols, old.intervals, old.keys = trial.symbols, trial.intervals, trial.keys
            old.adds += trial.adds
            old._lanes, old._banks = None, {}
            old.vectorised = type(instance).on_bars is not Strategy.on_bars
        old.instance, old.params = instance, params
        old.state, old.last_error = "running", None
        self._init_previous(old)
        self.eng.events.emit("plugin", f"{kind} {name} reloaded")
        return old

    # -- failures -------------------------------------------------------------------------------------
    def _fail(self, slot: Slot, where: str, err: BaseException) -> None:
        from trader_cli.core.logs import append_log

        slot.state = "failed"
        slot.last_error = f"{where} raised {type(err).__name__}: {err}"
        log = append_log("plugins.log", f"{slot.kind} {slot.name}: {where}\n{traceback.format_exc()}")
        self.eng.events.emit(
            "error",
            f"{slot.kind} {slot.name} stopped: {slot.last_error} (traceback in {log}; "
            f"fix it, then: {slot.kind} reload {slot.name})",
        )

    def _timed(self, slot: Slot, where: str, call: Any, *args: Any) -> None:
        t0 = time.perf_counter()
        try:
            call(*args)
        except USER_ERRORS as err:  # a plugin that raises (or exits) is stopped; the session goes on
            self._fail(slot, where, err)
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
    def _lanes(self, slot: Slot) -> tuple[np.ndarray, np.ndarray]:
        """(lanes, symbols) of the strategy's symbols still in the session (cached per session
        generation: adds and removals bump it)."""
        session = self.eng.session
        cached = slot._lanes
        if cached is None or cached[0] != session.generation:
            held = [s for s in slot.symbols if s in session.symbols]
            lanes = np.array([session.symbols[s].lane for s in held], dtype=np.int64)
            cached = (session.generation, lanes, np.array(held, dtype=object))
            slot._lanes = cached
        return cached[1], cached[2]

    def _callback(self, slot: Slot, grid: Grid, row: int, minute: Minute) -> None:
        lanes, symbols = self._lanes(slot)
        if not len(lanes):
            return
        cols = grid.cols
        close = cols["close"][row, lanes]
        have = close == close
        if not have.any():
            return
        lanes, symbols = lanes[have], symbols[have]
        view = BarsView(
            interval=grid.interval.name,
            time=to_ny(int(grid.ts[row])),
            now=to_ny(minute.book.now_ns),
            symbols=symbols,
            open=_frozen(cols["open"][row, lanes]),
            high=_frozen(cols["high"][row, lanes]),
            low=_frozen(cols["low"][row, lanes]),
            close=_frozen(close[have]),
            volume=_frozen(cols["volume"][row, lanes]),
            _source=_BarsSource(self, slot, lanes),
        )
        call = slot.instance.on_bars  # type: ignore[attr-defined]
        self._timed(slot, "on_bars" if slot.vectorised else "on_bar", call, view)
        self._remember(slot, lanes, grid.interval)

    def current(self, slot: Slot, key: str, stream: Any, lanes: np.ndarray) -> dict[str, np.ndarray]:
        """A stream's latest values (this bar's) for replay ``lanes``, read once per callback."""
        cache = slot.now
        hit = cache.get(key)
        if hit is not None and hit[0] is lanes:
            return hit[1]
        values = _current(stream, lanes, slot.bank_lanes(key, stream, self.eng.session.generation))
        cache[key] = (lanes, values)
        return values

    def _init_previous(self, slot: Slot) -> None:
        """Each key's value at the last completed bar, as the 'previous' of the next callback."""
        if slot.kind != "strategy":
            return
        slot.prev = {}
        lanes, _ = self._lanes(slot)
        for key in slot.keys:
            stream = self.eng.hub.streams.get(key)
            if stream is None:
                continue
            size = max(len(self.eng.broker.qty), int(lanes.max(initial=-1)) + 1)
            store = {o: np.full(size, np.nan) for o in stream.outputs}
            member = [(lane, stream.members[lane]) for lane in lanes.tolist() if lane in stream.members]
            if member:
                ls = np.array([a for a, _ in member])
                latest = stream.bank.latest_of(np.array([b for _, b in member]))
                for o in stream.outputs:
                    store[o][ls] = latest[o]
            slot.prev[key] = store

    def _remember(self, slot: Slot, lanes: np.ndarray, interval: Interval) -> None:
        """After a callback: this bar's values become the previous ones of its lanes."""
        for key in slot.keys:
            stream = self.eng.hub.streams.get(key)
            if stream is None or stream.request.interval != interval:
                continue
            now = self.current(slot, key, stream, lanes)
            store = slot.prev.setdefault(key, {})
            for o, values in now.items():
                arr = store.get(o)
                need = int(lanes.max()) + 1
                if arr is None or len(arr) < need:
                    grown = np.full(max(need, 2 * len(arr) if arr is not None else need), np.nan)
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
        eng = self.eng
        book = eng.replay.book
        assert book is not None
        view = ScanView(now=to_ny(book.now_ns), day=book.day, _source=_ScanSource(self, slot))
        self._timed(slot, "scan", slot.instance.scan, view)  # type: ignore[attr-defined]


def _frozen(a: np.ndarray) -> np.ndarray:
    a = np.array(a)
    a.flags.writeable = False
    return a


def _current(stream: Any, lanes: np.ndarray, bank_of: np.ndarray) -> dict[str, np.ndarray]:
    """A stream's latest values (this bar's) for replay ``lanes`` (NaN where not a member);
    ``bank_of``: replay lane → bank lane (-1: none)."""
    blanes = (
        np.where(lanes < len(bank_of), bank_of[np.minimum(lanes, len(bank_of) - 1)], -1)
        if len(bank_of)
        else (np.full(len(lanes), -1))
    )
    ok = blanes >= 0
    if ok.all():
        latest: dict[str, np.ndarray] = stream.bank.latest_of(blanes)
        return latest
    out = {o: np.full(len(lanes), np.nan) for o in stream.outputs}
    if ok.any():
        got = stream.bank.latest_of(blanes[ok])
        for o in stream.outputs:
            out[o][ok] = got[o]
    return out


def _offset(text: str, day: dt.date, open_ns: int) -> int:
    """Minutes from the open to ``text`` (New York wall clock) on ``day``."""
    from zoneinfo import ZoneInfo

    h, m = hhmm(text, "time")
    at = dt.datetime.combine(day, dt.time(h, m), tzinfo=ZoneInfo("America/New_York"))
    return int((int(at.timestamp()) * 1_000_000_000 - open_ns) // MINUTE_NS)


def _params_text(params: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in params.items()) or "no params"


class _BarsSource:
    """What a strategy's ``BarsView`` reads and does through (one callback's)."""

    def __init__(self, host: PluginHost, slot: Slot, lanes: np.ndarray) -> None:
        self.host, self.slot, self.lanes = host, slot, lanes

    def _stream(self, key: str) -> Any:
        stream = self.host.eng.hub.streams.get(key)
        if stream is None:
            have = ", ".join(sorted(self.slot.keys)) or "none"
            raise PluginError(f"no indicator {key} in the session (this strategy's: {have}; declare it in needs())")
        return stream

    def _output(self, stream: Any, key: str, output: str | None) -> str:
        out = output or stream.outputs[0]
        if out not in stream.outputs:
            raise PluginError(f"{key} has no output {out} (outputs: {', '.join(stream.outputs)})")
        return str(out)

    def indicator(self, view: BarsView, key: str, output: str | None, previous: bool) -> np.ndarray:
        stream = self._stream(key)
        out = self._output(stream, key, output)
        if not previous:
            return _frozen(self.host.current(self.slot, key, stream, self.lanes)[out])
        store = self.slot.prev.get(key, {}).get(out)
        if store is None:
            return _frozen(np.full(len(self.lanes), np.nan))
        vals = np.full(len(self.lanes), np.nan)
        ok = self.lanes < len(store)
        vals[ok] = store[self.lanes[ok]]
        return _frozen(vals)

    def positions(self, view: BarsView) -> np.ndarray:
        broker = self.host.eng.broker
        if len(self.lanes):
            broker._ensure(int(self.lanes.max()))
        return _frozen(broker.qty[self.lanes])

    def history(self, symbol: str, interval: str, last: int | None) -> Bars:
        from trader_cli.core import queries

        eng = self.host.eng
        data, iv = queries.holding(eng, symbol, interval)
        bars = queries.series(eng, data, iv)
        return bars.slice(max(0, len(bars) - last)) if last is not None else bars

    def order(self, view: BarsView, side: str, which: Any, qty: Any, limit: Any, stop: Any, tif: str) -> list[Order]:
        from trader_cli.core.broker.models import OrderRequest

        idx = _select(which, view.symbols)
        qtys, limits, stops = (
            _per(x, idx, len(view.symbols), name) for x, name in ((qty, "qty"), (limit, "limit"), (stop, "stop"))
        )
        if tif not in ("day", "gtc"):
            raise PluginError(f"order tif '{tif}': use day or gtc")
        if limit is None and stop is None and len(idx):  # market orders: checked at once where they can be
            want = np.asarray(qtys)
            if want.dtype.kind in "iu" or (want.dtype.kind == "f" and np.all(np.mod(want, 1) == 0)):
                placed = self.host.eng.broker.submit_market(
                    [str(s) for s in view.symbols[idx].tolist()], self.lanes[idx], cast("Side", side),
                    want.astype(np.int64), cast("TimeInForce", tif), self.slot.origin,
                )  # fmt: skip
                if placed is not None:
                    self.slot.orders += len(placed)
                    return placed
        reqs = []
        for k, i in enumerate(idx.tolist()):
            q = qtys[k]
            if isinstance(q, float) and q.is_integer():
                q = int(q)
            if not isinstance(q, int) or isinstance(q, bool):
                raise PluginError(f"order qty {q!r} for {view.symbols[i]}: give a whole number of shares")
            reqs.append(
                OrderRequest(
                    symbol=str(view.symbols[i]), side=cast("Side", side), qty=q, limit=_num(limits[k]),
                    stop=_num(stops[k]), tif=cast("TimeInForce", tif), origin=self.slot.origin,
                )
            )  # fmt: skip
        placed = self.host.eng.broker.submit_many(reqs) if reqs else []
        self.slot.orders += len(placed)
        return placed


def _select(which: Any, symbols: np.ndarray) -> np.ndarray:
    """Indices into ``symbols`` from a boolean mask, indices or names."""
    arr = np.asarray(which)
    if arr.dtype == bool:
        if arr.shape != symbols.shape:
            raise PluginError(f"an order mask has {arr.size} entries for {len(symbols)} symbols")
        return np.flatnonzero(arr)
    if arr.dtype.kind in "iu":
        return arr.astype(np.int64).ravel()
    names = {str(s): i for i, s in enumerate(symbols.tolist())}
    try:
        return np.array([names[str(w).upper()] for w in np.atleast_1d(arr).tolist()], dtype=np.int64)
    except KeyError as err:
        raise PluginError(f"order for {err.args[0]}: not one of this callback's symbols") from None


def _per(x: Any, idx: np.ndarray, total: int, name: str) -> list[Any]:
    """One value per selected symbol: a scalar for all, one per selected symbol, or one per
    symbol of the callback (then the selected ones are taken)."""
    n = len(idx)
    if x is None or np.isscalar(x):
        one = x.item() if isinstance(x, np.generic) else x
        return [one] * n
    arr = np.asarray(x).ravel()
    if len(arr) == n:
        return list(arr.tolist())
    if len(arr) == total:
        return list(arr[idx].tolist())
    raise PluginError(f"{len(arr)} {name} values for {n} selected symbols (give one, {n}, or one per symbol: {total})")


def _num(x: Any) -> float | None:
    return None if x is None else float(x)


class _ScanSource:
    """What a scanner's ``ScanView`` reads and adds through."""

    def __init__(self, host: PluginHost, slot: Slot) -> None:
        self.host, self.slot = host, slot

    def universe(self, interval: str) -> list[str]:
        return self.host.eng.feed.universe(Interval.parse(interval))

    def in_session(self, symbol: str) -> bool:
        return symbol.upper() in self.host.eng.session.symbols

    def read(self, symbols: Sequence[str], interval: str, days: int) -> dict[str, Bars]:
        eng = self.host.eng
        book = eng.replay.book
        assert book is not None
        iv = Interval.parse(interval)
        back = eng.calendar.trading_days_back(book.day, max(0, days - 1))
        start = eng.calendar.open_close(back[0] if back else book.day)[0]
        if iv.is_intraday:
            end = book.now_ns - iv.seconds * 1_000_000_000 + 1  # bars that ended by now
        else:  # a daily bar is stamped at its day's New York midnight: today's only once closed
            midnight = book.open_ns - OPEN_AFTER_MIDNIGHT_NS
            end = midnight + 1 if book.now_ns >= book.close_ns else midnight
        out = {}
        for raw in symbols:
            sym = raw.upper()
            stored = eng.feed.intervals_for(sym)
            if iv.name in stored:
                bars = eng.feed.read(sym, iv, start if iv.is_intraday else None, end)
            elif "1m" in stored:  # built from the 1m bars, as the session builds its own
                closed = book.now_ns >= book.close_ns
                upto = book.now_ns if iv.is_intraday else (book.close_ns if closed else book.open_ns)
                base = session_bars(eng.feed.read(sym, BASE_1M, start if iv.is_intraday else None, upto), eng.calendar)
                bars = aggregate(base, iv, eng.calendar)
                if iv.is_intraday:  # only bars that ended by now
                    bars = bars.slice(0, int(np.searchsorted(bars.ts, end, "left")))
            else:
                continue  # nothing stored for it: left out (the scanner sees no bars)
            out[sym] = bars if iv.is_intraday else bars.slice(max(0, len(bars) - days))
        return out

    def previous_close(self, symbols: Sequence[str]) -> dict[str, float]:
        eng = self.host.eng
        book = eng.replay.book
        assert book is not None
        prev = eng.calendar.previous_trading_day(book.day)
        if prev is None:
            return {s.upper(): float("nan") for s in symbols}
        o, c = eng.calendar.open_close(prev)
        out = {}
        for raw in symbols:
            sym = raw.upper()
            bars = eng.feed.read(sym, BASE_1M, o, c) if "1m" in eng.feed.intervals_for(sym) else Bars.empty()
            out[sym] = float(bars.close[-1]) if len(bars) else float("nan")
        return out

    def add(self, view: ScanView, operation: str, symbol: str, rule: str, **kw: Any) -> bool:
        from trader_cli.core.provisioning.pipeline import add

        if "interval" in kw:
            kw["interval"] = Interval.parse(kw["interval"])
        if "indicator" in kw:
            name, params, iv = kw["indicator"]
            kw["indicator"] = (name, params, Interval.parse(iv))
        try:
            result = add(self.host.eng, operation, symbol, Source.scanner, **kw)  # type: ignore[arg-type]
        except (TraderCliError, SessionStateError) as err:
            self.slot.add_failures += 1
            self.slot.last_error = f"add {operation} {symbol.upper()}: {err}"
            return False
        self.host._added(self.slot, result, rule or f"{self.slot.name} at {view.now:%H:%M}")
        return True
