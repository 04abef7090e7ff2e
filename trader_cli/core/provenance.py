"""Where a symbol came from: the four sources of additions and the metadata each symbol carries
(numpy-free, so the commands and the completer use the same names without loading the engine)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum


class Source(StrEnum):
    """Who asked for an addition: the session config, a strategy, a scanner, or the trader (adhoc)."""

    config = "config"
    strategy = "strategy"
    scanner = "scanner"
    adhoc = "adhoc"


# The sources a command may name (``config`` additions come from the config file itself).
COMMAND_SOURCES: tuple[Source, ...] = (Source.strategy, Source.scanner, Source.adhoc)


@dataclass
class SymbolMetadata:
    """A symbol's provenance: how fully it is loaded and who added it when."""

    meets_session_config_requirements: bool = False
    added_by: Source = Source.config
    auto_provisioned: bool = False
    added_at: int | None = None  # simulated time (UTC ns) of the addition; None before the session starts
    upgraded_from_adhoc: bool = False
    plugin: str | None = None  # the plugin that added it ("scanner:gap_scanner"), if one did
    rule: str | None = None  # that plugin's reason ("gap +3.1% at 09:45")

    def copy(self) -> SymbolMetadata:
        """An independent copy (undo keeps one)."""
        return replace(self)
