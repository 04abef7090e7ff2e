"""``data chart``: candles (or a close line) with volume beneath and chosen indicators, drawn in
the terminal with plotext and written as a PNG with matplotlib.

Both plotting libraries are imported inside the functions that draw, so importing the app stays
cheap. The x axis is the bar's position in the window, not its time: nights, weekends and missing
bars leave no gaps. Indicator lines cover every charted bar the indicator has a value at
(its history included); points before it has one are absent (NaN), never zero.
"""

from __future__ import annotations

import io
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from rich.console import RenderableType
from rich.text import Text

from trader_cli.core.bars import Bars
from trader_cli.core.calendar import to_ny
from trader_cli.core.intervals import Interval
from trader_cli.core.results import Tabular
from trader_cli.render.views import register_view

if TYPE_CHECKING:
    from trader_cli.core.coordinator import SessionCoordinator
    from trader_cli.core.reports import ChartFill

# Families whose values are prices, drawn over the candles; the others get a panel of their own.
PRICE_SCALE = frozenset({"sma", "ema", "wma", "bbands", "vwap"})
# Oscillators with a fixed range keep it, so 30/70 levels sit where the eye expects them.
FIXED_RANGE = {"rsi": (0.0, 100.0), "stoch": (0.0, 100.0)}
MAX_WIDTH, MAX_HEIGHT = 160, 40
MIN_WIDTH, MIN_HEIGHT = 40, 16
PNG_WIDTH_IN, PNG_PRICE_IN, PNG_PANEL_IN, PNG_VOLUME_IN, PNG_DPI = 12.0, 5.0, 1.6, 1.5, 100
UP_COLOR, DOWN_COLOR = "#26a69a", "#ef5350"
# Terminal line markers, one per output where colour alone cannot tell lines apart ("hd" draws ▚).
LINE_MARKERS = ("hd", "•", "+", "x", "*", "o")


@dataclass(frozen=True)
class IndicatorSeries:
    """One indicator's outputs at each charted bar (NaN where it has no value)."""

    key: str
    name: str
    outputs: dict[str, np.ndarray]

    @property
    def overlay(self) -> bool:
        """True when drawn over the candles (a price-scale family)."""
        return self.name in PRICE_SCALE

    def label(self, output: str) -> str:
        """The legend text of one output: the key, plus the output name when there are several."""
        return self.key if len(self.outputs) == 1 else f"{self.key}.{output}"


@dataclass(frozen=True)
class ChartSeries:
    """What a chart shows: the latest bars of one interval and the chosen indicators."""

    symbol: str
    interval: str
    bars: Bars
    session_start: int  # index of the first session-day bar in ``bars`` (== len when none)
    indicators: list[IndicatorSeries]
    fills: list[ChartFill] = field(default_factory=list)

    @property
    def title(self) -> str:
        """``AAPL 5m · 2024-11-29 15:00 → 2024-12-02 11:25 ET · 120 bars``."""
        first, last = (_stamp(int(t), self.interval) for t in (self.bars.ts[0], self.bars.ts[-1]))
        et = "" if Interval.parse(self.interval).is_daily else " ET"
        return f"{self.symbol} {self.interval} · {first} → {last}{et} · {len(self.bars)} bars"


@dataclass
class ChartResult:
    """A drawn chart: the terminal text (None when not shown) and the PNG written (if any)."""

    symbol: str
    interval: str
    bars: int
    png: str | None
    text: str | None = None
    fills: int = 0

    def to_json(self) -> dict[str, Any]:
        """JSON data: what was charted, how many fills it marks and where the image went."""
        return {
            "symbol": self.symbol,
            "interval": self.interval,
            "bars": self.bars,
            "fills": self.fills,
            "png": self.png,
        }


# -- data ------------------------------------------------------------------------------------------


def split_keys(raw: list[str] | None) -> list[str]:
    """Indicator keys from ``--with`` values (comma-separated, repeatable), in order, once each."""
    keys: list[str] = []
    for chunk in raw or []:
        for key in chunk.split(","):
            key = key.strip()
            if key and key not in keys:
                keys.append(key)
    return keys


def chart_series(
    coord: SessionCoordinator, symbol: str, interval: str | None, last: int, keys: list[str]
) -> ChartSeries:
    """The latest ``last`` bars (the whole run: history, replayed days, today) and the
    indicators' values at them, read as one snapshot under the symbol lock."""
    from trader_cli.core.reports import chart_data

    d = coord.read(chart_data, symbol, interval, last, keys)
    lines = [IndicatorSeries(line.key, line.name, line.outputs) for line in d.lines]
    return ChartSeries(d.symbol, d.interval.name, d.bars, d.session_start, lines, d.fills)


# -- shared drawing helpers ------------------------------------------------------------------------


def _stamp(ts: int, interval: str) -> str:
    """A bar's start as New York wall-clock text (the date alone for daily bars)."""
    t = to_ny(ts)
    return f"{t:%Y-%m-%d}" if Interval.parse(interval).is_daily else f"{t:%Y-%m-%d %H:%M}"


def time_ticks(series: ChartSeries, count: int) -> tuple[list[int], list[str]]:
    """About ``count`` evenly spaced bar positions with time labels; a label carries the date
    when the day changed since the previous one (daily bars: always the date)."""
    n = len(series.bars)
    positions = sorted({round(p) for p in np.linspace(0, n - 1, max(1, min(count, n)))})
    daily = Interval.parse(series.interval).is_daily
    labels, last_day = [], None
    for p in positions:
        t = to_ny(int(series.bars.ts[p]))
        if daily:
            new = last_day is None or t.year != last_day.year
            labels.append(f"{t:%Y-%m-%d}" if new else f"{t:%m-%d}")
        else:
            new = last_day is None or t.date() != last_day.date()
            labels.append(f"{t:%m-%d %H:%M}" if new else f"{t:%H:%M}")
        last_day = t
    return positions, labels


def _finite_runs(values: np.ndarray) -> list[tuple[int, int]]:
    """[start, stop) ranges where ``values`` has numbers (absent points break the line)."""
    ok = np.concatenate([[False], np.isfinite(values), [False]])
    edges = np.flatnonzero(np.diff(ok.astype(np.int8)))
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2], strict=True)]


def _price_range(series: ChartSeries) -> tuple[float, float]:
    """Lowest low and highest high, widened to the overlays' values."""
    lo, hi = float(np.min(series.bars.low)), float(np.max(series.bars.high))
    for ind in series.indicators:
        if ind.overlay:
            for v in ind.outputs.values():
                if np.isfinite(v).any():
                    lo, hi = min(lo, float(np.nanmin(v))), max(hi, float(np.nanmax(v)))
    if hi <= lo:
        lo, hi = lo - 0.5, hi + 0.5
    return lo, hi


def _panel_range(ind: IndicatorSeries) -> tuple[float, float]:
    """The y range of an indicator panel."""
    if ind.name in FIXED_RANGE:
        return FIXED_RANGE[ind.name]
    stacked = np.concatenate(list(ind.outputs.values()))
    if not np.isfinite(stacked).any():
        return 0.0, 1.0
    lo, hi = float(np.nanmin(stacked)), float(np.nanmax(stacked))
    return (lo - 0.5, hi + 0.5) if hi <= lo else (lo, hi)


def compact(value: float) -> str:
    """A number in a few characters: 950, 12.5k, 3.2M."""
    a = abs(value)
    for div, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if a >= div:
            return f"{value / div:.1f}".removesuffix(".0") + suffix
    return f"{value:.0f}" if a >= 100 or float(value).is_integer() else f"{value:.2f}"


def _price_text(value: float, span: float) -> str:
    digits = 3 if span < 1 else 2 if span < 1000 else 0
    return f"{value:,.{digits}f}"


# -- terminal --------------------------------------------------------------------------------------


def terminal_size() -> tuple[int, int]:
    """The chart size in cells: the terminal's, capped at 160 by 40 (and at least 40 by 16)."""
    cols, lines = shutil.get_terminal_size((100, 32))
    return max(MIN_WIDTH, min(cols, MAX_WIDTH)), max(MIN_HEIGHT, min(lines - 2, MAX_HEIGHT))


def _panel_heights(height: int, lower: int) -> tuple[int, int, int]:
    """(price, each lower panel, volume) heights in rows for a chart ``height`` rows tall."""
    volume = 7 if height >= 28 else 6
    panel = 9 if height >= 26 + 9 * lower else 7  # a lower panel's title takes a row
    return max(10, height - volume - panel * lower), panel, volume


def terminal_chart(series: ChartSeries, width: int, height: int, color: bool = True, line: bool = False) -> str:
    """The chart as text ``width`` columns wide (ANSI colours when ``color``)."""
    import plotext as plt

    fig = plt.figure
    fig.clear()
    plt.terminal.limit(False, False)  # the size is ours (capped by the caller), not plotext's guess
    lower = [ind for ind in series.indicators if not ind.overlay]
    price_h, panel_h, volume_h = _panel_heights(height, len(lower))
    fig.plot_size(width, price_h + panel_h * len(lower) + volume_h)
    fig.subplots(2 + len(lower), 1)
    fig.theme("simple" if color else "colorless")
    panels = [fig.subplot(i + 1, 1) for i in range(2 + len(lower))]
    for i, plot in enumerate(panels):
        plot.plot_size(width, price_h if i == 0 else volume_h if i == len(panels) - 1 else panel_h)
    _draw_price(plt, panels[0], series, color, line)
    panels[0].title(series.title)
    for plot, ind in zip(panels[1:-1], lower, strict=True):
        drawn = _draw_lines(plot, ind, iter(LINE_MARKERS))
        plot.legend(False)  # too tall for a small panel: the title names the lines instead
        names = "  ".join(f"{glyph} {output}" for glyph, output in drawn)
        plot.title(ind.key if len(drawn) == 1 else f"{ind.key}  {names}")
    _draw_volume(plt, panels[-1], series, color)
    _set_rulers(panels, series, lower, width)  # after drawing: plotext's bar() resets the x ticks
    text: str = fig.build().string(colorless=not color)
    fig.clear()
    return text


def _set_rulers(panels: list[Any], series: ChartSeries, lower: list[IndicatorSeries], width: int) -> None:
    """Y ticks with labels of one width (so the panels' canvases line up) and one shared time
    axis, labelled under the bottom panel only."""
    y_ticks = [_price_ticks(series), *(_panel_ticks(ind) for ind in lower), _volume_ticks(series)]
    label_width = max(len(label) for _, labels in y_ticks for label in labels)
    n = len(series.bars)
    for plot, (pos, labels) in zip(panels, y_ticks, strict=True):
        plot.ruler("y").ticks(pos, [label.rjust(label_width) for label in labels])
        plot.ruler("y").lim(pos[0], pos[-1])
        plot.ruler("x").lim(-0.5, n - 0.5)
        plot.ruler("x").ticks([])
    panels[-1].ruler("x").ticks(*time_ticks(series, max(2, width // 18)))


def _price_ticks(series: ChartSeries) -> tuple[list[float], list[str]]:
    lo, hi = _price_range(series)
    pos = [float(v) for v in np.linspace(lo, hi, 5)]
    return pos, [_price_text(v, hi - lo) for v in pos]


def _panel_ticks(ind: IndicatorSeries) -> tuple[list[float], list[str]]:
    lo, hi = _panel_range(ind)
    pos = [float(v) for v in np.linspace(lo, hi, 3)]
    return pos, [compact(v) for v in pos]


def _volume_ticks(series: ChartSeries) -> tuple[list[float], list[str]]:
    top = float(np.nanmax(series.bars.volume)) if len(series.bars) else 1.0
    pos = [0.0, top / 2, top or 1.0]
    return pos, [compact(v) for v in pos]


def _draw_price(plt: Any, plot: Any, series: ChartSeries, color: bool, line: bool) -> None:
    """Candles (green/red; without colour ░ bodies rise and █ bodies fall) or the close line, then
    the overlays and their legend in the quietest corner."""
    b = series.bars
    x = list(range(len(b)))
    # With colour, every overlay is a ▚ line of its own colour; without, each gets its own marker.
    markers = iter(LINE_MARKERS) if not color else iter(lambda: "hd", None)
    if line:
        sig = plot.signal(x, b.close.tolist(), marker=next(markers))
        sig.lines()
        sig.label("close")
        plot.draw(sig)
    else:
        up_px, down_px = plt.pixel(foreground="green"), plt.pixel(foreground="red")
        for i in x:
            rising = b.close[i] >= b.open[i]
            px = up_px if rising else down_px
            plot.draw(plot.segment((i, i), (b.low[i], b.high[i]), marker=plt.line(1, pixel=px)))
            body = (min(b.open[i], b.close[i]), max(b.open[i], b.close[i]))
            glyph = "░" if rising and not color else "█"
            plot.draw(plot.rectangle((i, i), body, marker=plt.marker(glyph, pixel=px)))
    if 0 < series.session_start < len(b):
        # A segment, not plot.line(): that one paints a white background behind the dots.
        lo, hi = _price_range(series)
        at, dots = series.session_start - 0.5, plt.line(1, pixel=plt.pixel("gray"), style="dotted")
        plot.draw(plot.segment((at, at), (lo, hi), marker=dots))
    for ind in series.indicators:
        if ind.overlay:
            _draw_lines(plot, ind, markers)
    for side, glyph, colour in (("buy", "▲", "green"), ("sell", "▼", "red")):
        done = [f for f in series.fills if f.side == side]
        if done:
            mark = plt.marker(glyph, pixel=plt.pixel(foreground=colour)) if color else glyph
            dots = plot.signal([f.bar for f in done], [f.price for f in done], marker=mark)
            dots.label(f"{side} fills")
            plot.draw(dots)
    corner = _quiet_corner(series)
    lo, hi = _price_range(series)
    x_at, y_at = (-0.5 if corner[0] == "left" else len(b) - 0.5), (hi if corner[1] == "top" else lo)
    plot.legend(x=x_at, y=y_at, ha=corner[0], va=corner[1], relative=True)


def _draw_lines(plot: Any, ind: IndicatorSeries, markers: Iterator[str]) -> list[tuple[str, str]]:
    """Every output of an indicator as a line (absent points break it; the label goes on once);
    returns (glyph, output) for each output."""
    drawn = []
    for output, values in ind.outputs.items():
        marker = next(markers, "hd")
        labelled = False
        for a, b in _finite_runs(values):
            sig = plot.signal(list(range(a, b)), values[a:b].tolist(), marker=marker)
            sig.lines()
            if not labelled:
                sig.label(ind.label(output))
                labelled = True
            plot.draw(sig)
        drawn.append(("▚" if marker == "hd" else marker, output))
    return drawn


def _draw_volume(plt: Any, plot: Any, series: ChartSeries, color: bool) -> None:
    b = series.bars
    if color:
        up, down = (plt.marker("█", pixel=plt.pixel(foreground=c)) for c in ("green", "red"))
        markers = [up if c >= o else down for o, c in zip(b.open, b.close, strict=True)]
    else:
        markers = ["█"] * len(b)
    plot.draw(plot.bar(list(range(len(b))), b.volume.tolist(), marker=markers, width=0.6))


def _quiet_corner(series: ChartSeries) -> tuple[str, str]:
    """The corner of the price panel the bars touch least (where the legend goes)."""
    b = series.bars
    lo, hi = _price_range(series)
    q = max(1, len(b) // 4)
    mid = (lo + hi) / 2
    crowd = {
        ("left", "top"): int(np.sum(b.high[:q] > mid)),
        ("left", "bottom"): int(np.sum(b.low[:q] < mid)),
        ("right", "top"): int(np.sum(b.high[-q:] > mid)),
        ("right", "bottom"): int(np.sum(b.low[-q:] < mid)),
    }
    return min(crowd, key=lambda k: crowd[k])


# -- PNG -------------------------------------------------------------------------------------------


def png_size(series: ChartSeries) -> tuple[int, int]:
    """(width, height) in pixels of the PNG of ``series``."""
    lower = sum(1 for ind in series.indicators if not ind.overlay)
    height_in = PNG_PRICE_IN + PNG_PANEL_IN * lower + PNG_VOLUME_IN
    return round(PNG_WIDTH_IN * PNG_DPI), round(height_in * PNG_DPI)


def write_png(series: ChartSeries, path: Path, line: bool = False) -> Path:
    """Draw the chart with matplotlib (Agg) and write it to ``path`` atomically."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    lower = [ind for ind in series.indicators if not ind.overlay]
    ratios = [PNG_PRICE_IN] + [PNG_PANEL_IN] * len(lower) + [PNG_VOLUME_IN]
    fig = Figure(figsize=(PNG_WIDTH_IN, sum(ratios)), dpi=PNG_DPI, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(len(ratios), 1, sharex=True, gridspec_kw={"height_ratios": ratios})
    price, volume = axes[0], axes[-1]
    _png_price(price, series, line)
    for ax, ind in zip(axes[1:-1], lower, strict=True):
        _png_indicator(ax, ind)
    b = series.bars
    x = np.arange(len(b))
    colors = np.where(b.close >= b.open, UP_COLOR, DOWN_COLOR)
    volume.bar(x, b.volume, width=0.7, color=colors)
    volume.set_ylabel("volume")
    volume.yaxis.set_major_formatter(lambda v, _pos: compact(v))
    pos, labels = time_ticks(series, 10)
    volume.set_xticks(pos, labels)
    volume.set_xlim(-0.75, len(b) - 0.25)
    for ax in axes:
        ax.grid(alpha=0.25)
        if 0 < series.session_start < len(b):
            ax.axvline(series.session_start - 0.5, color="grey", linestyle=":", linewidth=1)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=PNG_DPI)
    from trader_cli.core.atomic import write_atomic

    return write_atomic(path, buf.getvalue())


def _png_price(ax: Any, series: ChartSeries, line: bool) -> None:
    b = series.bars
    x = np.arange(len(b))
    if line:
        ax.plot(x, b.close, color="#455a64", linewidth=1.2, label="close")
    else:
        colors = np.where(b.close >= b.open, UP_COLOR, DOWN_COLOR)
        ax.vlines(x, b.low, b.high, colors=colors, linewidth=0.8)
        body = np.abs(b.close - b.open)
        bottom = np.minimum(b.open, b.close)
        ax.bar(x, body, bottom=bottom, width=0.7, color=colors, edgecolor=colors, linewidth=0.5)
    for ind in series.indicators:
        if ind.overlay:
            for output, values in ind.outputs.items():
                ax.plot(x, values, linewidth=1.2, label=ind.label(output))
    for side, marker, colour in (("buy", "^", "#1565c0"), ("sell", "v", "#ef6c00")):
        at = [f for f in series.fills if f.side == side]
        if at:
            ax.scatter(
                [f.bar for f in at], [f.price for f in at], marker=marker, s=60, color=colour,
                edgecolors="black", linewidths=0.5, zorder=5, label=f"{side} fills",
            )  # fmt: skip
    ax.set_title(series.title)
    ax.set_ylabel("price")
    if ax.get_legend_handles_labels()[1]:
        ax.legend(loc="best", fontsize="small")


def _png_indicator(ax: Any, ind: IndicatorSeries) -> None:
    x = np.arange(len(next(iter(ind.outputs.values()))))
    for output, values in ind.outputs.items():
        if output == "histogram":
            have = np.isfinite(values)
            ax.bar(x[have], values[have], width=0.7, color="#90a4ae", label=ind.label(output))
        else:
            ax.plot(x, values, linewidth=1.1, label=ind.label(output))
    if ind.name in FIXED_RANGE:
        ax.set_ylim(*FIXED_RANGE[ind.name])
    ax.set_ylabel(ind.name)
    ax.legend(loc="upper left", fontsize="small")


# -- the command's one call, and the views ---------------------------------------------------------


def draw_chart(
    coord: SessionCoordinator,
    symbol: str,
    interval: str | None = None,
    *,
    last: int = 120,
    indicators: list[str] | None = None,
    png: str | None = None,
    line: bool = False,
    text: bool = True,
    color: bool = True,
    size: tuple[int, int] | None = None,
) -> ChartResult:
    """Read the bars and indicators, write the PNG when asked, and draw the terminal text
    (when ``text``) at ``size`` (default: the terminal's, capped)."""
    series = chart_series(coord, symbol, interval, last, split_keys(indicators))
    written = str(write_png(series, Path(png), line)) if png else None
    width, height = size or terminal_size()
    drawn = terminal_chart(series, width, height, color, line) if text else None
    return ChartResult(series.symbol, series.interval, len(series.bars), written, drawn, len(series.fills))


def _chart_view(res: ChartResult) -> list[RenderableType]:
    out: list[RenderableType] = []
    if res.text is not None:
        out.append(Text.from_ansi(res.text, no_wrap=True, overflow="crop"))
    if res.png:
        out.append(Text(f"wrote {res.png}", style="green"))
    return out


def _chart_tables(res: ChartResult) -> list[Tabular]:
    data = res.to_json()
    return [Tabular(columns=list(data), rows=[list(data.values())])]


register_view(ChartResult, _chart_view, _chart_tables)
