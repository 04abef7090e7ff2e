"""Loading a plugin file: import it, find its class, validate its parameters.

``FILE[:CLASS]``: the file is imported under a private module name (a reload imports it again);
without ``:CLASS`` the file must define exactly one subclass of ``Strategy`` (or ``Scanner``).
Parameters are checked against the class's declarations (type, range, choices) with pydantic,
as every other input is: an unknown name, a bad value or a failing import is one ``PluginError``
line saying what and where.
"""

from __future__ import annotations

import hashlib
import importlib.util
import re
import sys
import traceback
from pathlib import Path
from types import ModuleType
from typing import Any

from pydantic import ConfigDict, Field, ValidationError, create_model

from trader_cli.core.errors import DataError, Interrupted, PluginError
from trader_cli.core.intervals import Interval
from trader_cli.core.plugins.api import Param, Plugin, Scanner, Schedule, Strategy

KINDS: dict[str, type[Plugin]] = {"strategy": Strategy, "scanner": Scanner}


# What user code may raise and the host contains: anything — sys.exit(), a KeyboardInterrupt or
# GeneratorExit raised by the plugin itself, a class of its own deriving from BaseException — as
# each would end the shell or the clock thread.
USER_ERRORS: tuple[type[BaseException], ...] = (BaseException,)


def raised(err: BaseException) -> str:
    """``ZeroDivisionError: division by zero``: what user code raised, on one line, even when
    the exception's own ``str()`` raises (it is user code too)."""
    try:
        text = str(err)
    except USER_ERRORS as inner:  # its __str__ broke: the class name still says what it was
        text = f"(its str() raised {type(inner).__name__})"
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


def cancel_on_ctrl_c(err: BaseException, what: str) -> None:
    """Raise ``Interrupted`` for a KeyboardInterrupt caught from a plugin's code while it loads
    (``what``: its import, constructor, ``needs()``, ``default_schedule()``): that code runs in
    the command's thread, where Ctrl-C lands, so it is the trader's cancel — nothing is loaded,
    exit 130 — not the plugin's error. (Callbacks run in the clock's thread, or are stopped by
    the host on purpose: a KeyboardInterrupt there stays the plugin's.)"""
    if isinstance(err, Interrupted):  # raised by a nested load step, already worded
        raise err
    if isinstance(err, KeyboardInterrupt):
        raise Interrupted(f"{what} interrupted (Ctrl-C); nothing was loaded") from err


def split_spec(spec: str) -> tuple[str, str | None]:
    """``path/to/file.py[:Class]`` → (path, class name or None)."""
    path, sep, cls = spec.rpartition(":")
    if sep and path and cls.isidentifier():
        return path, cls
    if sep and path.lower().endswith(".py"):  # FILE:my-class, FILE: — not a path with a colon in it
        raise PluginError(f"{cls!r} after {path}: is not a Python class name (e.g. {path}:EmaCross)")
    return spec, None


def import_file(path: Path) -> ModuleType:
    """Import a plugin file afresh (PluginError naming the file and the failure)."""
    if not path.is_file():
        raise PluginError(f"no plugin file {path} (give the path of a .py file, e.g. examples/strategies/ema_cross.py)")
    digest = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:10]
    name = f"trader_cli_plugin_{path.stem}_{digest}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise PluginError(f"cannot import {path}: not a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and typing look their module up while it runs
    try:
        spec.loader.exec_module(module)
    except USER_ERRORS as err:  # a user's file: any failure while importing it is reported, not raised
        sys.modules.pop(name, None)
        cancel_on_ctrl_c(err, f"importing {path}")
        raise PluginError(f"cannot import {path}: {_where(err, path)}") from err
    return module


def _where(err: BaseException, path: Path) -> str:
    """``SyntaxError: invalid syntax (line 12)``: the error and its line in the user's file."""
    if isinstance(err, SyntaxError):  # its text names the file and line already
        return f"{type(err).__name__}: {err.msg} (line {err.lineno})"
    line = None
    for frame in reversed(traceback.extract_tb(err.__traceback__)):
        if Path(frame.filename).resolve() == path.resolve():
            line = frame.lineno
            break
    text = raised(err).strip()
    return f"{text} (line {line})" if line else text


def idle_note(cls: type[Plugin], kind: str) -> str:
    """What the load line adds for a class with no callback of its own (a misspelt ``on_bars``
    loads and never runs): empty when it has one."""
    own = ("on_bars", "on_bar") if kind == "strategy" else ("scan",)
    if any(getattr(cls, c) is not getattr(KINDS[kind], c) for c in own):
        return ""
    what = "on_bars(self, bars) or on_bar(self, symbol, bar)" if kind == "strategy" else "scan(self, ctx)"
    return f"; warning: {cls.__name__} defines no {what}, so it never runs"


def find_class(module: ModuleType, kind: str, cls_name: str | None, path: Path) -> type[Plugin]:
    """The plugin class: ``cls_name`` or the file's one subclass of the kind's base."""
    base = KINDS[kind]
    if cls_name is not None:
        found = getattr(module, cls_name, None)
        if not (isinstance(found, type) and issubclass(found, base)):
            raise PluginError(f"{path} has no {base.__name__} subclass named {cls_name} ({_listing(module, base)})")
        return found
    own = _own(module, base)
    if not own:
        other = next((k for k, b in KINDS.items() if b is not base and _own(module, b)), None)
        if other is not None:  # a strategy file given to scanner load, or the other way round
            raise PluginError(f"{path} holds a {other}, not a {kind}: load it with: {other} load {path}")
    if not own and not _subclasses(module, base):
        example = "strategies/ema_cross.py" if kind == "strategy" else "scanners/gap_scanner.py"
        raise PluginError(
            f"{path} defines no {base.__name__} subclass: write one (class MyPlugin(trader_cli.plugins."
            f"{base.__name__}): …; see examples/{example})"
        )
    if len(own) != 1:
        what = "no" if not own else f"{len(own)}"
        raise PluginError(
            f"{path} defines {what} {base.__name__} subclasses ({_listing(module, base)}); name one: {path}:CLASS"
        )
    return own[0]


def _own(module: ModuleType, base: type[Plugin]) -> list[type[Plugin]]:
    """The subclasses of ``base`` the module defines (not those it imported)."""
    return [
        v
        for v in vars(module).values()
        if isinstance(v, type) and issubclass(v, base) and v is not base and v.__module__ == module.__name__
    ]


_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


def plugin_name(cls: type[Plugin], path: Path, given: str | None = None) -> str:
    """The plugin's name: ``given`` (``--as``, the config's ``name``: one class loaded twice with
    other params), else its class's ``name``, else the file's stem — a word the commands can
    take (PluginError otherwise)."""
    if given is not None:
        if not isinstance(given, str) or not _NAME.fullmatch(given):
            raise PluginError(f"the name {given!r}: a plugin's name is one word of letters, digits, _, - or .")
        return given
    name = cls.name or path.stem
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        whose = f"{cls.__name__}.name" if cls.name else f"the file name {path.name}"
        raise PluginError(
            f"{whose} gives the plugin the name {name!r}: a plugin's name is one word of letters, "
            f'digits, _, - or . (set name = "my_strategy" in the class)'
        )
    return name


def _subclasses(module: ModuleType, base: type) -> list[str]:
    """The names of the module's subclasses of ``base`` (its own and imported ones), sorted."""
    return sorted(n for n, v in vars(module).items() if isinstance(v, type) and issubclass(v, base) and v is not base)


def _listing(module: ModuleType, base: type) -> str:
    names = _subclasses(module, base)
    return "found: " + ", ".join(names) if names else f"none found: subclass trader_cli.plugins.{base.__name__}"


_TYPES: dict[type, Any] = {int: int, float: float, str: str, bool: bool, list: list[str]}


def validate_params(cls: type[Plugin], raw: dict[str, Any], name: str) -> dict[str, Any]:
    """The declared parameters with ``raw`` applied and checked (PluginError naming the
    parameter, the value and what is allowed)."""
    _check_declared(cls, name)
    declared = {p.name: p for p in cls.params}
    unknown = sorted(set(raw) - set(declared))
    if unknown:
        known = ", ".join(f"{p.name}={p.default!r}" for p in cls.params) or "none"
        raise PluginError(f"{name} has no parameter {', '.join(unknown)} (its parameters: {known})")
    fields: dict[str, Any] = {}
    for p in cls.params:
        kind = _TYPES.get(p.type)
        if kind is None:
            raise PluginError(f"{name}: parameter {p.name} has type {p.type!r}; use int, float, str, bool or list")
        if p.default is None:
            kind = kind | None
        finite = False if p.type is float else None  # a float parameter is a finite number
        fields[p.name] = (kind, Field(p.default, ge=p.min, le=p.max, validate_default=True, allow_inf_nan=finite))
    model = create_model(f"{cls.__name__}Params", __config__=ConfigDict(extra="forbid"), **fields)
    try:
        values = {k: _from_text(declared[k], v) for k, v in raw.items()}
    except PluginError as err:
        raise PluginError(f"{name}: {err}") from None
    try:
        checked: dict[str, Any] = model(**values).model_dump()
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(x) for x in first["loc"])
        key = str(first["loc"][0])
        if key not in values:
            msg = first["msg"].lower()
            raise PluginError(f"{name}: parameter {key}'s default {declared[key].default!r}: {msg}") from err
        raise PluginError(f"{name}: parameter {where}={values[key]}: {first['msg'].lower()}") from err
    for p in cls.params:
        if p.choices is not None and checked[p.name] not in p.choices and checked[p.name] is not None:
            allowed = ", ".join(repr(c) for c in p.choices)
            given = f"={checked[p.name]!r}" if p.name in values else f"'s default {p.default!r}"  # the class's own
            raise PluginError(f"{name}: parameter {p.name}{given}: must be one of {allowed}")
    return checked


def _check_declared(cls: type[Plugin], name: str) -> None:
    """The class's ``params``: a tuple of ``Param``, each with a name, and a range only on a number."""
    params = getattr(cls, "params", ())
    if not isinstance(params, (tuple, list)) or not all(isinstance(p, Param) for p in params):
        raise PluginError(f"{name}: params is {params!r}; declare a tuple of Param(name, type, default, …)")
    seen: set[str] = set()
    for p in params:
        if not isinstance(p.name, str) or not p.name.isidentifier():
            raise PluginError(f"{name}: a parameter is named {p.name!r}; give each Param a name like fast")
        if p.name in seen:
            raise PluginError(f"{name}: two parameters are named {p.name}; give each Param its own name")
        seen.add(p.name)
        ranged = p.min is not None or p.max is not None
        if ranged and p.type not in (int, float):
            what = getattr(p.type, "__name__", p.type)
            raise PluginError(f"{name}: parameter {p.name} is a {what}: min and max are for int and float")
        if any(b is not None and (isinstance(b, bool) or not isinstance(b, (int, float))) for b in (p.min, p.max)):
            raise PluginError(f"{name}: parameter {p.name}'s min/max ({p.min!r}, {p.max!r}) should be numbers")
        if p.choices is not None and not isinstance(p.choices, (tuple, list)):
            raise PluginError(f"{name}: parameter {p.name}'s choices {p.choices!r} should be a tuple of values")


def _from_text(p: Param, value: Any) -> Any:
    """A NAME=VALUE string (or a config's JSON value) as its parameter's type wants it (lists:
    comma-separated, symbols upper-cased as typed ones are; "null"); a JSON true/false is not a
    number, as ``fast=true`` is not."""
    if isinstance(value, bool) and p.type in (int, float):
        raise PluginError(f"parameter {p.name}={str(value).lower()}: give a number")
    if isinstance(value, list) and p.type is list:
        return _tickers(p, [v.strip().upper() if isinstance(v, str) else v for v in value])
    if not isinstance(value, str):
        return value
    if value.lower() in ("null", "none") and p.default is None:
        return None
    if p.type is list:
        text = value.strip()
        if text.startswith("[") or text.endswith("]"):  # universe=["AMZN","RIVN"]: as JSON
            import json

            try:
                items = json.loads(text)
            except ValueError:  # [AMZN,RIVN]: the shell took the quotes
                inner = text[1:-1] if text.startswith("[") and text.endswith("]") else None
                items = [v.strip().strip("'\"") for v in inner.split(",") if v.strip()] if inner is not None else None
            if not isinstance(items, list):
                raise PluginError(f"parameter {p.name}={value}: write {p.name}=AMZN,RIVN (or a JSON list)") from None
            return _from_text(p, items)
        return _tickers(p, [v.strip().upper() for v in value.split(",") if v.strip()])
    return value


def _tickers(p: Param, items: list[Any]) -> list[Any]:
    """A list parameter's values: tickers (a list of symbols, as the plugins' lists are)."""
    from trader_cli.core.store import check_symbol

    for v in items:
        if not isinstance(v, str):
            raise PluginError(f"parameter {p.name}: {v!r} is not a ticker (give symbols, e.g. {p.name}=AMZN,RIVN)")
        try:
            check_symbol(v)
        except DataError as err:
            raise PluginError(f"parameter {p.name}: {err}") from None
    return items


def parse_assignments(items: list[str]) -> dict[str, str]:
    """``["fast=5", "slow=20"]`` → {"fast": "5", "slow": "20"} (PluginError for one without '=')."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.isidentifier():
            raise PluginError(f"bad parameter '{item}' (write NAME=VALUE, e.g. fast=5)")
        if key in out:
            raise PluginError(f"parameter {key} given twice ({key}={out[key]} and {item}); give it once")
        out[key] = value
    return out


def check_spec(
    kind: str,
    spec: str,
    raw: dict[str, Any],
    base: Path,
    schedule: dict[str, Any] | None = None,
    as_name: str | None = None,
) -> tuple[str, str | None]:
    """A configured plugin's (name, what is wrong with it — None: it would load): the file
    imports, the class is there, its name is one word, the params validate, its constructor
    takes them, a strategy's ``needs()`` returns and names indicators and intervals there are,
    a scanner's schedule runs (its own with ``schedule``'s fields changed, as the start makes
    it). The name is ``as_name`` (the config's "name"), else the class's ``name``, else the
    file's stem (the stem too when the file does not load)."""
    from dataclasses import replace

    try:
        file, cls_name = split_spec(spec)
    except PluginError as err:
        return as_name or Path(spec.rpartition(":")[0]).stem, str(err)
    path = Path(file).expanduser()
    if not path.is_absolute():
        path = base / path
    name, where = as_name or path.stem, ""
    try:
        cls = find_class(import_file(path), kind, cls_name, path)
        name = plugin_name(cls, path, as_name)
        params = validate_params(cls, dict(raw), name)
        inst = cls(**params)
        if isinstance(inst, Strategy):
            where = "needs()"
            _check_needs(inst.needs(), name)
        if kind == "scanner":
            own = inst.default_schedule()  # type: ignore[attr-defined]
            check_schedule(replace(own, **schedule) if schedule and isinstance(own, Schedule) else own, name)
    except PluginError as err:
        return name, str(err)
    except USER_ERRORS as err:  # the plugin's own constructor, needs() or default_schedule()
        cancel_on_ctrl_c(err, f"checking {spec}")
        return name, f"{spec}: {where} raised {raised(err)}" if where else f"{spec}: {raised(err)}"
    return name, None


def _check_needs(needs: Any, name: str) -> None:
    """A strategy's ``needs()`` as far as it can be read without a session (``needs.read_needs``)
    and its indicators exist (the symbols are checked against the session's at start)."""
    from trader_cli.core.errors import TraderCliError
    from trader_cli.core.indicators import IndicatorRequest
    from trader_cli.core.intervals import BASE_1M

    for ind, params, iv in read_needs(needs, name, BASE_1M.name)[2]:
        try:
            IndicatorRequest.parse(ind, params, iv)
        except TraderCliError as err:
            raise PluginError(f"{name}: needs(): {err}") from None


def read_needs(
    needs: Any, name: str, base_interval: str
) -> tuple[list[str] | None, list[Interval], list[tuple[str, list[float], Interval]]]:
    """``needs()``'s value read without a session (``config check`` reads it so too): (its
    tickers, None for the config's symbols; intervals, ``base_interval`` when none; indicators),
    PluginError for any part that is not what ``Needs`` takes."""
    from trader_cli.core.errors import TraderCliError
    from trader_cli.core.plugins.api import CONFIG_SYMBOLS, Needs
    from trader_cli.core.plugins.arguments import shown

    if not isinstance(needs, Needs):
        raise PluginError(
            f"{name}: needs() returned {type(needs).__name__}; return Needs(symbols=…, intervals=…, indicators=…)"
        )
    if needs.symbols == CONFIG_SYMBOLS:
        symbols = None
    elif isinstance(needs.symbols, (list, tuple)) and all(isinstance(x, str) for x in needs.symbols):
        symbols = list(dict.fromkeys(x.strip().upper() for x in needs.symbols))
    else:
        raise PluginError(f'{name}: Needs.symbols must be a list of tickers or "config" (got {shown(needs.symbols)})')
    if not isinstance(needs.intervals, (list, tuple, set, frozenset)) or not all(
        isinstance(x, str) for x in needs.intervals
    ):
        raise PluginError(f'{name}: Needs.intervals must be a list such as ["5m"] (got {shown(needs.intervals)})')
    try:
        intervals = sorted({Interval.parse(iv) for iv in needs.intervals} or {Interval.parse(base_interval)})
    except TraderCliError as err:
        raise PluginError(f"{name}: Needs.intervals: {err}") from None
    if not isinstance(needs.indicators, (list, tuple)):
        raise PluginError(
            f'{name}: Needs.indicators must be a list such as [("ema", [10], "5m")] (got {shown(needs.indicators)})'
        )
    indicators = []
    for item in needs.indicators:
        ok = isinstance(item, (list, tuple)) and len(item) == 3 and isinstance(item[0], str)
        ok = ok and isinstance(item[1], (list, tuple)) and isinstance(item[2], str)
        if not ok:
            raise PluginError(
                f'{name}: each of Needs.indicators is (name, params, interval), e.g. ("ema", [10], "5m") '
                f"(got {shown(item)})"
            )
        try:
            indicators.append((item[0], list(item[1]), Interval.parse(item[2])))
        except TraderCliError as err:
            raise PluginError(f"{name}: indicator {shown(item)}: {err}") from None
    return symbols, intervals, indicators


def every_minutes(text: str, what: str) -> int:
    """``15m`` → 15, ``1h`` → 60: whole minutes from 1 to a session (PluginError otherwise)."""
    import re

    m = re.fullmatch(r"\s*(\d+)\s*(m|min|h)\s*", text.lower())
    n = int(m.group(1)) * (60 if m.group(2) == "h" else 1) if m else 0
    if not 1 <= n <= 390:
        raise PluginError(f"{what} '{text}': give whole minutes or hours within a session, e.g. 10m, 15m or 1h")
    return n


def hhmm(text: str, what: str) -> tuple[int, int]:
    try:
        h, m = (int(x) for x in text.split(":"))
        if not (0 <= h < 24 and 0 <= m < 60):
            raise ValueError(text)
    except ValueError:
        raise PluginError(f"{what} '{text}': give a New York time as HH:MM, e.g. 09:45") from None
    return h, m


def check_schedule(sched: Any, name: str) -> None:
    """A schedule that runs, on whole minutes, inside the session (PluginError otherwise)."""
    if not isinstance(sched, Schedule):
        raise PluginError(f'{name}: its schedule is {sched!r}; return Schedule(every="15m", …) from default_schedule()')
    times = {}
    for label, value in (("start", sched.start), ("end", sched.end)):
        if value is not None:
            h, m = hhmm(value, f"{name}: schedule {label}")
            times[label] = h * 60 + m
    if sched.every is not None:
        every_minutes(sched.every, f"{name}: schedule every")
    if not (sched.pre_session or sched.start or sched.every):
        raise PluginError(f"{name}: its schedule never runs (give pre_session, start or every)")
    if "start" in times and "end" in times and times["start"] > times["end"]:
        raise PluginError(f"{name}: schedule start {sched.start} is after its end {sched.end}: it would never run")
    if times.get("start", 0) >= 16 * 60 and not sched.pre_session:
        raise PluginError(f"{name}: schedule start {sched.start} is at or after the close (16:00): it would never run")
    if "end" in times and times["end"] <= 9 * 60 + 30 and not sched.pre_session:
        raise PluginError(f"{name}: schedule end {sched.end} is before the open (09:30): it would never run")
