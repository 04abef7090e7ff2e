"""Tables of results: cells formatted per column and fitted to the width there is.

Cells: None is "—", booleans yes/no, every number has comma thousands separators (1,942,513);
a column of numbers is right-aligned with the same decimals in every row: none when every value
is whole (so volumes show as integers), else the fewest that show each value, at least 2 (as
prices are quoted) and at most 4 (2 from a million up); NaN shows as "—". Cells are plain text, never rich markup.

Fitting, at the console's width (the screen; off a terminal there is no limit, see
``Renderer``): a table that fits is drawn as it is. Otherwise the first column and the numbers
are never wrapped, and text columns wrap between words only, the widest first; when even that
does not fit, the table's least useful columns (``FitTabular.drop_first``) are left out, in that
order, and the caption names them. Only past all that (a very narrow screen) do words break.
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Sequence
from typing import Any

from pydantic import Field
from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, RenderResult
from rich.table import Table
from rich.text import Text

from trader_cli.core.results import Tabular

MIN_DECIMALS, MAX_DECIMALS = 2, 4
_NUMBER_TEXT = re.compile(r"[-+]?\d[\d,]*(\.\d+)?%?")


class FitTabular(Tabular):
    """A Tabular that names the columns a narrow screen may leave out, least useful first."""

    drop_first: list[str] = Field(default_factory=list)
    money: list[str] = Field(default_factory=list)  # columns of dollars: always two decimals or more


def fmt(value: Any) -> str:
    """One cell's text on its own: floats without noise, None as a dash, thousands separated."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, numbers.Integral):
        return f"{int(value):,}"
    if isinstance(value, numbers.Real):
        return _number(float(value), _decimals(float(value)))
    return str(value)


def _decimals(v: float) -> int:
    """The fewest decimals that show ``v`` as it rounds at MAX_DECIMALS (2 from a million up)."""
    if not math.isfinite(v):
        return 0
    cap = MAX_DECIMALS if abs(v) < 1e6 else 2
    target = round(v, cap)
    return next(d for d in range(cap + 1) if round(v, d) == target)


def _number(v: float, decimals: int) -> str:
    if math.isnan(v):
        return "—"
    if math.isinf(v):
        return "∞" if v > 0 else "-∞"
    return f"{v:,.{decimals}f}"


def column_texts(values: Sequence[Any], money: bool = False) -> tuple[list[str], bool]:
    """The cells of one column as text, and whether it is a column of numbers (right-aligned);
    a ``money`` column shows cents even when every value is whole."""
    present = [v for v in values if v is not None]
    if present and all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in present):
        floats = [float(v) for v in present if money or not isinstance(v, numbers.Integral)]
        if not floats:
            return [fmt(v) for v in values], True
        d = max(_decimals(v) for v in floats)
        d = max(d, MIN_DECIMALS) if d or money else 0
        return ["—" if v is None else _number(float(v), d) for v in values], True
    texts = [fmt(v) for v in values]
    numeric = bool(present) and all(isinstance(v, str) and _NUMBER_TEXT.fullmatch(v) for v in present)
    return texts, numeric


def _width(text: str) -> int:
    return len(text) if text.isascii() else cell_len(text)


class _Column:
    """One column's texts and how far it can shrink."""

    def __init__(self, name: str, values: Sequence[Any], key: bool, header: bool, money: bool = False) -> None:
        self.name = name
        self.texts, self.numeric = column_texts(values, money)
        self.header = header
        self.wraps = not (key or self.numeric)
        self.widest = max([_width(t) for t in self.texts] + [_width(name) if header else 0, 1])
        self._narrowest: int | None = None

    @property
    def narrowest(self) -> int:
        """The narrowest width that breaks no word (the widest cell for columns that never wrap)."""
        if self._narrowest is None:
            if not self.wraps:
                self._narrowest = self.widest
            else:
                words = [w for t in ([*self.texts, self.name] if self.header else self.texts) for w in t.split()]
                self._narrowest = max([_width(w) for w in words] + [1])
        return self._narrowest


def _chrome(n: int) -> int:
    """Columns of a table's borders and cell padding (rich's default box, one space each side)."""
    return 3 * n + 1


def _shrink(cols: list[_Column], room: int) -> list[int] | None:
    """Widths that fit ``room`` (content only) wrapping the widest text columns first, breaking
    no word; None when that is not possible."""
    widths = [c.widest for c in cols]
    excess = sum(widths) - room
    while excess > 0:
        candidates = [i for i, c in enumerate(cols) if c.wraps and widths[i] > c.narrowest]
        if not candidates:
            return None
        widest = max(candidates, key=lambda i: widths[i])
        second = max((widths[i] for i in candidates if i != widest), default=cols[widest].narrowest)
        step = max(1, min(excess, widths[widest] - max(second, cols[widest].narrowest)))
        widths[widest] -= step
        excess -= step
    return widths


class FittedTable:
    """A Tabular drawn as a rich Table fitted to the width it is given (see the module doc)."""

    def __init__(self, t: Tabular) -> None:
        self.tabular = t
        n = len(t.columns)
        rows = [list(r[:n]) + [""] * (n - len(r)) for r in t.rows]
        by_column = list(zip(*rows, strict=True)) if rows else [() for _ in t.columns]
        money = set(getattr(t, "money", []))
        self.columns = [
            _Column(name, values, key=i == 0, header=t.show_header, money=name in money)
            for i, (name, values) in enumerate(zip(t.columns, by_column, strict=True))
        ]
        self.drop_first = list(getattr(t, "drop_first", []))

    def layout(self, max_width: int) -> tuple[list[_Column], list[int] | None, list[str]]:
        """(columns shown, their widths or None to let rich fold words, columns left out)."""
        cols = list(self.columns)
        if sum(c.widest for c in cols) + _chrome(len(cols)) <= max_width:
            return cols, [c.widest for c in cols], []
        dropped: list[str] = []
        droppable = [c for name in self.drop_first for c in cols if c.name == name]
        while True:
            widths = _shrink(cols, max_width - _chrome(len(cols)))
            if widths is not None or not droppable:
                return cols, widths, dropped
            gone = droppable.pop(0)
            cols.remove(gone)
            dropped.append(gone.name)

    def table(self, max_width: int, console: Console | None = None, blocks: bool = True) -> Table:
        """The rich Table at ``max_width`` (highlighted as the console highlights text, if given);
        ``blocks=False`` draws a table that fits one rich row a line instead of column blocks."""
        t = self.tabular
        cols, widths, dropped = self.layout(max_width)
        caption = t.caption
        if dropped:
            note = f"not shown at this width: {', '.join(dropped)}"
            caption = f"{caption} · {note}" if caption else note
        highlight = console.highlighter if console is not None and console.color_system is not None else None
        unwrapped = widths is not None and all(w == c.widest for w, c in zip(widths, cols, strict=True))
        if blocks and unwrapped and t.rows and not any("\n" in s for c in cols for s in c.texts):
            return self._blocks(cols, caption, highlight)
        table = self._frame(caption)
        for i, c in enumerate(cols):
            table.add_column(
                c.name,
                justify="right" if c.numeric else "left",
                overflow="fold",
                no_wrap=widths is not None and not c.wraps,
                width=None if widths is None else widths[i],
            )
        for r in range(len(t.rows)):
            table.add_row(*(_text(c.texts[r], highlight) for c in cols))
        return table

    def _frame(self, caption: str | None, padding: int | tuple[int, int] = (0, 1)) -> Table:
        t = self.tabular
        return Table(
            title=t.title or None,
            caption=caption,
            header_style="bold",
            expand=False,
            show_header=t.show_header,
            padding=padding,
        )

    def _blocks(self, cols: list[_Column], caption: str | None, highlight: Any) -> Table:
        """Nothing wraps, so each column is drawn as one block of lines, each line already padded
        to the column's width and one space each side: the same drawing as one row a line with
        rich's cell padding, at a fraction of rich's per-cell cost."""
        table = self._frame(caption, padding=0)
        for c in cols:
            table.add_column(Text(" " + _pad(c.name, c.widest, c.numeric) + " "), width=c.widest + 2, no_wrap=True)
        table.add_row(
            *(_text("\n".join(" " + _pad(s, c.widest, c.numeric) + " " for s in c.texts), highlight) for c in cols)
        )
        return table

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield self.table(options.max_width, console)


def _pad(s: str, width: int, right: bool) -> str:
    fill = " " * (width - _width(s))
    return fill + s if right else s + fill


def _text(s: str, highlight: Any) -> Text:
    text = Text(s)
    return highlight(text) if highlight is not None else text
