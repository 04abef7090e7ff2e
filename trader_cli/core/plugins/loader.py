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
import sys
import traceback
from pathlib import Path
from types import ModuleType
from typing import Any

from pydantic import ConfigDict, Field, ValidationError, create_model

from trader_cli.core.errors import PluginError
from trader_cli.core.plugins.api import Param, Plugin, Scanner, Strategy

KINDS: dict[str, type[Plugin]] = {"strategy": Strategy, "scanner": Scanner}


def split_spec(spec: str) -> tuple[str, str | None]:
    """``path/to/file.py[:Class]`` → (path, class name or None)."""
    path, sep, cls = spec.rpartition(":")
    if sep and path and cls.isidentifier():
        return path, cls
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
    except Exception as err:  # a user's file: any failure while importing it is reported, not raised
        sys.modules.pop(name, None)
        raise PluginError(f"cannot import {path}: {_where(err, path)}") from err
    return module


def _where(err: BaseException, path: Path) -> str:
    """``SyntaxError: invalid syntax (line 12)``: the error and its line in the user's file."""
    line = getattr(err, "lineno", None) if isinstance(err, SyntaxError) else None
    if line is None:
        for frame in reversed(traceback.extract_tb(err.__traceback__)):
            if Path(frame.filename).resolve() == path.resolve():
                line = frame.lineno
                break
    text = f"{type(err).__name__}: {err}".strip()
    return f"{text} (line {line})" if line else text


def find_class(module: ModuleType, kind: str, cls_name: str | None, path: Path) -> type[Plugin]:
    """The plugin class: ``cls_name`` or the file's one subclass of the kind's base."""
    base = KINDS[kind]
    if cls_name is not None:
        found = getattr(module, cls_name, None)
        if not (isinstance(found, type) and issubclass(found, base)):
            raise PluginError(f"{path} has no {base.__name__} subclass named {cls_name} ({_listing(module, base)})")
        return found
    own = [
        v
        for v in vars(module).values()
        if isinstance(v, type) and issubclass(v, base) and v is not base and v.__module__ == module.__name__
    ]
    if len(own) != 1:
        what = "no" if not own else f"{len(own)}"
        raise PluginError(
            f"{path} defines {what} {base.__name__} subclasses ({_listing(module, base)}); name one: {path}:CLASS"
        )
    return own[0]


def _listing(module: ModuleType, base: type) -> str:
    names = sorted(n for n, v in vars(module).items() if isinstance(v, type) and issubclass(v, base) and v is not base)
    return "found: " + ", ".join(names) if names else f"none found: subclass trader_cli.plugins.{base.__name__}"


_TYPES: dict[type, Any] = {int: int, float: float, str: str, bool: bool, list: list[str]}


def validate_params(cls: type[Plugin], raw: dict[str, Any], name: str) -> dict[str, Any]:
    """The declared parameters with ``raw`` applied and checked (PluginError naming the
    parameter, the value and what is allowed)."""
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
        fields[p.name] = (kind, Field(p.default, ge=p.min, le=p.max))
    model = create_model(f"{cls.__name__}Params", __config__=ConfigDict(extra="forbid"), **fields)
    values = {k: _from_text(declared[k], v) for k, v in raw.items()}
    try:
        checked: dict[str, Any] = model(**values).model_dump()
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(x) for x in first["loc"])
        given = values.get(str(first["loc"][0]), "?")
        raise PluginError(f"{name}: parameter {where}={given}: {first['msg'].lower()}") from err
    for p in cls.params:
        if p.choices is not None and checked[p.name] not in p.choices:
            allowed = ", ".join(repr(c) for c in p.choices)
            raise PluginError(f"{name}: parameter {p.name}={checked[p.name]!r}: must be one of {allowed}")
    return checked


def _from_text(p: Param, value: Any) -> Any:
    """A NAME=VALUE string as its parameter's type wants it (lists: comma-separated; "null")."""
    if not isinstance(value, str):
        return value
    if value.lower() in ("null", "none") and p.default is None:
        return None
    if p.type is list:
        return [v.strip().upper() for v in value.split(",") if v.strip()]
    return value


def parse_assignments(items: list[str]) -> dict[str, str]:
    """``["fast=5", "slow=20"]`` → {"fast": "5", "slow": "20"} (PluginError for one without '=')."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.isidentifier():
            raise PluginError(f"bad parameter '{item}' (write NAME=VALUE, e.g. fast=5)")
        out[key] = value
    return out


def check_spec(kind: str, spec: str, raw: dict[str, Any], base: Path) -> str | None:
    """What is wrong with a configured plugin (None: it would load): the file imports, the class
    is there, the params validate."""
    file, cls_name = split_spec(spec)
    path = Path(file).expanduser()
    if not path.is_absolute():
        path = base / path
    try:
        cls = find_class(import_file(path), kind, cls_name, path)
        validate_params(cls, dict(raw), cls.name or path.stem)
    except PluginError as err:
        return str(err)
    return None
