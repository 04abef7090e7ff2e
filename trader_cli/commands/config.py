"""``config check FILE`` and ``config schema``."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from trader_cli.commands.common import OutputOpt

app = typer.Typer(help="Check session configs and print their JSON Schema.", no_args_is_help=True)


@app.command("check")
def check(
    path: Annotated[str, typer.Argument(help="A config file, e.g. configs/default.json.")],
    output: OutputOpt = None,
) -> object:
    """Validate a config file and summarise it. Example: config check configs/default.json"""
    from trader_cli.core.config import load_config
    from trader_cli.core.results import Tabular

    cfg = load_config(path)
    sd = cfg.session_data_config
    bt = cfg.backtest_config
    rows: list[list[Any]] = [
        ["name", cfg.name],
        ["mode", cfg.mode],
        ["data_dir", cfg.data_dir or "(default)"],
        ["dates", f"{bt.start_date} .. {bt.end_date}" if bt else "—"],
        ["speed", bt.speed_multiplier if bt else "—"],
        ["symbols", ", ".join(sd.symbols)],
        ["base_interval", sd.base_interval],
        ["derived_intervals", ", ".join(sd.derived_intervals) or "—"],
        ["trailing_days", sd.historical.trailing_days],
        [
            "indicators",
            ", ".join(
                f"{i.name}{tuple(i.params) if i.params else ''}@{i.interval or sd.base_interval}" for i in sd.indicators
            )
            or "—",
        ],
    ]
    return Tabular(title=f"{path}: valid", columns=["key", "value"], rows=rows, show_header=False)


@app.command("schema")
def schema(output: OutputOpt = None) -> object:
    """Print the JSON Schema of a session config. Example: config schema --output json"""
    from trader_cli.core.config import config_schema
    from trader_cli.core.results import Document

    return Document(title="session config JSON Schema", data=config_schema())
