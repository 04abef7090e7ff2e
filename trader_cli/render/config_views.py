"""``config check``'s table (a valid config's summary, key by value) and its CSV (the summary's
one row, or the problems)."""

from __future__ import annotations

from typing import Any

from trader_cli.core.config_check import ConfigCheckOut, PluginOut
from trader_cli.core.results import Tabular
from trader_cli.render.views import register_view, table_of, typed_rows


def _plugins(specs: list[PluginOut]) -> str:
    return "; ".join(f"{p.spec} {' '.join(f'{k}={v}' for k, v in p.params.items())}".strip() for p in specs)


def check_table(r: ConfigCheckOut) -> Tabular:
    """The summary as key/value rows (a config with problems: the problems)."""
    if r.config is None:
        listed = [[p.location, p.problem] for p in r.problems]
        return Tabular(title=f"{r.file}: problems", columns=["location", "problem"], rows=listed)
    c = r.config
    rows: list[list[Any]] = [
        ["name", c.name],
        ["mode", c.mode],
        ["data_dir", c.data_dir],
        ["dates", f"{c.start_date} .. {c.end_date}" if c.start_date else "—"],
        ["speed", c.speed if c.speed is not None else "—"],
        ["symbols", ", ".join(c.symbols)],
        ["base_interval", c.base_interval],
        ["derived_intervals", ", ".join(c.derived_intervals) or "—"],
        ["trailing_days", c.trailing_days],
        ["indicators", ", ".join(c.indicators) or "—"],
    ]
    for key, specs in (("strategies", c.strategies), ("scanners", c.scanners)):
        if specs:
            rows.append([key, _plugins(specs)])
    return Tabular(title=f"{r.file}: valid", columns=["key", "value"], rows=rows, show_header=False)


register_view(ConfigCheckOut, lambda r: [table_of(check_table(r))], lambda r: [typed_rows([r])])
