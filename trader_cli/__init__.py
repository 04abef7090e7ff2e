"""trader-cli: an interactive shell for running trading sessions."""

__version__ = "0.1.0"
