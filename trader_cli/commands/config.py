"""``config check FILE`` and ``config schema``."""

from __future__ import annotations

from typing import Annotated

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
    import trader_cli.render.config_views  # noqa: F401 - registers the view
    from trader_cli.core.config_check import ConfigCheckOut, check_config
    from trader_cli.core.errors import ConfigError
    from trader_cli.render import OutputMode

    obj = app_ctx(ctx)
    found = ConfigCheckOut.of(check_config(path, obj.data_dir_option), path)
    if found.problems and (obj.output_request or obj.output) is OutputMode.table:
        shown = "; ".join(f"{p.location}: {p.problem}" for p in found.problems)
        raise ConfigError(f"{path}: {len(found.problems)} problem(s): {shown}")
    # Data consumers get the whole result on stdout; the error line and exit code say the config is bad.
    return found


@app.command("schema")
def schema(output: OutputOpt = None) -> object:
    """Print the JSON Schema of a session config. Example: config schema --output json"""
    from trader_cli.core.config import config_schema
    from trader_cli.core.results import Document

    return Document(title="session config JSON Schema", data=config_schema())
