"""The interactive shell (prompt_toolkit): loop, completer, toolbar, history."""
