"""Tables for plugins: one plugin (after load, stop, start, reload, unload) and the status table."""

from __future__ import annotations

from typing import Any

from trader_cli.core.plugins.views import PluginStatus, PluginsView, schedule_text
from trader_cli.core.results import Tabular
from trader_cli.render.tables import FitTabular
from trader_cli.render.views import register_view, table_of, typed_rows


def _params(p: PluginStatus) -> str:
    return " ".join(f"{k}={v}" for k, v in p.params.items()) or "—"


def _schedule(p: PluginStatus) -> str | None:
    return schedule_text(p.schedule) if p.schedule else None


def plugin_table(p: PluginStatus) -> Tabular:
    """One plugin as key/value rows."""
    rows: list[list[Any]] = [
        ["name", p.name],
        ["kind", p.kind],
        ["file", f"{p.file}:{p.class_name}"],
        ["params", _params(p)],
        ["state", p.state],
    ]
    if p.kind == "strategy":
        rows += [
            ["symbols", f"{len(p.symbols)}: " + ", ".join(p.symbols[:8]) + (" …" if len(p.symbols) > 8 else "")],
            ["intervals", ", ".join(p.intervals)],
            ["indicators", ", ".join(p.indicators) or "—"],
        ]
    else:
        rows.append(["schedule", _schedule(p)])
    orders = f"{p.orders:,}" + (f" ({p.rejected:,} rejected)" if p.rejected else "")
    rows += [["callbacks", p.callbacks], ["orders", orders], ["adds", p.adds]]
    if p.last_rejection:
        rows.append(["last rejected", p.last_rejection])
    if p.last_error:
        rows.append(["last error", p.last_error])
    return Tabular(title=f"{p.kind} {p.name}", columns=["field", "value"], rows=rows, show_header=False)


def plugins_table(v: PluginsView) -> Tabular:
    """One row per plugin."""
    rows = [
        [p.name, p.kind, p.state, _params(p), len(p.symbols) if p.kind == "strategy" else _schedule(p), p.callbacks,
         p.median_ms, p.max_ms, p.orders, p.rejected, p.adds, p.last_error]
        for p in v.plugins
    ]  # fmt: skip
    why = [f"{p.name}: last rejected {p.last_rejection}" for p in v.plugins if p.last_rejection]
    none = "none loaded (load one with: strategy load FILE, scanner load FILE)"
    return FitTabular(
        title="plugins",
        columns=["name", "kind", "state", "params", "symbols/schedule", "callbacks", "median_ms", "max_ms",
                 "orders", "rejected", "adds", "last_error"],
        rows=rows,
        caption="; ".join(why) or (None if rows else none),
        drop_first=["max_ms", "params"],
    )  # fmt: skip


register_view(PluginStatus, lambda r: [table_of(plugin_table(r))], lambda r: [typed_rows([r])])
register_view(PluginsView, lambda r: [table_of(plugins_table(r))], lambda r: [typed_rows(r.plugins)])
