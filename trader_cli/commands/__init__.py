"""Typer command groups: thin handlers that parse arguments, call one core method, return a result."""
