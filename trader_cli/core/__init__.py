"""The engine: no UI libraries (typer, prompt_toolkit, rich) are imported here."""
