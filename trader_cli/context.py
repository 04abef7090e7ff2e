"""AppContext: what every command handler gets in ``ctx.obj`` (no module-level singletons)."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trader_cli.render import OutputMode, Renderer

if TYPE_CHECKING:
    from trader_cli.core.config import SessionConfig
    from trader_cli.core.coordinator import SessionCoordinator
    from trader_cli.core.store import DataManager
    from trader_cli.recording import LoggedLine, Recording


def default_output() -> OutputMode:
    """The output mode for a whole run: TRADER_CLI_OUTPUT, else table."""
    try:
        return OutputMode(os.environ.get("TRADER_CLI_OUTPUT", "table").strip().lower())
    except ValueError:
        return OutputMode.table


@dataclass
class AppContext:
    """Coordinator, renderer, output mode and paths for one shell or one script run."""

    renderer: Renderer = field(default_factory=Renderer)
    output: OutputMode = field(default_factory=default_output)
    data_dir_option: str | None = None
    config_path: str | None = field(default_factory=lambda: os.environ.get("TRADER_CLI_CONFIG"))
    interactive: bool = False
    quiet: bool = False
    assume_yes: bool = False
    output_request: OutputMode | None = None
    _coordinator: SessionCoordinator | None = None
    _config: SessionConfig | None = None
    _config_loaded_from: str | None = None
    open_shell: bool = False  # the command line asked for the shell (global options only)
    script_depth: int = 0  # scripts running inside one another (run, exec, stdin)
    session_log: list[LoggedLine] = field(default_factory=list)  # what built the session (recording.py)
    recorded_as: str | None = None  # a line that failed in part: what it changed, as a line to keep
    recording: Recording | None = None
    tree: Callable[[], Any] | None = None  # builds the command tree (trader_cli.app.command_tree)
    _store: DataManager | None = None
    demo_server: Any = None  # ``demo live``'s loopback server (lives as long as the context)

    def command_tree(self) -> Any:
        """The click command tree every line runs through (built once, by whoever made the
        context: the app's entry point, or a test through trader_cli.app.make_context)."""
        if self.tree is None:
            raise RuntimeError("this AppContext has no command tree (make it with trader_cli.app.make_context)")
        return self.tree()

    def config_file(self) -> str | None:
        """The config file in use: --config or TRADER_CLI_CONFIG, else ./configs/default.json
        when there is one (the repo's, for a shell opened in it), else None."""
        if self.config_path is None and Path("configs/default.json").exists():
            return "configs/default.json"
        return self.config_path

    def config(self) -> SessionConfig | None:
        """The session config in use (loaded on first use; None when there is none)."""
        from trader_cli.core.config import load_config

        path = self.config_file()
        if path is None:
            return None
        if self._config is None or self._config_loaded_from != path:
            self._config = load_config(path)
            self._config_loaded_from = path
        return self._config

    def data_dir(self) -> Path:
        """The data dir by the precedence rule (option, env, config, ./data)."""
        from trader_cli.core.config import resolve_data_dir
        from trader_cli.core.errors import ConfigError

        try:
            cfg = self.config()
        except ConfigError:
            cfg = None  # a broken config is reported by the commands that use it
        return resolve_data_dir(self.data_dir_option, cfg, self._config_loaded_from)

    def store(self) -> DataManager:
        """The bar store of the session if one exists, else of the data dir."""
        if self._coordinator is not None and self._coordinator.state.value != "stopped":
            return self._coordinator.store
        return self.store_for(self.data_dir())

    @property
    def coordinator(self) -> SessionCoordinator:
        """The one session coordinator (created on first use)."""
        if self._coordinator is None:
            from trader_cli.core.coordinator import SessionCoordinator

            self._coordinator = SessionCoordinator(store_factory=self.store_for)
            self._coordinator.on_event = self._print_event
        return self._coordinator

    def _print_event(self, event: object) -> None:
        """Replay events go to stderr (above the prompt in the shell) unless --quiet."""
        if not self.quiet:
            self.renderer.note(f"» {getattr(event, 'text', event)}")

    @property
    def has_coordinator(self) -> bool:
        """True once a coordinator exists."""
        return self._coordinator is not None

    def store_for(self, data_dir: Path) -> DataManager:
        """The store of a data dir, kept while the dir stays the same (its footer cache too)."""
        from trader_cli.core.store import DataManager

        if self._store is None or self._store.data_dir != data_dir:
            self._store = DataManager(data_dir)
        return self._store
