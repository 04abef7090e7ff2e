"""``config check FILE`` and ``config schema``."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from trader_cli.commands.common import OutputOpt, app_ctx

app = typer.Typer(help="Check session configs and print their JSON Schema.", no_args_is_help=True)


@app.command("check")
def check(
    ctx: typer.Context,
    path: Annotated[str, typer.Argument(help="A config file, e.g. configs/default.json.")],
    output: OutputOpt = None,
) -> object:
    """Check a config as system start would (short of reading bars) and summarise it; every
    problem is listed and the exit code is 1 when there is any. Example: config check configs/default.json"""
    from trader_cli.core.config_check import check_config
    from trader_cli.core.errors import ConfigError
    from trader_cli.core.indicators import IndicatorRequest
    from trader_cli.core.results import Tabular
    from trader_cli.render import OutputMode

    obj = app_ctx(ctx)
    found = check_config(path, obj.data_dir_option)
    if found.problems:
        listed = [[p.location, p.problem] for p in found.problems]
        mode = obj.output_request or obj.output
        if mode is OutputMode.table:
            shown = "; ".join(f"{where}: {what}" for where, what in listed)
            raise ConfigError(f"{path}: {len(listed)} problem(s): {shown}")
        # Data consumers get the list on stdout; the error line and exit code say the config is bad.
        return Tabular(
            title=f"{path}: problems",
            columns=["location", "problem"],
            rows=listed,
            failed_text=f"{path}: {len(listed)} problem(s)",
        )
    cfg = found.config
    assert cfg is not None
    sd = cfg.session_data_config
    bt = cfg.backtest_config
    indicators = [
        str(IndicatorRequest.parse(i.name, list(i.params), i.interval or sd.base_interval)) for i in sd.indicators
    ]
    rows: list[list[Any]] = [
        ["name", cfg.name],
        ["mode", cfg.mode],
        ["data_dir", str(found.data_dir)],
        ["dates", f"{bt.start_date} .. {bt.end_date}" if bt else "—"],
        ["speed", bt.speed_multiplier if bt else "—"],
        ["symbols", ", ".join(sd.symbols)],
        ["base_interval", sd.base_interval],
        ["derived_intervals", ", ".join(sd.derived_intervals) or "—"],
        ["trailing_days", sd.historical.trailing_days],
        ["indicators", ", ".join(indicators) or "—"],
    ]
    for key, specs in (("strategies", cfg.strategies), ("scanners", cfg.scanners)):
        if specs:
            rows.append([key, "; ".join(_plugin_text(p) for p in specs)])
    return Tabular(title=f"{path}: valid", columns=["key", "value"], rows=rows, show_header=False)


def _plugin_text(spec: Any) -> str:
    params = " ".join(f"{k}={v}" for k, v in spec.params.items())
    return f"{spec.spec} {params}".strip()


@app.command("schema")
def schema(output: OutputOpt = None) -> object:
    """Print the JSON Schema of a session config. Example: config schema --output json"""
    from trader_cli.core.config import config_schema
    from trader_cli.core.results import Document

    return Document(title="session config JSON Schema", data=config_schema())
