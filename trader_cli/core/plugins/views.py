"""The plugins as typed data: ``strategy status`` / ``scanner status``, the results of load,
stop, start, reload and unload, and the export's ``plugins``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal, cast

from pydantic import BaseModel, Field

if TYPE_CHECKING:
    from trader_cli.core.engine import Engine
    from trader_cli.core.plugins.host import Kind, Slot


def schedule_text(s: dict[str, Any]) -> str:
    """A scanner's schedule in words: 'pre-session from 09:45 every 15m until 15:30'."""
    parts = ["pre-session"] if s.get("pre_session") else []
    if s.get("start"):
        parts.append(f"from {s['start']}")
    if s.get("every"):
        parts.append(f"every {s['every']}")
    if s.get("end"):
        parts.append(f"until {s['end']}")
    return " ".join(parts)


class PluginStatus(BaseModel):
    """One plugin: what it is, how it runs, what it did."""

    name: str
    kind: Literal["strategy", "scanner"]
    file: str
    class_name: str
    params: dict[str, Any]
    state: Literal["running", "stopped", "failed", "unloaded"]
    schedule: dict[str, Any] | None = Field(description="a scanner's schedule (null for strategies)")
    symbols: list[str] = Field(description="a strategy's symbols")
    intervals: list[str]
    indicators: list[str]
    callbacks: int
    median_ms: float | None
    max_ms: float | None
    orders: int
    rejected: int = Field(0, description="of its orders, those the broker rejected")
    last_rejection: str | None = Field(None, description="the last rejected order and why")
    adds: int
    add_failures: int
    last_error: str | None


class PluginsView(BaseModel):
    """The loaded plugins of one kind (or all)."""

    plugins: list[PluginStatus]


def status_of(slot: Slot) -> PluginStatus:
    """A slot as its status row (the texts a plugin's code or a broker's answer made, secret
    values masked: the status and the export show this row)."""
    from dataclasses import asdict

    from trader_cli.core.secrets import redact

    median, worst = slot.timing()

    def masked(v: Any) -> Any:  # a parameter may hold a key (tag=$APCA_API_SECRET_KEY): masked as the load line does
        return redact(v) if isinstance(v, str) else [masked(x) for x in v] if isinstance(v, list) else v

    return PluginStatus(
        name=slot.name,
        kind=slot.kind,
        file=redact(slot.file),
        class_name=slot.cls_name,
        params={k: masked(v) for k, v in slot.params.items()},
        state=slot.state,
        schedule=asdict(slot.schedule) if slot.schedule is not None else None,
        symbols=list(slot.symbols),
        intervals=[iv.name for iv in slot.intervals],
        indicators=list(slot.keys),
        callbacks=slot.callbacks,
        median_ms=median,
        max_ms=worst,
        orders=slot.orders,
        rejected=slot.rejected,
        last_rejection=redact(slot.last_rejection) if slot.last_rejection else None,
        adds=slot.adds,
        add_failures=slot.add_failures,
        last_error=redact(slot.last_error) if slot.last_error else None,
    )


def plugins_view(eng: Engine, kind: str | None = None, name: str | None = None, unloaded: bool = False) -> PluginsView:
    """Every loaded plugin (of ``kind``; only ``name``, PluginError if not loaded), in load order;
    ``unloaded``: after them, the ones unloaded this session (the export's: orders name them)."""
    if name is not None:
        slot = eng.plugins.slots.get(name)
        want = cast("Kind", kind or (slot.kind if slot else "strategy"))
        return PluginsView(plugins=[status_of(eng.plugins.get(name, want))])
    slots = [*eng.plugins.slots.values(), *(eng.plugins.unloaded if unloaded else [])]
    return PluginsView(plugins=[status_of(s) for s in slots if kind in (None, s.kind)])
