"""Turn result values into output: a rich table (TTY), JSON, or CSV. Handlers never print."""

from __future__ import annotations

import csv
import io
import os
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from typing import IO, Any

UNLIMITED_WIDTH = 10_000  # the console width off a terminal: no table is cut to fit a screen
ECHO_LIMIT = 120  # the most of one piece of user input an error line repeats


class OutputFailed(Exception):
    """Stdout refused a write for a reason other than a closed pipe (a full disk, an I/O error).
    Not an OSError, so no handler reads it as a file the command itself failed to write."""


class OutputMode(StrEnum):
    """How results are written to stdout."""

    table = "table"
    json = "json"
    csv = "csv"


def env_output_problem() -> str | None:
    """Why ``$TRADER_CLI_OUTPUT`` is not an output mode (None when it is one, empty or unset)."""
    raw = os.environ.get("TRADER_CLI_OUTPUT", "").strip()
    if not raw or raw.lower() in set(OutputMode):
        return None
    return (
        f"TRADER_CLI_OUTPUT is {clip(raw)!r}, not an output mode "
        f"(set it to one of {', '.join(OutputMode)}, or unset it)"
    )


def to_jsonable(result: Any) -> Any:
    """A JSON-able value for any result (pydantic models, dataclasses, plain data)."""
    from trader_cli.core.results import Document, Tabular

    if isinstance(result, Tabular):
        return result.records()
    if isinstance(result, Document):
        return result.data
    if hasattr(result, "to_json"):
        return result.to_json()
    if hasattr(result, "model_dump"):
        return result.model_dump(mode="json")
    if isinstance(result, list):
        return [to_jsonable(r) for r in result]
    return result


def write_json(result: Any, out: IO[str]) -> None:
    """JSON alone on stdout, so scripts can parse it (NaN and infinities as null)."""
    from trader_cli.core.jsonsafe import dumps

    out.write(dumps(to_jsonable(result), indent=2, default=str))
    out.write("\n")


def write_csv(result: Any, out: IO[str]) -> None:
    """CSV of a tabular result (others: a single JSON cell); None, NaN and infinities empty."""
    from trader_cli.core.jsonsafe import csv_cell
    from trader_cli.render.views import as_tables

    w = csv.writer(out, lineterminator="\n")
    for i, table in enumerate(as_tables(result)):
        if i:
            out.write("\n")
        w.writerow(table.columns)
        for row in table.rows:
            w.writerow([csv_cell(v) for v in row])


class Renderer:
    """Writes results to one stdout console and diagnostics to one stderr console."""

    def __init__(
        self,
        out: IO[str] | None = None,
        err: IO[str] | None = None,
        width: int | None = None,
        height: int | None = None,
        force_terminal: bool | None = None,
    ) -> None:
        self._out_file = out
        self._err_file = err
        self._width = width
        self._height = height
        self._force_terminal = force_terminal
        self._out: Any = None
        self._err: Any = None
        self.pager = False  # the interactive shell pages tables taller than the screen
        self.out_failed = False  # stdout refused a write (a full disk), and an error line said so

    @property
    def out_file(self) -> IO[str] | None:
        """The stream results go to (None: whatever sys.stdout is at the time)."""
        return self._out_file

    @property
    def err_file(self) -> IO[str] | None:
        """The stream diagnostics go to (None: whatever sys.stderr is at the time)."""
        return self._err_file

    @property
    def out(self) -> Any:
        """The rich console for data (stdout)."""
        if self._out is None:
            from rich.console import Console

            class _Out(Console):
                def on_broken_pipe(self) -> None:
                    # The reader went away (e.g. `| head`): one quiet exit path for every mode.
                    raise BrokenPipeError

            self._out = _Out(
                file=self._out_file,
                width=self._width,
                height=self._height,
                force_terminal=self._force_terminal,
                emoji=False,  # a user's text (a grid's fast=a:b:c) is shown as typed, never as emoji
            )
            if self._width is None and not self._out.is_terminal:
                # A file or a pipe has no screen edge: tables keep each row on one line.
                self._out.width = UNLIMITED_WIDTH
        return self._out

    @property
    def err(self) -> Any:
        """The rich console for diagnostics (stderr)."""
        if self._err is None:
            from rich.console import Console

            self._err = Console(
                file=self._err_file, stderr=True, width=self._width, highlight=False, soft_wrap=True, emoji=False
            )
        return self._err

    def result(self, result: Any, mode: OutputMode) -> None:
        """Show one result in the chosen mode (OutputFailed when stdout refuses it)."""
        if result is None:
            return
        with self._writing_out():
            self._write_result(result, mode)

    def _write_result(self, result: Any, mode: OutputMode) -> None:
        from trader_cli.core.results import Document

        stream = self._out_file or sys.stdout
        if mode is OutputMode.json:
            write_json(result, stream)
        elif mode is OutputMode.csv:
            write_csv(result, stream)
        elif isinstance(result, Document) and not self.out.is_terminal:
            write_json(result, stream)  # redirected: the data alone
        else:
            from trader_cli.render.views import renderables

            parts = renderables(result)
            if self.pager and self._may_page():
                self._print_paged(parts)
            else:
                for r in parts:
                    self.out.print(r)
        stream.flush()  # a full disk shows up here, at the command that wrote, not at exit

    @contextmanager
    def _writing_out(self) -> Iterator[None]:
        """Writes to stdout: a closed pipe stays BrokenPipeError (one quiet exit), any other
        refusal becomes OutputFailed, its one line."""
        try:
            yield
        except BrokenPipeError:
            raise
        except OSError as err:
            from trader_cli.core.atomic import os_error_text

            self._out = None  # rich keeps what it could not write: drop it with the console
            self.out_failed = True
            raise OutputFailed(f"cannot write the output to stdout: {os_error_text(err)}") from err

    def _may_page(self) -> bool:
        return self.out.is_terminal and os.environ.get("TRADER_CLI_PAGER", "").lower() not in ("off", "0", "no")

    def _print_paged(self, parts: list[Any]) -> None:
        """Draw ``parts`` once; what is taller than the screen goes through the pager (less -R -F
        -X: colours kept, quits at once when it fits, leaves the text on screen)."""
        from rich.segment import Segments

        lines = [line for r in parts for line in self.out.render_lines(r, pad=False, new_lines=True)]
        drawn = Segments([seg for line in lines for seg in line])
        if len(lines) > self.out.size.height - 2:  # the prompt and the command line stay in view
            os.environ.setdefault("LESS", "-R -F -X")
            with self.out.pager(styles=True):
                self.out.print(drawn)
            return
        self.out.print(drawn)

    def error(self, text: str) -> None:
        """One line on stderr saying what went wrong and what to do."""
        self._diagnostic(f"[bold red]error:[/] {_escape(clip_words(one_line(text)))}")

    def note(self, text: str) -> None:
        """A diagnostic line on stderr (control characters escaped: it stays one line)."""
        self._diagnostic(_escape(clip_words(one_line(text))))

    def _diagnostic(self, markup: str) -> None:
        try:
            self.err.print(markup)
        except OSError:
            # stderr is full or gone: there is nowhere left to say it, and the exit code still
            # tells; the console is dropped with what rich kept of the line.
            self._err = None

    def text(self, text: str) -> None:
        """Plain text on stdout (help pages)."""
        stream = self._out_file or sys.stdout
        with self._writing_out():
            stream.write(text if text.endswith("\n") else text + "\n")
            stream.flush()


def clip(text: str, limit: int = ECHO_LIMIT) -> str:
    """``text`` cut to ``limit`` characters (an echo of input: ECHO_LIMIT), ending in … when longer."""
    from trader_cli.core.errors import clip as cut

    return cut(text, limit)


_LONG_WORD = re.compile(rf"\S{{{ECHO_LIMIT + 1},}}")


def clip_words(text: str) -> str:
    """Each run of more than ECHO_LIMIT non-space characters (a pasted value, a line of junk)
    cut with …, a closing quote or bracket kept: an error line repeats input, never pages of it."""

    def cut(m: re.Match[str]) -> str:
        word = m.group(0)
        tail = word[-1] if word[-1] in "'\")]" else ""
        return clip(word[: len(word) - len(tail)]) + tail

    return _LONG_WORD.sub(cut, text)


def one_line(text: str) -> str:
    """Text with control and line-breaking characters shown as escapes (errors stay one line)."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def render_to_string(result: Any, mode: OutputMode = OutputMode.table, width: int = 100) -> str:
    """Render a result into a string (tests, records)."""
    buf = io.StringIO()
    Renderer(out=buf, err=buf, width=width).result(result, mode)
    return buf.getvalue()
