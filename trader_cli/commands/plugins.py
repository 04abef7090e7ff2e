"""``strategy …`` and ``scanner …``: load plugin files into the session and control them."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from trader_cli.commands.common import OutputOpt, app_ctx

ParamsArg = Annotated[
    list[str] | None, typer.Argument(help="Parameters as NAME=VALUE (see the file's params), e.g. fast=5 slow=20.")
]
PluginArg = Annotated[str, typer.Argument(help="The plugin's name (see the status command).")]
OneArg = Annotated[str | None, typer.Argument(help="Only this plugin (default: every one loaded).")]


def _views() -> None:
    import trader_cli.render.plugins  # noqa: F401 - registers the views


def _loaded(slot: Any) -> Any:
    from trader_cli.core.plugins.views import status_of

    _views()
    return status_of(slot)


def _group(kind: str, example: str, extra: str) -> typer.Typer:
    group = typer.Typer(help=f"Load and control {kind} plugins. {extra}", no_args_is_help=True)

    def control(action: str, doc: str) -> None:
        def command(ctx: typer.Context, plugin: PluginArg, output: OutputOpt = None) -> object:
            return _loaded(app_ctx(ctx).coordinator.control_plugin(kind, action, plugin))

        command.__doc__ = doc
        group.command(action)(command)

    control("stop", f"Hold a {kind}'s callbacks (its orders and symbols stay). Example: {kind} stop {example}")
    control("start", f"Run a stopped or failed {kind} again. Example: {kind} start {example}")
    control(
        "reload",
        f"Import the {kind}'s file again with the same parameters (positions and orders stay). "
        f"Example: {kind} reload {example}",
    )
    control("unload", f"Forget a {kind} (its symbols, positions and orders stay). Example: {kind} unload {example}")

    @group.command("status")
    def status(
        ctx: typer.Context,
        name: OneArg = None,
        output: OutputOpt = None,
    ) -> object:
        from trader_cli.core.plugins.views import plugins_view

        _views()
        return app_ctx(ctx).coordinator.read(plugins_view, kind, name)

    status.__doc__ = (
        f"Each loaded {kind}: state, parameters, callbacks run, time per callback (median, max), "
        f"orders, adds, last error. Example: {kind} status, {kind} status {example}"
    )
    return group


AsOpt = Annotated[
    str | None, typer.Option("--as", help="Its name in the session (default: the class's): one class, two params sets.")
]

strategy_app = _group(
    "strategy",
    "ema_cross",
    "A strategy reads the session's bars and indicators and places orders (see the README).",
)
scanner_app = _group(
    "scanner",
    "gap_scanner",
    "A scanner looks over the stored universe on a schedule and adds symbols (see the README).",
)


@strategy_app.command("load")
def strategy_load(
    ctx: typer.Context,
    spec: Annotated[str, typer.Argument(help="FILE[:CLASS] of a Python file with a Strategy subclass.")],
    params: ParamsArg = None,
    as_name: AsOpt = None,
    output: OutputOpt = None,
) -> object:
    """Load a strategy and provision what it needs (source strategy).
    Example: strategy load examples/strategies/ema_cross.py fast=10 slow=30   ·   … fast=5 --as ema_fast"""
    from trader_cli.core.plugins.loader import parse_assignments

    raw = parse_assignments(params or [])
    return _loaded(app_ctx(ctx).coordinator.load_plugin("strategy", spec, raw, as_name=as_name))


@scanner_app.command("load")
def scanner_load(
    ctx: typer.Context,
    spec: Annotated[str, typer.Argument(help="FILE[:CLASS] of a Python file with a Scanner subclass.")],
    params: ParamsArg = None,
    every: Annotated[str | None, typer.Option("--every", help="Run every this long, e.g. 15m.")] = None,
    start: Annotated[str | None, typer.Option("--start", help="First run, New York HH:MM, e.g. 09:45.")] = None,
    end: Annotated[str | None, typer.Option("--end", help="No run after this New York HH:MM.")] = None,
    pre_session: Annotated[bool, typer.Option("--pre-session", help="Also run before each open.")] = False,
    as_name: AsOpt = None,
    output: OutputOpt = None,
) -> object:
    """Load a scanner with its schedule (the scanner's own; each option changes that field of it).
    Example: scanner load examples/scanners/gap_scanner.py min_gap_pct=1.5   ·   scanner load my.py --every 15m"""
    from trader_cli.core.plugins.loader import parse_assignments

    raw = parse_assignments(params or [])
    given = {"every": every, "start": start, "end": end, "pre_session": pre_session or None}
    changes = {k: v for k, v in given.items() if v is not None}
    return _loaded(app_ctx(ctx).coordinator.load_plugin("scanner", spec, raw, changes or None, as_name))


def register(app: typer.Typer) -> None:
    """Add ``strategy`` and ``scanner`` to the root app."""
    app.add_typer(strategy_app, name="strategy")
    app.add_typer(scanner_app, name="scanner")
