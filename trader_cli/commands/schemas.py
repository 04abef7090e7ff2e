"""What each command's ``--output json`` is: one registry from command to the model of its
output, ``schema COMMAND`` to print its JSON Schema, and the tests validate real outputs against it.

Table-shaped results (a ``Tabular``) are JSON arrays of their row objects, so their entry is the
row model.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from trader_cli.commands.common import OutputOpt

# command -> (module, name of the output model, is it a list of rows)
OUTPUTS: dict[str, tuple[str, str, bool]] = {
    "system start": ("trader_cli.core.outputs", "StartOut", False),
    "system status": ("trader_cli.core.queries", "SessionStatus", False),
    "system pause": ("trader_cli.core.results", "ClockReport", False),
    "system resume": ("trader_cli.core.results", "ClockReport", False),
    "system stop": ("trader_cli.core.results", "ClockReport", False),
    "system speed": ("trader_cli.core.results", "ClockReport", False),
    "system wait": ("trader_cli.core.results", "ClockReport", False),
    "time now": ("trader_cli.core.queries", "SessionStatus", False),
    "time advance": ("trader_cli.core.results", "ClockReport", False),
    "time until": ("trader_cli.core.results", "ClockReport", False),
    "add symbol": ("trader_cli.core.outputs", "AdditionOut | BatchOut", False),
    "add bar": ("trader_cli.core.outputs", "AdditionOut", False),
    "add indicator": ("trader_cli.core.outputs", "AdditionOut", False),
    "plan add symbol": ("trader_cli.core.provisioning.requirements", "ProvisioningRequirements", False),
    "plan add bar": ("trader_cli.core.provisioning.requirements", "ProvisioningRequirements", False),
    "plan add indicator": ("trader_cli.core.provisioning.requirements", "ProvisioningRequirements", False),
    "remove symbol": ("trader_cli.core.results", "Message", False),
    "data session": ("trader_cli.core.reports", "SessionTable", False),
    "data symbol": ("trader_cli.core.reports", "SymbolDetail", False),
    "data bars": ("trader_cli.core.reports", "BarsView", False),
    "data quality": ("trader_cli.core.reports", "QualityReport", False),
    "data indicator": ("trader_cli.core.reports", "IndicatorView", False),
    "data chart": ("trader_cli.core.outputs", "ChartOut", False),
    "data list": ("trader_cli.core.outputs", "StoreRow", True),
    "data import": ("trader_cli.core.outputs", "ImportRow", True),
    "data fetch": ("trader_cli.core.outputs", "FetchRow", True),
    "session export": ("trader_cli.core.results", "ExportReport", False),
    "help": ("trader_cli.core.outputs", "CommandRow", True),
    "order buy": ("trader_cli.core.broker.models", "Order", False),
    "order sell": ("trader_cli.core.broker.models", "Order", False),
    "order cancel": ("trader_cli.core.broker.models", "Order", False),
    "orders": ("trader_cli.core.broker.views", "OrdersView", False),
    "positions": ("trader_cli.core.broker.views", "PositionsView", False),
    "account": ("trader_cli.core.broker.models", "Account", False),
    "report": ("trader_cli.core.broker.views", "ReportView", False),
    "strategy load": ("trader_cli.core.plugins.views", "PluginStatus", False),
    "strategy stop": ("trader_cli.core.plugins.views", "PluginStatus", False),
    "strategy start": ("trader_cli.core.plugins.views", "PluginStatus", False),
    "strategy reload": ("trader_cli.core.plugins.views", "PluginStatus", False),
    "strategy unload": ("trader_cli.core.plugins.views", "PluginStatus", False),
    "strategy status": ("trader_cli.core.plugins.views", "PluginsView", False),
    "scanner load": ("trader_cli.core.plugins.views", "PluginStatus", False),
    "scanner stop": ("trader_cli.core.plugins.views", "PluginStatus", False),
    "scanner start": ("trader_cli.core.plugins.views", "PluginStatus", False),
    "scanner reload": ("trader_cli.core.plugins.views", "PluginStatus", False),
    "scanner unload": ("trader_cli.core.plugins.views", "PluginStatus", False),
    "scanner status": ("trader_cli.core.plugins.views", "PluginsView", False),
    "record start": ("trader_cli.core.results", "Message", False),
    "record stop": ("trader_cli.core.results", "Message", False),
    "config check": ("trader_cli.core.config_check", "ConfigCheckOut", False),
}


def output_schema(command: str) -> dict[str, Any]:
    """The JSON Schema of ``command``'s ``--output json`` (UsageError for one not listed)."""
    import importlib
    from functools import reduce
    from operator import or_

    from pydantic import TypeAdapter

    from trader_cli.core.errors import UsageError

    entry = OUTPUTS.get(" ".join(command.split()))
    if entry is None:
        from trader_cli.commands.meta import suggest

        raise UsageError(f"no JSON output schema for '{command}'{suggest(command, list(OUTPUTS))} (see: schema)")
    module, names, rows = entry
    mod = importlib.import_module(module)
    kind: Any = reduce(or_, [getattr(mod, n.strip()) for n in names.split("|")])
    return TypeAdapter(list[kind] if rows else kind).json_schema(mode="serialization")


def register(app: typer.Typer) -> None:
    """Add ``schema`` to the root app."""

    @app.command("schema")
    def schema(
        ctx: typer.Context,
        command: Annotated[list[str] | None, typer.Argument(help="A command, e.g. data session.")] = None,
        output: OutputOpt = None,
    ) -> object:
        """The JSON Schema of a command's --output json, or the commands that have one.
        Example: schema data session   ·   schema system status"""
        from trader_cli.core.results import Document, Tabular

        if not command:
            rows = [[name, f"schema {name}"] for name in sorted(OUTPUTS)]
            return Tabular(title="JSON output schemas", columns=["command", "see"], rows=rows)
        name = " ".join(command)
        return Document(title=f"{name} --output json: JSON Schema", data=output_schema(name))
