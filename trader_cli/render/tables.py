"""Tables of results: cells formatted per column and fitted to the width there is.

Cells: None is "—", booleans yes/no, every number has comma thousands separators (1,942,513);
a column of numbers is right-aligned with the same decimals in every row: none when every value
is whole (so volumes show as integers), else the fewest that show each value, at least 2 (as
prices are quoted) and at most 4 (2 from a million up); NaN shows as "—". Cells are plain text, never rich markup.

Fitting, at the console's width (the screen; off a terminal there is no limit, see
``Renderer``): a table that fits is drawn as it is. Otherwise the first column and the numbers
are never wrapped, and text columns wrap between words only, the widest first; when even that
does not fit, the table's least useful columns (``FitTabular.drop_first``) are left out, in that
order, and the caption names them; and when it still does not fit, the table is split into
several, each led by the first column (the title over the first, the caption under the last).
Only past all that (a very narrow screen) do headers of numbers wrap and words break. A title or
caption wider than its table is a line of its own, never wrapped into the table's width.
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Sequence
from typing import Any, NamedTuple

from pydantic import Field
from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, RenderableType, RenderResult
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
        self.widest_cell = max([_width(t) for t in self.texts] + [1])
        self.widest = max(self.widest_cell, _width(name) if header else 0)
        self._narrowest: int | None = None
        self._floors: dict[int, int] = {}

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

    def floor(self, squeeze: int) -> int:
        """The narrowest width at a squeeze: 0 breaks no word of a text column (the others stay
        whole); 1 (a narrow screen) lets headers wrap and the first column wrap between words;
        2 (a very narrow one) breaks text anywhere but in a number. Numbers stay whole at every
        squeeze."""
        if squeeze == 0:
            return self.narrowest
        if self.numeric:
            return self.widest_cell
        if squeeze not in self._floors:  # a long column is read once per squeeze
            words = [w for t in self.texts for w in t.split()]
            if squeeze == 2:
                words = [w for w in words if _NUMBER_TEXT.fullmatch(w)]
            self._floors[squeeze] = max([_width(w) for w in words] + [1])
        return self._floors[squeeze]


def _chrome(n: int) -> int:
    """Columns of a table's borders and cell padding (rich's default box, one space each side)."""
    return 3 * n + 1


def _shrink(cols: list[_Column], room: int, squeeze: int = 0) -> list[int] | None:
    """Widths that fit ``room`` (content only), narrowing the widest columns that may shrink
    first, none below its floor at ``squeeze`` (``_Column.floor``); None when that is not possible."""
    widths = [c.widest for c in cols]
    floors = [c.floor(squeeze) for c in cols]
    excess = sum(widths) - room
    while excess > 0:
        candidates = [i for i in range(len(cols)) if widths[i] > floors[i]]
        if not candidates:
            return None
        widest = max(candidates, key=lambda i: widths[i])
        second = max((widths[i] for i in candidates if i != widest), default=floors[widest])
        step = max(1, min(excess, widths[widest] - max(second, floors[widest])))
        widths[widest] -= step
        excess -= step
    return widths


class _Part(NamedTuple):
    """One table of a layout: its columns and their widths (None: rich folds what does not fit)."""

    columns: list[_Column]
    widths: list[int] | None

    @property
    def unwrapped(self) -> bool:
        """Every column at its widest: nothing wraps."""
        return self.widths is not None and all(w == c.widest for w, c in zip(self.widths, self.columns, strict=True))

    def width(self, max_width: int) -> int:
        """The width the table is drawn at (at most ``max_width``)."""
        return max_width if self.widths is None else sum(self.widths) + _chrome(len(self.widths))


def _fitted(cols: list[_Column], max_width: int) -> _Part:
    """``cols`` as one table at ``max_width``, squeezed no more than it must be (past the last
    squeeze, rich folds what does not fit)."""
    room = max_width - _chrome(len(cols))
    for squeeze in range(3):
        widths = _shrink(cols, room, squeeze)
        if widths is not None:
            return _Part(cols, widths)
    return _Part(cols, None)


def _split(cols: list[_Column], max_width: int) -> list[_Part]:
    """Tables of as many columns as fit each (words whole), each led by the first column."""
    key, groups = cols[0], [list[_Column]()]
    for c in cols[1:]:
        trial = [key, *groups[-1], c]
        if groups[-1] and _shrink(trial, max_width - _chrome(len(trial))) is None:
            groups.append([c])
        else:
            groups[-1].append(c)
    return [_fitted([key, *group], max_width) for group in groups]


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

    def layout(self, max_width: int) -> tuple[list[_Part], list[str]]:
        """(the tables to draw, one unless split, and the columns left out)."""
        cols = list(self.columns)
        if sum(c.widest for c in cols) + _chrome(len(cols)) <= max_width:
            return [_Part(cols, [c.widest for c in cols])], []
        dropped: list[str] = []
        droppable = [c for name in self.drop_first for c in cols if c.name == name]
        while True:
            widths = _shrink(cols, max_width - _chrome(len(cols)))
            if widths is not None:
                return [_Part(cols, widths)], dropped
            if not droppable:
                return _split(cols, max_width), dropped
            gone = droppable.pop(0)
            cols.remove(gone)
            dropped.append(gone.name)

    def tables(self, max_width: int, console: Console | None = None, blocks: bool = True) -> list[RenderableType]:
        """What to print at ``max_width``: the table (or the tables it is split into, the title
        over the first, the caption under the last); a title or caption wider than its table is
        a line of its own, so it never wraps into the table's width."""
        t = self.tabular
        parts, dropped = self.layout(max_width)
        caption = t.caption
        if dropped:
            note = f"not shown at this width: {', '.join(dropped)}"
            caption = f"{caption} · {note}" if caption else note
        out: list[RenderableType] = []
        for i, part in enumerate(parts):
            title = t.title if i == 0 else ""
            below = caption if i == len(parts) - 1 else None
            room = part.width(max_width)
            if title and _width(title) > room:
                out.append(Text(title, style="table.title"))
                title = ""
            loose = below is not None and _width(below) > room
            out.append(self._draw(part, title, None if loose else below, console, blocks))
            if loose:
                out.append(Text(below or "", style="table.caption"))
        return out

    def table(self, max_width: int, console: Console | None = None, blocks: bool = True) -> Table:
        """The rich Table of a table that fits ``max_width`` unsplit, its title and caption in it
        (highlighted as the console highlights text, if given); ``blocks=False`` draws a table
        that fits one rich row a line instead of column blocks."""
        parts, _ = self.layout(max_width)
        return self._draw(parts[0], self.tabular.title, self.tabular.caption, console, blocks)

    def _draw(self, part: _Part, title: str, caption: str | None, console: Console | None, blocks: bool) -> Table:
        highlight = console.highlighter if console is not None and console.color_system is not None else None
        cols, widths = part
        if blocks and part.unwrapped and self.tabular.rows and not any("\n" in s for c in cols for s in c.texts):
            return self._blocks(cols, title, caption, highlight)
        table = self._frame(title, caption)
        for i, c in enumerate(cols):
            header: str | Text = c.name
            if widths is not None and widths[i] < _width(c.name):  # squeezed: the header wraps, not the cells
                header = Text(c.name, no_wrap=False, overflow="fold")
            table.add_column(
                header,
                justify="right" if c.numeric else "left",
                overflow="fold",
                no_wrap=widths is not None and not c.wraps and widths[i] >= c.widest_cell,
                width=None if widths is None else widths[i],
            )
        for r in range(len(self.tabular.rows)):
            table.add_row(*(_text(c.texts[r], highlight) for c in cols))
        return table

    def _frame(self, title: str, caption: str | None, padding: int | tuple[int, int] = (0, 1)) -> Table:
        t = self.tabular
        return Table(
            title=title or None,
            caption=caption,
            header_style="bold",
            expand=False,
            show_header=t.show_header,
            padding=padding,
        )

    def _blocks(self, cols: list[_Column], title: str, caption: str | None, highlight: Any) -> Table:
        """Nothing wraps, so each column is drawn as one block of lines, each line already padded
        to the column's width and one space each side: the same drawing as one row a line with
        rich's cell padding, at a fraction of rich's per-cell cost."""
        table = self._frame(title, caption, padding=0)
        for c in cols:
            table.add_column(Text(" " + _pad(c.name, c.widest, c.numeric) + " "), width=c.widest + 2, no_wrap=True)
        table.add_row(
            *(_text("\n".join(" " + _pad(s, c.widest, c.numeric) + " " for s in c.texts), highlight) for c in cols)
        )
        return table

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield from self.tables(options.max_width, console)


def _pad(s: str, width: int, right: bool) -> str:
    fill = " " * (width - _width(s))
    return fill + s if right else s + fill


def _text(s: str, highlight: Any) -> Text:
    text = Text(s)
    return highlight(text) if highlight is not None else text
